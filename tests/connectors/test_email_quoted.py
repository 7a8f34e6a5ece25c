"""A customer's e-mail reply lands as what they wrote: the quoted history under it is kept aside
(shown folded on the timeline), so neither the agent nor the sentiment score reads the agent's
own words back as the customer's."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.models import Case, CaseEvent, Interaction
from governance.models.escalation import SentimentScore

pytestmark = pytest.mark.django_db


def test_a_quoted_reply_joins_its_case_scored_and_shown_on_its_own_words(
    make_connector, post_fixture, client, agent_a, django_capture_on_commit_callbacks
):
    email = make_connector("email")
    with django_capture_on_commit_callbacks(execute=True):
        post_fixture(email, "email_plain.eml")
        response = post_fixture(email, "email_reply_gmail_quoted.eml")
    assert response.status_code == 201, response.content
    case = Case.objects.get()  # joined by References
    reply = Interaction.objects.get(external_id="CAF=router-3@mail.example.com")
    assert reply.case == case
    assert reply.body.endswith("This is really frustrating.\n\nAnn")
    # The quoted agent's thanks and apologies would have made the whole text read positive.
    assert SentimentScore.objects.get(interaction=reply).score < -0.5
    client.force_login(agent_a)
    page = client.get(reverse("workspace:case", args=[case.public_id])).content.decode()
    event = CaseEvent.objects.get(interaction=reply)
    body = page.split(f'id="event-{event.pk}"')[1].split("</li>")[0]
    assert "This is really frustrating." in body
    assert '<details class="item__quoted">' in body
    assert body.index("<details") < body.index("&gt; Please try a factory reset.")
