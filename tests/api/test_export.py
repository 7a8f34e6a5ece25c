"""Incremental export: stable order, signed cursors, end of stream, and no change ever lost,
even while other transactions write during the paging (PostgreSQL)."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection
from django.test import override_settings

from cases import services
from cases.models import Case
from tests.api.conftest import key_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _open(client, queue, count):
    customer = CustomerFactory(client=client)
    return [
        services.case_open(client=client, customer=customer, queue=queue, subject=f"c{i}", channel="email")
        for i in range(count)
    ]


def _drain(api, cursor=None, page_size=3):
    seen, pages = {}, 0
    while True:
        query = f"page_size={page_size}" + (f"&cursor={cursor}" if cursor else "")
        response = api.get(f"/api/v1/export/cases?{query}")
        assert response.status_code == 200, response.content
        page = response.json()
        for row in page["results"]:
            seen[row["id"]] = row["version"]
        cursor, pages = page["next_cursor"], pages + 1
        if page["end_of_stream"]:
            return seen, cursor, pages


@override_settings(ACCORD_API_EXPORT_SAFETY_SECONDS=0)
def test_export_pages_in_change_order_and_resumes(api_a, client_a, queue_a, case_b):
    cases = _open(client_a, queue_a, 7)
    seen, cursor, pages = _drain(api_a)
    assert seen == {str(c.public_id): 1 for c in cases}
    assert pages == 3
    # Nothing new: an empty page, end of stream, and the cursor still works.
    empty = api_a.get(f"/api/v1/export/cases?cursor={cursor}").json()
    assert (empty["results"], empty["end_of_stream"]) == ([], True)
    services.case_priority_set(case=cases[2], priority="high", actor=None)
    later, _, _ = _drain(api_a, cursor)
    assert later == {str(cases[2].public_id): 2}


def test_recent_changes_wait_for_the_safety_margin(api_a, client_a, queue_a):
    _open(client_a, queue_a, 2)
    page = api_a.get("/api/v1/export/cases").json()
    assert page["results"] == []  # within the default 5 s margin
    assert page["end_of_stream"] is True


@override_settings(ACCORD_API_EXPORT_SAFETY_SECONDS=0)
def test_updated_since_and_bad_cursors(api_a, client_a, queue_a):
    cases = _open(client_a, queue_a, 3)
    since = Case.objects.get(pk=cases[1].pk).updated_at.isoformat().replace("+00:00", "Z")
    page = api_a.get(f"/api/v1/export/cases?updated_since={since}").json()
    assert [row["id"] for row in page["results"]] == [str(cases[1].public_id), str(cases[2].public_id)]
    cursor = page["next_cursor"]
    for bad in ("nonsense", cursor[:-2] + "xx", cursor + "a"):
        response = api_a.get(f"/api/v1/export/cases?cursor={bad}")
        assert response.status_code == 400
        assert response.json()["errors"]["cursor"]
    # A list cursor is not an export cursor (different signing salt).
    list_cursor = api_a.get("/api/v1/cases?page_size=1").json()["next_cursor"]
    assert api_a.get(f"/api/v1/export/cases?cursor={list_cursor}").status_code == 400
    assert api_a.get("/api/v1/export/cases?updated_since=yesterday").status_code == 400
    assert api_a.get("/api/v1/export/cases?page_size=501").status_code == 400


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@override_settings(ACCORD_API_EXPORT_SAFETY_SECONDS=0.2)
def test_no_change_is_lost_while_writers_run(client_a, queue_a, write_key_a):
    """Writers update cases in transactions that sleep between the write and the commit, while
    the client pages; after they stop, the end of the stream has every case at its final version."""
    cases = _open(client_a, queue_a, 40)
    ids = [c.pk for c in cases]
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(seed):
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                from django.db import transaction

                with transaction.atomic():
                    case = Case.objects.get(pk=rng.choice(ids))
                    services.case_priority_set(
                        case=case, priority=rng.choice(["low", "normal", "high", "urgent"]), actor=None
                    )
                    time.sleep(rng.uniform(0, 0.4))  # commit late: longer than the safety margin
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    api = key_client(write_key_a)
    seen: dict[str, int] = {}
    cursor = None
    deadline = time.monotonic() + 3
    try:
        while time.monotonic() < deadline:
            query = "page_size=7" + (f"&cursor={cursor}" if cursor else "")
            page = api.get(f"/api/v1/export/cases?{query}").json()
            for row in page["results"]:
                assert row["version"] >= seen.get(row["id"], 0), "a case went back in time"
                seen[row["id"]] = row["version"]
            cursor = page["next_cursor"]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    time.sleep(0.5)
    while True:
        page = api.get(f"/api/v1/export/cases?page_size=7&cursor={cursor}").json()
        for row in page["results"]:
            seen[row["id"]] = row["version"]
        cursor = page["next_cursor"]
        if page["end_of_stream"]:
            break
    final = {
        str(public_id): version for public_id, version in Case.objects.values_list("public_id", "version")
    }
    assert sum(final.values()) > 40 + 20, "the writers barely ran"
    assert seen == final


@override_settings(ACCORD_API_EXPORT_SAFETY_SECONDS=0)
def test_a_breach_the_sweep_records_delivers_the_case_again(api_a, client_a, queue_a):
    """The case's representation (its SLA state, its clocks) changes when the sweep breaches it:
    the export and `updated_since` give it again, at the same version."""
    from datetime import timedelta

    from django.utils import timezone

    from slas.sweep import sla_sweep
    from tests.factories import SLAPolicyFactory

    SLAPolicyFactory(client=client_a, targets={("first_response", "normal"): 3600})
    case = services.case_open(
        client=client_a,
        customer=CustomerFactory(client=client_a),
        queue=queue_a,
        subject="due soon",
        channel="email",
        opened_at=timezone.now() - timedelta(minutes=61),
    )
    seen, cursor, _ = _drain(api_a)  # before the sweep: on its way to a breach
    assert seen == {str(case.public_id): 1}
    before = Case.objects.get(pk=case.pk).updated_at
    assert sla_sweep(now=timezone.now()).breached == 1
    again = api_a.get(f"/api/v1/export/cases?cursor={cursor}").json()["results"]
    assert [(row["id"], row["version"], row["sla"]["state"]) for row in again] == [
        (str(case.public_id), 1, "breached")
    ]
    listed = api_a.get("/api/v1/cases", {"updated_since": (before + timedelta(microseconds=1)).isoformat()})
    assert [row["id"] for row in listed.json()["results"]] == [str(case.public_id)]
