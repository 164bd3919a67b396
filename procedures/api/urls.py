from rest_framework.routers import DefaultRouter

from procedures.api.views import ProcedureViewSet

router = DefaultRouter()
router.register("procedures", ProcedureViewSet, basename="procedure")

urlpatterns = router.urls
