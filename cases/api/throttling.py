"""Per-caller request rate limits: each API key (its own rate, or API_KEY_THROTTLE_RATE) and each
staff user (API_USER_THROTTLE_RATE) has its own budget, so one client's burst never throttles
another. A fixed window counted with the cache's atomic `incr`: O(1) per request; with a shared
cache (CACHE_URL=redis…) the limit holds across processes, with the default local-memory cache
it is per process."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from .authentication import request_api_key

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """'600/min' -> (600, 60); empty or 'none' -> None (unlimited)."""
    if not rate or rate.lower() == "none":
        return None
    count, period = rate.split("/", 1)
    return int(count), _UNITS[period[0].lower()]


class CallerRateThrottle(BaseThrottle):
    cache_prefix = "accord:api-throttle"

    def _ident_and_rate(self, request) -> tuple[str | None, str]:
        key = request_api_key(request)
        if key is not None:
            return f"key:{key.pk}", key.throttle_rate or settings.ACCORD_API_KEY_THROTTLE_RATE
        user = request.user
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}", settings.ACCORD_API_USER_THROTTLE_RATE
        return None, ""

    def allow_request(self, request, view) -> bool:
        ident, rate = self._ident_and_rate(request)
        parsed = parse_rate(rate) if ident else None
        if parsed is None:
            return True
        limit, period = parsed
        now = time.time()
        window = int(now // period)
        cache_key = f"{self.cache_prefix}:{ident}:{period}:{window}"
        cache.add(cache_key, 0, timeout=period + 1)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, timeout=period + 1)
            count = 1
        if count > limit:
            self._wait = max(1, math.ceil((window + 1) * period - now))
            return False
        return True

    def wait(self) -> int:
        return getattr(self, "_wait", 1)
