"""Breach reviews: automatic opening (every breach gets an owner), opening from selected
breaches, and the review workflow's refused transitions."""

from __future__ import annotations

from datetime import date

import pytest

from config.errors import ApplicationError
from governance import services
from governance.models import BreachReview, BreachReviewItem, RootCause
from slas.models import Breach
from tests.governance.conftest import after, sweep_at
from tests.governance.factories import GovernanceSettingsFactory

pytestmark = pytest.mark.django_db


def _breaches(open_at, client, queue, *, priorities, at_hours=0):
    opened = [open_at(client, queue=queue, priority=p, at=after(hours=at_hours)) for p in priorities]
    sweep_at(after(hours=at_hours + 3))
    return [Breach.objects.get(case=c, metric="first_response") for c in opened]


def test_urgent_and_high_breaches_get_their_own_review_and_the_rest_one_per_queue_and_day(
    open_at, client_a, queue_a, policy_a, supervisor_a, governance_a
):
    queue_a.supervisors.add(governance_a, supervisor_a)
    urgent, high, normal, low = _breaches(
        open_at, client_a, queue_a, priorities=["urgent", "high", "normal", "low"]
    )
    next_day = _breaches(open_at, client_a, queue_a, priorities=["normal"], at_hours=24)[0]
    ids = [urgent.pk, high.pk, normal.pk, low.pk, next_day.pk]
    assert services.breach_reviews_auto_open(breach_ids=ids, now=after(hours=30)) == 5
    assert services.breach_reviews_auto_open(breach_ids=ids, now=after(hours=31)) == 0
    reviews = {
        r.auto_key: (r.kind, r.title, r.owner, r.due_on, sorted(r.items.values_list("breach_id", flat=True)))
        for r in BreachReview.objects.all()
    }
    first_owner = min((governance_a, supervisor_a), key=lambda u: u.pk)
    assert reviews == {
        f"breach:{urgent.pk}": (
            "auto_breach",
            "Urgent first response breach: Router keeps restarting",
            first_owner,
            date(2026, 3, 7),
            [urgent.pk],
        ),
        f"breach:{high.pk}": (
            "auto_breach",
            "High first response breach: Router keeps restarting",
            first_owner,
            date(2026, 3, 7),
            [high.pk],
        ),
        f"queue:{queue_a.pk}:2026-03-02": (
            "auto_daily",
            "Breaches in Support A on 2026-03-02",
            first_owner,
            date(2026, 3, 7),
            sorted([normal.pk, low.pk]),
        ),
        f"queue:{queue_a.pk}:2026-03-03": (
            "auto_daily",
            "Breaches in Support A on 2026-03-03",
            first_owner,
            date(2026, 3, 8),
            [next_day.pk],
        ),
    }


def test_reviews_of_queues_without_a_supervisor_go_to_the_clients_default_owner(
    open_at, client_a, queue_a, policy_a, governance_a
):
    GovernanceSettingsFactory(client=client_a, default_review_owner=governance_a, review_due_days=2)
    (breach,) = _breaches(open_at, client_a, queue_a, priorities=["normal"])
    services.breach_reviews_auto_open(breach_ids=[breach.pk])
    review = BreachReview.objects.get()
    assert (review.owner, review.due_on) == (governance_a, date(2026, 3, 4))


def test_no_automatic_review_when_the_client_turned_it_off(open_at, client_a, queue_a, policy_a):
    GovernanceSettingsFactory(client=client_a, auto_review_enabled=False)
    (breach,) = _breaches(open_at, client_a, queue_a, priorities=["urgent"])
    assert services.breach_reviews_auto_open(breach_ids=[breach.pk]) == 0
    assert not BreachReview.objects.exists()


def test_a_breach_of_a_day_whose_review_is_closed_opens_a_follow_up_review(
    open_at, client_a, queue_a, policy_a, governance_a
):
    first, second = _breaches(open_at, client_a, queue_a, priorities=["normal", "low"])
    services.breach_reviews_auto_open(breach_ids=[first.pk])
    review = BreachReview.objects.get()
    services.breach_review_close(
        review=review,
        actor=governance_a,
        root_cause=RootCause.objects.get(code="people-staffing"),
        findings="Short staffed.",
    )
    services.breach_reviews_auto_open(breach_ids=[second.pk])
    follow_up = BreachReviewItem.objects.get(breach=second).review
    assert follow_up.auto_key == f"queue:{queue_a.pk}:2026-03-02:2"
    assert follow_up.status == "open"


def test_open_a_review_from_selected_breaches(open_at, client_a, queue_a, policy_a, governance_a):
    breaches = _breaches(open_at, client_a, queue_a, priorities=["normal", "normal"])
    review = services.breach_review_open(breaches=breaches, actor=governance_a, now=after(hours=3))
    assert (review.owner, review.kind, review.queue, review.due_on, review.title) == (
        governance_a,
        "manual",
        queue_a,
        date(2026, 3, 7),
        "Review of 2 breaches in Support A",
    )
    assert sorted(review.breaches.values_list("pk", flat=True)) == sorted(b.pk for b in breaches)


def test_opening_a_review_is_refused_for_breaches_already_under_review_or_of_two_clients(
    open_at, client_a, client_b, queue_a, policy_a, policy_b, governance_a, governance_b
):
    taken, free = _breaches(open_at, client_a, queue_a, priorities=["normal", "normal"])
    services.breach_review_open(breaches=[taken], actor=governance_a)
    before = (BreachReview.objects.count(), BreachReviewItem.objects.count())
    with pytest.raises(ApplicationError, match="Already under review"):
        services.breach_review_open(breaches=[free, taken], actor=governance_a)
    other = _breaches(open_at, client_b, None, priorities=["normal"])[0]
    with pytest.raises(ApplicationError, match="one client"):
        services.breach_review_open(breaches=[free, other], actor=governance_a)
    with pytest.raises(ApplicationError, match="does not serve"):
        services.breach_review_open(breaches=[free], actor=governance_b)
    assert (BreachReview.objects.count(), BreachReviewItem.objects.count()) == before
    assert not BreachReviewItem.objects.filter(breach=free).exists()


def test_review_workflow_and_its_refused_transitions(open_at, client_a, queue_a, policy_a, governance_a):
    (breach,) = _breaches(open_at, client_a, queue_a, priorities=["normal"])
    review = services.breach_review_open(breaches=[breach], actor=governance_a)
    staffing = RootCause.objects.get(code="people-staffing")

    def state():
        review.refresh_from_db()
        return (
            review.status,
            review.root_cause_id,
            review.findings,
            review.closed_at,
            review.history.count(),
        )

    for kwargs, missing in (
        ({"findings": "Short staffed."}, {"root_cause"}),
        ({"root_cause": staffing}, {"findings"}),
    ):
        before = state()
        with pytest.raises(ApplicationError, match="cannot be closed yet") as refused:
            services.breach_review_close(review=review, actor=governance_a, **kwargs)
        assert set(refused.value.field_errors) == missing
        assert state() == before
    before = state()
    with pytest.raises(ApplicationError, match="Only a closed review can be reopened"):
        services.breach_review_reopen(review=review, actor=governance_a, reason="x")
    assert state() == before
    services.breach_review_start(review=review, actor=governance_a)
    services.breach_review_update(
        review=review, actor=governance_a, root_cause=staffing, findings="Short staffed."
    )
    closed = services.breach_review_close(review=review, actor=governance_a, now=after(days=1))
    assert (closed.status, closed.root_cause, closed.closed_at, closed.closed_by) == (
        "closed",
        staffing,
        after(days=1),
        governance_a,
    )
    for call, message in (
        (lambda: services.breach_review_start(review=review, actor=governance_a), "Use reopen"),
        (lambda: services.breach_review_close(review=review, actor=governance_a), "cannot become closed"),
        (
            lambda: services.breach_review_update(review=review, actor=governance_a, findings="new"),
            "reopen it first",
        ),
        (lambda: services.breach_review_reopen(review=review, actor=governance_a, reason=" "), "Say why"),
    ):
        before = state()
        with pytest.raises(ApplicationError, match=message):
            call()
        assert state() == before
    reopened = services.breach_review_reopen(review=review, actor=governance_a, reason="breaches continued")
    assert (reopened.status, reopened.closed_at) == ("in_progress", None)
    assert list(review.history.order_by("history_id").values_list("history_change_reason", flat=True)) == [
        "opened from selected breaches",
        "analysis started",
        "updated: root_cause, findings",
        "closed: People > Staffing below plan",
        "reopened: breaches continued",
    ]
