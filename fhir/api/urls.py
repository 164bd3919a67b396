from django.urls import path, re_path

from fhir.api import views

# FHIR paths have no trailing slash (`/fhir/R4/Patient/12`); ids are [A-Za-z0-9-.]{1,64}.
urlpatterns = [
    path("metadata", views.MetadataView.as_view(), name="fhir-metadata"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]{1,63})/_search$", views.SearchPostView.as_view(), name="fhir-search"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]{1,63})$", views.TypeView.as_view(), name="fhir-type"),
    re_path(
        r"^(?P<resource_type>[A-Z][A-Za-z]{1,63})/(?P<ident>[A-Za-z0-9\-.]{1,64})$",
        views.InstanceView.as_view(),
        name="fhir-instance",
    ),
    re_path(r"^(?P<rest>.*)$", views.UnknownView.as_view(), name="fhir-unknown"),
]
