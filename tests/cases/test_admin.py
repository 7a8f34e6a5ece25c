"""Admin for each role, scoped by client: lists, change pages by URL, autocomplete, actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases import services
from cases.choices import CaseStatus, Channel, Role
from cases.models import Case, Customer
from tests.factories import CaseFactory, CustomerIdentityFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "client",
    "customer",
    "customeridentity",
    "queue",
    "case",
    "interaction",
    "caseevent",
    "satisfactionsurvey",
]


@pytest.fixture
def two_clients(case_a, case_b):
    services.interaction_append(
        case=case_a,
        channel=Channel.EMAIL,
        direction="inbound",
        author_kind="customer",
        body="alpha-secret-body",
    )
    services.interaction_append(
        case=case_b,
        channel=Channel.EMAIL,
        direction="inbound",
        author_kind="customer",
        body="beta-secret-body",
    )
    services.survey_record(case=case_a, csat=5)
    services.survey_record(case=case_b, csat=1)
    CustomerIdentityFactory(customer=case_a.customer, value="ann@alpha.example")
    CustomerIdentityFactory(customer=case_b.customer, value="bob@beta.example")
    return case_a, case_b


@pytest.mark.parametrize("role_fixture", ["agent_a", "supervisor_a", "governance_a"])
@pytest.mark.parametrize("model", CHANGELISTS)
def test_changelist_shows_only_own_clients_rows(client, two_clients, role_fixture, model, request):
    case_a, case_b = two_clients
    client.force_login(request.getfixturevalue(role_fixture))
    response = client.get(reverse(f"admin:cases_{model}_changelist"))
    assert response.status_code == 200
    queryset = response.context["cl"].queryset
    assert queryset.exists()
    client_ids = set(queryset.values_list("pk" if model == "client" else "client_id", flat=True))
    assert client_ids == {case_a.client_id}
    assert case_b.client.name not in response.content.decode()


@pytest.mark.parametrize("role_fixture", ["agent_a", "supervisor_a", "governance_a"])
def test_other_clients_change_pages_are_not_reachable_by_url(client, two_clients, role_fixture, request):
    case_a, case_b = two_clients
    client.force_login(request.getfixturevalue(role_fixture))
    own = client.get(reverse("admin:cases_case_change", args=[case_a.pk]))
    assert own.status_code == 200
    for model, obj in [
        ("case", case_b),
        ("customer", case_b.customer),
        ("queue", case_b.queue),
        ("client", case_b.client),
    ]:
        response = client.get(reverse(f"admin:cases_{model}_change", args=[obj.pk]), follow=True)
        assert b"beta-secret-body" not in response.content
        assert response.redirect_chain, f"{model} of another client was served"
        assert response.redirect_chain[-1][0] == reverse("admin:index")


@pytest.mark.parametrize("role_fixture", ["agent_a", "supervisor_a", "governance_a"])
def test_other_clients_history_pages_are_not_reachable_and_past_versions_never_save(
    client, two_clients, role_fixture, request
):
    """simple-history's pages bypass the admin's queryset: each is checked against it."""
    case_a, case_b = two_clients
    client.force_login(request.getfixturevalue(role_fixture))
    for model, obj in [("customer", case_b.customer), ("queue", case_b.queue), ("client", case_b.client)]:
        version = type(obj).history.filter(id=obj.pk).latest("history_id").history_id
        listing = client.get(reverse(f"admin:cases_{model}_history", args=[obj.pk]))
        page = client.get(reverse(f"admin:cases_{model}_simple_history", args=[obj.pk, version]))
        assert (listing.status_code, page.status_code) == (404, 404), model
        revert = client.post(
            reverse(f"admin:cases_{model}_simple_history", args=[obj.pk, version]),
            {"client": case_a.client_id, "name": "hijacked", "display_name": "hijacked"},
        )
        assert revert.status_code == 404, model
    case_b.customer.refresh_from_db()
    case_b.queue.refresh_from_db()
    assert (case_b.customer.client_id, case_b.queue.client_id) == (case_b.client_id, case_b.client_id)
    # Their own client's history: readable, and a past version is never saved back.
    own = case_a.queue
    version = type(own).history.filter(id=own.pk).latest("history_id").history_id
    assert client.get(reverse("admin:cases_queue_history", args=[own.pk])).status_code == 200
    url = reverse("admin:cases_queue_simple_history", args=[own.pk, version])
    assert client.post(url, {"name": "reverted", "client": case_a.client_id}).status_code == 403
    own.refresh_from_db()
    assert own.name != "reverted"
    assert client.get(reverse("admin:cases_queue_history", args=["not-a-number"])).status_code == 404


def test_autocomplete_does_not_leak_other_clients(client, two_clients, supervisor_a):
    case_a, _ = two_clients
    client.force_login(supervisor_a)
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "cases", "model_name": "customer", "field_name": "client", "term": ""},
    )
    assert response.status_code == 200
    names = [row["text"] for row in response.json()["results"]]
    assert names == [case_a.client.name]


def test_superuser_sees_every_client(client, two_clients, superuser):
    client.force_login(superuser)
    response = client.get(reverse("admin:cases_case_changelist"))
    assert response.context["cl"].result_count == 2


def test_search_finds_case_by_identity_value(client, two_clients, agent_a):
    client.force_login(agent_a)
    response = client.get(reverse("admin:cases_case_changelist"), {"q": "ann@alpha.example"})
    assert [c.pk for c in response.context["cl"].result_list] == [two_clients[0].pk]
    response = client.get(reverse("admin:cases_case_changelist"), {"q": "bob@beta.example"})
    assert list(response.context["cl"].result_list) == []


def test_case_admin_actions_call_services(client, case_a, supervisor_a):
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:cases_case_changelist"),
        {"action": "assign_to_me", "_selected_action": [case_a.pk]},
        follow=True,
    )
    assert response.status_code == 200
    case_a.refresh_from_db()
    assert (case_a.assignee, case_a.version) == (supervisor_a, 2)
    client.post(
        reverse("admin:cases_case_changelist"), {"action": "close_selected", "_selected_action": [case_a.pk]}
    )
    case_a.refresh_from_db()
    assert case_a.status == CaseStatus.NEW  # a new case cannot be closed; refused, unchanged


def test_admin_action_cannot_touch_another_clients_case(client, case_a, case_b, supervisor_a):
    client.force_login(supervisor_a)
    client.post(
        reverse("admin:cases_case_changelist"), {"action": "assign_to_me", "_selected_action": [case_b.pk]}
    )
    case_b.refresh_from_db()
    assert (case_b.assignee, case_b.version) == (None, 1)


def test_agents_work_cases_in_the_workspace_not_through_admin_actions(client, case_a, agent_a, client_a):
    """The admin's case actions act on any case, whoever holds it: supervisors' only. An agent
    could otherwise take a colleague's case the workspace would not let them pick up."""
    colleague = UserFactory(username="colleague-a", role=Role.AGENT, clients=[client_a])
    services.case_assign(case=case_a, assignee=colleague, actor=None)
    client.force_login(agent_a)
    page = client.get(reverse("admin:cases_case_changelist"))
    assert "assign_to_me" not in page.content.decode()
    for action in ("assign_to_me", "resolve_selected"):
        client.post(
            reverse("admin:cases_case_changelist"), {"action": action, "_selected_action": [case_a.pk]}
        )
    case_a.refresh_from_db()
    assert (case_a.assignee, case_a.status) == (colleague, CaseStatus.NEW)


def test_read_only_roles_cannot_merge_customers(client, client_a, governance_a):
    one = services.customer_create(client=client_a, identities=[("email", "one@example.com")])
    two = services.customer_create(client=client_a, identities=[("email", "two@example.com")])
    client.force_login(governance_a)
    client.post(
        reverse("admin:cases_customer_changelist"),
        {"action": "merge_selected", "_selected_action": [one.pk, two.pk]},
    )
    two.refresh_from_db()
    assert two.merged_into is None


def test_customer_inline_normalizes_and_refuses_bad_identity(client, customer_a, supervisor_a):
    client.force_login(supervisor_a)
    url = reverse("admin:cases_customer_change", args=[customer_a.pk])
    form = {
        "client": customer_a.client_id,
        "display_name": "Ann",
        "segment": "standard",
        "language": "en",
        "identities-TOTAL_FORMS": "1",
        "identities-INITIAL_FORMS": "0",
        "identities-0-kind": "phone",
        "identities-0-value": "not a phone",
    }
    response = client.post(url, form)
    assert response.status_code == 200 and "not a phone number" in response.content.decode()
    assert customer_a.identities.count() == 0
    form["identities-0-value"] = "(212) 555-0143"
    response = client.post(url, form)
    assert response.status_code == 302
    assert list(customer_a.identities.values_list("value", flat=True)) == ["+12125550143"]


def test_merge_action_merges_two_customers(client, client_a, supervisor_a):
    one = services.customer_create(client=client_a, identities=[("email", "one@example.com")])
    two = services.customer_create(client=client_a, identities=[("email", "two@example.com")])
    client.force_login(supervisor_a)
    client.post(
        reverse("admin:cases_customer_changelist"),
        {"action": "merge_selected", "_selected_action": [one.pk, two.pk]},
    )
    two.refresh_from_db()
    assert two.merged_into == one


def test_agent_cannot_add_cases_or_edit_clients(client, client_a, agent_a):
    client.force_login(agent_a)
    assert client.get(reverse("admin:cases_case_add")).status_code == 403
    assert client.get(reverse("admin:cases_client_change", args=[client_a.pk])).status_code == 200
    response = client.post(reverse("admin:cases_client_change", args=[client_a.pk]), {"name": "Hacked"})
    assert response.status_code == 403


def test_user_without_a_role_sees_nothing(client, client_a, case_a):
    nobody = UserFactory(username="nobody", clients=[client_a])
    client.force_login(nobody)
    assert client.get(reverse("admin:cases_case_changelist")).status_code == 403


def _seed_cases(client_obj, count):
    for _ in range(count):
        CaseFactory(client=client_obj, status=CaseStatus.OPEN)


def test_case_changelist_query_count_does_not_grow_with_rows(
    client, client_a, agent_a, django_assert_max_num_queries
):
    client.force_login(agent_a)
    _seed_cases(client_a, 2)
    client.get(reverse("admin:cases_case_changelist"))  # warm caches (content types, sessions)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as two_rows:
        assert client.get(reverse("admin:cases_case_changelist")).status_code == 200
    queries = len(two_rows)  # read now: the next request clears Django's query log
    _seed_cases(client_a, 18)
    with CaptureQueriesContext(connection) as twenty_rows:
        response = client.get(reverse("admin:cases_case_changelist"))
    assert response.context["cl"].result_count == 20
    assert len(twenty_rows) == queries
    assert Case.objects.count() == 20 and Customer.objects.count() == 20


def test_role_groups_exist_with_permissions(db):
    from django.contrib.auth.models import Group

    groups = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    assert set(Role.values) <= set(groups)
    assert "change_case" in groups[Role.AGENT] and "change_case" not in groups[Role.GOVERNANCE]
    assert "add_case" in groups[Role.CLIENT_SYSTEM]
