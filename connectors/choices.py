"""Enumerations of the connectors app."""

from django.db import models

from cases.choices import Channel


class AdapterKind(models.TextChoices):
    """The native payload format a connector accepts; each maps to one channel."""

    EMAIL = "email", "E-mail (raw RFC 822 / MIME)"
    CHAT = "chat", "Chat (session events, JSON)"
    VOICE = "voice", "Voice (call record: Amazon Connect CTR or generic JSON)"
    SMS = "sms", "SMS (Twilio-style form post)"
    WHATSAPP = "whatsapp", "WhatsApp (Cloud API webhook JSON)"
    SOCIAL = "social", "Social (X Account Activity or generic JSON)"
    PORTAL = "portal", "Portal (web form, JSON or form post)"


ADAPTER_CHANNEL: dict[str, str] = {
    AdapterKind.EMAIL: Channel.EMAIL,
    AdapterKind.CHAT: Channel.CHAT,
    AdapterKind.VOICE: Channel.VOICE,
    AdapterKind.SMS: Channel.SMS,
    AdapterKind.WHATSAPP: Channel.WHATSAPP,
    AdapterKind.SOCIAL: Channel.SOCIAL,
    AdapterKind.PORTAL: Channel.PORTAL,
}


class InboundStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored (no message in payload)"


class InboundVia(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    IMAP = "imap", "IMAP polling"


class VipMatch(models.TextChoices):
    ANY = "any", "Any customer"
    VIP = "vip", "VIP only"
    NOT_VIP = "not_vip", "Non-VIP only"


class WebhookEventType(models.TextChoices):
    CASE_CREATED = "case.created", "case.created"
    CASE_UPDATED = "case.updated", "case.updated"
    INTERACTION_CREATED = "interaction.created", "interaction.created"
    SLA_WARNING = "sla.warning", "sla.warning"
    SLA_BREACHED = "sla.breached", "sla.breached"
    SLA_MET = "sla.met", "sla.met"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (attempts exhausted)"
    CANCELLED = "cancelled", "Cancelled (subscription deactivated)"


class AlertKind(models.TextChoices):
    WARNING = "sla.warning", "SLA at risk"
    BREACHED = "sla.breached", "SLA breached"


class AlertState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped (no e-mail address)"
