"""Message content from any channel is shown as text: hostile payloads come out escaped (the browser
test proves none of them runs). Front-end files are served locally; pages carry no inline script
or inline event handler, so the strict CSP (script-src 'self') holds."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse

from cases import services as cases
from cases.choices import AuthorKind, Channel, Direction
from cases.models import Case
from connectors import services as connector_services
from tests.connectors.factories import ConnectorFactory

PAYLOADS = [
    "<script>window.__xss = 1; alert('script')</script>",
    "<img src=x onerror=\"window.__xss = 2; alert('img')\">",
    "<a href=\"javascript:window.__xss = 3; alert('link')\">click me</a>",
    "javascript:window.__xss = 4",
    '"><svg onload="window.__xss = 5">',
]


def hostile_case(make_case, agent):
    case = make_case(
        ago=timedelta(minutes=5), assignee=agent, subject='<img src=x onerror="window.__xss = 6">Subject'
    )
    for index, body in enumerate(PAYLOADS):
        cases.interaction_append(
            case=case,
            channel=Channel.CHAT if index % 2 else Channel.EMAIL,
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            body=body,
            metadata={"recording_url": "javascript:window.__xss = 7"},
        )
    cases.interaction_append(
        case=case,
        channel=Channel.VOICE,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        body="call",
        metadata={"wait_seconds": 5, "recording_url": "javascript:window.__xss = 8"},
    )
    return Case.objects.get(pk=case.pk)


def test_payloads_are_escaped_on_the_case_page_and_in_my_work(client, worker_a, make_case):
    case = hostile_case(make_case, worker_a)
    client.force_login(worker_a)
    for url in [reverse("workspace:case", args=[case.public_id]), reverse("workspace:my-work")]:
        html = client.get(url).content.decode()
        assert "<script>window" not in html
        assert "<img src=x" not in html and "<svg" not in html
        assert 'href="javascript:' not in html
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), "an inline event handler reached the page"
    html = client.get(reverse("workspace:case", args=[case.public_id])).content.decode()
    assert "&lt;script&gt;window.__xss = 1;" in html
    assert "&lt;img src=x onerror=&quot;window.__xss = 2;" in html
    assert "recording</a>" not in html  # a javascript: recording link is not a link


def test_payloads_through_a_chat_connector_are_escaped(client, worker_a, client_a, queue_a, policy_a):
    connector = ConnectorFactory(client=client_a, adapter="chat", slug="chat-alpha", default_queue=queue_a)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def receive(payload):
        result = connector_services.inbound_receive(connector=connector, raw=json.dumps(payload).encode())
        assert result.outcome == "processed", result.detail
        return result

    visitor = {"id": "v-1", "name": '<img src=x onerror="window.__xss = 9">', "email": "evil@example.com"}
    first = receive(
        {
            "event": "session.started",
            "session_id": "s-1",
            "occurred_at": now,
            "visitor": visitor,
            "initial_message": "<script>window.__xss = 10</script>Hello",
        }
    )
    receive(
        {
            "event": "message",
            "session_id": "s-1",
            "occurred_at": now,
            "visitor": visitor,
            "message": {
                "id": "m-1",
                "author": "customer",
                "text": '<a href="javascript:window.__xss=11">x</a>',
            },
        }
    )
    case = first.case
    queue_a.agents.add(worker_a)
    client.force_login(worker_a)
    for url in [reverse("workspace:case", args=[case.public_id]), reverse("workspace:my-work")]:
        html = client.get(url).content.decode()
        assert str(case.public_id) in html
        assert "<script>window" not in html and "<img src=x" not in html and 'href="javascript:' not in html
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html)


# --- Front-end files ---------------------------------------------------------------------------------


def test_pages_load_scripts_and_styles_from_static_only(client, worker_a, make_case):
    case = make_case(assignee=worker_a)
    login = reverse("workspace:login")
    for url in [reverse("workspace:my-work"), reverse("workspace:case", args=[case.public_id]), login]:
        if url == login:
            client.logout()
        else:
            client.force_login(worker_a)
        response = client.get(url)
        html = response.content.decode()
        scripts = re.findall(r"<script\b([^>]*)>", html)
        assert scripts, url
        for attributes in scripts:
            src = re.search(r'src="([^"]+)"', attributes)
            assert src is not None, f"inline script on {url}"
            assert src.group(1).startswith("/" + settings.STATIC_URL.lstrip("/")), src.group(1)
        for href in re.findall(r'<link [^>]*href="([^"]+)"', html):
            assert href.startswith("/static/"), href
        assert "//cdn" not in html and "unpkg" not in html and "jsdelivr" not in html
        assert "script-src 'self'" in response["Content-Security-Policy"]


def test_vendored_htmx_is_version_2():
    path = finders.find("workspace/vendor/htmx-2.0.10.min.js")
    assert path is not None
    text = Path(path).read_text()
    assert 'version:"2.0.10"' in text
    assert finders.find("workspace/workspace.js") and finders.find("workspace/workspace.css")
