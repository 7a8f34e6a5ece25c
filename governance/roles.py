"""Role permissions on the governance models (granted by migration `governance.0003_roles`;
contracts and scorecards by `0005_scorecard_roles`).

Agents see escalations and may request one (manual escalation); supervisors also handle
escalations and work reviews and actions; governance staff run everything, including tiers,
rules, policy change control and the four-eyes decisions; client systems contest breaches.
"""

from cases.choices import Role

_ALL_MODELS = [
    "governancesettings",
    "escalationtier",
    "escalationrule",
    "escalation",
    "triggerevaluation",
    "rulefiring",
    "sentimentscore",
    "rootcause",
    "breachreview",
    "breachreviewitem",
    "correctiveaction",
    "actionreminder",
    "governancemeeting",
    "risk",
    "exclusion",
    "breachdispute",
    "slapolicychange",
]
_VIEW_ALL = [f"view_{model}" for model in _ALL_MODELS]


def _perms(verbs: str, *models: str) -> list[str]:
    return [f"{verb}_{model}" for model in models for verb in verbs.split()]


GOVERNANCE_PERMISSIONS: dict[str, list[str]] = {
    Role.AGENT: [
        "view_escalationtier",
        "view_escalation",
        "add_escalation",
        "view_rootcause",
    ],
    Role.SUPERVISOR: [
        *_VIEW_ALL,
        *_perms("add change", "escalation", "breachreview", "correctiveaction", "governancemeeting", "risk"),
        *_perms("add", "exclusion", "breachdispute"),
    ],
    Role.GOVERNANCE: [
        *_VIEW_ALL,
        *_perms("add change", "governancesettings", "escalationtier", "escalationrule"),
        *_perms("add change", "escalation", "breachreview", "correctiveaction", "governancemeeting", "risk"),
        *_perms("add change", "exclusion", "breachdispute", "slapolicychange"),
        "delete_escalationrule",
    ],
    Role.CLIENT_SYSTEM: ["view_breachdispute", "add_breachdispute", "view_escalation"],
}

# Contracts, terms and scorecards (added later, granted by their own migration).
SCORECARD_PERMISSIONS: dict[str, list[str]] = {
    Role.SUPERVISOR: _perms("view", "contract", "contractterm", "scorecard", "scorecardline"),
    Role.GOVERNANCE: [
        *_perms("view", "contract", "contractterm", "scorecard", "scorecardline"),
        *_perms("add change", "contract", "contractterm", "scorecard"),
        "delete_contractterm",
    ],
    Role.CLIENT_SYSTEM: ["view_scorecard"],
}
