"""The demo data set: realistic shape, deterministic, loaded once; bootstrap ensures users."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from cases.choices import CaseEventKind, CaseStatus, Channel
from cases.models import (
    Case,
    CaseEvent,
    Client,
    Customer,
    CustomerIdentity,
    Interaction,
    SatisfactionSurvey,
)
from config import demo
from tests.demo_wipe import demo_wipe

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _snapshot():
    return list(
        Case.objects.order_by("public_id").values_list(
            "public_id", "subject", "status", "priority", "opened_at", "current_channel"
        )
    )


def test_demo_shape():
    summary = demo.seed(seed=3, scale=0.05, now=NOW)
    assert (summary.clients, summary.queues, summary.customers, summary.cases) == (3, 7, 100, 500)
    assert len(set(Client.objects.values_list("timezone", flat=True))) == 3
    assert set(Case.objects.values_list("origin_channel", flat=True)) == set(Channel.values)
    assert {CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.RESOLVED, CaseStatus.CLOSED} <= set(
        Case.objects.values_list("status", flat=True)
    )
    assert CustomerIdentity.objects.count() > Customer.objects.count()
    assert CaseEvent.objects.filter(kind=CaseEventKind.CHANNEL_HANDOFF).exists()
    assert Interaction.objects.filter(author_kind="bot").exists()
    # Every case starts its timeline with OPENED, and every interaction is on the timeline.
    assert CaseEvent.objects.filter(kind=CaseEventKind.OPENED).count() == 500
    assert CaseEvent.objects.filter(kind=CaseEventKind.INTERACTION).count() == Interaction.objects.count()
    assert not Case.objects.filter(opened_at__gt=NOW).exists()
    assert not Interaction.objects.filter(occurred_at__gt=NOW).exists()
    assert SatisfactionSurvey.objects.exists()


def test_demo_connectors_one_per_client_channel_and_they_ingest(client):
    from connectors import signing
    from connectors.models import Connector

    demo.seed(seed=3, scale=0.02, now=NOW)
    expected = {f"{spec['slug']}-{channel}" for spec in demo.DEMO_CLIENTS for channel in spec["channels"]}
    connectors = {c.slug: c for c in Connector.objects.select_related("default_queue")}
    assert set(connectors) == expected
    for connector in connectors.values():
        assert connector.default_queue.client_id == connector.client_id
        assert connector.channel in connector.default_queue.channels
    sms = connectors["northwind-sms"]
    body = b"MessageSid=SMDEMO1&From=%2B12125550188&Body=My+bill+is+wrong"
    response = client.post(
        f"/api/v1/connectors/{sms.slug}/events",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=signing.sign(sms.signing_secret, int(time.time()), body),
    )
    assert response.status_code == 201, response.content
    interaction = Interaction.objects.get(external_id="SMDEMO1")
    assert interaction.case.client_id == sms.client_id


def test_same_seed_same_data():
    demo.seed(seed=11, scale=0.02, now=NOW)
    first = _snapshot()
    demo_wipe()
    demo.seed(seed=11, scale=0.02, now=NOW)
    assert _snapshot() == first


def test_seed_command_second_run_adds_nothing(capsys):
    call_command("seed_demo", "--scale", "0.01")
    counts = (Case.objects.count(), Customer.objects.count(), Interaction.objects.count())
    call_command("seed_demo", "--scale", "0.01")
    assert (Case.objects.count(), Customer.objects.count(), Interaction.objects.count()) == counts
    assert "nothing added" in capsys.readouterr().out


def test_bootstrap_demo_creates_role_users(settings, capsys):
    settings.DEMO_MODE = True
    call_command("seed_demo", "--scale", "0.01")
    call_command("bootstrap", "--demo")
    users = {
        u.username: u
        for u in get_user_model().objects.filter(username__in=["admin", "agent", "supervisor", "governance"])
    }
    assert users["admin"].is_superuser and not users["agent"].is_superuser
    assert users["agent"].groups.get().name == "agent"
    assert users["governance"].served_clients.count() == 3
    assert users["agent"].check_password("accord-agent")
    output = capsys.readouterr().out
    assert "accord-agent" in output
    from connectors.models import Connector

    sms = Connector.objects.get(slug="northwind-sms")
    assert f"northwind-sms          {sms.signing_secret}" in output


def test_bootstrap_refuses_demo_users_outside_demo_mode(settings):
    settings.DEMO_MODE = False
    call_command("bootstrap", "--demo")
    assert not get_user_model().objects.filter(username="admin").exists()
