"""Inbound request signatures. Pure Python (no Django).

A sender signs ``f"{timestamp}.".encode() + raw_body`` with HMAC-SHA256 under the connector's
secret and sends::

    X-Accord-Timestamp: 1700000000
    X-Accord-Signature: v1=<lowercase hex digest>

The header may carry several comma-separated ``v1=`` values (a sender rotating its secret signs
with both). A request is accepted when any of them matches any currently valid secret and the
timestamp is within the tolerance of now, either way. Digests are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

TIMESTAMP_HEADER = "X-Accord-Timestamp"
SIGNATURE_HEADER = "X-Accord-Signature"
SCHEME = "v1"


class SignatureError(Exception):
    """Why a request's signature is refused (the message is safe to show the sender)."""


def compute(secret: str, timestamp: int | str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``timestamp + "." + body`` under `secret`."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The two headers for `body` sent at `timestamp` (for senders, tests and benchmarks)."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SCHEME}={compute(secret, timestamp, body)}",
    }


def _candidates(signature_header: str) -> list[str]:
    values = []
    for part in signature_header.replace(" ", ",").split(","):
        scheme, separator, digest = part.strip().partition("=")
        digest = digest.strip().lower()
        # Hex only: anything else (non-ASCII included, which compare_digest refuses) matches nothing.
        if separator and scheme == SCHEME and digest and all(c in "0123456789abcdef" for c in digest):
            values.append(digest)
    return values


def verify(
    *,
    secrets: Iterable[str],
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: int,
) -> None:
    """Return if the signature is good, else raise SignatureError saying what is wrong."""
    if not timestamp_header or not signature_header:
        raise SignatureError(f"Missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header.")
    try:
        timestamp = int(timestamp_header.strip())
    except ValueError as exc:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not a Unix time in seconds.") from exc
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is more than {tolerance_seconds} seconds away from the server's time."
        )
    candidates = _candidates(signature_header)
    if not candidates:
        raise SignatureError(f"{SIGNATURE_HEADER} has no '{SCHEME}=<hex>' value.")
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = compute(secret, timestamp, body)
        for candidate in candidates:
            # Evaluate every pair: the time taken does not depend on which one matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("The signature does not match the request body.")
