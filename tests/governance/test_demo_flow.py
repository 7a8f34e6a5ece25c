"""The flow the issue is done with: a breach becomes an escalation and an owned review, the
review raises a corrective action tracked to verification, and a meeting agenda shows it; and
the governance demo data loads on top of the demo data set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse

from cases.models import Client
from config import demo
from governance import services
from governance.models import (
    BreachDispute,
    BreachReview,
    BreachReviewItem,
    CorrectiveAction,
    Escalation,
    EscalationRule,
    EscalationTier,
    Exclusion,
    GovernanceMeeting,
    RootCause,
    SLAPolicyChange,
)
from slas.models import Breach
from tests.governance.conftest import after, sweep_at
from tests.governance.factories import EscalationRuleFactory, GovernanceSettingsFactory

pytestmark = pytest.mark.django_db


def test_a_breach_flows_to_an_escalation_an_owned_review_a_verified_action_and_the_agenda(
    open_at,
    client_a,
    queue_a,
    tiers_a,
    governance_a,
    supervisor_a,
    t2_owner,
    django_capture_on_commit_callbacks,
):
    GovernanceSettingsFactory(client=client_a, default_review_owner=governance_a)
    EscalationRuleFactory(
        client=client_a, name="Urgent breach → T2", priorities=["urgent"], notify_owners=True
    )
    case = open_at(client_a, queue=queue_a, priority="urgent", subject="Outage at the head office")
    with django_capture_on_commit_callbacks(execute=True):
        sweep_at(after(minutes=20))  # urgent first response: 10 min
    breach = Breach.objects.get(case=case, metric="first_response")
    escalation = Escalation.objects.get(case=case)
    assert (escalation.to_tier, escalation.rule.name, mail.outbox[0].to) == (
        2,
        "Urgent breach → T2",
        ["t2@example.com"],
    )
    review = BreachReviewItem.objects.get(breach=breach).review
    assert (review.kind, review.owner) == ("auto_breach", governance_a)
    services.escalation_accept(escalation=escalation, actor=t2_owner)

    services.breach_review_start(review=review, actor=governance_a)
    services.breach_review_close(
        review=review,
        actor=governance_a,
        root_cause=RootCause.objects.get(code="people-staffing"),
        findings="Nobody on the urgent line before 9:00.",
        now=after(hours=2),
    )
    action = services.corrective_action_raise(
        review=review,
        title="Staff the urgent line from 8:00",
        owner=supervisor_a,
        due_on=after(days=3).date(),
        actor=governance_a,
        now=after(hours=2),
    )
    services.corrective_action_start(action=action, actor=supervisor_a, now=after(hours=3))
    services.corrective_action_complete(action=action, actor=supervisor_a, now=after(days=1))
    services.corrective_action_verify(
        action=action, actor=governance_a, notes="No urgent breach before 9:00 since.", now=after(days=5)
    )

    meeting = services.meeting_schedule(
        client=client_a,
        kind="weekly_review",
        scheduled_for=after(days=6),
        actor=governance_a,
        now=after(days=6),
    )
    agenda = meeting.agenda
    assert agenda["breaches"]["by_review_state"]["closed"] == 1
    assert [(r["title"], r["root_cause"]) for r in agenda["reviews"]["closed"]] == [
        ("Urgent first response breach: Outage at the head office", "People > Staffing below plan")
    ]
    assert [(a["title"], a["status"], a["verification_notes"]) for a in agenda["actions"]["verified"]] == [
        ("Staff the urgent line from 8:00", "verified", "No urgent breach before 9:00 since.")
    ]


@pytest.fixture
def demo_world(db):
    now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    summary = demo.seed(seed=7, scale=0.05, now=now)
    return list(Client.objects.order_by("pk")), now, summary.governance


def test_the_governance_demo_data_loads_and_the_console_shows_it(client, demo_world):
    _clients, now, summary = demo_world
    assert (summary.tiers, summary.rules, summary.meetings) == (9, 21, 9)
    assert EscalationTier.objects.count() == 9 and EscalationRule.objects.count() == 21
    assert summary.history_reviews > 0
    # every breach has an owner: history in closed weekly reviews, recent ones in automatic reviews
    live = Breach.objects.filter(voided_at__isnull=True)
    assert not live.filter(review_item__isnull=True).exists()
    assert not BreachReview.objects.filter(owner__isnull=True).exists()
    assert CorrectiveAction.objects.filter(status="verified").count() == 3
    assert SLAPolicyChange.objects.filter(status="proposed").count() == 3
    assert Exclusion.objects.filter(status="proposed").count() == 3
    assert BreachDispute.objects.filter(status="open").count() == 3
    upcoming = GovernanceMeeting.objects.filter(status="planned").first()
    assert upcoming.agenda["actions"]["verified"], "the worked example's action is on the next agenda"
    assert GovernanceMeeting.objects.exclude(governance_rating="").count() == 3
    from django.contrib.auth import get_user_model

    governance = get_user_model().objects.get(username="governance")
    client.force_login(governance)
    page = client.get(reverse("admin:app_list", args=["governance"]))
    assert (
        page.status_code == 200 and "SLA policy changes for someone else to approve" in page.content.decode()
    )
    assert Escalation.objects.filter(created_at=now).count() == summary.escalations
    assert now - timedelta(days=2) <= max(Breach.objects.values_list("breached_at", flat=True))


def _everything():
    from cases.models import Case

    return (
        list(Case.objects.order_by("public_id").values_list("public_id", "priority", "tier", "queue__slug")),
        sorted(
            Escalation.objects.values_list("case__public_id", "sequence", "to_tier", "trigger", "created_at")
        ),
        sorted(BreachReview.objects.values_list("title", "status", "due_on")),
        sorted(CorrectiveAction.objects.values_list("title", "status", "due_on")),
    )


def test_the_demo_with_governance_is_deterministic_and_wipes_cleanly(db):
    from tests.demo_wipe import demo_wipe

    now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    demo.seed(seed=11, scale=0.02, now=now)
    first = _everything()
    demo_wipe()
    demo.seed(seed=11, scale=0.02, now=now)
    second = _everything()
    assert [len(part) for part in second] == [len(part) for part in first]
    assert second[1:] == first[1:]
    assert [row[1:] for row in second[0]] == [row[1:] for row in first[0]]
