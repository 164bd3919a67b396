from django.apps import AppConfig


class UiConfig(AppConfig):
    """The staff UI: server-rendered shells whose ES modules do everything through /api/v1/."""

    name = "ui"
    verbose_name = "Staff UI"
