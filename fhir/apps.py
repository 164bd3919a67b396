from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "fhir"
    verbose_name = "FHIR facade"
    default_auto_field = "django.db.models.BigAutoField"
