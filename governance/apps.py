from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from cases import events as case_events
        from config.events import subscribe
        from slas import events as sla_events

        from . import handlers

        # Each handler only enqueues a task with ids, joining the transaction on the ORM broker
        # (see governance.handlers and config.tasks).
        subscribe(sla_events.ClocksWarned, handlers.on_clocks_warned, phase=handlers.PHASE)
        subscribe(sla_events.ClocksBreached, handlers.on_clocks_breached, phase=handlers.PHASE)
        for event_type in (
            case_events.CaseOpened,
            case_events.CaseReopened,
            case_events.CasePriorityChanged,
            case_events.CaseSentimentChanged,
        ):
            subscribe(event_type, handlers.on_case_trigger, phase=handlers.PHASE)
        subscribe(case_events.CasesOpened, handlers.on_cases_opened, phase=handlers.PHASE)
        subscribe(case_events.InteractionAppended, handlers.on_interaction, phase=handlers.PHASE)
        subscribe(case_events.CaseStatusChanged, handlers.on_case_status, phase=handlers.PHASE)
