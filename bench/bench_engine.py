"""The clock engine applying a realistic event stream to 100,000 cases (pure Python, no database).

Each case: opened, a bot reply on chat, the first agent reply, sometimes a customer follow-up and
a reply (next_response cycles), sometimes a pending pause and resume, a priority change, then
resolved and often closed; on a 9-17 New York calendar with holidays.

    python bench/bench_engine.py [--cases 100000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slas import engine
from slas.business_time import Calendar

SPEC = {
    "timezone": "America/New_York",
    "week": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [
        "2026-01-01",
        "2026-01-19",
        "2026-02-16",
        "2026-05-25",
        "2026-07-03",
        "2026-09-07",
        "2026-11-26",
        "2026-12-25",
    ],
}
PRIORITIES = ["urgent", "high", "normal", "low"]
TARGETS = {
    (metric, p): int(seconds * factor)
    for metric, seconds in (
        ("first_response", 4 * 3600),
        ("next_response", 8 * 3600),
        ("resolution", 24 * 3600),
    )
    for p, factor in zip(PRIORITIES, (0.25, 0.5, 1, 2), strict=True)
}


def stream(rng: random.Random) -> list[engine.EngineEvent]:
    t = datetime(2026, 1, 5, tzinfo=UTC) + timedelta(seconds=rng.randrange(300 * 86400))
    events = [engine.EngineEvent(engine.OPENED, t, status="new", priority=rng.choice(PRIORITIES))]

    def later(low, high):
        nonlocal t
        t = t + timedelta(seconds=rng.randrange(low, high))
        return t

    events.append(engine.EngineEvent(engine.AGENT_REPLY, later(60, 6 * 3600)))
    events.append(engine.EngineEvent(engine.STATUS, t, status="open"))
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        events.append(engine.EngineEvent(engine.CUSTOMER_MESSAGE, later(600, 86400)))
        if rng.random() < 0.3:
            events.append(engine.EngineEvent(engine.STATUS, later(60, 3600), status="pending"))
            events.append(engine.EngineEvent(engine.STATUS, later(3600, 2 * 86400), status="open"))
        events.append(engine.EngineEvent(engine.AGENT_REPLY, later(60, 8 * 3600)))
    if rng.random() < 0.15:
        events.append(engine.EngineEvent(engine.PRIORITY, later(60, 3600), priority=rng.choice(PRIORITIES)))
    events.append(engine.EngineEvent(engine.STATUS, later(600, 86400), status="resolved"))
    if rng.random() < 0.05:
        events.append(engine.EngineEvent(engine.STATUS, later(3600, 86400), status="open"))
        events.append(engine.EngineEvent(engine.STATUS, later(3600, 86400), status="resolved"))
    if rng.random() < 0.7:
        events.append(engine.EngineEvent(engine.STATUS, later(86400, 3 * 86400), status="closed"))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(42)
    policy = engine.PolicySnapshot(policy_id=1, version=1, calendar=Calendar.from_spec(SPEC), targets=TARGETS)
    streams = [stream(rng) for _ in range(args.cases)]
    total = sum(len(s) for s in streams)
    engine.replay(policy, streams[0])  # build the calendar's span cache once
    started = time.perf_counter()
    changes = clocks = 0
    for events in streams:
        state, made = engine.replay(policy, events)
        changes += len(made)
        clocks += len(state.clocks)
    elapsed = time.perf_counter() - started
    print(
        f"{args.cases:,} cases, {total:,} events, {clocks:,} clocks, {changes:,} clock changes "
        f"in {elapsed:.2f} s on one core"
    )
    print(f"engine: {total / elapsed:,.0f} events/s, {args.cases / elapsed:,.0f} cases/s")


if __name__ == "__main__":
    main()
