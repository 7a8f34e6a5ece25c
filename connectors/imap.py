"""IMAP polling for e-mail connectors (stdlib imaplib).

Reads the connector's mailbox (read-only: flags are not touched) by UID. The progress
(`ImapMailboxState`: UIDVALIDITY and last UID) advances message by message, only after that
message's ingestion has committed; a crash re-reads at most the message in flight, which the
ingestion recognises (unique per connector and Message-ID) and does not ingest twice. When the
server reports a new UIDVALIDITY (the mailbox was recreated), UIDs are meaningless: the poller
starts from UID 1 again and the same Message-ID dedupe keeps old mail from being re-ingested.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .choices import AdapterKind
from .models import Connector, ImapMailboxState
from .services import inbound_receive

logger = logging.getLogger(__name__)


class ImapError(Exception):
    pass


@dataclass
class PollResult:
    fetched: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    uidvalidity: int | None = None
    last_uid: int = 0


def _connect(config: dict, password: str) -> imaplib.IMAP4:
    host = config["imap_host"]
    port = int(config.get("imap_port") or (993 if config.get("imap_ssl", True) else 143))
    timeout = settings.ACCORD_IMAP_TIMEOUT_SECONDS
    if config.get("imap_ssl", True):
        client = imaplib.IMAP4_SSL(host, port, timeout=timeout)
    else:
        client = imaplib.IMAP4(host, port, timeout=timeout)
        if config.get("imap_starttls"):
            client.starttls()
    client.login(config.get("imap_user", ""), password)
    return client


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _uidvalidity(client: imaplib.IMAP4) -> int:
    _, data = client.response("UIDVALIDITY")
    if not data or data[0] is None:
        _, status = client.status(client._accord_mailbox, "(UIDVALIDITY)")  # type: ignore[attr-defined]
        match = re.search(rb"UIDVALIDITY (\d+)", status[0] or b"")
        if not match:
            raise ImapError("The server reported no UIDVALIDITY.")
        return int(match.group(1))
    return int(data[-1])


def _raw_message(fetched: list) -> bytes | None:
    for item in fetched:
        if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _lease(state: ImapMailboxState, now: datetime) -> bool:
    """Take the mailbox for this poll (two workers never poll one mailbox at once)."""
    return bool(
        ImapMailboxState.objects.filter(pk=state.pk)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + timedelta(seconds=settings.ACCORD_IMAP_LEASE_SECONDS))
    )


def imap_poll(*, connector: Connector, now: datetime | None = None, limit: int | None = None) -> PollResult:
    """Ingest the messages that arrived in the connector's mailbox since the last poll."""
    now = now or timezone.now()
    config = connector.settings or {}
    if connector.adapter != AdapterKind.EMAIL or not config.get("imap_host"):
        raise ImapError(f"Connector {connector.slug} does not poll IMAP.")
    mailbox = config.get("imap_mailbox") or "INBOX"
    state, _ = ImapMailboxState.objects.get_or_create(connector=connector, defaults={"mailbox": mailbox})
    if state.mailbox != mailbox:
        # Another mailbox: its UIDs have nothing to do with the old one's.
        ImapMailboxState.objects.filter(pk=state.pk).update(mailbox=mailbox, uidvalidity=None, last_uid=0)
        state.refresh_from_db()
    result = PollResult()
    if not _lease(state, now):
        result.outcomes["locked"] = 1
        return result
    limit = limit or settings.ACCORD_IMAP_BATCH_SIZE
    try:
        client = _connect(config, (connector.credentials or {}).get("imap_password", ""))
        try:
            client._accord_mailbox = _quote(mailbox)  # type: ignore[attr-defined]
            typ, data = client.select(_quote(mailbox), readonly=True)
            if typ != "OK":
                raise ImapError(f"Cannot open mailbox {mailbox!r}: {data!r}")
            uidvalidity = _uidvalidity(client)
            last_uid = state.last_uid
            if state.uidvalidity != uidvalidity:
                if state.uidvalidity is not None:
                    logger.warning(
                        "IMAP %s/%s UIDVALIDITY changed %s -> %s: reading from UID 1 (dedupe by Message-ID)",
                        connector.slug, mailbox, state.uidvalidity, uidvalidity,
                    )  # fmt: skip
                ImapMailboxState.objects.filter(pk=state.pk).update(uidvalidity=uidvalidity, last_uid=0)
                last_uid = 0
            typ, data = client.uid("SEARCH", None, f"UID {last_uid + 1}:*")
            if typ != "OK":
                raise ImapError(f"UID SEARCH failed: {data!r}")
            uids = sorted(int(uid) for uid in (data[0] or b"").split() if int(uid) > last_uid)[:limit]
            result.uidvalidity = uidvalidity
            for uid in uids:
                typ, fetched = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
                raw = _raw_message(fetched) if typ == "OK" else None
                if raw is None:
                    raise ImapError(f"UID FETCH {uid} returned no message: {fetched!r}")
                outcome = inbound_receive(
                    connector=connector, raw=raw, content_type="message/rfc822", via="imap"
                ).outcome
                # The message is committed (processed, duplicate or kept as failed): move on.
                ImapMailboxState.objects.filter(
                    pk=state.pk, uidvalidity=uidvalidity, last_uid__lt=uid
                ).update(last_uid=uid)
                result.fetched += 1
                result.last_uid = uid
                result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()
    except (TimeoutError, imaplib.IMAP4.error, OSError, ImapError) as exc:
        ImapMailboxState.objects.filter(pk=state.pk).update(
            last_error=f"{type(exc).__name__}: {exc}"[:1000], last_polled_at=now, locked_until=None
        )
        raise ImapError(f"{type(exc).__name__}: {exc}") from exc
    except BaseException:
        # Anything else (the database, a bug): release the mailbox, keep the progress made.
        ImapMailboxState.objects.filter(pk=state.pk).update(locked_until=None)
        raise
    ImapMailboxState.objects.filter(pk=state.pk).update(
        last_error="",
        last_polled_at=now,
        locked_until=None,
        messages_seen=state.messages_seen + result.fetched,
    )
    return result


def imap_poll_all() -> dict:
    """Poll every active IMAP connector; one failing mailbox does not stop the others."""
    report = {}
    for connector in Connector.objects.filter(is_active=True, adapter=AdapterKind.EMAIL).select_related(
        "client", "default_queue"
    ):
        if not connector.polls_imap:
            continue
        try:
            result = imap_poll(connector=connector)
            report[connector.slug] = {"fetched": result.fetched, **result.outcomes}
        except ImapError as exc:
            logger.warning("IMAP poll of %s failed: %s", connector.slug, exc)
            report[connector.slug] = {"error": str(exc)}
    return report
