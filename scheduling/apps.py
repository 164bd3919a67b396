from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        # theatre never imports scheduling (DESIGN §1): it sends its hooks and signals, and we
        # connect here. The hooks run before theatre writes, and may refuse the change.
        from scheduling import theatre_rules as rules
        from scheduling.reminders.notices import on_session_changed
        from theatre import hooks
        from theatre.signals import session_changed

        session_changed.connect(on_session_changed, dispatch_uid="scheduling.reminders.notices.on_session_changed")
        for hook, receiver in (
            (hooks.pre_session_placement, rules.refuse_surgeon_operating_elsewhere),
            (hooks.pre_session_change, rules.refuse_change_that_strands_cases),
            (hooks.post_session_change, rules.hand_cases_to_new_anaesthetist),
            (hooks.pre_session_cancel, rules.refuse_cancelling_a_list_with_cases),
            (hooks.pre_unit_move, rules.refuse_moving_a_claimed_unit),
            (hooks.pre_estate_change, rules.refuse_estate_change_that_strands_cases),
            (hooks.post_estate_change, rules.flag_cases_stranded_by_estate_change),
        ):
            hook.connect(receiver, dispatch_uid=f"{receiver.__module__}.{receiver.__name__}")
        hooks.estate_change_refusals.update(rules.ESTATE_CHANGE_REFUSALS)
