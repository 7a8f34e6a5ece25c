"""The workspace in a real browser (headless chromium): an agent works a case from the queue to
resolution with clocks that behave; two sessions editing one case, the second save a conflict;
hostile message content never runs. Every page is checked for console errors (CSP violations
included), uncaught errors and dialogs. Screenshots go to test-artifacts/workspace/."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from cases import services as cases
from cases.choices import AuthorKind, CaseStatus, Channel, Direction, Priority
from cases.models import Case, Interaction
from connectors import services as connector_services
from governance.models import Escalation
from tests.connectors.factories import ConnectorFactory

# Committed data, so that the live server's thread sees it.
pytestmark = pytest.mark.django_db(transaction=True)


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_agent_works_a_case_from_queue_to_resolution(open_session, make_case, worker_a, tiers_a):
    fresh = make_case(ago=timedelta(minutes=1), channel=Channel.CHAT, subject="Fresh chat: router blinking")
    breached = make_case(ago=timedelta(hours=2), assignee=worker_a, subject="Breached e-mail: no invoice")
    at_risk = make_case(ago=timedelta(minutes=50), subject="At risk: slow line")
    agent = open_session("agent")
    page = agent.page

    # Log in; my work lists the cases in SLA order, breached first.
    agent.log_in("agent-a")
    rows = page.locator("tr.work-row").evaluate_all("rows => rows.map(row => row.dataset.case)")
    assert rows == [str(breached.public_id), str(at_risk.public_id), str(fresh.public_id)]
    breached_clock = page.locator(f'tr[data-case="{breached.public_id}"] [data-metric="first_response"]')
    expect(breached_clock).to_have_attribute("data-state", "breached")
    expect(
        page.locator(f'tr[data-case="{at_risk.public_id}"] [data-metric="first_response"]')
    ).to_have_attribute("data-state", "at_risk")
    # The time left counts down live in the page.
    left = page.locator(f'tr[data-case="{fresh.public_id}"] [data-metric="first_response"] [data-clock-left]')
    before = left.inner_text()
    assert before.endswith("left")
    page.wait_for_function(
        "([selector, text]) => document.querySelector(selector).textContent !== text",
        arg=[f'tr[data-case="{fresh.public_id}"] [data-metric="first_response"] [data-clock-left]', before],
        timeout=3000,
    )
    # Filters (htmx swaps the results, the URL follows).
    page.select_option("#id_priority", "normal")
    page.wait_for_url("**/?*priority=normal*")
    agent.screenshot("01-my-work")

    # Open the fresh case and pick it up.
    page.click(f'tr[data-case="{fresh.public_id}"] a.case-link')
    page.wait_for_url(f"**/cases/{fresh.public_id}/")
    first_response = page.locator('#case-clocks [data-metric="first_response"]')
    expect(first_response).to_have_attribute("data-state", "running")
    page.click("#case-page header button:has-text('Pick up')")
    expect(page.get_by_test_id("case-assignee")).to_have_text("agent-a")

    # Reply on e-mail (the case came in on chat): the first-response clock stops, met.
    page.select_option("#reply-channel", "email")
    page.fill("#reply-body", "Hello! Please restart the router; we are checking the line.")
    page.click("#reply-form button[type=submit]")
    expect(page.get_by_test_id("notice")).to_contain_text("Reply on E-mail recorded")
    expect(first_response).to_have_attribute("data-state", "met")
    expect(page.locator('#case-timeline [data-kind="handoff"]').last).to_contain_text("Chat → E-mail")
    expect(page.get_by_test_id("case-status")).to_have_text("Open")
    agent.screenshot("02-case-replied")

    # Escalate with a reason.
    page.fill("#escalate-reason", "Line fault: needs a network specialist")
    page.click("#escalate-form button[type=submit]")
    expect(page.get_by_test_id("case-tier")).to_have_text("T2")
    expect(page.get_by_test_id("escalation")).to_contain_text("Line fault: needs a network specialist")
    expect(page.locator('#case-clocks [data-metric="escalation_acceptance"]')).to_have_attribute(
        "data-state", "running"
    )

    # Resolve, flagged as first-contact resolution.
    page.check("#resolve-first_contact_resolution")
    page.click("#resolve-form button[type=submit]")
    expect(page.get_by_test_id("case-status")).to_have_text("Resolved")
    expect(page.locator('#case-clocks [data-metric="resolution"]')).to_have_attribute("data-state", "met")
    agent.screenshot("03-case-resolved")
    agent.assert_clean()

    case = Case.objects.get(pk=fresh.pk)
    assert (case.status, case.first_contact_resolution, case.assignee_id, case.tier) == (
        CaseStatus.RESOLVED,
        True,
        worker_a.pk,
        2,
    )
    reply = Interaction.objects.get(case=case, direction=Direction.OUTBOUND)
    assert (reply.channel, reply.author_id) == (Channel.EMAIL, worker_a.pk)
    assert case.first_responded_at == reply.occurred_at
    assert Escalation.objects.get(case=case).reason == "Line fault: needs a network specialist"


def test_second_save_on_a_changed_case_is_a_conflict(open_session, make_case, worker_a, lead_a):
    case = make_case(ago=timedelta(minutes=5), assignee=worker_a, subject="Two people, one case")
    agent, supervisor = open_session("agent"), open_session("supervisor")
    agent.log_in("agent-a")
    supervisor.log_in("supervisor-a")
    for session in (agent, supervisor):
        session.page.goto(f"/cases/{case.public_id}/")
        expect(session.page.get_by_test_id("case-status")).to_have_text("New")

    # The supervisor raises the priority first...
    supervisor.page.select_option("#priority-priority", "high")
    supervisor.page.click("#priority-form button[type=submit]")
    expect(supervisor.page.get_by_test_id("notice")).to_have_text("Priority set to high.")

    # ...then the agent, still looking at the old version, puts the case on hold: refused.
    agent.page.select_option("#status-status", "on_hold")
    agent.page.fill("#status-reason", "waiting for parts")
    agent.page.click("#status-form button[type=submit]")
    expect(agent.page.get_by_test_id("conflict")).to_contain_text("changed by someone else")
    expect(agent.page.get_by_test_id("case-priority")).to_have_text(
        "High"
    )  # the page shows the case as it is
    expect(agent.page.get_by_test_id("case-status")).to_have_text("New")
    expect(agent.page.locator("#status-reason")).to_have_value("waiting for parts")  # the input is kept
    agent.screenshot("04-conflict")
    case.refresh_from_db()
    assert (case.status, case.priority) == (CaseStatus.NEW, Priority.HIGH)

    # Saving again, now against the version shown, works.
    agent.page.click("#status-form button[type=submit]")
    expect(agent.page.get_by_test_id("case-status")).to_have_text("On hold")
    case.refresh_from_db()
    assert case.status == CaseStatus.ON_HOLD
    agent.assert_clean()
    supervisor.assert_clean()


def test_hostile_message_content_never_runs(open_session, make_case, worker_a, client_a, queue_a):
    case = make_case(
        ago=timedelta(minutes=5), assignee=worker_a, subject='<img src=x onerror="window.__xss=1">Subject'
    )
    payloads = [
        "<script>window.__xss = 2; alert('script')</script>",
        "<img src=x onerror=\"window.__xss = 3; alert('img')\">",
        "<a href=\"javascript:window.__xss = 4; alert('link')\">click me</a>",
        '"><svg onload="window.__xss = 5">',
    ]
    for body in payloads:
        cases.interaction_append(
            case=case,
            channel=Channel.EMAIL,
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            body=body,
        )
    # And through a chat connector, as a real inbound message.
    connector = ConnectorFactory(client=client_a, adapter="chat", slug="chat-alpha", default_queue=queue_a)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result = connector_services.inbound_receive(
        connector=connector,
        raw=json.dumps(
            {
                "event": "session.started",
                "session_id": "s-1",
                "occurred_at": now,
                "visitor": {"id": "v-1", "name": '<img src=x onerror="window.__xss=6">'},
                "initial_message": (
                    '<script>window.__xss=7</script><a href="javascript:window.__xss=8">hi</a>'
                ),
            }
        ).encode(),
    )
    assert result.outcome == "processed"

    agent = open_session("agent")
    page = agent.page
    agent.log_in("agent-a")
    assert page.evaluate("window.__xss") is None
    page.goto(f"/cases/{case.public_id}/")
    body = page.locator("#case-timeline")
    expect(body).to_contain_text("<script>window.__xss = 2; alert('script')</script>")
    expect(body).to_contain_text("<a href=\"javascript:window.__xss = 4; alert('link')\">click me</a>")
    expect(page.locator("h1")).to_contain_text('<img src=x onerror="window.__xss=1">Subject')
    assert page.locator("#case-timeline a[href^='javascript:']").count() == 0
    page.get_by_text("click me").first.click()  # plain text: nothing happens
    agent.screenshot("05-hostile-content")
    page.goto(f"/cases/{result.case.public_id}/")
    expect(page.locator("#case-page")).to_be_visible()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    agent.screenshot("06-hostile-content-via-connector")
    agent.assert_clean()


def test_an_emails_attachment_downloads_and_its_quoted_history_unfolds(
    open_session, worker_a, client_a, queue_a
):
    """A hostile attachment (HTML with a script, a name made of markup) is only ever downloaded;
    a reply shows its own words with the quoted history folded under them."""
    connector = ConnectorFactory(client=client_a, adapter="email", slug="mail-alpha", default_queue=queue_a)
    hostile_name = "<img src=x onerror=window.__xss=9>.html"
    first = (
        "From: Ann Alpha <ann.alpha@example.com>\r\nTo: support@alpha.example\r\n"
        "Subject: Invoice\r\nMessage-ID: <inv-1@example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        '--b\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\nMy invoice is attached.\r\n'
        '--b\r\nContent-Type: text/html; name="invoice.html"\r\n'
        f'Content-Disposition: attachment; filename="{hostile_name}"\r\n\r\n'
        "<script>window.__xss = 10</script><p>Invoice</p>\r\n--b--\r\n"
    ).encode()
    opened = connector_services.inbound_receive(connector=connector, raw=first)
    assert opened.outcome == "processed"
    reply = (
        b"From: Ann Alpha <ann.alpha@example.com>\r\nTo: support@alpha.example\r\n"
        b"Subject: Re: Invoice\r\nMessage-ID: <inv-2@example.com>\r\nIn-Reply-To: <inv-1@example.com>\r\n"
        b"References: <inv-1@example.com>\r\n\r\n"
        b"Any news?\r\n\r\nOn Mon, Mar 3, 2025 at 10:00 AM Ann Alpha <ann.alpha@example.com> wrote:\r\n"
        b"> My invoice is attached.\r\n"
    )
    assert connector_services.inbound_receive(connector=connector, raw=reply).case == opened.case

    agent = open_session("agent")
    page = agent.page
    agent.log_in("agent-a")
    page.goto(f"/cases/{opened.case.public_id}/")
    timeline = page.locator("#case-timeline")
    expect(timeline).to_contain_text("Any news?")
    quoted = timeline.locator("details.item__quoted")
    expect(quoted.locator(".item__body")).not_to_be_visible()
    quoted.locator("summary").click()
    expect(quoted.locator(".item__body")).to_contain_text("> My invoice is attached.")
    link = timeline.locator(".item__files a")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".html")
    page.wait_for_timeout(300)
    assert page.url.endswith(f"/cases/{opened.case.public_id}/")  # stayed: nothing was shown
    assert page.evaluate("window.__xss") is None
    agent.screenshot("07-email-attachment-and-quoted-text")
    agent.assert_clean()
