from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        # theatre never imports scheduling; it sends session_changed and we listen (DESIGN §1).
        from scheduling.notices import on_session_changed
        from theatre.signals import session_changed

        session_changed.connect(on_session_changed, dispatch_uid="scheduling.notices.on_session_changed")

        # A unit that upcoming cases claim stays at its site: theatre asks before a move.
        from scheduling.estate_claims import refuse_moving_a_claimed_unit
        from theatre.estate import pre_unit_move

        pre_unit_move.connect(refuse_moving_a_claimed_unit, dispatch_uid="scheduling.estate_claims.unit_move")
