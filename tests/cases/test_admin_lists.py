"""Admin lists of the tables that grow with traffic (cases.admin_lists): a page reads its rows,
newest first by primary key, and its count; no filter, date drill-down or full count reads the
whole table."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import services
from cases.choices import Channel

pytestmark = pytest.mark.django_db

GROWING = [
    "cases.customer",
    "cases.case",
    "cases.interaction",
    "cases.caseevent",
    "cases.satisfactionsurvey",
    "slas.casesla",
    "slas.slaclock",
    "slas.clockevent",
    "slas.breach",
    "slas.slawarning",
    "connectors.inboundevent",
    "connectors.webhookdelivery",
    "connectors.webhookattempt",
    "connectors.alertnotification",
]


@pytest.fixture
def traffic(case_a, case_b):
    for case in (case_a, case_b):
        services.interaction_append(
            case=case, channel=Channel.EMAIL, direction="inbound", author_kind="customer", body="hello"
        )
        services.survey_record(case=case, csat=4)
    return case_a, case_b


def _reads(user_client, url: str, table: str) -> list[str]:
    with CaptureQueriesContext(connection) as context:
        response = user_client.get(url)
    assert response.status_code == 200
    return [q["sql"] for q in context.captured_queries if re.search(rf'FROM "{table}"', q["sql"])]


@pytest.mark.parametrize("label", GROWING)
@pytest.mark.parametrize("user", ["superuser", "supervisor_a"])
def test_a_growing_list_reads_its_page_and_count_only(client, traffic, label, user, request):
    model = apps.get_model(label)
    client.force_login(request.getfixturevalue(user))
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    table = model._meta.db_table
    reads = _reads(client, url, table)
    # Customers grow with contacts, but far slower: their segment and language filters list the
    # values in use (segment from its index).
    reads = [
        sql for sql in reads if not re.match(r'SELECT DISTINCT "cases_customer"\."(segment|language)"', sql)
    ]
    # The count, then the page (their order is Django's), and nothing else of the table.
    assert len(reads) == 2, reads
    assert not any(word in sql for sql in reads for word in ("DISTINCT", "MIN(", "MAX(")), reads
    (page,) = [sql for sql in reads if not sql.startswith("SELECT COUNT(*)")]
    assert re.search(rf'ORDER BY "{table}"\."id" DESC', page), page


def test_a_growing_list_filters_by_date_range_instead_of_drilling_down(client, superuser, traffic):
    client.force_login(superuser)
    url = reverse("admin:cases_caseevent_changelist")
    response = client.get(url)
    date_filters = [spec for spec in response.context["cl"].filter_specs if spec.field_path == "occurred_at"]
    assert [type(spec).__name__ for spec in date_filters] == ["DateFieldListFilter"]
    assert response.context["cl"].date_hierarchy is None


@pytest.mark.parametrize(
    ("query", "expected"), [("tier=2", ["T2 case"]), ("tier=1", ["T1 case"]), ("", None)]
)
def test_the_case_tier_filter_offers_fixed_tiers(client, superuser, case_a, query, expected):
    from cases.models import Case

    Case.objects.filter(pk=case_a.pk).update(subject="T1 case")
    second = services.case_open(
        client=case_a.client,
        customer=case_a.customer,
        queue=case_a.queue,
        subject="T2 case",
        channel=Channel.CHAT,
    )
    Case.objects.filter(pk=second.pk).update(tier=2)
    client.force_login(superuser)
    response = client.get(f"{reverse('admin:cases_case_changelist')}?{query}")
    subjects = sorted(case.subject for case in response.context["cl"].result_list)
    assert subjects == (expected or ["T1 case", "T2 case"])
    (tier_filter,) = [spec for spec in response.context["cl"].filter_specs if spec.title == "tier"]
    assert tier_filter.lookup_choices == [("1", "T1"), ("2", "T2"), ("3", "T3")]
