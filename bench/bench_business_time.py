"""Throughput of slas.business_time.add / elapsed (a script, not a test).

    python bench/bench_business_time.py [--calls N] [--repeat R]

Calendar: 09:00-17:00 Monday to Friday, America/New_York, US federal holidays 2025-2027 (listed below,
no ``holidays`` package needed).  Starts are random instants across 2026 given as UTC-aware datetimes
with microseconds (what Django hands over with USE_TZ); targets are 8 and 40 working hours.  The span
cache is warmed first; each figure is the best of R runs of N calls on one core.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slas.business_time import Calendar, add, elapsed

US_FEDERAL_HOLIDAYS = [
    # 2025
    "2025-01-01", "2025-01-20", "2025-02-17", "2025-05-26", "2025-06-19", "2025-07-04",
    "2025-09-01", "2025-10-13", "2025-11-11", "2025-11-27", "2025-12-25",
    # 2026 (Independence Day observed on Friday 3 July)
    "2026-01-01", "2026-01-19", "2026-02-16", "2026-05-25", "2026-06-19", "2026-07-03",
    "2026-09-07", "2026-10-12", "2026-11-11", "2026-11-26", "2026-12-25",
    # 2027 (observed: Juneteenth Fri 18 June, Christmas Fri 24 December, New Year 2028 Fri 31 December)
    "2027-01-01", "2027-01-18", "2027-02-15", "2027-05-31", "2027-06-18", "2027-07-05",
    "2027-09-06", "2027-10-11", "2027-11-11", "2027-11-25", "2027-12-24", "2027-12-31",
]  # fmt: skip

SPEC = {
    "timezone": "America/New_York",
    "week": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": US_FEDERAL_HOLIDAYS,
}


def best_rate(fn: Callable[[], None], calls: int, repeat: int) -> float:
    """Calls per second of the fastest of ``repeat`` runs (``fn`` makes ``calls`` calls)."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return calls / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    calendar = Calendar.from_spec(SPEC)
    rng = random.Random(20260101)
    year_start = datetime(2026, 1, 1, tzinfo=UTC)
    starts = [
        year_start + timedelta(seconds=rng.randrange(365 * 86_400), microseconds=rng.randrange(1_000_000))
        for _ in range(args.calls)
    ]

    print(f"python {sys.version.split()[0]}; calendar: 09:00-17:00 Mon-Fri America/New_York, "
          f"{len(US_FEDERAL_HOLIDAYS)} holidays 2025-2027")  # fmt: skip
    print(f"{args.calls:,} random UTC starts across 2026; best of {args.repeat} runs")

    began = time.perf_counter()
    add(starts[0], 3600, calendar)
    built = time.perf_counter() - began
    ends = {hours: [add(start, hours * 3600, calendar) for start in starts] for hours in (8, 40)}
    for hours in (8, 40):
        for start, end in zip(starts, ends[hours], strict=True):
            assert elapsed(start, end, calendar) == hours * 3600
    lo, hi, spans = calendar._index.state[0], calendar._index.state[1], len(calendar._index.state[3])
    covered = f"{datetime.fromtimestamp(lo, UTC):%Y-%m-%d} to {datetime.fromtimestamp(hi, UTC):%Y-%m-%d}"
    print(f"cold start: first call built the span cache in {built * 1000:.1f} ms")
    print(f"cache warmed: {spans} working spans, {covered}; add/elapsed round trips checked")

    ny = ZoneInfo("America/New_York")
    local_starts = [start.astimezone(ny) for start in starts]
    for hours in (8, 40):
        seconds = hours * 3600
        end_list = ends[hours]

        def run_add(seconds: int = seconds) -> None:
            for start in starts:
                add(start, seconds, calendar)

        def run_elapsed(end_list: list[datetime] = end_list) -> None:
            for start, end in zip(starts, end_list, strict=True):
                elapsed(start, end, calendar)

        def run_add_local(seconds: int = seconds) -> None:
            for start in local_starts:
                add(start, seconds, calendar)

        print(f"add {hours}h: {best_rate(run_add, args.calls, args.repeat):,.0f} calls/s")
        print(f"elapsed {hours}h: {best_rate(run_elapsed, args.calls, args.repeat):,.0f} calls/s")
        rate = best_rate(run_add_local, args.calls, args.repeat)
        print(f"add {hours}h (start given in America/New_York): {rate:,.0f} calls/s")


if __name__ == "__main__":
    main()
