"""SLA repair: `manage.py sla_recompute` replays cases under the current policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from cases import services as cases
from cases.choices import AuthorKind, Channel, Direction
from slas.models import Breach, ClockEvent, SLAClock, SLATarget
from tests.factories import CustomerFactory, QueueFactory, SLAPolicyFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FR = "first_response"


@pytest.fixture
def replied_late_and_on_time(client_a):
    policy = SLAPolicyFactory(client=client_a, targets={(FR, "normal"): 3600})
    queue = QueueFactory(client=client_a)
    made = []
    for reply_after in (timedelta(minutes=50), timedelta(minutes=90)):
        case = cases.case_open(
            client=client_a,
            customer=CustomerFactory(client=client_a),
            queue=queue,
            subject="x",
            channel=Channel.EMAIL,
            opened_at=T0,
        )
        cases.interaction_append(
            case=case,
            channel=Channel.EMAIL,
            direction=Direction.OUTBOUND,
            author_kind=AuthorKind.AGENT,
            occurred_at=T0 + reply_after,
        )
        made.append(case)
    return policy, made


def test_dry_run_reports_every_change_and_writes_nothing(client_a, replied_late_and_on_time, capsys):
    policy, (on_time, late) = replied_late_and_on_time
    SLATarget.objects.filter(policy=policy).update(seconds=45 * 60)
    before = list(SLAClock.objects.order_by("pk").values_list("due_at", "outcome", "breached_at"))
    call_command("sla_recompute", "--client", client_a.slug, "--since", "2026-03-01", "--dry-run")
    out = capsys.readouterr().out
    assert (
        f"case {on_time.pk} first_response#1 changed: due 2026-03-02T15:00:00+00:00 -> "
        f"2026-03-02T14:45:00+00:00 breach gained" in out
    )
    assert (
        f"case {late.pk} first_response#1 changed: due 2026-03-02T15:00:00+00:00 -> "
        "2026-03-02T14:45:00+00:00\n" in out
    )
    assert "2 cases replayed; 2 clocks changed; 1 breaches gained, 0 lost (dry run, nothing written)." in out
    assert list(SLAClock.objects.order_by("pk").values_list("due_at", "outcome", "breached_at")) == before
    assert not ClockEvent.objects.filter(kind="recomputed").exists()


def test_recompute_writes_clocks_breaches_and_history(client_a, replied_late_and_on_time, capsys):
    policy, (on_time, _) = replied_late_and_on_time
    SLATarget.objects.filter(policy=policy).update(seconds=45 * 60)
    call_command(
        "sla_recompute", "--client", client_a.slug, "--since", "2026-03-01", "--reason", "contract fix"
    )
    clock = SLAClock.objects.get(case=on_time)
    assert (clock.due_at, clock.outcome, clock.breached_at) == (
        T0 + timedelta(minutes=45),
        "missed",
        T0 + timedelta(minutes=45),
    )
    assert Breach.objects.get(clock=clock).detected_by == "replay"
    event = ClockEvent.objects.get(clock=clock, kind="recomputed")
    assert (event.reason, event.detail["old_due_at"], event.detail["breached"]) == (
        "contract fix",
        "2026-03-02T15:00:00+00:00",
        True,
    )
    # Back to one hour: the gained breach is lost again and voided, never deleted.
    SLATarget.objects.filter(policy=policy).update(seconds=3600)
    call_command("sla_recompute", "--client", client_a.slug, "--since", "2026-03-01")
    breach = Breach.objects.get(clock=clock)
    assert breach.voided_at is not None and breach.void_reason.startswith("recomputed")
    assert "1 lost" in capsys.readouterr().out.splitlines()[-1]
    # A second identical run changes nothing.
    call_command("sla_recompute", "--client", client_a.slug, "--since", "2026-03-01")
    assert "0 clocks changed" in capsys.readouterr().out


def test_recompute_only_touches_the_named_client_since_the_date(
    client_a, client_b, replied_late_and_on_time, capsys
):
    policy, _ = replied_late_and_on_time
    SLATarget.objects.filter(policy=policy).update(seconds=60)
    call_command("sla_recompute", "--client", client_a.slug, "--since", "2026-03-03", "--dry-run")
    assert "0 cases replayed" in capsys.readouterr().out
    call_command("sla_recompute", "--client", client_b.slug, "--since", "2026-01-01", "--dry-run")
    assert "0 cases replayed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--client", "nope", "--since", "2026-01-01"], "No client with slug 'nope'"),
        (["--client", "alpha", "--since", "yesterday"], "--since must be YYYY-MM-DD"),
    ],
)
def test_bad_arguments_are_refused_clearly(client_a, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("sla_recompute", *args)
