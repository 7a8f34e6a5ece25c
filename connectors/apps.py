from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"

    def ready(self) -> None:
        from cases import events as case_events
        from cases import revisions
        from config.events import subscribe
        from slas import events as sla_events

        from . import alerts, selectors, services, webhooks

        revisions.register(selectors.ROUTING_REVISION, selectors.routing_revision_sql, read_by=["ingestion"])
        revisions.register(
            selectors.SUBSCRIPTIONS_REVISION,
            selectors.subscriptions_revision_sql,
            read_by=["api", "ingestion"],
        )

        # Outbox rows (webhooks, alerts) are written in the transaction of the change they
        # report; their tasks are enqueued through config.tasks.task_enqueue (decision 0010).
        for event_type in webhooks.CASE_EVENT_TYPES:
            subscribe(event_type, webhooks.on_case_event, phase="transaction")
        subscribe(case_events.CasesOpened, webhooks.on_cases_opened, phase="transaction")
        for event_type in webhooks.SLA_EVENT_TYPES:
            subscribe(event_type, webhooks.on_clock_alerts, phase="transaction")
        subscribe(sla_events.ClocksWarned, alerts.on_clock_alerts, phase="transaction")
        subscribe(sla_events.ClocksBreached, alerts.on_clock_alerts, phase="transaction")
        # An agent's reply is marked queued with it and delivered by a task once it commits.
        subscribe(case_events.InteractionAppended, services.on_interaction_appended, phase="transaction")
