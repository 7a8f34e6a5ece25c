"""Sentiment: VADER on English text only, the rolling average, idempotent scoring."""

from __future__ import annotations

import pytest

from cases import services as cases
from cases.choices import CaseEventKind
from cases.models import CaseEvent
from governance import sentiment, services
from governance.models import SentimentScore
from tests.factories import CustomerFactory
from tests.governance.conftest import after

HAPPY, ANGRY = "Thanks, that is great, I love it!", "Awful, horrible, useless. I hate this."


@pytest.mark.parametrize(
    ("channel", "body", "language", "reason"),
    [
        ("chat", "hello", "en", ""),
        ("email", "hello", "en-GB", ""),
        ("voice", "Inbound call", "en", "voice is not a text channel"),
        ("chat", "hola, estoy furioso", "es", "language es (English only)"),
        ("sms", "   ", "en", "empty message"),
    ],
)
def test_what_is_scored(channel, body, language, reason):
    assert sentiment.skip_reason(channel=channel, body=body, language=language) == reason


def test_vader_scores_and_the_rolling_average():
    assert (sentiment.text_score(HAPPY), sentiment.text_score(ANGRY)) == (0.9098, -0.9186)
    assert sentiment.rolling([], 0.5) is None
    assert sentiment.rolling([0.8], 0.5) == 0.8
    assert sentiment.rolling([0.8, -0.4, -0.6], 0.5) == -0.2  # 0.8, then 0.2, then 0.5*-0.6 + 0.5*0.2
    assert sentiment.rolling([0.8, -0.4], 0.25) == 0.5  # 0.25*-0.4 + 0.75*0.8


def _message(case, body, minutes, channel="chat"):
    return cases.interaction_append(
        case=case,
        channel=channel,
        direction="inbound",
        author_kind="customer",
        body=body,
        occurred_at=after(minutes=minutes),
    ).interaction


@pytest.mark.django_db
def test_scoring_is_once_per_message_and_the_rolling_value_follows_message_order(open_at, client_a, policy_a):
    case = open_at(client_a, channel="chat")
    later = _message(case, ANGRY, 10)
    earlier = _message(case, HAPPY, 5)
    services.interaction_sentiment_score(interaction_id=later.pk)  # arrives first
    services.interaction_sentiment_score(interaction_id=earlier.pk)
    services.interaction_sentiment_score(interaction_id=earlier.pk)  # re-delivered
    assert SentimentScore.objects.count() == 2
    case.refresh_from_db()
    assert case.sentiment == pytest.approx(0.5 * -0.9186 + 0.5 * 0.9098, abs=1e-4)
    events = CaseEvent.objects.filter(case=case, kind=CaseEventKind.SENTIMENT).order_by("id")
    assert [e.after["sentiment"] for e in events] == [-0.9186, case.sentiment]


@pytest.mark.django_db
def test_non_english_voice_and_agent_messages_are_not_scored(open_at, client_a, policy_a, agent_a):
    spanish = open_at(client_a, channel="chat", customer=CustomerFactory(client=client_a, language="es"))
    message = _message(spanish, "Estoy furioso, es horrible", 1)
    assert (
        services.interaction_sentiment_score(interaction_id=message.pk).skipped_reason
        == "language es (English only)"
    )
    call = _message(spanish, "Inbound call", 2, channel="voice")
    assert services.interaction_sentiment_score(interaction_id=call.pk).score is None
    reply = cases.interaction_append(
        case=spanish,
        channel="chat",
        direction="outbound",
        author_kind="agent",
        body="Lo siento",
        author=agent_a,
    ).interaction
    assert services.interaction_sentiment_score(interaction_id=reply.pk) is None
    spanish.refresh_from_db()
    assert spanish.sentiment is None
