"""Risk log, SLA exclusions and breach disputes. Exclusions and disputes are decided by a second
person with the governance role: deciding one's own proposal or dispute is refused."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction

from cases.models import Case, Client
from config.errors import ApplicationError
from slas.models import Breach, SLAClock

from ..choices import (
    DecisionStatus,
    DisputeStatus,
    ExclusionReason,
    ExclusionScope,
    RiskStatus,
)
from ..models import BreachDispute, Exclusion, Risk
from ._common import (
    a_an,
    is_user,
    now_or,
    require_governance,
    require_serves,
    save_with_history,
    text_required,
)

# --- Risks -------------------------------------------------------------------------------------------

RISK_TRANSITIONS: dict[str, frozenset[str]] = {
    RiskStatus.OPEN: frozenset({RiskStatus.MITIGATING, RiskStatus.ACCEPTED, RiskStatus.CLOSED}),
    RiskStatus.MITIGATING: frozenset({RiskStatus.OPEN, RiskStatus.ACCEPTED, RiskStatus.CLOSED}),
    RiskStatus.ACCEPTED: frozenset({RiskStatus.MITIGATING, RiskStatus.CLOSED}),
    RiskStatus.CLOSED: frozenset({RiskStatus.OPEN}),
}


def _scale(value: int, field: str) -> int:
    if not isinstance(value, int) or not 1 <= value <= 5:
        raise ApplicationError.for_field(field, "From 1 to 5.")
    return value


@transaction.atomic
def risk_raise(
    *,
    client: Client,
    title: str,
    likelihood: int,
    impact: int,
    owner,
    review_on: date,
    actor: Any,
    description: str = "",
    mitigation: str = "",
    now: datetime | None = None,
) -> Risk:
    """Add a risk to the client's log (likelihood and impact 1-5, an owner serving the client)."""
    now = now_or(now)
    title = text_required(title, "title", "A risk needs a title.")
    require_serves(actor, client.pk)
    if owner is None:
        raise ApplicationError.for_field("owner", "A risk has an owner.")
    require_serves(owner, client.pk, "owner")
    risk = Risk(
        client=client,
        title=title[:200],
        description=description,
        likelihood=_scale(likelihood, "likelihood"),
        impact=_scale(impact, "impact"),
        owner=owner,
        mitigation=mitigation,
        review_on=review_on,
        raised_by=actor if is_user(actor) else None,
        raised_at=now,
    )
    save_with_history(risk, "raised", actor)
    return risk


_UNSET = object()


@transaction.atomic
def risk_update(
    *,
    risk: Risk,
    actor: Any,
    reason: str = "",
    status: Any = _UNSET,
    likelihood: Any = _UNSET,
    impact: Any = _UNSET,
    owner: Any = _UNSET,
    mitigation: Any = _UNSET,
    review_on: Any = _UNSET,
    title: Any = _UNSET,
    description: Any = _UNSET,
    now: datetime | None = None,
) -> Risk:
    """Re-assess or move a risk (open ↔ mitigating → accepted → closed; a closed risk can be
    reopened). A refused status change raises ApplicationError and changes nothing."""
    now = now_or(now)
    risk = Risk.objects.select_for_update().get(pk=risk.pk)
    require_serves(actor, risk.client_id)
    changed = []
    if status is not _UNSET and status != risk.status:
        if status not in RISK_TRANSITIONS.get(risk.status, frozenset()):
            raise ApplicationError.for_field(
                "status",
                f"{a_an(RiskStatus(risk.status).label.lower()).capitalize()} risk cannot become "
                f"{RiskStatus(status).label.lower() if status in RiskStatus.values else status}.",
            )
        risk.status = status
        risk.closed_at = now if status == RiskStatus.CLOSED else None
        changed.append(f"status {status}")
    if likelihood is not _UNSET and likelihood != risk.likelihood:
        risk.likelihood = _scale(likelihood, "likelihood")
        changed.append("likelihood")
    if impact is not _UNSET and impact != risk.impact:
        risk.impact = _scale(impact, "impact")
        changed.append("impact")
    if owner is not _UNSET and owner is not None and owner.pk != risk.owner_id:
        require_serves(owner, risk.client_id, "owner")
        risk.owner = owner
        changed.append("owner")
    for name, value in (
        ("mitigation", mitigation),
        ("review_on", review_on),
        ("title", title),
        ("description", description),
    ):
        if value is not _UNSET and value != getattr(risk, name):
            if name == "title" and not (value or "").strip():
                raise ApplicationError.for_field("title", "A risk needs a title.")
            setattr(risk, name, value)
            changed.append(name)
    if changed:
        save_with_history(risk, ", ".join(changed) + (f": {reason}" if reason else ""), actor)
    return risk


# --- Exclusions ----------------------------------------------------------------------------------------


@transaction.atomic
def exclusion_propose(
    *,
    client: Client,
    scope: str,
    reason_kind: str,
    reason: str,
    evidence: str,
    actor: Any,
    clock: SLAClock | None = None,
    case: Case | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    now: datetime | None = None,
) -> Exclusion:
    """Propose taking a clock, a case's clocks or the client's clocks running in an interval out
    of attainment, with the reason and the evidence. Another governance user decides."""
    now = now_or(now)
    require_serves(actor, client.pk)
    errors: dict[str, list[str]] = {}
    if scope not in ExclusionScope.values:
        errors["scope"] = [f"Unknown scope {scope!r}."]
    if reason_kind not in ExclusionReason.values:
        errors["reason_kind"] = [f"Unknown reason {reason_kind!r}."]
    if not (reason or "").strip():
        errors["reason"] = ["Say why these clocks should not count."]
    if not (evidence or "").strip():
        errors["evidence"] = ["Point to the evidence (incident, e-mail, document)."]
    if scope == ExclusionScope.CLOCK:
        if clock is None:
            errors["clock"] = ["Choose the clock."]
        elif clock.client_id != client.pk:
            errors["clock"] = ["This clock belongs to another client."]
        case, starts_at, ends_at = None, None, None
    elif scope == ExclusionScope.CASE:
        if case is None:
            errors["case"] = ["Choose the case."]
        elif case.client_id != client.pk:
            errors["case"] = ["This case belongs to another client."]
        clock, starts_at, ends_at = None, None, None
    elif scope == ExclusionScope.INTERVAL:
        if starts_at is None or ends_at is None:
            errors["starts_at"] = ["Give the start and end of the interval."]
        elif ends_at <= starts_at:
            errors["ends_at"] = ["The end is after the start."]
        clock, case = None, None
    if errors:
        raise ApplicationError("The exclusion was not proposed.", field_errors=errors)
    exclusion = Exclusion(
        client=client,
        scope=scope,
        clock=clock,
        case=case,
        starts_at=starts_at,
        ends_at=ends_at,
        reason_kind=reason_kind,
        reason=reason.strip(),
        evidence=evidence.strip(),
        proposed_by=actor,
        proposed_at=now,
    )
    save_with_history(exclusion, "proposed", actor)
    return exclusion


@transaction.atomic
def exclusion_decide(
    *, exclusion: Exclusion, actor: Any, approve: bool, note: str, now: datetime | None = None
) -> Exclusion:
    """Approve or reject a proposed exclusion: by a governance user other than the proposer."""
    now = now_or(now)
    exclusion = Exclusion.objects.select_for_update().get(pk=exclusion.pk)
    require_governance(actor, exclusion.client_id, "decide an exclusion")
    if exclusion.status != DecisionStatus.PROPOSED:
        raise ApplicationError(f"This exclusion is already {exclusion.get_status_display().lower()}.")
    if actor.pk == exclusion.proposed_by_id:
        raise ApplicationError("You proposed this exclusion: a second person decides it.")
    note = text_required(note, "decision_note", "Say why.") if not approve else (note or "").strip()
    exclusion.status = DecisionStatus.APPROVED if approve else DecisionStatus.REJECTED
    exclusion.decided_by, exclusion.decided_at, exclusion.decision_note = actor, now, note
    save_with_history(exclusion, f"{exclusion.status}" + (f": {note}" if note else ""), actor)
    return exclusion


@transaction.atomic
def exclusion_withdraw(*, exclusion: Exclusion, actor: Any) -> Exclusion:
    """The proposer withdraws a proposal not yet decided."""
    exclusion = Exclusion.objects.select_for_update().get(pk=exclusion.pk)
    if not is_user(actor) or actor.pk != exclusion.proposed_by_id:
        raise ApplicationError("Only the proposer withdraws an exclusion.")
    if exclusion.status != DecisionStatus.PROPOSED:
        raise ApplicationError(f"This exclusion is already {exclusion.get_status_display().lower()}.")
    exclusion.status = DecisionStatus.WITHDRAWN
    save_with_history(exclusion, "withdrawn", actor)
    return exclusion


# --- Breach disputes ----------------------------------------------------------------------------------------


@transaction.atomic
def dispute_raise(
    *, breach: Breach, actor: Any, grounds: str, evidence: str = "", now: datetime | None = None
) -> BreachDispute:
    """Contest a breach (a client, through admin or the API): one live dispute per breach."""
    now = now_or(now)
    grounds = text_required(grounds, "grounds", "Say why the breach is contested.")
    require_serves(actor, breach.client_id)
    if breach.voided_at is not None:
        raise ApplicationError("This breach was voided already.")
    dispute = BreachDispute(
        client_id=breach.client_id,
        breach=breach,
        raised_by=actor,
        raised_at=now,
        grounds=grounds,
        evidence=(evidence or "").strip(),
    )
    try:
        with transaction.atomic():
            save_with_history(dispute, "raised", actor)
    except IntegrityError as exc:
        raise ApplicationError("This breach is already disputed.") from exc
    return dispute


DISPUTE_OUTCOMES = (DisputeStatus.ACCEPTED, DisputeStatus.WAIVED, DisputeStatus.UPHELD)


@transaction.atomic
def dispute_decide(
    *, dispute: BreachDispute, actor: Any, outcome: str, reason: str, now: datetime | None = None
) -> BreachDispute:
    """Decide an open dispute: accepted (breach void for attainment), waived (no credit) or upheld,
    with the reason; by a governance user other than who raised it."""
    now = now_or(now)
    dispute = BreachDispute.objects.select_for_update().get(pk=dispute.pk)
    require_governance(actor, dispute.client_id, "decide a dispute")
    if outcome not in DISPUTE_OUTCOMES:
        raise ApplicationError.for_field("status", "Accept, waive or uphold.")
    if dispute.status != DisputeStatus.OPEN:
        raise ApplicationError(f"This dispute is already {dispute.get_status_display().lower()}.")
    if actor.pk == dispute.raised_by_id:
        raise ApplicationError("You raised this dispute: a second person decides it.")
    reason = text_required(reason, "decision_reason", "Give the reason for the decision.")
    dispute.status, dispute.decided_by, dispute.decided_at, dispute.decision_reason = (
        outcome,
        actor,
        now,
        reason,
    )
    save_with_history(dispute, f"{outcome}: {reason}", actor)
    return dispute


@transaction.atomic
def dispute_withdraw(*, dispute: BreachDispute, actor: Any) -> BreachDispute:
    """Whoever raised an open dispute may withdraw it."""
    dispute = BreachDispute.objects.select_for_update().get(pk=dispute.pk)
    if not is_user(actor) or actor.pk != dispute.raised_by_id:
        raise ApplicationError("Only who raised the dispute withdraws it.")
    if dispute.status != DisputeStatus.OPEN:
        raise ApplicationError(f"This dispute is already {dispute.get_status_display().lower()}.")
    dispute.status = DisputeStatus.WITHDRAWN
    save_with_history(dispute, "withdrawn", actor)
    return dispute
