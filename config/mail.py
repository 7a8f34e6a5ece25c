"""E-mail Accord sends of its own accord (alerts, escalation notices, reminders), as opposed to
an agent's reply to a customer.

Such mail says so (RFC 3834, section 5): `Auto-Submitted: auto-generated`, and Exchange's
`X-Auto-Response-Suppress: All`. A recipient's out-of-office responder then stays quiet, so a
supervisor away for a week does not answer every alert digest; and mail Accord reads back (an
e-mail connector's mailbox) knows it for a program's.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage

AUTOMATIC_HEADERS = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}


def notification_send(*, subject: str, body: str, to: list[str]) -> int:
    """Send one notification to `to` from DEFAULT_FROM_EMAIL; returns how many were sent (0 or
    1). The mail backend's errors propagate (the caller's task retries or records them)."""
    if not to:
        return 0
    message = EmailMessage(
        subject=subject[:200],
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        headers=AUTOMATIC_HEADERS,
    )
    return message.send()
