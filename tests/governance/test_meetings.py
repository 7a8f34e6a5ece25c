"""Governance meetings: the agenda from the figures since the last meeting of the kind, minutes,
actions raised in the meeting, the business review's rating, refused steps."""

from __future__ import annotations

import pytest

from cases import services as cases
from config.errors import ApplicationError
from governance import services
from governance.models import GovernanceMeeting, RootCause
from slas.models import Breach
from tests.governance.conftest import after, sweep_at

pytestmark = pytest.mark.django_db


def test_agenda_covers_the_period_since_the_last_meeting_of_the_same_kind(client_a, governance_a):
    def schedule(kind, days):
        return services.meeting_schedule(
            client=client_a,
            kind=kind,
            scheduled_for=after(days=days),
            actor=governance_a,
            now=after(days=days),
        )

    first = schedule("weekly_review", 0)
    assert first.agenda["period"] == {
        "start": after(days=-7).isoformat(),
        "end": after(days=0).isoformat(),
        "since_meeting": None,
    }
    schedule("daily_huddle", 6)
    cancelled = schedule("weekly_review", 5)
    services.meeting_cancel(meeting=cancelled, actor=governance_a, reason="holiday")
    second = schedule("weekly_review", 7)
    assert second.agenda["period"] == {
        "start": after(days=0).isoformat(),
        "end": after(days=7).isoformat(),
        "since_meeting": first.pk,
    }
    assert (second.period_start, second.period_end) == (after(days=0), after(days=7))
    huddle = schedule("daily_huddle", 8)
    assert huddle.agenda["period"]["start"] == after(days=6).isoformat()


def test_agenda_shows_breaches_reviews_actions_escalations_and_attainment(
    open_at, client_a, queue_a, tiers_a, governance_a, supervisor_a, agent_a, t2_owner
):
    answered = open_at(client_a, queue=queue_a, channel="chat", at=after(hours=1))
    cases.interaction_append(
        case=answered,
        channel="chat",
        direction="outbound",
        author_kind="agent",
        occurred_at=after(hours=1, minutes=5),
    )
    late = [open_at(client_a, queue=queue_a, at=after(hours=1)) for _ in range(3)]
    sweep_at(after(hours=3))
    breaches = [Breach.objects.get(case=c) for c in late]
    closed = services.breach_review_open(breaches=breaches[:2], actor=governance_a, now=after(hours=4))
    services.breach_review_close(
        review=closed,
        actor=governance_a,
        root_cause=RootCause.objects.get(code="people-staffing"),
        findings="Late shift short",
        now=after(hours=5),
    )
    action = services.corrective_action_raise(
        review=closed,
        title="Cover rota",
        owner=supervisor_a,
        due_on=after(days=1).date(),
        actor=governance_a,
        now=after(hours=5),
    )
    services.corrective_action_start(action=action, actor=supervisor_a, now=after(hours=6))
    services.corrective_action_complete(action=action, actor=supervisor_a, now=after(hours=20))
    services.corrective_action_verify(
        action=action, actor=governance_a, notes="No gap since.", now=after(days=2)
    )
    overdue = services.corrective_action_raise(
        review=closed,
        title="Retrain",
        owner=supervisor_a,
        due_on=after(days=1).date(),
        actor=governance_a,
        now=after(hours=5),
    )
    escalation = services.escalation_create(case=late[2], reason="x", actor=agent_a, now=after(hours=4))
    services.escalation_accept(escalation=escalation, actor=t2_owner, at=after(hours=4, minutes=10))
    meeting = services.meeting_schedule(
        client=client_a,
        kind="weekly_review",
        scheduled_for=after(days=3),
        actor=governance_a,
        now=after(days=3),
    )
    agenda = meeting.agenda
    assert agenda["attainment_by_channel"] == [
        {"channel": "chat", "met": 1, "missed": 0, "attainment_percent": 100.0},
    ]
    assert agenda["breaches"] == {
        "total": 3,
        "by_metric": {"first_response": 3},
        "by_review_state": {"unreviewed": 1, "open": 0, "in_progress": 0, "closed": 2},
    }
    assert agenda["reviews"]["opened"] == 1 and agenda["reviews"]["overdue"] == 0
    assert [(r["title"], r["root_cause"]) for r in agenda["reviews"]["closed"]] == [
        ("Review of 2 breaches in Support A", "People > Staffing below plan")
    ]
    assert agenda["actions"]["raised"] == 2
    assert [(a["id"], a["status"], a["due_on"]) for a in agenda["actions"]["overdue"]] == [
        (overdue.pk, "proposed", "2026-03-03")
    ]
    assert [(a["title"], a["verification_notes"]) for a in agenda["actions"]["verified"]] == [
        ("Cover rota", "No gap since.")
    ]
    assert agenda["escalations"] == {
        "total": 1,
        "by_trigger": {"manual": 1},
        "awaiting_acceptance": 0,
        "turnaround": {"count": 1, "median_seconds": 600.0, "p90_seconds": 600.0},
    }


def test_minutes_rating_and_refused_steps(client_a, governance_a, supervisor_a):
    huddle = services.meeting_schedule(
        client=client_a,
        kind="daily_huddle",
        scheduled_for=after(hours=1),
        actor=governance_a,
        now=after(hours=1),
    )
    with pytest.raises(ApplicationError, match="monthly business review"):
        services.meeting_rate(meeting=huddle, actor=governance_a, rating="green", notes="fine")
    with pytest.raises(ApplicationError, match="Write the minutes"):
        services.meeting_record(meeting=huddle, actor=governance_a, minutes=" ")
    assert GovernanceMeeting.objects.filter(pk=huddle.pk).values_list(
        "status", "governance_rating"
    ).get() == (
        "planned",
        "",
    )
    services.meeting_record(
        meeting=huddle, actor=governance_a, minutes="Backlog fine.", attendees=[governance_a, supervisor_a]
    )
    with pytest.raises(ApplicationError, match="frozen"):
        services.meeting_agenda_build(meeting=huddle)
    with pytest.raises(ApplicationError, match="A held meeting cannot be cancelled"):
        services.meeting_cancel(meeting=huddle, actor=governance_a, reason="x")
    action = services.corrective_action_raise(
        meeting=huddle,
        title="Publish the rota",
        owner=supervisor_a,
        due_on=after(days=2).date(),
        actor=governance_a,
        now=after(hours=1),
    )
    assert (action.client, action.meeting) == (client_a, huddle)
    review = services.meeting_schedule(
        client=client_a,
        kind="monthly_business_review",
        scheduled_for=after(days=30),
        actor=governance_a,
        now=after(days=30),
    )
    with pytest.raises(ApplicationError, match="Unknown rating"):
        services.meeting_rate(meeting=review, actor=governance_a, rating="purple", notes="x")
    rated = services.meeting_rate(
        meeting=review, actor=governance_a, rating="amber", notes="E-mail below target"
    )
    assert (rated.governance_rating, rated.rating_notes) == ("amber", "E-mail below target")
    later = services.meeting_schedule(
        client=client_a,
        kind="monthly_business_review",
        scheduled_for=after(days=60),
        actor=governance_a,
        now=after(days=60),
    )
    assert later.agenda["previous_rating"] == {
        "rating": "amber",
        "at": after(days=30).isoformat(),
        "notes": "E-mail below target",
    }
    assert set(later.agenda) >= {"root_cause_closure", "action_completion", "escalation_rate_by_channel"}
