"""Enumerations of the governance domain."""

from django.db import models


class TierLevel(models.IntegerChoices):
    T1 = 1, "T1 frontline"
    T2 = 2, "T2 specialist"
    T3 = 3, "T3 supervisor / client liaison"


class Trigger(models.TextChoices):
    """What makes an escalation rule fire. Each occurrence has a key (`RuleFiring.trigger_key`):
    the clock id for SLA triggers, the reopen count for `reopened`, the case timeline event id for
    `priority_raised` and `negative_sentiment`, ``opened`` for `vip_customer`."""

    SLA_WARNING = "sla_warning", "SLA warning (at risk)"
    SLA_BREACH = "sla_breach", "SLA breach"
    NEGATIVE_SENTIMENT = "negative_sentiment", "Negative sentiment"
    VIP_CUSTOMER = "vip_customer", "VIP customer"
    REOPENED = "reopened", "Reopened N times"
    PRIORITY_RAISED = "priority_raised", "Priority raised"


class EscalationTrigger(models.TextChoices):
    """Why an escalation exists: a rule's trigger, or a person asking for it."""

    SLA_WARNING = "sla_warning", "SLA warning (at risk)"
    SLA_BREACH = "sla_breach", "SLA breach"
    NEGATIVE_SENTIMENT = "negative_sentiment", "Negative sentiment"
    VIP_CUSTOMER = "vip_customer", "VIP customer"
    REOPENED = "reopened", "Reopened N times"
    PRIORITY_RAISED = "priority_raised", "Priority raised"
    MANUAL = "manual", "Manual"
    CLIENT_REQUEST = "client_request", "Client's request (API)"


class TierAction(models.TextChoices):
    NONE = "", "Leave the tier"
    NEXT = "next", "Raise one tier"
    TIER_2 = "2", "Raise to T2"
    TIER_3 = "3", "Raise to T3"


class EscalationStatus(models.TextChoices):
    AWAITING = "awaiting", "Awaiting acceptance"
    ACCEPTED = "accepted", "Accepted"
    CLOSED = "closed", "Closed"
    DE_ESCALATED = "de_escalated", "De-escalated"
    SUPERSEDED = "superseded", "Superseded by a later escalation"


ACTIVE_ESCALATION_STATUSES = (EscalationStatus.AWAITING, EscalationStatus.ACCEPTED)


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In analysis"
    CLOSED = "closed", "Closed"


class ReviewKind(models.TextChoices):
    AUTO_BREACH = "auto_breach", "Automatic: one urgent/high breach"
    AUTO_DAILY = "auto_daily", "Automatic: one queue, one day"
    MANUAL = "manual", "Opened by hand"


class ActionStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    VERIFIED = "verified", "Verified effective"
    CANCELLED = "cancelled", "Cancelled"


OPEN_ACTION_STATUSES = (ActionStatus.PROPOSED, ActionStatus.IN_PROGRESS)
COMPLETED_ACTION_STATUSES = (ActionStatus.DONE, ActionStatus.VERIFIED)


class MeetingKind(models.TextChoices):
    DAILY_HUDDLE = "daily_huddle", "Daily huddle"
    WEEKLY_REVIEW = "weekly_review", "Weekly review"
    MONTHLY_BUSINESS_REVIEW = "monthly_business_review", "Monthly business review"


class MeetingStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    HELD = "held", "Held"
    CANCELLED = "cancelled", "Cancelled"


class GovernanceRating(models.TextChoices):
    GREEN = "green", "Green: on track"
    AMBER = "amber", "Amber: at risk"
    RED = "red", "Red: off track"


class RiskStatus(models.TextChoices):
    OPEN = "open", "Open"
    MITIGATING = "mitigating", "Mitigating"
    ACCEPTED = "accepted", "Accepted"
    CLOSED = "closed", "Closed"


class ExclusionScope(models.TextChoices):
    CLOCK = "clock", "One SLA clock"
    CASE = "case", "Every clock of one case"
    INTERVAL = "interval", "Every clock of the client running in a time interval"


class ExclusionReason(models.TextChoices):
    CLIENT_OUTAGE = "client_outage", "Client outage"
    CLIENT_DELAY = "client_delay", "Client-caused delay"
    FORCE_MAJEURE = "force_majeure", "Force majeure"
    OTHER = "other", "Other"


class DecisionStatus(models.TextChoices):
    """Exclusions: proposed by one person, approved or rejected by another."""

    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class DisputeStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted: breach void"
    WAIVED = "waived", "Waived: breach stands, credit waived"
    UPHELD = "upheld", "Upheld: breach stands"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ChangeStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved, waiting for its effective time"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    STALE = "stale", "Not applied: the policy changed since the proposal"


class ReminderKind(models.TextChoices):
    BEFORE_DUE = "before_due", "Before due"
    OVERDUE = "overdue", "Overdue"


class KPI(models.TextChoices):
    SERVICE_LEVEL = "service_level", "Service level (% answered within the threshold)"
    ABANDONMENT_RATE = "abandonment_rate", "Abandonment rate %"
    AVERAGE_HANDLE_TIME = "average_handle_time", "Average handle time (s)"
    SLA_FIRST_RESPONSE = "sla_attainment_first_response", "SLA attainment: first response %"
    SLA_NEXT_RESPONSE = "sla_attainment_next_response", "SLA attainment: next response %"
    SLA_RESOLUTION = "sla_attainment_resolution", "SLA attainment: resolution %"
    FIRST_CONTACT_RESOLUTION = "first_contact_resolution", "First contact resolution %"
    CSAT = "csat", "CSAT % (4-5 of 5)"
    NPS = "nps", "NPS"
