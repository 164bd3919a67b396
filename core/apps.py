from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core: audit, roles, idempotency"

    def ready(self) -> None:
        # One strict input rule for every serializer in the project (core/api/strict.py).
        from core.api import strict

        strict.install()

        from django.contrib.auth.signals import user_logged_in

        from core.sessions import mark_session_start

        user_logged_in.connect(mark_session_start, dispatch_uid="core.sessions.mark_session_start")
