"""Routing of new cases: the first matching rule gives queue and priority. Pure Python."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    rule_id: int
    queue_id: int
    priority: str
    channels: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()
    segments: frozenset[str] = frozenset()
    vip: str = "any"  # any | vip | not_vip
    languages: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Contact:
    channel: str
    subject: str
    body: str
    segment: str
    is_vip: bool
    language: str


def _words(text: str) -> str:
    return " " + re.sub(r"\W+", " ", text.casefold()) + " "


def _language(code: str) -> str:
    return (code or "").strip().lower().replace("_", "-").split("-")[0]


def rule_matches(rule: Rule, contact: Contact) -> bool:
    """Every non-empty condition holds. Keywords match whole words (or phrases), any case."""
    if rule.channels and contact.channel not in rule.channels:
        return False
    if rule.segments and contact.segment not in rule.segments:
        return False
    if rule.vip == "vip" and not contact.is_vip:
        return False
    if rule.vip == "not_vip" and contact.is_vip:
        return False
    if rule.languages and _language(contact.language) not in {_language(code) for code in rule.languages}:
        return False
    if rule.keywords:
        text = _words(f"{contact.subject} {contact.body}")
        if not any(_words(keyword) in text for keyword in rule.keywords if keyword.strip()):
            return False
    return True


def route(rules: Sequence[Rule] | Iterable[Rule], contact: Contact) -> Rule | None:
    """The first rule (in the given order) matching `contact`, or None."""
    for rule in rules:
        if rule_matches(rule, contact):
            return rule
    return None
