"""Scoring inbound customer messages and keeping the case's rolling sentiment (see
`governance.sentiment` for the model and its limits: VADER, English text only)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction

from cases import services as case_services
from cases.choices import AuthorKind, CaseStatus, Direction
from cases.models import Case, Interaction

from .. import sentiment
from ..models import SentimentScore
from ._common import now_or


@transaction.atomic
def interaction_sentiment_score(*, interaction_id: int, now: datetime | None = None) -> SentimentScore | None:
    """Score one inbound customer interaction once (a `SentimentScore` row, with the reason when
    not scored) and store the case's rolling sentiment through `cases.services.case_sentiment_set`
    (which publishes `CaseSentimentChanged`). None for interactions that are not inbound customer
    messages. Safe to run twice; messages of one case are scored one at a time (case row lock)."""
    now = now_or(now)
    interaction = (
        Interaction.objects.select_related("case__customer")
        .filter(pk=interaction_id, direction=Direction.INBOUND, author_kind=AuthorKind.CUSTOMER)
        .first()
    )
    if interaction is None:
        return None
    case = Case.objects.select_for_update().get(pk=interaction.case_id)
    existing = SentimentScore.objects.filter(interaction=interaction).first()
    if existing is not None:
        return existing
    reason = sentiment.skip_reason(
        channel=interaction.channel, body=interaction.body, language=interaction.case.customer.language
    )
    try:
        with transaction.atomic():
            score = SentimentScore.objects.create(
                client_id=interaction.client_id,
                case_id=interaction.case_id,
                interaction=interaction,
                score=None if reason else sentiment.text_score(interaction.body),
                skipped_reason=reason,
                occurred_at=interaction.occurred_at,
                scored_at=now,
            )
    except IntegrityError:
        return SentimentScore.objects.get(interaction=interaction)
    if score.score is None or case.status == CaseStatus.CLOSED:
        return score
    scores = SentimentScore.objects.filter(case_id=case.pk, score__isnull=False).order_by(
        "occurred_at", "interaction_id"
    )
    value = sentiment.rolling(scores.values_list("score", flat=True), settings.ACCORD_SENTIMENT_SMOOTHING)
    if value is not None and value != case.sentiment:
        case_services.case_sentiment_set(case=case, sentiment=value, actor="sentiment")
    return score
