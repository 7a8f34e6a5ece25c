from django.apps import AppConfig


class SlasConfig(AppConfig):
    name = "slas"
    verbose_name = "SLAs"

    def ready(self) -> None:
        from cases import events as case_events
        from cases import revisions
        from config.events import subscribe

        from .services import POLICIES_REVISION, on_case_event, on_cases_opened, policies_revision_sql

        revisions.register(POLICIES_REVISION, policies_revision_sql, read_by=("api", "ingestion"))

        # Clocks move in the same transaction as the case change that moves them.
        for event_type in (
            case_events.CaseOpened,
            case_events.CaseStatusChanged,
            case_events.CasePriorityChanged,
            case_events.InteractionAppended,
            case_events.CaseQueueChanged,
        ):
            subscribe(event_type, on_case_event, phase="transaction")
        subscribe(case_events.CasesOpened, on_cases_opened, phase="transaction")
