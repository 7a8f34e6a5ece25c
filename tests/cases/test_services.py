"""The case lifecycle services: transitions, timeline, events, identities, merges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from cases import events, services
from cases.choices import AuthorKind, CaseEventKind, CaseStatus, Channel, Direction, IdentityKind, Priority
from cases.models import Case, CaseEvent, CustomerIdentity, Interaction, SatisfactionSurvey
from config.errors import ApplicationError, ConflictError
from tests.factories import CaseFactory, CustomerFactory, QueueFactory

pytestmark = pytest.mark.django_db

ALL = list(CaseStatus)
ALLOWED = {
    (CaseStatus.NEW, CaseStatus.OPEN),
    (CaseStatus.NEW, CaseStatus.PENDING),
    (CaseStatus.NEW, CaseStatus.ON_HOLD),
    (CaseStatus.NEW, CaseStatus.RESOLVED),
    (CaseStatus.OPEN, CaseStatus.PENDING),
    (CaseStatus.OPEN, CaseStatus.ON_HOLD),
    (CaseStatus.OPEN, CaseStatus.RESOLVED),
    (CaseStatus.PENDING, CaseStatus.OPEN),
    (CaseStatus.PENDING, CaseStatus.ON_HOLD),
    (CaseStatus.PENDING, CaseStatus.RESOLVED),
    (CaseStatus.ON_HOLD, CaseStatus.OPEN),
    (CaseStatus.ON_HOLD, CaseStatus.PENDING),
    (CaseStatus.ON_HOLD, CaseStatus.RESOLVED),
    (CaseStatus.RESOLVED, CaseStatus.OPEN),
    (CaseStatus.RESOLVED, CaseStatus.CLOSED),
}


def _case_in(status, client):
    case = CaseFactory(client=client, status=status)
    return case


@pytest.mark.parametrize(("old", "new"), sorted(ALLOWED))
def test_allowed_transition_changes_status_and_writes_timeline(old, new, client_a, agent_a):
    case = _case_in(old, client_a)
    updated = services.case_status_set(case=case, status=new, actor=agent_a, reason="because")
    updated.refresh_from_db()
    assert updated.status == new
    assert updated.version == 2
    event = CaseEvent.objects.get(case=case)
    assert (event.before, event.after, event.actor, event.reason) == (
        {"status": old},
        {"status": new},
        agent_a,
        "because",
    )
    if (old, new) == (CaseStatus.RESOLVED, CaseStatus.OPEN):
        assert (event.kind, updated.reopen_count) == (CaseEventKind.REOPENED, 1)
    if new == CaseStatus.RESOLVED:
        assert event.kind == CaseEventKind.RESOLVED and updated.resolved_at is not None
    if new == CaseStatus.CLOSED:
        assert event.kind == CaseEventKind.CLOSED and updated.closed_at is not None


@pytest.mark.parametrize(("old", "new"), [(o, n) for o in ALL for n in ALL if (o, n) not in ALLOWED])
def test_refused_transition_changes_nothing(old, new, client_a, agent_a):
    case = _case_in(old, client_a)
    with pytest.raises(ApplicationError) as refused:
        services.case_status_set(case=case, status=new, actor=agent_a)
    assert "status" in refused.value.field_errors
    case.refresh_from_db()
    assert (case.status, case.version, CaseEvent.objects.filter(case=case).count()) == (old, 1, 0)


def test_closed_is_final_and_says_so(client_a, agent_a):
    case = _case_in(CaseStatus.CLOSED, client_a)
    with pytest.raises(ApplicationError, match="Closed is final"):
        services.case_status_set(case=case, status=CaseStatus.OPEN, actor=agent_a)
    with pytest.raises(ApplicationError, match="Only a resolved case"):
        services.case_reopen(case=case, actor=agent_a, reason="customer came back")


def test_unknown_status_is_refused(case_a, agent_a):
    with pytest.raises(ApplicationError, match="Unknown status"):
        services.case_status_set(case=case_a, status="archived", actor=agent_a)


def test_reopen_counts_and_needs_a_reason(case_a, agent_a):
    services.case_resolve(case=case_a, actor=agent_a, first_contact_resolution=True)
    with pytest.raises(ApplicationError) as refused:
        services.case_reopen(case=case_a, actor=agent_a, reason=" ")
    assert "reason" in refused.value.field_errors
    case = services.case_reopen(case=case_a, actor=agent_a, reason="not fixed")
    services.case_resolve(case=case, actor=agent_a)
    case = services.case_reopen(case=case, actor=agent_a, reason="still not fixed")
    case.refresh_from_db()
    assert (case.status, case.reopen_count, case.resolved_at, case.first_contact_resolution) == (
        CaseStatus.OPEN,
        2,
        None,
        False,
    )


def test_stale_version_is_a_conflict_and_changes_nothing(case_a, agent_a):
    services.case_priority_set(case=case_a, priority=Priority.HIGH, actor=agent_a, expected_version=1)
    with pytest.raises(ConflictError, match="changed by someone else"):
        services.case_priority_set(case=case_a, priority=Priority.LOW, actor=agent_a, expected_version=1)
    case_a.refresh_from_db()
    assert (case_a.priority, case_a.version) == (Priority.HIGH, 2)


def test_case_open_records_opened_event_and_publishes(
    client_a, queue_a, customer_a, agent_a, captured_events, django_capture_on_commit_callbacks
):
    received = captured_events(events.CaseOpened)
    opened_at = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_open(
            client=client_a,
            customer=customer_a,
            queue=queue_a,
            subject="  No signal  ",
            channel=Channel.CHAT,
            priority=Priority.HIGH,
            opened_at=opened_at,
            actor=agent_a,
        )
    assert (case.subject, case.status, case.opened_at, case.last_activity_at) == (
        "No signal",
        CaseStatus.NEW,
        opened_at,
        opened_at,
    )
    event = CaseEvent.objects.get(case=case)
    assert (event.kind, event.occurred_at, event.after) == (
        CaseEventKind.OPENED,
        opened_at,
        {"status": "new", "priority": "high", "channel": "chat", "queue": queue_a.pk, "segment": "standard"},
    )
    assert received == [
        events.CaseOpened(
            case_id=case.pk,
            client_id=client_a.pk,
            occurred_at=opened_at,
            priority="high",
            channel="chat",
            queue_id=queue_a.pk,
            status="new",
            customer_segment="standard",
        )
    ]


def test_case_open_refuses_cross_client_references(client_a, client_b, queue_b, customer_b, agent_b):
    with pytest.raises(ApplicationError) as refused:
        services.case_open(
            client=client_a,
            customer=customer_b,
            queue=queue_b,
            subject="x",
            channel=Channel.EMAIL,
            assignee=agent_b,
        )
    assert set(refused.value.field_errors) == {"customer", "queue", "assignee"}
    assert Case.objects.count() == 0


def test_case_open_refuses_bad_values_naming_each_field(client_a, queue_a, customer_a):
    with pytest.raises(ApplicationError) as refused:
        services.case_open(
            client=client_a,
            customer=customer_a,
            queue=queue_a,
            subject=" ",
            channel="fax",
            priority="critical",
        )
    assert set(refused.value.field_errors) == {"subject", "channel", "priority"}
    with pytest.raises(ApplicationError, match="UTC offset"):
        services.case_open(
            client=client_a,
            customer=customer_a,
            queue=queue_a,
            subject="x",
            channel="email",
            opened_at=datetime(2026, 1, 1, 9, 0),
        )
    assert Case.objects.count() == 0


def test_external_id_unique_per_client(open_case, client_a, client_b):
    open_case(client=client_a, external_id="CRM-1")
    open_case(client=client_b, external_id="CRM-1")
    with pytest.raises(ApplicationError, match="already exists"):
        open_case(client=client_a, external_id="CRM-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseFactory(client=client_a, external_id="CRM-1")
    assert Case.objects.filter(external_id="CRM-1").count() == 2


def test_first_agent_reply_opens_and_sets_first_response(case_a, agent_a):
    at = case_a.opened_at + timedelta(minutes=5)
    services.interaction_append(
        case=case_a,
        channel=Channel.EMAIL,
        direction=Direction.OUTBOUND,
        author_kind=AuthorKind.BOT,
        body="auto-reply",
        occurred_at=at - timedelta(minutes=4),
    )
    case_a.refresh_from_db()
    assert (case_a.status, case_a.first_responded_at) == (CaseStatus.NEW, None)
    services.interaction_append(
        case=case_a,
        channel=Channel.EMAIL,
        direction=Direction.OUTBOUND,
        author_kind=AuthorKind.AGENT,
        author=agent_a,
        body="Hello",
        occurred_at=at,
    )
    case_a.refresh_from_db()
    assert (case_a.status, case_a.first_responded_at, case_a.last_activity_at) == (CaseStatus.OPEN, at, at)
    kinds = list(CaseEvent.objects.filter(case=case_a).values_list("kind", flat=True))
    assert kinds == [
        CaseEventKind.OPENED,
        CaseEventKind.INTERACTION,
        CaseEventKind.INTERACTION,
        CaseEventKind.STATUS_CHANGED,
    ]


def test_internal_note_is_not_a_response(case_a, agent_a):
    services.interaction_append(
        case=case_a,
        channel=Channel.EMAIL,
        direction=Direction.NOTE,
        author_kind=AuthorKind.AGENT,
        author=agent_a,
        body="checking",
    )
    case_a.refresh_from_db()
    assert (case_a.status, case_a.first_responded_at) == (CaseStatus.NEW, None)


def test_channel_switch_is_recorded_as_handoff(case_a, agent_a):
    services.interaction_append(
        case=case_a,
        channel=Channel.VOICE,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        body="calling about my e-mail",
    )
    case_a.refresh_from_db()
    handoff = CaseEvent.objects.get(case=case_a, kind=CaseEventKind.CHANNEL_HANDOFF)
    assert (handoff.before, handoff.after, case_a.current_channel, case_a.origin_channel) == (
        {"channel": "email"},
        {"channel": "voice"},
        Channel.VOICE,
        Channel.EMAIL,
    )


def test_customer_reply_on_pending_case_reopens_conversation(case_a, agent_a):
    services.case_status_set(case=case_a, status=CaseStatus.PENDING, actor=agent_a)
    services.interaction_append(
        case=case_a,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        body="here are the details",
    )
    case_a.refresh_from_db()
    assert case_a.status == CaseStatus.OPEN


def test_interaction_is_appended_once_per_source_and_external_id(case_a):
    kwargs = {
        "case": case_a,
        "channel": Channel.EMAIL,
        "direction": Direction.INBOUND,
        "author_kind": AuthorKind.CUSTOMER,
        "body": "hi",
        "source": "mail-alpha",
        "external_id": "<m1@example.com>",
    }
    first = services.interaction_append(**kwargs)
    again = services.interaction_append(**kwargs)
    assert (first.created, again.created, again.interaction.pk) == (True, False, first.interaction.pk)
    assert Interaction.objects.filter(case=case_a).count() == 1
    assert CaseEvent.objects.filter(case=case_a, kind=CaseEventKind.INTERACTION).count() == 1


@pytest.mark.parametrize(
    ("direction", "author_kind", "field"),
    [
        ("inbound", "agent", "author_kind"),
        ("outbound", "customer", "author_kind"),
        ("sideways", "agent", "direction"),
    ],
)
def test_inconsistent_interaction_is_refused(case_a, direction, author_kind, field):
    with pytest.raises(ApplicationError) as refused:
        services.interaction_append(
            case=case_a, channel=Channel.EMAIL, direction=direction, author_kind=author_kind
        )
    assert field in refused.value.field_errors
    assert Interaction.objects.count() == 0


def test_closed_case_takes_no_interaction(client_a):
    case = _case_in(CaseStatus.CLOSED, client_a)
    with pytest.raises(ApplicationError, match="closed case"):
        services.interaction_append(
            case=case,
            channel=Channel.EMAIL,
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            body="hello?",
        )
    assert Interaction.objects.count() == 0


def test_assign_refuses_user_of_another_client(case_a, agent_a, agent_b):
    with pytest.raises(ApplicationError) as refused:
        services.case_assign(case=case_a, assignee=agent_b, actor=agent_a)
    assert "assignee" in refused.value.field_errors
    case = services.case_assign(case=case_a, assignee=agent_a, actor=agent_a)
    assert case.assignee == agent_a
    assert CaseEvent.objects.get(case=case_a, kind=CaseEventKind.ASSIGNED).after == {"assignee": agent_a.pk}


def test_queue_of_another_client_is_refused(case_a, queue_b, agent_a):
    with pytest.raises(ApplicationError):
        services.case_queue_set(case=case_a, queue=queue_b, actor=agent_a)
    case_a.refresh_from_db()
    assert case_a.queue.client_id == case_a.client_id


def test_priority_change_publishes_event(
    case_a, agent_a, captured_events, django_capture_on_commit_callbacks
):
    received = captured_events(events.CasePriorityChanged)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_priority_set(case=case_a, priority=Priority.URGENT, actor=agent_a, reason="VIP")
    assert [(e.old_priority, e.new_priority) for e in received if e.case_id == case_a.pk] == [
        ("normal", "urgent")
    ]


# --- Identities ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        (IdentityKind.EMAIL, "  Ann.Smith@Example.COM ", "ann.smith@example.com"),
        (IdentityKind.PHONE, "(212) 555-0143", "+12125550143"),
        (IdentityKind.PHONE, "+44 20 7946 0000", "+442079460000"),
        (IdentityKind.SOCIAL, "Twitter:@Ann_Smith", "twitter:ann_smith"),
        (IdentityKind.EXTERNAL, " CRM-77 ", "CRM-77"),
    ],
)
def test_identities_are_normalized_before_storage(client_a, kind, raw, stored):
    customer = services.customer_create(client=client_a, display_name="Ann", identities=[(kind, raw)])
    assert list(customer.identities.values_list("kind", "value")) == [(kind, stored)]


def test_phone_uses_the_clients_region(client_b):
    customer = services.customer_create(client=client_b, identities=[(IdentityKind.PHONE, "020 7946 0000")])
    assert customer.identities.get().value == "+442079460000"


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        (IdentityKind.EMAIL, "not-an-email", "not a valid e-mail"),
        (IdentityKind.PHONE, "12", "not a valid phone number"),
        (IdentityKind.PHONE, "call me", "not a phone number"),
        (IdentityKind.SOCIAL, "ann_smith", "platform prefix"),
        (IdentityKind.SOCIAL, "myspace:ann", "Unknown social platform"),
        (IdentityKind.EMAIL, "   ", "empty"),
    ],
)
def test_bad_identity_is_refused_with_a_clear_message(client_a, kind, raw, message):
    with pytest.raises(ApplicationError, match=message) as refused:
        services.customer_create(client=client_a, identities=[(kind, raw)])
    assert "value" in refused.value.field_errors
    assert CustomerIdentity.objects.count() == 0


def test_identity_unique_per_client_not_across_clients(client_a, client_b):
    services.customer_create(client=client_a, identities=[(IdentityKind.EMAIL, "ann@example.com")])
    services.customer_create(client=client_b, identities=[(IdentityKind.EMAIL, "ann@example.com")])
    with pytest.raises(ApplicationError, match="already belongs to another customer"):
        services.customer_create(client=client_a, identities=[(IdentityKind.EMAIL, "ANN@example.com")])
    assert CustomerIdentity.objects.count() == 2


def test_merge_moves_identities_and_cases_with_audit(client_a, queue_a, agent_a, open_case):
    survivor = services.customer_create(client=client_a, identities=[(IdentityKind.EMAIL, "ann@example.com")])
    merged = services.customer_create(client=client_a, identities=[(IdentityKind.PHONE, "2125550143")])
    case = open_case(client=client_a, queue=queue_a, customer=merged)
    services.customers_merge(
        survivor=survivor, merged=merged, actor=agent_a, reason="same person on the phone"
    )
    merged.refresh_from_db()
    case.refresh_from_db()
    assert merged.merged_into == survivor
    assert set(survivor.identities.values_list("value", flat=True)) == {"ann@example.com", "+12125550143"}
    assert (case.customer, case.version) == (survivor, 2)
    audit = CaseEvent.objects.get(case=case, kind=CaseEventKind.CUSTOMER_MERGED)
    assert (audit.actor, audit.reason) == (agent_a, "same person on the phone")
    assert merged.history.first().history_change_reason.startswith("merged into")


def test_merge_refuses_across_clients_and_twice(client_a, client_b, agent_a):
    one, two = CustomerFactory(client=client_a), CustomerFactory(client=client_a)
    other = CustomerFactory(client=client_b)
    with pytest.raises(ApplicationError, match="different clients"):
        services.customers_merge(survivor=one, merged=other, actor=agent_a, reason="x")
    services.customers_merge(survivor=one, merged=two, actor=agent_a, reason="dup")
    with pytest.raises(ApplicationError, match="already merged"):
        services.customers_merge(survivor=one, merged=two, actor=agent_a, reason="dup")


# --- Surveys ------------------------------------------------------------------------------------


def test_survey_ranges_are_enforced(case_a):
    with pytest.raises(ApplicationError) as refused:
        services.survey_record(case=case_a, csat=6, nps=11, effort=0)
    assert set(refused.value.field_errors) == {"csat", "nps", "effort"}
    with pytest.raises(ApplicationError):
        services.survey_record(case=case_a)
    survey = services.survey_record(case=case_a, csat=5, nps=10, effort=1, comment="great")
    assert (survey.csat, survey.nps, survey.effort, survey.client_id) == (5, 10, 1, case_a.client_id)
    assert SatisfactionSurvey.objects.count() == 1


def test_survey_check_constraints_hold_in_the_database(case_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        SatisfactionSurvey.objects.create(
            client=case_a.client, case=case_a, csat=9, answered_at=case_a.opened_at
        )


def test_public_ids_are_random_uuids(open_case, client_a):
    one, two = open_case(client=client_a), open_case(client=client_a)
    assert one.public_id.version == 4 and one.public_id != two.public_id


def test_queue_rejects_unknown_channels(client_a):
    queue = QueueFactory.build(client=client_a, channels=["email", "pigeon"])
    with pytest.raises(Exception, match="pigeon"):
        queue.full_clean()


def _openings(customer, queue, *external_ids, **overrides):
    return [
        services.CaseOpening(
            customer=customer,
            queue=queue,
            subject=f"Migrated {external_id}",
            channel=overrides.get("channel", Channel.EMAIL),
            priority=Priority.HIGH,
            opened_at=datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
            external_id=external_id,
            reason="migration",
        )
        for external_id in external_ids
    ]


def test_cases_open_bulk_opens_each_as_case_open_would_and_publishes_one_event(
    client_a, queue_a, customer_a, agent_a, captured_events, django_capture_on_commit_callbacks
):
    received = captured_events(events.CasesOpened)
    with django_capture_on_commit_callbacks(execute=True):
        cases = services.cases_open_bulk(
            client=client_a, openings=_openings(customer_a, queue_a, "M-1", "M-2"), actor=agent_a
        )
    assert [c.external_id for c in cases] == ["M-1", "M-2"]
    for case in cases:
        case.refresh_from_db()
        assert (case.status, case.priority, case.version, case.last_activity_at) == (
            "new",
            "high",
            1,
            datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
        )
        event = CaseEvent.objects.get(case=case)
        assert (event.kind, event.reason, event.actor) == (CaseEventKind.OPENED, "migration", agent_a)
    [batch] = received
    assert [o.case_id for o in batch.openings] == [c.pk for c in cases]
    assert batch.openings[0].priority == "high" and batch.client_id == client_a.pk


def test_cases_open_bulk_checks_taken_external_ids_without_an_order(client_a, queue_a, customer_a):
    """The check asks for one taken id with no ORDER BY: with the model's newest-first order and
    LIMIT 1, PostgreSQL walked the client's cases by opening time (62 ms among 200,000) instead of
    the external-id index."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ids = [f"O-{i}" for i in range(20)]
    with CaptureQueriesContext(connection) as context:
        services.cases_open_bulk(client=client_a, openings=_openings(customer_a, queue_a, *ids))
    [check] = [
        q["sql"] for q in context.captured_queries if q["sql"].startswith('SELECT "cases_case"."external_id"')
    ]
    assert "ORDER BY" not in check and "LIMIT 1" in check


def test_cases_open_bulk_refuses_the_whole_batch(client_a, client_b, queue_a, customer_a):
    CaseFactory(client=client_a, external_id="TAKEN")
    for openings, message in (
        (_openings(customer_a, queue_a, "A", "B", channel="pigeon")[1:], "Opening 0"),
        (_openings(customer_a, queue_a, "A", "A"), "appears twice"),
        (_openings(customer_a, queue_a, "A", "TAKEN"), "already exists"),
        (_openings(customer_a, QueueFactory(client=client_b), "A"), "Opening 0"),
    ):
        with pytest.raises(ApplicationError) as refused:
            services.cases_open_bulk(client=client_a, openings=openings)
        assert message in str(refused.value.message) + str(refused.value.field_errors), message
    assert list(Case.objects.values_list("external_id", flat=True)) == ["TAKEN"]
