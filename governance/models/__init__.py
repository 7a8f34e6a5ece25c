"""Data of the governance domain. Invariants live in constraints and `clean()`; `save()` has no
side effects; every write goes through `governance.services`."""

from .contracts import (
    Comparator,
    Contract,
    ContractTerm,
    CreditMode,
    Scorecard,
    ScorecardLine,
    ScorecardStatus,
)
from .control import BreachDispute, Exclusion, SLAPolicyChange
from .escalation import (
    Escalation,
    EscalationRule,
    EscalationTier,
    GovernanceSettings,
    RuleFiring,
    SentimentScore,
    TriggerEvaluation,
)
from .reviews import (
    ActionReminder,
    BreachReview,
    BreachReviewItem,
    CorrectiveAction,
    GovernanceMeeting,
    Risk,
    RootCause,
)

__all__ = [
    "ActionReminder",
    "BreachDispute",
    "BreachReview",
    "BreachReviewItem",
    "Comparator",
    "Contract",
    "ContractTerm",
    "CorrectiveAction",
    "CreditMode",
    "Escalation",
    "EscalationRule",
    "EscalationTier",
    "Exclusion",
    "GovernanceMeeting",
    "GovernanceSettings",
    "Risk",
    "RootCause",
    "RuleFiring",
    "SLAPolicyChange",
    "Scorecard",
    "ScorecardLine",
    "ScorecardStatus",
    "SentimentScore",
    "TriggerEvaluation",
]
