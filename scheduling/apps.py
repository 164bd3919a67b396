from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        # theatre never imports scheduling; it sends session_changed and we listen (DESIGN §1).
        from scheduling.notices import on_session_changed
        from theatre.signals import session_changed

        session_changed.connect(on_session_changed, dispatch_uid="scheduling.notices.on_session_changed")

        # A unit that upcoming cases claim stays at its site; theatre asks, we answer.
        from scheduling.estate_claims import unit_claims_after
        from theatre.estate import register_unit_commitments

        register_unit_commitments(unit_claims_after, uid="scheduling.estate_claims.unit_claims_after")
