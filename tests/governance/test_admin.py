"""The governance console in admin: the attention page, client scoping (list, URL,
autocomplete), the actions that call the services, and change control of active policies."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from governance import services
from governance.models import (
    BreachReview,
    CorrectiveAction,
    Escalation,
    GovernanceMeeting,
    RootCause,
    SLAPolicyChange,
)
from slas.models import Breach, SLAPolicy, SLATarget
from tests.governance.conftest import after, sweep_at

pytestmark = pytest.mark.django_db

MODELS = [
    "governancesettings",
    "escalationtier",
    "escalationrule",
    "escalation",
    "rulefiring",
    "rootcause",
    "breachreview",
    "correctiveaction",
    "governancemeeting",
    "risk",
    "exclusion",
    "breachdispute",
    "slapolicychange",
]


@pytest.fixture
def world(
    open_at,
    client_a,
    client_b,
    queue_a,
    queue_b,
    tiers_a,
    tiers_b,
    governance_a,
    governance_b,
    agent_a,
    agent_b,
):
    """For each client: a breached case with an escalation, a review and an action."""
    made = {}
    for client, queue, governance, agent in (
        (client_a, queue_a, governance_a, agent_a),
        (client_b, queue_b, governance_b, agent_b),
    ):
        case = open_at(client, queue=queue, subject=f"Case of {client.slug}")
        sweep_at(after(hours=2))
        breach = Breach.objects.get(case=case)
        review = services.breach_review_open(
            breaches=[breach], actor=governance, title=f"Review {client.slug}", now=timezone.now()
        )
        action = services.corrective_action_raise(
            review=review,
            title=f"Action {client.slug}",
            owner=governance,
            due_on=timezone.now().date() - timedelta(days=0),
            actor=governance,
        )
        escalation = services.escalation_create(case=case, reason=f"help {client.slug}", actor=agent)
        made[client.slug] = {
            "case": case,
            "breach": breach,
            "review": review,
            "action": action,
            "escalation": escalation,
        }
    return made


@pytest.mark.parametrize("model", MODELS)
def test_every_governance_list_loads_for_governance_staff(client, world, governance_a, model):
    client.force_login(governance_a)
    assert client.get(reverse(f"admin:governance_{model}_changelist")).status_code == 200


@pytest.mark.parametrize(
    ("model", "key"),
    [("breachreview", "review"), ("correctiveaction", "action"), ("escalation", "escalation")],
)
def test_a_governance_user_of_client_a_sees_nothing_of_client_b(client, world, governance_a, model, key):
    client.force_login(governance_a)
    response = client.get(reverse(f"admin:governance_{model}_changelist"))
    assert set(response.context["cl"].queryset.values_list("client_id", flat=True)) == {
        world["alpha"][key].client_id
    }
    assert "Beta Bank" not in response.content.decode()
    other = world["beta"][key]
    page = client.get(reverse(f"admin:governance_{model}_change", args=[other.pk]), follow=True)
    assert page.redirect_chain[-1][0] == reverse("admin:index")


@pytest.mark.parametrize(
    ("model_name", "field_name", "key", "label"),
    [
        ("correctiveaction", "review", "review", "Review"),
        ("breachdispute", "breach", "breach", "breach"),
        ("exclusion", "case", "case", "Case of"),
    ],
)
def test_autocomplete_offers_only_own_clients_rows(
    client, world, governance_a, model_name, field_name, key, label
):
    client.force_login(governance_a)
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "governance", "model_name": model_name, "field_name": field_name, "term": ""},
    )
    assert response.status_code == 200
    ids = {int(row["id"]) for row in response.json()["results"]}
    assert ids == {world["alpha"][key].pk}


def test_the_console_lists_what_needs_attention_today_in_own_clients_only(
    client, world, governance_a, open_at, client_a, queue_a
):
    unreviewed = open_at(
        client_a, queue=queue_a, at=timezone.now() - timedelta(hours=3), subject="Unowned breach"
    )
    sweep_at(timezone.now())
    client.force_login(governance_a)
    response = client.get(reverse("admin:app_list", args=["governance"]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "What needs attention today" in body
    assert "Escalations awaiting acceptance" in body and "Escalation #1 of case" in body
    assert str(Breach.objects.get(case=unreviewed, metric="first_response")) in body
    assert "Review alpha" in body and "Review beta" not in body
    assert "Beta Bank" not in body


def _action(client, url, action, ids, **data):
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids], "index": 0, **data})


def test_open_a_review_from_selected_breaches_in_the_breach_admin(
    client, open_at, client_a, queue_a, policy_a, governance_a
):
    cases_ = [open_at(client_a, queue=queue_a) for _ in range(2)]
    sweep_at(after(hours=2))
    ids = list(Breach.objects.filter(case__in=cases_).values_list("pk", flat=True))
    client.force_login(governance_a)
    url = reverse("admin:slas_breach_changelist")
    form = _action(client, url, "_open_review", ids)
    assert (
        form.status_code == 200 and "Open a breach review from the selected breaches" in form.content.decode()
    )
    done = _action(
        client, url, "_open_review", ids, apply="yes", title="Two late replies", due_on="2026-03-09"
    )
    review = BreachReview.objects.get()
    assert done.status_code == 302 and done["Location"] == reverse(
        "admin:governance_breachreview_change", args=[review.pk]
    )
    assert (review.title, review.owner, str(review.due_on), review.items.count()) == (
        "Two late replies",
        governance_a,
        "2026-03-09",
        2,
    )


def test_agents_do_not_get_the_review_action(client, open_at, client_a, queue_a, policy_a, agent_a):
    client.force_login(agent_a)
    response = client.get(reverse("admin:slas_breach_changelist"))
    assert response.status_code == 200
    assert "_open_review" not in response.content.decode()


def test_raise_an_action_from_a_review_and_verify_it(client, world, governance_a, supervisor_a):
    review = world["alpha"]["review"]
    client.force_login(governance_a)
    url = reverse("admin:governance_breachreview_changelist")
    due = (timezone.now() + timedelta(days=5)).date().isoformat()
    _action(
        client, url, "raise_action", [review.pk], apply="yes", title="Rota", owner=supervisor_a.pk, due_on=due
    )
    action = CorrectiveAction.objects.get(title="Rota")
    assert (action.review, action.owner) == (review, supervisor_a)
    actions_url = reverse("admin:governance_correctiveaction_changelist")
    _action(client, actions_url, "start", [action.pk])
    _action(client, actions_url, "complete", [action.pk])
    refused = _action(client, actions_url, "verify", [action.pk], apply="yes", reason=" ")
    assert refused.status_code == 200  # the form asks for the notes again
    _action(client, actions_url, "verify", [action.pk], apply="yes", reason="Worked for two weeks.")
    action.refresh_from_db()
    assert (action.status, action.verification_notes, action.verified_by) == (
        "verified",
        "Worked for two weeks.",
        governance_a,
    )


def test_add_an_action_by_form_goes_through_the_service(client, world, governance_a, supervisor_a):
    review = world["alpha"]["review"]
    client.force_login(governance_a)
    url = reverse("admin:governance_correctiveaction_add") + f"?review={review.pk}"
    assert client.get(url).status_code == 200
    past = (timezone.now() - timedelta(days=3)).date().isoformat()
    data = {"review": review.pk, "title": "From the form", "owner": supervisor_a.pk, "due_on": past}
    refused = client.post(url, data)
    assert refused.status_code == 200 and "The due date is today or later." in refused.content.decode()
    assert not CorrectiveAction.objects.filter(title="From the form").exists()
    data["due_on"] = (timezone.now() + timedelta(days=3)).date().isoformat()
    assert client.post(url, data).status_code == 302
    action = CorrectiveAction.objects.get(title="From the form")
    assert (action.client, action.root_cause, action.history.get().history_change_reason) == (
        review.client,
        None,
        f"raised from review {review.pk}",
    )


def test_escalate_from_the_case_admin_and_accept(
    client, open_at, client_a, queue_a, tiers_a, agent_a, t2_owner
):
    case = open_at(client_a, queue=queue_a)
    client.force_login(agent_a)
    url = reverse("admin:cases_case_changelist")
    _action(
        client,
        url,
        "escalate",
        [case.pk],
        apply="yes",
        to_tier=2,
        reason="Needs billing expert",
        handoff_channel="voice",
    )
    escalation = Escalation.objects.get()
    assert (escalation.requested_by, escalation.reason, escalation.handoff_channel) == (
        agent_a,
        "Needs billing expert",
        "voice",
    )
    page = client.get(reverse("admin:cases_case_change", args=[case.pk]))
    assert "Needs billing expert" in page.content.decode()
    client.force_login(t2_owner)
    # a tier owner who is an agent has no change permission on escalations: accepting happens in the UI/API
    # service; supervisors and governance staff accept in admin
    from tests.factories import UserFactory

    lead = UserFactory(username="lead-a", role="supervisor", clients=[client_a])
    client.force_login(lead)
    _action(client, reverse("admin:governance_escalation_changelist"), "accept", [escalation.pk])
    escalation.refresh_from_db()
    assert (escalation.status, escalation.accepted_by) == ("accepted", lead)


def test_policy_change_proposed_in_admin_then_approved_by_someone_else(
    client, client_a, policy_a, governance_a, governance_a2
):
    client.force_login(governance_a)
    add = reverse("admin:governance_slapolicychange_add")
    chooser = client.get(add)
    assert "Propose a change to which SLA policy?" in chooser.content.decode()
    form = client.get(f"{add}?policy={policy_a.pk}")
    assert form.status_code == 200
    initial = form.context["adminform"].form.initial
    assert initial["target__first_response__normal"] == 3600
    data = {
        "policy": policy_a.pk,
        "reason": "Faster first replies",
        "effective_at_0": (timezone.localdate() + timedelta(days=30)).isoformat(),  # still ahead
        "effective_at_1": "09:00:00",
        "name": policy_a.name,
        "order": policy_a.order,
        "is_active": "on",
        "calendar": policy_a.calendar_id,
        "warning_percent": 80,
        "pause__resolution": ["pending", "on_hold"],
    }
    for (metric, priority), seconds in {
        ("first_response", p): s
        for p, s in (("urgent", 600), ("high", 1800), ("normal", 1800), ("low", 7200))
    }.items():
        data[f"target__{metric}__{priority}"] = seconds
    for priority, seconds in (("urgent", 14400), ("high", 28800), ("normal", 86400), ("low", 259200)):
        data[f"target__resolution__{priority}"] = seconds
    response = client.post(f"{add}?policy={policy_a.pk}", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    change = SLAPolicyChange.objects.get()
    assert change.proposed["targets"]["first_response:normal"] == 1800
    page = client.get(reverse("admin:governance_slapolicychange_change", args=[change.pk])).content.decode()
    assert "Target first response / normal" in page and "Met → missed" in page
    changelist = reverse("admin:governance_slapolicychange_changelist")
    _action(client, changelist, "approve", [change.pk], apply="yes", reason="")
    change.refresh_from_db()
    assert change.status == "proposed"  # self-approval refused
    client.force_login(governance_a2)
    _action(client, changelist, "approve", [change.pk], apply="yes", reason="ok")
    change.refresh_from_db()
    assert (change.status, change.decided_by) == ("approved", governance_a2)


def test_active_policies_are_read_only_with_a_link_to_propose_a_change(
    client, client_a, policy_a, governance_a
):
    client.force_login(governance_a)
    url = reverse("admin:slas_slapolicy_change", args=[policy_a.pk])
    page = client.get(url)
    propose = reverse("admin:governance_slapolicychange_add") + f"?policy={policy_a.pk}"
    assert page.status_code == 200 and propose in page.content.decode()
    assert client.post(url, {"name": "Edited directly", "order": 1}).status_code == 403
    policy_a.refresh_from_db()
    assert policy_a.name == "Alpha standard"
    target = SLATarget.objects.filter(policy=policy_a).first()
    assert (
        client.post(reverse("admin:slas_slapolicy_delete", args=[policy_a.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert SLATarget.objects.filter(pk=target.pk).exists()


def test_a_policy_added_in_admin_starts_inactive(client, client_a, policy_a, governance_a):
    client.force_login(governance_a)
    response = client.post(
        reverse("admin:slas_slapolicy_add"),
        {
            "client": client_a.pk,
            "name": "Draft",
            "order": 5,
            "channels": "[]",
            "priorities": "[]",
            "segments": "[]",
            "calendar": policy_a.calendar_id,
            "pause_statuses": '{"resolution": ["pending"]}',
            "warning_percent": 80,
            "targets-TOTAL_FORMS": 0,
            "targets-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert SLAPolicy.objects.get(name="Draft").is_active is False


def test_meeting_page_shows_the_agenda_and_raises_actions_inline(
    client, world, client_a, governance_a, supervisor_a
):
    client.force_login(governance_a)
    meeting = services.meeting_schedule(
        client=client_a,
        kind="weekly_review",
        scheduled_for=timezone.now() + timedelta(hours=1),
        actor=governance_a,
    )
    url = reverse("admin:governance_governancemeeting_change", args=[meeting.pk])
    page = client.get(url).content.decode()
    assert (
        "1. Attainment by channel" in page and "1 escalations (manual 1); 1 awaiting acceptance now" in page
    )
    due = (timezone.now() + timedelta(days=2)).date().isoformat()
    data = {
        "attendees": [governance_a.pk],
        "external_attendees": "",
        "minutes": "",
        "decisions": "",
        "governance_rating": "",
        "rating_notes": "",
        "actions-TOTAL_FORMS": 1,
        "actions-INITIAL_FORMS": 0,
        "actions-0-title": "Raised in the meeting",
        "actions-0-owner": supervisor_a.pk,
        "actions-0-due_on": due,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    action = CorrectiveAction.objects.get(title="Raised in the meeting")
    assert (action.meeting, action.owner, action.client) == (meeting, supervisor_a, client_a)
    assert list(meeting.attendees.all()) == [governance_a]
    assert GovernanceMeeting.objects.get(pk=meeting.pk).status == "planned"


def test_the_root_cause_taxonomy_is_seeded_with_six_categories_and_their_causes():
    categories = RootCause.objects.filter(parent__isnull=True).order_by("code")
    assert list(categories.values_list("code", flat=True)) == [
        "demand",
        "knowledge",
        "people",
        "platform",
        "process",
        "third-party",
    ]
    assert {c.code: c.children.count() for c in categories} == {
        "demand": 3,
        "knowledge": 2,
        "people": 4,
        "platform": 4,
        "process": 4,
        "third-party": 3,
    }
    assert str(RootCause.objects.get(code="third-party-client")) == "Third party > Client-side delay"


def _queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:governance_breachreview_changelist",
        "admin:governance_correctiveaction_changelist",
        "admin:governance_escalation_changelist",
    ],
)
def test_console_and_lists_cost_the_same_for_few_and_many_rows(
    client, open_at, client_a, queue_a, tiers_a, governance_a, agent_a, url_name
):
    client.force_login(governance_a)
    console = reverse("admin:app_list", args=["governance"])

    def add_rows(count):
        for _ in range(count):
            case = open_at(client_a, queue=queue_a, at=timezone.now() - timedelta(hours=3))
            sweep_at(timezone.now())
            review = services.breach_review_open(
                breaches=list(Breach.objects.filter(case=case)), actor=governance_a
            )
            services.corrective_action_raise(
                review=review, title="t", owner=governance_a, due_on=timezone.now().date(), actor=governance_a
            )
            services.escalation_create(case=case, reason="r", actor=agent_a)

    add_rows(2)
    few = (_queries(client, console), _queries(client, reverse(url_name)))
    add_rows(6)
    assert (_queries(client, console), _queries(client, reverse(url_name))) == few


def _term_form(prefix: str, i: int, contract, **values) -> dict:
    fields = {
        "kpi": "csat",
        "channel": "",
        "comparator": "gte",
        "target": "80",
        "weight": "1",
        "credit_mode": "per_point",
        "credit_bands": "[]",
        "credit_per_point_percent": "0",
        "bonus_per_point_percent": "0",
        "earn_back_months": "0",
        "effective_from": "2025-06-01",
        "contract": contract.pk,
        **values,
    }
    return {f"{prefix}-{i}-{name}": value for name, value in fields.items()}


@pytest.mark.parametrize("clash", ["with the client's saved term", "within the form"])
def test_a_contract_form_refuses_overlapping_terms(client, superuser, client_a, clash):
    """Two terms for one KPI and channel in force at once would count that KPI twice on the
    scorecard (credits twice): refused, in the contract's form as in the term's own."""
    from governance.models import Contract, ContractTerm
    from tests.factories import ContractFactory, ContractTermFactory

    contract = ContractFactory(client=client_a)
    existing = ContractTermFactory(contract=contract, kpi="csat", effective_from=date(2025, 1, 1))
    client.force_login(superuser)
    url = reverse("admin:governance_contract_change", args=[contract.pk])
    prefix = "terms"
    page = client.get(url).content.decode()
    if f'name="{prefix}-TOTAL_FORMS"' not in page:
        prefix = page.split('-TOTAL_FORMS"')[0].rsplit('name="', 1)[1]
    data = {
        "client": client_a.pk,
        "reference": "",
        "monthly_fee": "10000.00",
        "currency": "EUR",
        "credit_cap_percent": "15",
        "bonus_cap_percent": "5",
        f"{prefix}-INITIAL_FORMS": "1",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    if clash == "within the form":  # the saved term moved away, two new ones clashing
        data.update(
            _term_form(
                prefix, 0, contract, id=existing.pk, effective_from="2020-01-01", effective_to="2020-12-31"
            )
        )
        data.update(_term_form(prefix, 1, contract, effective_from="2025-06-01"))
        data.update(_term_form(prefix, 2, contract, effective_from="2025-09-01"))
        data[f"{prefix}-TOTAL_FORMS"] = "3"
    else:
        data.update(_term_form(prefix, 0, contract, id=existing.pk, effective_from="2025-01-01"))
        data.update(_term_form(prefix, 1, contract, effective_from="2025-06-01"))
        data[f"{prefix}-TOTAL_FORMS"] = "2"
    response = client.post(url, data)
    assert response.status_code == 200, "the overlapping terms were saved"
    assert "in force over part of" in response.content.decode()
    assert ContractTerm.objects.filter(contract=contract).count() == 1
    assert Contract.objects.get().terms.get().effective_from == date(2025, 1, 1)


def test_a_cleared_credit_bands_box_reads_as_no_bands(client_a):
    """The admin's JSON field turns a cleared box into null, which the column refuses (a 500)."""
    from tests.factories import ContractFactory, ContractTermFactory

    term = ContractTermFactory.build(
        contract=ContractFactory(client=client_a), client=client_a, credit_bands=None
    )
    term.full_clean()
    term.save()
    term.refresh_from_db()
    assert term.credit_bands == []
