from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.api_root import ApiRootView
from core.api import auth, http
from core.health import healthz

api_v1: list[URLPattern | URLResolver] = [
    # Before the apps' routers, whose own root views each know only their app's resources.
    path("", ApiRootView.as_view(), name="api-root"),
    path("", include("theatre.api.urls")),
    path("", include("procedures.api.urls")),
    path("", include("scheduling.api.urls")),
    path("auth/login/", auth.LoginView.as_view(), name="auth-login"),
    path("auth/logout/", auth.LogoutView.as_view(), name="auth-logout"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script from a URL: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    re_path(r"^healthz/?$", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    # The FHIR R4 facade (DESIGN §5.5): its own app at the top of the import chain.
    path("fhir/R4/", include("fhir.api.urls")),
    # Last under /api/: any other URL there is a JSON 404, never Django's HTML page.
    re_path(r"^api/", http.not_found),
    path("api-auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
    # The staff UI last: its pages are at the root (/, /waiting/, /cases/<id>/, /login/).
    path("", include("ui.urls")),
]

handler400 = "core.api.http.bad_request"
handler500 = "core.api.http.server_error"
