"""A message's attachments over the API: a client system downloads the file at a position of
`metadata.attachments`; another client's key finds nothing."""

from __future__ import annotations

import pytest

from cases import services
from cases.choices import AuthorKind, Channel, Direction
from tests.api.conftest import key_client

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n% a small contract\n"


@pytest.fixture
def mail(case_a):
    """An inbound e-mail on case A with two attachments listed: the first kept, the second (too
    large) listed only."""
    interaction = services.interaction_append(
        case=case_a,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        body="Contract attached.",
        metadata={
            "attachments": [
                {"filename": "contract.pdf", "content_type": "application/pdf", "size": len(PDF)},
                {"filename": "video.mp4", "content_type": "video/mp4", "size": 50_000_000},
            ]
        },
    ).interaction
    services.attachments_keep(
        interaction=interaction,
        files=[services.AttachmentFile(0, "contract.pdf", "application/pdf", PDF)],
    )
    return interaction


def url(interaction, position: int) -> str:
    case, message = interaction.case.public_id, interaction.public_id
    return f"/api/v1/cases/{case}/interactions/{message}/attachments/{position}"


def test_a_client_system_downloads_a_kept_file(api_a, mail):
    response = api_a.get(url(mail, 0), HTTP_ACCEPT="application/octet-stream")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="contract.pdf"'
    assert b"".join(response.streaming_content) == PDF


def test_a_file_listed_but_not_kept_or_not_there_is_404(read_key_a, mail):
    api = key_client(read_key_a)  # reading is enough
    assert api.get(url(mail, 0)).status_code == 200
    assert api.get(url(mail, 1)).status_code == 404  # too large: listed only
    assert api.get(url(mail, 7)).status_code == 404


def test_another_clients_key_finds_nothing(api_b, mail, case_b):
    assert api_b.get(url(mail, 0)).status_code == 404
    crossing = f"/api/v1/cases/{case_b.public_id}/interactions/{mail.public_id}/attachments/0"
    assert api_b.get(crossing).status_code == 404
