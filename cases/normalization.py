"""Normalizing customer identity values before they are stored or looked up. Pure Python."""

from __future__ import annotations

import re

import phonenumbers

from .choices import IdentityKind

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HANDLE_RE = re.compile(r"^[a-z0-9_.\-]{1,100}$")
SOCIAL_PLATFORMS = ("twitter", "x", "facebook", "instagram", "linkedin", "tiktok", "youtube")


class IdentityValueError(ValueError):
    """A value that cannot be normalized for its kind; the message says why."""


def normalize_identity(kind: str, value: str, *, default_region: str = "US") -> str:
    """Return the canonical form of `value` for `kind`, or raise IdentityValueError.

    - email: trimmed and lowercased, must look like local@domain.tld;
    - phone: E.164 (``+14155550123``), national numbers read in `default_region`;
    - social: ``platform:handle`` lowercased, ``@`` dropped, platform from a known list;
    - chat, external: trimmed, non-empty (case kept: they are opaque keys).
    """
    raw = (value or "").strip()
    if not raw:
        raise IdentityValueError(f"An empty {kind} identity cannot be stored.")
    if kind == IdentityKind.EMAIL:
        email = raw.lower()
        if not _EMAIL_RE.match(email):
            raise IdentityValueError(f"{raw!r} is not a valid e-mail address.")
        return email
    if kind == IdentityKind.PHONE:
        return normalize_phone(raw, default_region=default_region)
    if kind == IdentityKind.SOCIAL:
        return normalize_social_handle(raw)
    if kind in (IdentityKind.CHAT, IdentityKind.EXTERNAL):
        if len(raw) > 255:
            raise IdentityValueError(f"A {kind} identity is at most 255 characters.")
        return raw
    raise IdentityValueError(f"Unknown identity kind {kind!r}.")


def normalize_phone(raw: str, *, default_region: str = "US") -> str:
    """E.164 form of a phone number, or IdentityValueError if it is not a valid number."""
    try:
        number = phonenumbers.parse(raw, default_region or None)
    except phonenumbers.NumberParseException as exc:
        raise IdentityValueError(f"{raw!r} is not a phone number ({exc._msg}).") from exc
    if not phonenumbers.is_valid_number(number):
        raise IdentityValueError(f"{raw!r} is not a valid phone number for region {default_region}.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_social_handle(raw: str) -> str:
    """``platform:handle`` lowercased; accepts ``Twitter:@Name`` or ``twitter:name``."""
    platform, separator, handle = raw.partition(":")
    if not separator:
        raise IdentityValueError(f"{raw!r} needs a platform prefix, as in 'twitter:handle'.")
    platform = platform.strip().lower()
    handle = handle.strip().lstrip("@").lower()
    if platform not in SOCIAL_PLATFORMS:
        raise IdentityValueError(
            f"Unknown social platform {platform!r}; known: {', '.join(SOCIAL_PLATFORMS)}."
        )
    if not _HANDLE_RE.match(handle):
        raise IdentityValueError(f"{handle!r} is not a valid {platform} handle.")
    return f"{platform}:{handle}"
