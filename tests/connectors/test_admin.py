"""Admin: client scoping, secrets shown once, replay and redeliver actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.models import Case
from connectors.models import Connector, InboundEvent, WebhookDelivery
from tests.connectors.conftest import fixture_bytes
from tests.connectors.factories import ConnectorFactory, RoutingRuleFactory, WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db

MODELS = [
    "connector",
    "routingrule",
    "inboundevent",
    "imapmailboxstate",
    "webhooksubscription",
    "webhookdelivery",
    "webhookattempt",
    "alertnotification",
]


@pytest.fixture
def two_clients(make_connector, post_event, client_a, client_b, queue_b):
    alpha = make_connector("sms", slug="alpha-sms")
    beta = ConnectorFactory(
        client=client_b, default_queue=queue_b, adapter="sms", slug="beta-secret-sms", name="Beta SMS"
    )
    post_event(
        alpha,
        b"MessageSid=SA1&From=%2B14155550123&Body=alpha",
        content_type="application/x-www-form-urlencoded",
    )
    post_event(
        beta,
        b"MessageSid=SB1&From=%2B14155550124&Body=beta",
        content_type="application/x-www-form-urlencoded",
    )
    RoutingRuleFactory(client=client_b, queue=queue_b, name="beta-secret-rule")
    WebhookSubscriptionFactory(client=client_b, name="beta-secret-hook")
    return alpha, beta


@pytest.mark.parametrize("model", MODELS)
def test_superuser_changelists_render(client, superuser, two_clients, model):
    client.force_login(superuser)
    assert client.get(reverse(f"admin:connectors_{model}_changelist")).status_code == 200


@pytest.mark.parametrize("model", ["connector", "routingrule", "inboundevent", "webhooksubscription"])
def test_client_a_staff_sees_no_client_b_rows(client, supervisor_a, two_clients, model):
    client.force_login(supervisor_a)
    response = client.get(reverse(f"admin:connectors_{model}_changelist"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "beta-secret" not in content and "Beta Bank" not in content
    assert {row.client_id for row in response.context["cl"].queryset} <= {two_clients[0].client_id}


def test_other_clients_connector_and_event_are_not_reachable_by_url(client, supervisor_a, two_clients):
    alpha, beta = two_clients
    client.force_login(supervisor_a)
    assert client.get(reverse("admin:connectors_connector_change", args=[alpha.pk])).status_code == 200
    event_b = InboundEvent.objects.get(connector=beta)
    for url in (
        reverse("admin:connectors_connector_change", args=[beta.pk]),
        reverse("admin:connectors_inboundevent_change", args=[event_b.pk]),
    ):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0] == reverse("admin:index")
        assert b"beta-secret" not in response.content


def test_agent_sees_own_inbound_events_only(client, agent_a, two_clients):
    client.force_login(agent_a)
    response = client.get(reverse("admin:connectors_inboundevent_changelist"))
    assert response.status_code == 200
    assert set(response.context["cl"].queryset.values_list("connector__slug", flat=True)) == {"alpha-sms"}
    assert client.get(reverse("admin:connectors_connector_changelist")).status_code == 403


def test_secret_is_never_shown_in_change_page(client, superuser, two_clients):
    alpha, _ = two_clients
    client.force_login(superuser)
    response = client.get(reverse("admin:connectors_connector_change", args=[alpha.pk]))
    assert alpha.signing_secret.encode() not in response.content
    list_page = client.get(reverse("admin:connectors_connector_changelist"))
    assert alpha.signing_secret.encode() not in list_page.content


def test_create_shows_the_secret_once(client, supervisor_a, queue_a, client_a):
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:connectors_connector_add"),
        {
            "client": client_a.pk,
            "name": "Alpha mail",
            "slug": "alpha-mail",
            "adapter": "email",
            "default_queue": queue_a.pk,
            "settings": "{}",
            "is_active": "on",
            "imap_password": "s3cret",
        },
    )
    assert response.status_code == 200, response.content[:2000]
    connector = Connector.objects.get(slug="alpha-mail")
    assert connector.signing_secret.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    assert (connector.channel, connector.credentials) == ("email", {"imap_password": "s3cret"})
    history = connector.history.get()
    assert not hasattr(history, "signing_secret") and not hasattr(history, "credentials")
    page = client.get(reverse("admin:connectors_connector_change", args=[connector.pk]))
    assert connector.signing_secret.encode() not in page.content and b"s3cret" not in page.content


def test_rotate_action_shows_new_secret_and_keeps_old_valid(client, supervisor_a, two_clients):
    alpha, _ = two_clients
    old = alpha.signing_secret
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:connectors_connector_changelist"),
        {"action": "rotate_secret", "_selected_action": [alpha.pk]},
    )
    alpha.refresh_from_db()
    assert alpha.signing_secret != old and alpha.previous_signing_secret == old
    assert alpha.signing_secret.encode() in response.content
    assert old.encode() not in response.content


def test_rotate_action_cannot_reach_another_clients_connector(client, supervisor_a, two_clients):
    _, beta = two_clients
    old = beta.signing_secret
    client.force_login(supervisor_a)
    client.post(
        reverse("admin:connectors_connector_changelist"),
        {"action": "rotate_secret", "_selected_action": [beta.pk]},
    )
    beta.refresh_from_db()
    assert beta.signing_secret == old


def test_replay_action(client, supervisor_a, make_connector, post_event, client_a):
    client_a.default_region = "ZZ"
    client_a.save()
    sms = make_connector("sms", slug="alpha-sms2")
    post_event(sms, b"MessageSid=SX&From=4155550123&Body=x", content_type="application/x-www-form-urlencoded")
    event = InboundEvent.objects.get(status="failed")
    client_a.default_region = "US"
    client_a.save()
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:connectors_inboundevent_changelist"),
        {"action": "replay", "_selected_action": [event.pk]},
        follow=True,
    )
    assert "Replayed 1 event(s); 0 failed; 0 skipped (not failed)." in response.content.decode()
    event.refresh_from_db()
    assert event.status == "processed"
    assert Case.objects.count() == 1


FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def failed_sms(make_connector, post_event, client_a):
    """`failed_sms(n)`: n SMS of client A that failed (the client's region could not read the
    numbers); `fix()` sets a region that can."""
    client_a.default_region = "ZZ"
    client_a.save()
    sms = make_connector("sms", slug="alpha-failing")

    def _post(count: int) -> list[int]:
        for i in range(count):
            post_event(sms, f"MessageSid=SF{i}&From=41555501{i:02d}&Body=x".encode(), content_type=FORM)
        return list(InboundEvent.objects.filter(status="failed").order_by("pk").values_list("pk", flat=True))

    def fix():
        client_a.default_region = "US"
        client_a.save()

    _post.fix = fix
    return _post


def _replay(client, ids, **kwargs):
    return client.post(
        reverse("admin:connectors_inboundevent_changelist"),
        {"action": "replay", "_selected_action": ids},
        follow=True,
        **kwargs,
    )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_replay_failing_again_shows_ten_errors_then_a_count(client, supervisor_a, failed_sms):
    ids = failed_sms(12)
    client.force_login(supervisor_a)
    shown = _messages(_replay(client, ids))
    errors = [text for text in shown if text.startswith("Event ")]
    assert len(errors) == 10 and all("failed again" in text for text in errors)
    assert "… and 2 more failed again." in shown
    assert "Replayed 0 event(s); 12 failed; 0 skipped (not failed)." in shown
    assert set(InboundEvent.objects.values_list("status", "attempts")) == {("failed", 2)}


def test_a_large_replay_runs_in_background_tasks(
    client, supervisor_a, failed_sms, settings, django_capture_on_commit_callbacks
):
    settings.ACCORD_CONNECTOR_REPLAY_INLINE_MAX = 2
    ids = failed_sms(3)
    failed_sms.fix()
    processed = InboundEvent.objects.exclude(pk__in=ids).values_list("pk", flat=True)
    client.force_login(supervisor_a)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        shown = _messages(_replay(client, [*ids, *processed]))
    replays = [c for c in callbacks if "connectors.tasks.inbound_events_replay_task" in c.args]
    assert len(replays) == 1  # one task for the three (tests: the sync broker ran it)
    assert (
        "Replaying 3 event(s) in the background; 0 skipped (not failed). "
        "The connector list counts the failed events left." in shown
    )
    assert set(InboundEvent.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"processed"}
    assert Case.objects.count() == 3


def test_a_large_replay_reaches_no_other_clients_events(
    client,
    supervisor_a,
    failed_sms,
    settings,
    django_capture_on_commit_callbacks,
    client_b,
    queue_b,
    post_event,
):
    settings.ACCORD_CONNECTOR_REPLAY_INLINE_MAX = 0
    beta = ConnectorFactory(client=client_b, default_queue=queue_b, adapter="sms", slug="beta-sms")
    post_event(beta, b"MessageSid=SB9&From=0&Body=x", content_type=FORM)
    other = InboundEvent.objects.get(client=client_b)
    assert other.status == "failed"
    ids = failed_sms(1)
    client.force_login(supervisor_a)
    with django_capture_on_commit_callbacks(execute=True):
        shown = _messages(_replay(client, [*ids, other.pk]))
    assert any(text.startswith("Replaying 1 event(s) in the background") for text in shown), shown
    assert InboundEvent.objects.filter(pk=other.pk, status="failed", attempts=other.attempts).exists()


def test_replaying_twice_replays_once(failed_sms):
    from connectors import services

    ids = failed_sms(2)
    failed_sms.fix()
    first = services.inbound_events_replay(event_ids=ids)
    again = services.inbound_events_replay(event_ids=ids)
    assert (first.replayed, first.failed, first.skipped) == (2, [], 0)
    assert (again.replayed, again.failed, again.skipped) == (0, [], 2)
    assert Case.objects.count() == 2


def test_redeliver_action(
    client,
    supervisor_a,
    client_a,
    open_case,
    queue_a,
    settings,
    http_receiver,
    django_capture_on_commit_callbacks,
):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    WebhookSubscriptionFactory(client=client_a, url=http_receiver.url)
    open_case(client=client_a, queue=queue_a)
    delivery = WebhookDelivery.objects.get()
    client.force_login(supervisor_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:connectors_webhookdelivery_changelist"),
            {"action": "redeliver", "_selected_action": [delivery.pk]},
        )
    delivery.refresh_from_db()
    # On commit the task ran (sync broker in tests) and delivered it.
    assert (delivery.state, delivery.attempts) == ("delivered", 1)


def test_paused_subscription_shows_a_notice(client, supervisor_a, client_a):
    from django.utils import timezone

    WebhookSubscriptionFactory(
        client=client_a,
        name="CRM",
        paused_at=timezone.now(),
        pause_reason="Paused after 20 failed deliveries in a row; last: HTTP 500",
    )
    client.force_login(supervisor_a)
    response = client.get(reverse("admin:connectors_webhooksubscription_changelist"))
    assert (
        "is paused: Paused after 20 failed deliveries in a row; last: HTTP 500" in response.content.decode()
    )
    assert fixture_bytes("sms_twilio.txt")


def test_add_pages_render(client, supervisor_a):
    client.force_login(supervisor_a)
    assert client.get(reverse("admin:connectors_connector_add")).status_code == 200
    assert client.get(reverse("admin:connectors_webhooksubscription_add")).status_code == 200
    assert client.get(reverse("admin:connectors_routingrule_add")).status_code == 200


def test_webhook_subscription_created_in_admin_shows_secret_once(client, supervisor_a, client_a):
    from connectors.models import WebhookSubscription

    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:connectors_webhooksubscription_add"),
        {
            "client": client_a.pk,
            "name": "CRM",
            "url": "https://93.184.216.34/hooks",
            "events": ["case.created", "sla.breached"],
            "is_active": "on",
        },
    )
    subscription = WebhookSubscription.objects.get()
    assert response.status_code == 200
    assert subscription.secret.encode() in response.content
    assert subscription.events == ["case.created", "sla.breached"]
    page = client.get(reverse("admin:connectors_webhooksubscription_change", args=[subscription.pk]))
    assert subscription.secret.encode() not in page.content


def test_webhook_subscription_to_a_private_address_is_refused_in_admin(client, supervisor_a, client_a):
    from connectors.models import WebhookSubscription

    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:connectors_webhooksubscription_add"),
        {"client": client_a.pk, "name": "CRM", "url": "https://10.0.0.5/hooks", "events": ["case.created"]},
    )
    assert response.status_code == 200
    assert "resolves to a private address (10.0.0.5); refused." in response.content.decode()
    assert WebhookSubscription.objects.count() == 0


def _fail_an_event(post_event, connector):
    response = post_event(
        connector, b"MessageSid=SBAD&Body=no+sender", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    return InboundEvent.objects.get(connector=connector, status="failed")


def test_connector_list_shows_each_connectors_last_event_and_failed_events(
    client, supervisor_a, two_clients, post_event
):
    alpha, beta = two_clients
    ConnectorFactory(client=alpha.client, default_queue=alpha.default_queue, adapter="chat", slug="quiet")
    failed = _fail_an_event(post_event, alpha)
    _fail_an_event(post_event, beta)  # another client's failure: neither listed nor announced
    client.force_login(supervisor_a)
    response = client.get(reverse("admin:connectors_connector_changelist"))
    rows = {row.slug: row for row in response.context["cl"].result_list}
    assert set(rows) == {"alpha-sms", "quiet"}
    latest = InboundEvent.objects.filter(connector=alpha).latest("received_at").received_at
    assert (rows["alpha-sms"].last_event_at, rows["alpha-sms"].failed_events) == (latest, 1)
    assert (rows["quiet"].last_event_at, rows["quiet"].failed_events) == (None, 0)
    events = reverse("admin:connectors_inboundevent_changelist")
    link = f"{events}?connector__id__exact={alpha.pk}&status__exact=failed"
    assert link.replace("&", "&amp;") in response.content.decode()
    assert f"Connector “{alpha}” has 1 failed inbound event(s) awaiting replay" in response.content.decode()
    listed = client.get(link)
    assert [event.pk for event in listed.context["cl"].result_list] == [failed.pk]


def test_connector_health_costs_the_same_for_2_and_7_connectors(
    client, superuser, two_clients, post_event, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alpha, _ = two_clients
    client.force_login(superuser)
    url = reverse("admin:connectors_connector_changelist")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    queries = len(few.captured_queries)  # read now: the next request clears Django's query log
    for index in range(5):
        connector = ConnectorFactory(
            client=alpha.client, default_queue=alpha.default_queue, slug=f"more-{index}"
        )
        _fail_an_event(post_event, connector)
    with django_assert_num_queries(queries):
        response = client.get(url)
    assert len(response.context["cl"].result_list) == 7


@pytest.mark.parametrize("user", ["superuser", "supervisor_a"])
def test_inbound_event_list_reads_the_event_table_for_its_page_and_count_only(
    client, two_clients, user, request
):
    """The list's filters (connector, client, via, status, date) read the small tables or
    nothing: the events are read twice (the page and its count), whatever their number."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(request.getfixturevalue(user))
    url = reverse("admin:connectors_inboundevent_changelist")
    for query in ("", "?status__exact=failed", f"?connector__id__exact={two_clients[0].pk}"):
        with CaptureQueriesContext(connection) as context:
            response = client.get(url + query)
        assert response.status_code == 200
        reads = [q["sql"] for q in context.captured_queries if "connectors_inboundevent" in q["sql"]]
        assert len(reads) == 2, reads
        assert not any("DISTINCT" in sql for sql in reads), reads


def test_inbound_event_filters_offer_only_the_users_clients_connectors(client, supervisor_a, two_clients):
    alpha, _ = two_clients
    ConnectorFactory(
        client=alpha.client, default_queue=alpha.default_queue, name="Alpha chat", slug="alpha-chat"
    )
    client.force_login(supervisor_a)
    response = client.get(reverse("admin:connectors_inboundevent_changelist"))
    (connector_filter,) = [f for f in response.context["cl"].filter_specs if f.field_path == "connector"]
    assert sorted(label for _, label in connector_filter.lookup_choices) == sorted(
        [str(alpha), "Alpha chat (alpha-chat)"]
    )
    assert "Beta SMS" not in response.content.decode()


def _take(client, ids):
    return client.post(
        reverse("admin:connectors_inboundevent_changelist"),
        {"action": "take_as_customer", "_selected_action": ids},
        follow=True,
    )


def test_an_automatic_message_kept_aside_is_taken_as_the_customers(
    client, supervisor_a, make_connector, post_event, client_b, queue_b
):
    """A web form's mail that looked automatic (Precedence: bulk): kept aside, then ingested from
    admin as the customer's. A receipt is not a message; another client's event is out of reach."""
    from cases.models import Customer, Interaction

    email = make_connector("email")
    post_event(email, fixture_bytes("email_vacation.eml"), content_type="message/rfc822")
    kept = InboundEvent.objects.get(status="ignored")
    sms = make_connector("sms", slug="alpha-receipts")
    post_event(sms, b"MessageSid=SM-OUT-9&MessageStatus=delivered", content_type=FORM)
    receipt = InboundEvent.objects.get(connector=sms)
    beta = ConnectorFactory(client=client_b, default_queue=queue_b, adapter="email", slug="beta-mail")
    post_event(beta, fixture_bytes("email_vacation.eml"), content_type="message/rfc822")
    other = InboundEvent.objects.get(client=client_b)
    assert (receipt.status, other.status) == ("ignored", "ignored")

    client.force_login(supervisor_a)
    shown = _messages(_take(client, [kept.pk, receipt.pk, other.pk]))
    assert f"Event {receipt.pk} is not an automatic message kept aside; only those are taken" in shown[0]
    assert "Ingested 1 message(s) as the customer's; 1 refused." in shown
    kept.refresh_from_db()
    assert (kept.status, kept.error, kept.attempts) == ("processed", "", 2)
    interaction = Interaction.objects.get()
    assert (interaction.author_kind, interaction.case.client_id) == ("customer", email.client_id)
    assert Customer.objects.get(client=email.client).display_name == "Bob Beta"
    assert InboundEvent.objects.filter(pk=other.pk, status="ignored").exists()
    # Taken once: again, it is no longer kept aside.
    assert "Ingested 0 message(s) as the customer's; 0 refused." in _messages(_take(client, [kept.pk]))
    assert Case.objects.count() == 1
