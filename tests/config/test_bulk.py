"""config.bulk.rows_insert: on PostgreSQL many rows in one COPY and a few in one INSERT whose text
depends only on the model and the row count; bulk_create on SQLite. What is stored is what
bulk_create stores, ids included."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.choices import CaseEventKind
from cases.models import Case, CaseEvent
from config.bulk import COPY_MIN_ROWS, row_build, row_insert_new, row_update, rows_insert
from slas.models import SLAClock
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

# Text COPY escapes backslashes, tabs and newlines; JSON adds quotes; NUL-free unicode.
AWKWARD = 'tab\there, new\nline, back\\slash, "quoted", \\N, NULL, ünïcødé ✓, {brace}'


def _events(case, count: int) -> list[CaseEvent]:
    return [
        CaseEvent(
            case=case,
            client=case.client,
            kind=CaseEventKind.UPDATED,  # a choices member, stored as its value
            actor_label="" if i % 2 else AWKWARD,
            before={"text": AWKWARD, "n": i, "nested": [None, True, 1.5]},
            after={},
            reason=f"{i}:{AWKWARD}",
            occurred_at=case.opened_at,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("count", [3, COPY_MIN_ROWS, 300])
def test_rows_are_stored_as_given_with_their_ids(count):
    case = CaseFactory()
    with CaptureQueriesContext(connection) as context:
        created = rows_insert(CaseEvent, _events(case, count))
    assert [row.pk is not None for row in created] == [True] * count
    assert all(not row._state.adding for row in created)
    stored = {event.pk: event for event in CaseEvent.objects.filter(pk__in=[row.pk for row in created])}
    assert len(stored) == count
    for i, row in enumerate(created):
        event = stored[row.pk]
        assert event.kind == "updated" and event.case_id == case.pk and event.client_id == case.client_id
        assert event.before == {"text": AWKWARD, "n": i, "nested": [None, True, 1.5]}
        assert event.after == {}
        assert event.reason == f"{i}:{AWKWARD}"
        assert event.actor_label == ("" if i % 2 else AWKWARD)
        assert event.actor_id is None and event.interaction_id is None
        assert event.occurred_at == case.opened_at
        assert event.recorded_at is not None and event.recorded_at == row.recorded_at
    statements = [q["sql"] for q in context.captured_queries]
    copied = connection.vendor == "postgresql" and count >= COPY_MIN_ROWS
    assert any(sql.startswith("COPY ") for sql in statements) == copied
    if connection.vendor == "postgresql" and not copied:
        assert len(statements) == 1 and statements[0].startswith('INSERT INTO "cases_caseevent"')


@pytest.mark.postgres
def test_a_few_rows_go_as_the_same_statement_every_time():
    """The same text for the same model and row count: PostgreSQL keeps it prepared."""
    case = CaseFactory()
    texts = []

    def record(execute, sql, params, many, context):
        texts.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        rows_insert(CaseEvent, _events(case, 2), ids=False)
        rows_insert(CaseEvent, _events(case, 2), ids=False)
    assert len(texts) == 2 and "%s" in texts[0]
    assert texts[0] == texts[1]
    assert CaseEvent.objects.filter(kind=CaseEventKind.UPDATED).count() == 4


def test_a_value_given_as_an_expression_is_stored_through_bulk_create():
    from django.db.models.functions import Now

    case = CaseFactory()
    (event,) = rows_insert(
        CaseEvent, [CaseEvent(case=case, client=case.client, kind=CaseEventKind.UPDATED, occurred_at=Now())]
    )
    assert event.pk is not None
    assert CaseEvent.objects.get(pk=event.pk).occurred_at is not None


@pytest.mark.postgres
def test_later_inserts_take_ids_after_the_copied_ones():
    case = CaseFactory()
    created = rows_insert(CaseEvent, _events(case, COPY_MIN_ROWS))
    after = CaseEvent.objects.create(
        case=case, client=case.client, kind=CaseEventKind.UPDATED, occurred_at=case.opened_at
    )
    assert after.pk > max(row.pk for row in created)


@pytest.mark.postgres
def test_rows_without_ids_are_copied_in_one_statement():
    case = CaseFactory()
    with CaptureQueriesContext(connection) as context:
        rows_insert(CaseEvent, _events(case, COPY_MIN_ROWS), ids=False)
    assert [q["sql"].split()[0] for q in context.captured_queries] == ["COPY"]
    assert CaseEvent.objects.filter(kind=CaseEventKind.UPDATED).count() == COPY_MIN_ROWS


@pytest.mark.parametrize("count", [2, COPY_MIN_ROWS])
def test_a_refused_insert_raises_djangos_integrity_error_and_writes_nothing(count):
    template = CaseFactory(external_id="TAKEN")
    cases = [
        Case(
            client=template.client,
            customer=template.customer,
            queue=template.queue,
            subject=f"s{i}",
            origin_channel="email",
            current_channel="email",
            opened_at=template.opened_at,
            last_activity_at=template.opened_at,
            external_id="TAKEN" if i == count - 1 else f"E-{i}",
        )
        for i in range(count)
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert(Case, cases)
    assert list(Case.objects.values_list("external_id", flat=True)) == ["TAKEN"]


@pytest.mark.parametrize("count", [1, COPY_MIN_ROWS])
def test_clock_rows_keep_their_choices_json_and_nulls(count):
    from tests.factories import SLAPolicyFactory

    case = CaseFactory()
    policy = SLAPolicyFactory(client=case.client)
    rows = [
        SLAClock(
            client=case.client,
            case=case,
            policy=policy,
            calendar=policy.calendar,
            metric="first_response",
            cycle=i + 1,
            target_seconds=60,
            started_at=case.opened_at,
            pauses=[{"from": case.opened_at.isoformat(), "to": None}],
        )
        for i in range(count)
    ]
    rows_insert(SLAClock, rows)
    stored = SLAClock.objects.get(pk=rows[-1].pk)
    assert (stored.cycle, stored.channel, stored.outcome, stored.queue_id) == (count, "", "", None)
    assert stored.pauses == [{"from": case.opened_at.isoformat(), "to": None}]
    assert stored.warning_percent == 80 and stored.due_at is None and stored.paused_seconds == 0


@pytest.mark.parametrize("count", [3, COPY_MIN_ROWS])
def test_a_related_row_saved_after_assignment_gives_its_id(count):
    """As bulk_create: clock events built for clocks that get their ids afterwards (a replay
    writes the clocks first, then their events) are stored with those ids."""
    from slas.models import ClockEvent
    from tests.factories import SLAPolicyFactory

    case = CaseFactory()
    policy = SLAPolicyFactory(client=case.client)
    clock = SLAClock(
        client=case.client,
        case=case,
        policy=policy,
        calendar=policy.calendar,
        metric="first_response",
        target_seconds=60,
        started_at=case.opened_at,
    )
    events = [
        ClockEvent(clock=clock, case_id=case.pk, client_id=case.client_id, kind="started", at=case.opened_at)
        for _ in range(count)
    ]
    with pytest.raises(ValueError, match="unsaved related object"):
        rows_insert(ClockEvent, events, ids=False)
    rows_insert(SLAClock, [clock])
    rows_insert(ClockEvent, events, ids=False)
    assert ClockEvent.objects.filter(clock_id=clock.pk).count() == count


def test_row_update_writes_the_named_fields_only_as_save_would():
    case = CaseFactory(subject="Before")
    stale = Case.objects.get(pk=case.pk)
    before = case.updated_at
    case.subject = "After, with a tab\tand ünïcødé"
    case.priority = "high"
    case.version += 1
    case.status = "pending"  # changed on the instance, not named: not written
    row_update(case, ["subject", "priority", "version", "updated_at"])
    stored = Case.objects.get(pk=case.pk)
    assert (stored.subject, stored.priority, stored.version) == (case.subject, "high", stale.version + 1)
    assert stored.status == stale.status
    assert stored.updated_at == case.updated_at and stored.updated_at > before  # auto_now, as save


def test_row_update_stores_json_and_nulls_as_save_does():
    from slas.models import CaseSLA
    from tests.factories import SLAPolicyFactory

    policy = SLAPolicyFactory()
    case = CaseFactory(client=policy.client)
    case_sla = CaseSLA.objects.create(case=case, client=case.client, policy=policy)
    case_sla.engine_state = {"status": "open", "text": AWKWARD, "nested": [None, True, 1.5]}
    case_sla.last_event_at = None
    row_update(case_sla, ["engine_state", "last_event_at", "updated_at"])
    stored = CaseSLA.objects.get(pk=case_sla.pk)
    assert stored.engine_state == {"status": "open", "text": AWKWARD, "nested": [None, True, 1.5]}
    assert stored.last_event_at is None


def test_row_update_is_one_statement_built_once_and_refuses_a_row_that_is_gone():
    from config import bulk

    first, second = CaseFactory(), CaseFactory()
    first.subject = "Warm"
    row_update(first, ["subject"])
    built = bulk._update_sql.cache_info().misses
    with CaptureQueriesContext(connection) as context:
        for case in (first, second):
            case.subject = f"Changed {case.pk}"
            row_update(case, ["subject"])
    assert bulk._update_sql.cache_info().misses == built  # the text was built once, before
    assert [q["sql"].split()[0] for q in context.captured_queries] == ["UPDATE", "UPDATE"]
    assert set(Case.objects.filter(pk__in=[first.pk, second.pk]).values_list("subject", flat=True)) == {
        f"Changed {first.pk}",
        f"Changed {second.pk}",
    }
    gone = Case.objects.get(pk=second.pk)
    Case.objects.filter(pk=gone.pk).delete()
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        row_update(gone, ["subject"])
    with pytest.raises(ValueError, match="concrete, non-key"):
        row_update(first, ["id"])


def test_row_insert_new_inserts_once_and_reports_a_conflict_without_spoiling_the_transaction():
    from cases.models import Interaction

    case = CaseFactory()

    def message() -> Interaction:
        return Interaction(
            client_id=case.client_id,
            case=case,
            channel=case.origin_channel,
            direction="inbound",
            author_kind="customer",
            body=AWKWARD,
            occurred_at=case.opened_at,
            source="sms-1",
            external_id="SM123",
            metadata={"text": AWKWARD},
        )

    first = message()
    assert row_insert_new(first) is True and first.pk is not None and not first._state.adding
    with transaction.atomic(), CaptureQueriesContext(connection) as context:
        again = message()
        assert row_insert_new(again) is False and again.pk is None
        assert Case.objects.filter(pk=case.pk).exists()  # the transaction is still usable
    statements = [q["sql"].split()[0] for q in context.captured_queries]
    if connection.vendor == "postgresql":
        assert "SAVEPOINT" not in statements
    stored = Interaction.objects.get(pk=first.pk)
    assert (stored.body, stored.metadata) == (AWKWARD, {"text": AWKWARD})
    assert Interaction.objects.filter(case=case).count() == 1


# --- row_build ----------------------------------------------------------------------------------


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _built_both_ways(model, **values):
    built, made = row_build(model, **values), model(**values)
    return built, made


def test_row_build_makes_the_instance_the_model_makes():
    """Values by attribute, related objects (cached on both sides, as the descriptor caches them),
    defaults (constant and made per instance), and an unsaved state."""
    from slas.models import CaseSLA

    case = CaseFactory()
    now = timezone.now()
    cases = _built_both_ways(
        Case,
        client=case.client,
        customer=case.customer,
        queue=case.queue,
        subject="Refund",
        origin_channel="email",
        current_channel="email",
        opened_at=now,
        last_activity_at=now,
    )
    events = _built_both_ways(CaseEvent, case=case, client_id=case.client_id, kind="opened", occurred_at=now)
    clocks = _built_both_ways(
        SLAClock, client_id=1, case_id=case.pk, metric="first_response", target_seconds=60, started_at=now
    )
    for built, made in (cases, events, clocks):
        uuids = {"public_id"} if isinstance(made, Case) else set()
        assert {k: v for k, v in _fields(built).items() if k not in uuids} == {
            k: v for k, v in _fields(made).items() if k not in uuids
        }
        assert set(built._state.fields_cache) == set(made._state.fields_cache)
        assert built._state.adding and built._state.db == made._state.db and built.pk is None
    assert cases[0].client is case.client and cases[0].queue is case.queue
    assert cases[0].public_id != cases[1].public_id  # a callable default, made per instance
    other = row_build(SLAClock, case_id=case.pk, started_at=now)
    assert other.pauses == [] and other.pauses is not clocks[0].pauses  # not shared
    # A one-to-one's reverse side is cached too, as assigning through the model caches it.
    case_sla = row_build(CaseSLA, case=case, client_id=case.client_id)
    assert case.sla is case_sla and case_sla.case is case


def test_row_build_takes_pk_and_refuses_an_unknown_keyword_as_the_model_does():
    assert row_build(CaseEvent, pk=7, kind="opened").id == 7
    with pytest.raises(TypeError, match="unexpected keyword"):
        row_build(CaseEvent, kind="opened", colour="blue")


def test_row_build_is_the_model_itself_while_a_receiver_listens_to_its_signals():
    from django.db.models.signals import post_init

    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=CaseEvent)
    try:
        event = row_build(CaseEvent, kind="opened")
    finally:
        post_init.disconnect(receiver, sender=CaseEvent)
    assert seen == [event]


def test_built_rows_are_stored_by_rows_insert_with_a_shared_document_written_for_each():
    """Rows sharing one JSON document (a batch's policy snapshot) keep it whole, each its own."""
    from slas.models import CaseSLA

    shared = {"targets": {"first_response": {"urgent": 60}}, "note": AWKWARD}
    cases = CaseFactory.create_batch(COPY_MIN_ROWS + 1)
    rows = [
        row_build(CaseSLA, case=case, client_id=case.client_id, snapshot=shared, engine_state={"n": i})
        for i, case in enumerate(cases)
    ]
    rows_insert(CaseSLA, rows)
    stored = CaseSLA.objects.filter(case__in=cases).order_by("case_id")
    assert [(s.snapshot, s.engine_state) for s in stored] == [(shared, {"n": i}) for i in range(len(cases))]
