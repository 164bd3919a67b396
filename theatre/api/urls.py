from rest_framework.routers import DefaultRouter

from theatre.api import views

router = DefaultRouter()
router.register("sites", views.SiteViewSet, basename="site")
router.register("theatres", views.TheatreViewSet, basename="theatre")
router.register("equipment", views.EquipmentUnitViewSet, basename="equipmentunit")
router.register("staff", views.StaffMemberViewSet, basename="staffmember")
router.register("timetables", views.TimetableViewSet, basename="timetable")

urlpatterns = router.urls
