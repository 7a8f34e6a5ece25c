"""Sentiment of customer messages: VADER compound scores and the case's rolling sentiment.

VADER (vaderSentiment, lexicon shipped with the package) is an English lexicon and rule-based
model: it scores English text only. Messages of customers whose language is not English, voice
interactions (their body is call metadata, not the customer's words) and empty bodies are not
scored. The analyzer is created once per process.

The case's rolling sentiment is an exponential moving average over its scored messages in the
order they occurred: ``s_1 = score_1``, ``s_n = alpha * score_n + (1 - alpha) * s_(n-1)``,
with ``alpha`` = ``ACCORD_SENTIMENT_SMOOTHING`` (0.5: the newest message weighs half). Computed
from all the case's scores each time, so the result does not depend on arrival order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

_lock = threading.Lock()
_analyzer = None

SCORED_CHANNELS = frozenset({"email", "chat", "social", "sms", "whatsapp", "portal"})


def _get_analyzer():
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def text_score(text: str) -> float:
    """VADER's compound score of `text`, from -1 (most negative) to 1 (most positive)."""
    return round(float(_get_analyzer().polarity_scores(text)["compound"]), 4)


def skip_reason(*, channel: str, body: str, language: str) -> str:
    """Why a message is not scored ('' when it is)."""
    if channel not in SCORED_CHANNELS:
        return f"{channel} is not a text channel"
    if not (language or "en").lower().startswith("en"):
        return f"language {language} (English only)"
    if not (body or "").strip():
        return "empty message"
    return ""


def rolling(scores: Iterable[float], alpha: float) -> float | None:
    """The exponential moving average of `scores` in order (None when there are none)."""
    value: float | None = None
    for score in scores:
        value = score if value is None else alpha * score + (1 - alpha) * value
    return None if value is None else round(value, 4)
