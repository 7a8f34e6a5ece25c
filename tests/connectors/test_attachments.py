"""An e-mail's attachments are kept with its case and downloaded from the agent workspace by
whoever may see the case; never by anyone else, never shown inline."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import Attachment, Case, Interaction

pytestmark = pytest.mark.django_db

EML = "message/rfc822"
# The PDF in email_multipart.eml, as its base64 part decodes.
CONTRACT = base64.b64decode("JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K")


def mail_with(attachment: bytes, *, message_id: str, filename: str = "photo.png") -> bytes:
    encoded = base64.b64encode(attachment).decode()
    return (
        "From: Ann Alpha <ann.alpha@example.com>\r\nTo: support@alpha.example\r\n"
        f"Subject: Screenshot\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        '--b\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\nSee the screenshot.\r\n'
        f'--b\r\nContent-Type: image/png; name="{filename}"\r\n'
        f'Content-Disposition: attachment; filename="{filename}"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n"
    ).encode()


def download_url(attachment: Attachment) -> str:
    return reverse("workspace:case-attachment", args=[attachment.interaction.case.public_id, attachment.pk])


def test_an_attachment_is_kept_with_its_message(make_connector, post_fixture):
    email = make_connector("email")
    assert post_fixture(email, "email_multipart.eml").status_code == 201
    interaction = Interaction.objects.get()
    [kept] = interaction.attachments.all()
    assert (kept.position, kept.filename, kept.content_type) == (0, "contract.pdf", "application/pdf")
    assert (kept.size, kept.sha256) == (len(CONTRACT), hashlib.sha256(CONTRACT).hexdigest())
    assert kept.client_id == email.client_id
    with kept.file.open("rb") as handle:
        assert handle.read() == CONTRACT
    # Stored under its digest, never under the name its sender chose.
    assert kept.file.name == f"attachments/{email.client_id}/{kept.sha256[:2]}/{kept.sha256}"
    assert interaction.metadata["attachments"][0]["size"] == len(CONTRACT)


def test_the_agent_downloads_it_from_the_timeline(make_connector, post_fixture, client, agent_a):
    email = make_connector("email")
    post_fixture(email, "email_multipart.eml")
    kept = Attachment.objects.get()
    client.force_login(agent_a)
    page = client.get(reverse("workspace:case", args=[kept.interaction.case.public_id])).content.decode()
    assert f'href="{download_url(kept)}" download>contract.pdf</a>' in page
    response = client.get(download_url(kept))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="contract.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == CONTRACT


def test_another_clients_agent_cannot_reach_it(make_connector, post_fixture, client, agent_b, case_b):
    email = make_connector("email")
    post_fixture(email, "email_multipart.eml")
    kept = Attachment.objects.get()
    client.force_login(agent_b)
    assert client.get(download_url(kept)).status_code == 404
    # Nor through a case of their own client.
    crossing = reverse("workspace:case-attachment", args=[case_b.public_id, kept.pk])
    assert client.get(crossing).status_code == 404


def test_a_file_over_the_limit_is_listed_not_kept(make_connector, post_event, settings, client, agent_a):
    settings.ACCORD_ATTACHMENT_MAX_BYTES = 100
    email = make_connector("email")
    response = post_event(email, mail_with(b"x" * 101, message_id="big-1@example.com"), content_type=EML)
    assert response.status_code == 201
    interaction = Interaction.objects.get()
    assert not interaction.attachments.exists()
    assert interaction.metadata["attachments"][0]["size"] == 101
    client.force_login(agent_a)
    page = client.get(reverse("workspace:case", args=[interaction.case.public_id])).content.decode()
    assert 'photo.png <span class="muted">101\xa0bytes, not kept (too large)</span>' in page


def test_the_same_file_twice_is_stored_once_and_a_redelivery_keeps_nothing_more(make_connector, post_event):
    email = make_connector("email")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    for message_id in ("shot-1@example.com", "shot-2@example.com", "shot-2@example.com"):
        post_event(email, mail_with(png, message_id=message_id), content_type=EML)
    rows = list(Attachment.objects.order_by("pk"))
    assert len(rows) == 2  # two messages; the re-delivery added none
    assert rows[0].file.name == rows[1].file.name  # one file


def test_a_page_with_attachments_costs_one_query_more(make_connector, post_event, client, agent_a):
    email = make_connector("email")
    post_event(email, b"From: ann.alpha@example.com\r\nMessage-ID: <p-1@x>\r\n\r\nHello", content_type=EML)
    case = Case.objects.get()
    url = reverse("workspace:case", args=[case.public_id])
    client.force_login(agent_a)
    client.get(url)

    def cost() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    without = cost()
    post_event(email, mail_with(b"png", message_id="p-2@x"), content_type=EML)
    assert Attachment.objects.filter(interaction__case=case).count() == 1
    assert cost() == without + 1
