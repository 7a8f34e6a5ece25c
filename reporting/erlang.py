"""Erlang C: how many agents a queue needs to answer a share of contacts within a threshold.
Pure (no Django). Traffic `a` = arrivals per interval x average handle time / interval length,
in Erlangs.

- ``erlang_b(agents, a)`` by the stable recursion B(0) = 1, B(n) = a B(n-1) / (n + a B(n-1))
  (no factorials, no overflow for hundreds of agents);
- ``erlang_c(agents, a)`` = n B / (n - a (1 - B)), the probability a contact waits (1 when
  n <= a: the queue grows without bound);
- ``service_level(agents, a, aht, threshold)`` = 1 - C e^{-(n - a) threshold / aht};
- ``agents_needed(...)``: the fewest agents whose service level reaches the target.
"""

from __future__ import annotations

import math


def traffic(arrivals: float, aht_seconds: float, interval_seconds: float) -> float:
    """Offered load in Erlangs."""
    return arrivals * aht_seconds / interval_seconds


def erlang_b(agents: int, load: float) -> float:
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = load * blocking / (n + load * blocking)
    return blocking


def erlang_c(agents: int, load: float) -> float:
    if load <= 0:
        return 0.0
    if agents <= load:
        return 1.0
    blocking = erlang_b(agents, load)
    return agents * blocking / (agents - load * (1 - blocking))


def service_level(agents: int, load: float, aht_seconds: float, threshold_seconds: float) -> float:
    """Share of contacts answered within the threshold (0 to 1)."""
    if load <= 0:
        return 1.0
    if agents <= load:
        return 0.0
    waiting = erlang_c(agents, load)
    return 1 - waiting * math.exp(-(agents - load) * threshold_seconds / aht_seconds)


def agents_needed(
    *, arrivals: float, aht_seconds: float, interval_seconds: float, threshold_seconds: float, target: float
) -> int:
    """The fewest agents answering `target` (0 to 1) of contacts within the threshold."""
    if arrivals <= 0 or aht_seconds <= 0:
        return 0
    if not 0 < target < 1:
        raise ValueError("The service level target is a share between 0 and 1 (exclusive).")
    load = traffic(arrivals, aht_seconds, interval_seconds)
    agents = max(1, math.floor(load) + 1)
    while service_level(agents, load, aht_seconds, threshold_seconds) < target:
        agents += 1
    return agents
