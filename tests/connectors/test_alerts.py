"""SLA alerts: outbox rows for the queue's supervisors in the SLA transaction, one digest
e-mail per supervisor per run."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction

from config.events import publish
from connectors import alerts
from connectors.models import AlertNotification
from slas import events as sla_events
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _alert(case, clock_id, metric="first_response"):
    return sla_events.ClockAlert(
        clock_id=clock_id,
        case_id=case.pk,
        client_id=case.client_id,
        queue_id=case.queue_id,
        metric=metric,
        cycle=1,
        priority=case.priority,
        channel="email",
        at=case.opened_at,
        detected_by="sweep",
    )


@pytest.fixture
def supervised(case_a, supervisor_a, client_a):
    second = UserFactory(username="supervisor-a2", email="sup2@alpha.example", clients=[client_a])
    case_a.queue.supervisors.add(supervisor_a, second)
    return case_a, supervisor_a, second


def test_many_alerts_make_one_digest_per_supervisor(supervised):
    case, first, second = supervised
    with transaction.atomic():
        publish(sla_events.ClocksWarned(alerts=(_alert(case, 1), _alert(case, 2, "resolution"))))
        publish(sla_events.ClocksBreached(alerts=(_alert(case, 1),)))
    assert AlertNotification.objects.filter(state="pending").count() == 6
    assert alerts.alert_digests_send() == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted([first.email, second.email])
    message = mail.outbox[0]
    assert message.subject == "[Accord] 3 SLA alerts: 1 breached, 2 at risk"
    assert message.body.count("\n- ") == 3
    assert "BREACHED first response" in message.body
    # Said to be a program's (RFC 3834): an away supervisor's responder does not answer it.
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    assert AlertNotification.objects.filter(state="sent").count() == 6
    # The next run has nothing to send.
    assert alerts.alert_digests_send() == 0
    assert len(mail.outbox) == 2


def test_a_single_alert_names_the_case(supervised):
    case, _first, second = supervised
    case.queue.supervisors.remove(second)
    with transaction.atomic():
        publish(sla_events.ClocksBreached(alerts=(_alert(case, 9),)))
    alerts.alert_digests_send()
    assert [m.subject for m in mail.outbox] == [f"[Accord] SLA breached: {case.subject}"]


def test_the_same_alert_is_recorded_once(supervised):
    case, *_ = supervised
    for _ in range(2):
        with transaction.atomic():
            publish(sla_events.ClocksBreached(alerts=(_alert(case, 1),)))
    assert AlertNotification.objects.count() == 2


def test_alert_rows_roll_back_with_the_breach(supervised):
    case, *_ = supervised
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(sla_events.ClocksBreached(alerts=(_alert(case, 1),)))
        raise RuntimeError("sweep batch failed")
    assert AlertNotification.objects.count() == 0


def test_supervisor_without_email_is_skipped(supervised):
    case, first, _second = supervised
    type(first).objects.filter(pk=first.pk).update(email="")
    with transaction.atomic():
        publish(sla_events.ClocksWarned(alerts=(_alert(case, 1),)))
    assert alerts.alert_digests_send() == 1
    assert list(AlertNotification.objects.filter(recipient=first).values_list("state", flat=True)) == [
        "skipped"
    ]


def test_a_failed_send_leaves_alerts_pending(supervised, monkeypatch):
    case, *_ = supervised
    with transaction.atomic():
        publish(sla_events.ClocksWarned(alerts=(_alert(case, 1),)))

    def broken(self, fail_silently=False):
        raise OSError("SMTP down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", broken)
    assert alerts.alert_digests_send() == 0
    assert AlertNotification.objects.filter(state="pending").count() == 2
    monkeypatch.undo()
    assert alerts.alert_digests_send() == 2


def test_scheduled_tasks_are_declared_and_safe_to_run_twice(supervised):
    from config.schedules import SCHEDULES
    from connectors import tasks

    declared = {schedule.func for schedule in SCHEDULES}
    assert {
        "connectors.tasks.imap_poll_task",
        "connectors.tasks.outbox_resend_task",
        "connectors.tasks.alert_digest_task",
    } <= declared
    case, *_ = supervised
    with transaction.atomic():
        publish(sla_events.ClocksBreached(alerts=(_alert(case, 5),)))
    assert tasks.alert_digest_task() == 2
    assert tasks.alert_digest_task() == 0
    assert tasks.outbox_resend_task() == {"webhooks": {}, "replies_requeued": 0}
    assert tasks.outbox_resend_task() == {"webhooks": {}, "replies_requeued": 0}
    assert len(mail.outbox) == 2
