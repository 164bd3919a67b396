from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.health import healthz

api_v1: list[URLPattern | URLResolver] = [
    path("", include("theatre.api.urls")),
    path("", include("procedures.api.urls")),
    path("", include("scheduling.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    re_path(r"^healthz/?$", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    # The FHIR R4 facade (DESIGN §5.5): its own app at the top of the import chain.
    path("fhir/R4/", include("fhir.api.urls")),
    path("api-auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
    # The staff UI last: its pages are at the root (/, /waiting/, /cases/<id>/, /login/).
    path("", include("ui.urls")),
]
