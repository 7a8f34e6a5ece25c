"""Outbound webhooks against a real local HTTP server: outbox in the event's transaction,
Standard Webhooks signatures, retries with backoff, attempt log, pause, lost tasks, redelivery."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from cases import services as case_services
from config.errors import ApplicationError
from config.events import publish
from connectors import outbound_http, webhooks
from connectors.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from slas import events as sla_events
from tests.connectors.factories import WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def loopback(settings):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    return settings


@pytest.fixture
def subscription(loopback, http_receiver, client_a):
    return WebhookSubscriptionFactory(
        client=client_a,
        url=http_receiver.url,
        events=["case.created", "case.updated", "sla.breached"],
        secret=SECRET,
    )


def _verify(request) -> dict:
    return Webhook(SECRET).verify(request["body"], request["headers"])


# --- URL policy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://93.184.216.34/hook", "Webhook URLs must use https."),
        ("ftp://93.184.216.34/hook", "Give an absolute https:// URL."),
        (
            "https://127.0.0.1/hook",
            "The host '127.0.0.1' resolves to a loopback address (127.0.0.1); refused.",
        ),
        ("https://[::1]/hook", "The host '::1' resolves to a loopback address (::1); refused."),
        ("https://10.1.2.3/hook", "The host '10.1.2.3' resolves to a private address (10.1.2.3); refused."),
        (
            "https://192.168.0.10/hook",
            "The host '192.168.0.10' resolves to a private address (192.168.0.10); refused.",
        ),
        (
            "https://169.254.169.254/latest",
            "The host '169.254.169.254' resolves to a link-local address (169.254.169.254); refused.",
        ),
        (
            "https://[::ffff:10.0.0.1]/hook",
            "The host '::ffff:10.0.0.1' resolves to a private address (::ffff:a00:1); refused.",
        ),
        ("https://user:pw@93.184.216.34/hook", "Credentials in the URL are not allowed."),
        (
            "https://localhost/hook",
            "The host 'localhost' resolves to a loopback address (127.0.0.1); refused.",
        ),
    ],
)
def test_unsafe_urls_are_refused(url, message, client_a):
    with pytest.raises(ApplicationError) as caught:
        webhooks.webhook_subscription_create(client=client_a, name="x", url=url, events=["case.created"])
    assert caught.value.field_errors == {"url": [message]}
    assert WebhookSubscription.objects.count() == 0


def test_public_https_url_is_accepted_and_secret_shown_once(client_a):
    issued = webhooks.webhook_subscription_create(
        client=client_a, name="CRM", url="https://93.184.216.34/hook", events=["case.created", "sla.breached"]
    )
    assert issued.secret.startswith("whsec_")
    assert issued.obj.secret == issued.secret
    assert "secret" not in {f.name for f in WebhookSubscription.history.model._meta.fields}


def test_loopback_http_allowed_only_with_the_setting(settings, client_a):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    webhooks.url_check("http://127.0.0.1:8080/hook")
    with pytest.raises(ApplicationError):
        webhooks.url_check("https://10.0.0.1/hook")
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(ApplicationError):
        webhooks.url_check("http://127.0.0.1:8080/hook")


def test_unknown_event_type_is_refused(client_a):
    with pytest.raises(ApplicationError) as caught:
        webhooks.webhook_subscription_create(
            client=client_a, name="x", url="https://93.184.216.34/", events=["case.deleted"]
        )
    assert caught.value.field_errors == {"events": ["Unknown event types: case.deleted."]}


# --- outbox and delivery ---------------------------------------------------------------------------


def test_case_created_is_delivered_signed(
    subscription, http_receiver, open_case, client_a, queue_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        case = open_case(client=client_a, queue=queue_a, subject="Router down")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.event_type) == ("delivered", 1, "case.created")
    [request] = http_receiver.requests
    payload = _verify(request)
    assert payload == {
        "type": "case.created",
        "timestamp": case.opened_at.isoformat().replace("+00:00", "Z"),
        "data": {
            "case": {"id": str(case.public_id), "external_id": "", "status": "new", "priority": "normal"},
            "channel": "email",
            "opened_at": case.opened_at.isoformat().replace("+00:00", "Z"),
        },
    }
    assert request["headers"]["webhook-id"] == delivery.message_id
    attempt = WebhookAttempt.objects.get()
    assert (attempt.number, attempt.status_code, attempt.succeeded, attempt.response_excerpt) == (
        1,
        200,
        True,
        '{"ok": true}',
    )


def test_a_huge_answer_is_cut_to_its_excerpt_not_downloaded(
    subscription, http_receiver, open_case, client_a, queue_a, django_capture_on_commit_callbacks
):
    http_receiver.body_bytes = 64 * 1024 * 1024
    with django_capture_on_commit_callbacks(execute=True):
        open_case(client=client_a, queue=queue_a)
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.succeeded) == (200, True)
    assert attempt.response_excerpt == "streamed answer\n" + "x" * (500 - len("streamed answer\n"))
    # The connection was dropped after the excerpt: the receiver could not hand over its body.
    assert http_receiver.sent < http_receiver.body_bytes


def test_a_dripping_answer_is_read_only_until_the_timeout(
    subscription, http_receiver, open_case, client_a, queue_a, settings, django_capture_on_commit_callbacks
):
    settings.ACCORD_WEBHOOK_TIMEOUT_SECONDS = 1
    http_receiver.body_bytes, http_receiver.drip_seconds = 60, 0.2  # a byte every 0.2 s: 12 s in all
    with django_capture_on_commit_callbacks(execute=True):
        open_case(client=client_a, queue=queue_a)
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.succeeded) == (200, True)
    # Each byte came well within the read timeout, so only the deadline stopped the reading.
    assert 0 < len(attempt.response_excerpt) < 30
    assert ("streamed answer\n" + "x" * 44).startswith(attempt.response_excerpt)


def test_a_name_rebound_to_loopback_after_the_check_is_refused_before_anything_is_sent(
    http_receiver, open_case, client_a, queue_a, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """DNS rebinding: the name resolves to a public address when the URL is checked, then to
    the local receiver when the connection is made. (The resolver is the one thing faked here:
    a test cannot make the system's DNS answer differently from one lookup to the next.)"""
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = False
    port = int(http_receiver.url.rsplit(":", 1)[1].split("/")[0])
    answers = iter(["93.184.216.34"])  # for the check before sending; the connection's lookup is next
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host != "hooks.rebind.test":
            return real_getaddrinfo(host, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    WebhookSubscriptionFactory(
        client=client_a, url=f"https://hooks.rebind.test:{port}/hooks", events=["case.created"], secret=SECRET
    )
    with django_capture_on_commit_callbacks(execute=True):
        open_case(client=client_a, queue=queue_a)
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.succeeded) == (None, False)
    assert attempt.error == (
        "ConnectionError: hooks.rebind.test resolved to a loopback address (127.0.0.1); refused."
    )
    assert http_receiver.requests == []


def test_outbound_posts_take_the_environments_ca_bundle(monkeypatch, settings):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/accord-ca.pem")
    with pytest.raises(OSError, match=r"/nonexistent/accord-ca\.pem"):
        outbound_http.post("https://127.0.0.1:9/x", body=b"{}", headers={}, read_timeout=1, excerpt_chars=9)


def test_outbound_posts_ignore_the_environments_proxy(http_receiver, monkeypatch, settings):
    """Through a proxy, the peer checked would be the proxy, not the receiver."""
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    answer = outbound_http.post(http_receiver.url, body=b"{}", headers={}, read_timeout=5, excerpt_chars=99)
    assert (answer.status_code, len(http_receiver.requests)) == (200, 1)


def test_outbox_row_rolls_back_with_the_change(subscription, open_case, client_a, queue_a):
    with pytest.raises(RuntimeError), transaction.atomic():
        open_case(client=client_a, queue=queue_a)
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError("the change fails")
    assert WebhookDelivery.objects.count() == 0


def test_events_not_subscribed_and_other_clients_write_nothing(
    subscription, open_case, client_b, queue_b, client_a, queue_a, agent_a
):
    open_case(client=client_b, queue=queue_b)
    assert WebhookDelivery.objects.count() == 0
    case = open_case(client=client_a, queue=queue_a)
    case_services.interaction_append(
        case=case, channel="email", direction="inbound", author_kind="customer", body="x"
    )
    assert list(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["case.created"]
    case_services.case_priority_set(case=case, priority="high", actor=agent_a)
    change = WebhookDelivery.objects.get(event_type="case.updated").payload["data"]["change"]
    assert change == {"field": "priority", "old_priority": "normal", "new_priority": "high"}


def test_failure_is_retried_with_backoff_and_every_attempt_logged(
    subscription, http_receiver, open_case, client_a, queue_a, django_capture_on_commit_callbacks
):
    http_receiver.statuses = [500, 503]
    with django_capture_on_commit_callbacks(execute=True):
        open_case(client=client_a, queue=queue_a)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "pending",
        1,
        500,
        "HTTP 500",
    )
    first_due = delivery.next_attempt_at
    attempted = WebhookAttempt.objects.get().attempted_at
    assert first_due - attempted == timedelta(seconds=5)
    assert webhooks.webhooks_send_due(now=first_due - timedelta(seconds=1)) == {}
    assert webhooks.webhooks_send_due(now=first_due) == {"retry": 1}
    delivery.refresh_from_db()
    # 300 s after the attempt, which starts as the run reaches it (within a second here)
    assert timedelta(seconds=300) <= delivery.next_attempt_at - first_due < timedelta(seconds=301)
    assert webhooks.webhooks_send_due(now=delivery.next_attempt_at) == {"delivered": 1}
    assert list(WebhookAttempt.objects.values_list("number", "status_code", "succeeded")) == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert all(a.latency_ms >= 0 for a in WebhookAttempt.objects.all())
    assert len({r["headers"]["webhook-id"] for r in http_receiver.requests}) == 1
    # Running it again changes nothing.
    assert webhooks.webhooks_send_due(now=delivery.next_attempt_at + timedelta(days=1)) == {}
    assert WebhookAttempt.objects.count() == 3


def test_default_schedule_is_eight_attempts_over_about_a_day(settings):
    delays = webhooks.retry_delays()
    assert webhooks.max_attempts() == 8
    assert timedelta(hours=20) < timedelta(seconds=sum(delays)) < timedelta(hours=30)


def test_attempts_exhausted_mark_the_delivery_failed(
    subscription, http_receiver, open_case, client_a, queue_a, settings, django_capture_on_commit_callbacks
):
    settings.ACCORD_WEBHOOK_RETRY_SCHEDULE = [1, 1]
    http_receiver.statuses = [500, 500, 500]
    with django_capture_on_commit_callbacks(execute=True):
        open_case(client=client_a, queue=queue_a)
    now = timezone.now()
    for step in (1, 2):
        webhooks.webhooks_send_due(now=now + timedelta(seconds=step * 5))
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", 3)
    assert webhooks.webhooks_send_due(now=now + timedelta(days=2)) == {}


def test_subscription_paused_after_n_failures_in_a_row_then_resumed(
    subscription, http_receiver, open_case, client_a, queue_a, settings, django_capture_on_commit_callbacks
):
    settings.ACCORD_WEBHOOK_PAUSE_AFTER_FAILURES = 2
    http_receiver.statuses = [500, 500]
    with django_capture_on_commit_callbacks(execute=True):
        open_case(client=client_a, queue=queue_a)
        open_case(client=client_a, queue=queue_a)
    subscription.refresh_from_db()
    assert subscription.paused_at is not None
    assert subscription.pause_reason == "Paused after 2 failed deliveries in a row; last: HTTP 500"
    assert subscription.history.first().history_change_reason == "paused: too many failures"
    with django_capture_on_commit_callbacks(execute=True):
        open_case(client=client_a, queue=queue_a)  # written, waits while paused
    assert WebhookDelivery.objects.filter(state="pending").count() == 3
    assert webhooks.webhooks_send_due(now=timezone.now() + timedelta(hours=1)) == {}
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhook_subscription_resume(subscription=subscription)
    assert WebhookDelivery.objects.filter(state="delivered").count() == 3
    subscription.refresh_from_db()
    assert (subscription.paused_at, subscription.consecutive_failures) == (None, 0)


def test_lost_task_is_resent_by_the_periodic_task(
    subscription, http_receiver, open_case, client_a, queue_a, settings
):
    open_case(client=client_a, queue=queue_a)  # on-commit enqueue never runs: the task is "lost"
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending"
    assert webhooks.webhooks_send_due(now=timezone.now()) == {}  # too young: its task may still run
    later = timezone.now() + timedelta(seconds=settings.ACCORD_WEBHOOK_LOST_AFTER_SECONDS + 1)
    assert webhooks.webhooks_send_due(now=later) == {"delivered": 1}
    assert webhooks.webhooks_send_due(now=later) == {}
    assert len(http_receiver.requests) == 1


def test_a_claimed_row_is_not_sent_twice(subscription, http_receiver, open_case, client_a, queue_a):
    open_case(client=client_a, queue=queue_a)
    delivery = WebhookDelivery.objects.get()
    now = timezone.now()
    assert webhooks._claim(delivery.pk, now)
    assert webhooks.webhook_send(delivery_id=delivery.pk, now=now) == "skipped"
    assert http_receiver.requests == []


def test_inactive_subscription_gets_no_rows_and_pending_ones_are_cancelled(
    subscription, http_receiver, open_case, client_a, queue_a
):
    open_case(client=client_a, queue=queue_a)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)
    open_case(client=client_a, queue=queue_a)
    delivery = WebhookDelivery.objects.get()
    assert webhooks.webhook_send(delivery_id=delivery.pk) == "cancelled"
    assert http_receiver.requests == []


def test_redeliver(
    subscription, http_receiver, open_case, client_a, queue_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        open_case(client=client_a, queue=queue_a)
    delivery = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhook_redeliver(delivery=delivery)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
    assert len(http_receiver.requests) == 2
    assert (
        http_receiver.requests[0]["headers"]["webhook-id"]
        == http_receiver.requests[1]["headers"]["webhook-id"]
    )
    assert WebhookAttempt.objects.count() == 2


def _alerts(case, count):
    return tuple(
        sla_events.ClockAlert(
            clock_id=1000 + i,
            case_id=case.pk,
            client_id=case.client_id,
            queue_id=case.queue_id,
            metric="first_response",
            cycle=1,
            priority="normal",
            channel="email",
            at=case.opened_at,
            detected_by="sweep",
        )
        for i in range(count)
    )


def test_sla_batches_are_written_in_bulk_with_constant_queries(
    subscription, open_case, client_a, queue_a, django_assert_num_queries
):
    case = open_case(client=client_a, queue=queue_a)
    WebhookDelivery.objects.all().delete()
    # webhooks: subscriptions, cases, one INSERT; alerts: the queues' supervisors (none here)
    with django_assert_num_queries(4), transaction.atomic(savepoint=False):
        publish(sla_events.ClocksBreached(alerts=_alerts(case, 2)))
    with django_assert_num_queries(4), transaction.atomic(savepoint=False):
        publish(sla_events.ClocksBreached(alerts=_alerts(case, 20)))
    rows = WebhookDelivery.objects.filter(event_type="sla.breached")
    assert rows.count() == 22
    payload = rows.order_by("id").first().payload
    assert payload["data"]["clock"] == {"id": 1000, "metric": "first_response", "cycle": 1}
    assert payload["data"]["case"]["id"] == str(case.public_id)
    assert json.dumps(payload)  # serializable as sent


def test_sla_breach_delivered_to_server(
    subscription, http_receiver, open_case, client_a, queue_a, django_capture_on_commit_callbacks
):
    case = open_case(client=client_a, queue=queue_a)
    WebhookDelivery.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        publish(sla_events.ClocksBreached(alerts=_alerts(case, 3)))
    assert WebhookDelivery.objects.filter(state="delivered").count() == 3
    types = [_verify(r)["type"] for r in http_receiver.requests]
    assert types == ["sla.breached"] * 3


def test_each_attempt_of_a_periodic_run_is_made_at_its_own_time(
    subscription, http_receiver, open_case, client_a, queue_a, django_capture_on_commit_callbacks, monkeypatch
):
    """A run lasts up to its budget: an attempt made late in it is claimed, signed and logged at
    its own time, so its claim's lease runs from when it starts (not from the run's start)."""
    http_receiver.statuses = [500, 500]
    with django_capture_on_commit_callbacks(execute=True):
        open_case(client=client_a, queue=queue_a)
        open_case(client=client_a, queue=queue_a)
    due = max(WebhookDelivery.objects.values_list("next_attempt_at", flat=True))
    ticks = iter(range(0, 10_000, 13))  # every reading of the run's clock: 13 s later
    monkeypatch.setattr(webhooks.time, "monotonic", lambda: next(ticks))
    assert webhooks.webhooks_send_due(now=due, budget_seconds=1000) == {"delivered": 2}
    second_attempts = list(
        WebhookAttempt.objects.filter(number=2)
        .order_by("attempted_at")
        .values_list("attempted_at", flat=True)
    )
    assert second_attempts[0] - due >= timedelta(seconds=13)
    assert second_attempts[1] - second_attempts[0] >= timedelta(seconds=13)
