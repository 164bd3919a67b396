from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core: audit, roles, idempotency"

    def ready(self) -> None:
        # One strict input rule for every serializer in the project (core/api/strict.py).
        from core.api import strict

        strict.install()
