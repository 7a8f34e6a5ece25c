"""Enumerations of the case domain."""

from django.db import models


class Channel(models.TextChoices):
    VOICE = "voice", "Voice"
    EMAIL = "email", "E-mail"
    CHAT = "chat", "Chat"
    SOCIAL = "social", "Social"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    PORTAL = "portal", "Portal"


class CaseStatus(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending customer"
    ON_HOLD = "on_hold", "On hold"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


UNRESOLVED_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING, CaseStatus.ON_HOLD)


class Priority(models.TextChoices):
    URGENT = "urgent", "Urgent"
    HIGH = "high", "High"
    NORMAL = "normal", "Normal"
    LOW = "low", "Low"


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    NOTE = "note", "Internal note"


class AuthorKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AGENT = "agent", "Agent"
    BOT = "bot", "Bot"
    SYSTEM = "system", "System"


class IdentityKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    PHONE = "phone", "Phone"
    CHAT = "chat", "Chat visitor"
    SOCIAL = "social", "Social handle"
    EXTERNAL = "external", "External CRM id"


class DeliveryStatus(models.TextChoices):
    """An outbound message's way: queued, then handed to its channel (sent) or not (failed);
    the channel's receipts may then tell delivered, read, or failed after all."""

    NOT_APPLICABLE = "", "—"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


class CaseEventKind(models.TextChoices):
    OPENED = "opened", "Opened"
    STATUS_CHANGED = "status_changed", "Status changed"
    PRIORITY_CHANGED = "priority_changed", "Priority changed"
    ASSIGNED = "assigned", "Assigned"
    QUEUE_CHANGED = "queue_changed", "Queue changed"
    INTERACTION = "interaction", "Interaction"
    CHANNEL_HANDOFF = "channel_handoff", "Channel handoff"
    REOPENED = "reopened", "Reopened"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    CUSTOMER_MERGED = "customer_merged", "Customer merged"
    TIER_CHANGED = "tier_changed", "Tier changed"
    SENTIMENT = "sentiment", "Sentiment scored"
    SURVEY = "survey", "Satisfaction answered"
    UPDATED = "updated", "Details updated"


class Role(models.TextChoices):
    """The staff groups created by migration `cases.0002_roles`."""

    AGENT = "agent", "Agent"
    SUPERVISOR = "supervisor", "Supervisor"
    GOVERNANCE = "governance", "Governance"
    CLIENT_SYSTEM = "client_system", "Client system"
