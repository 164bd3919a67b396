from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        # theatre never imports scheduling; it sends session_changed and we listen (DESIGN §1).
        from scheduling.reminders.notices import on_session_changed
        from theatre.signals import session_changed

        session_changed.connect(on_session_changed, dispatch_uid="scheduling.notices.on_session_changed")
