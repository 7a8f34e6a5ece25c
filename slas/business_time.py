"""Business-time arithmetic: working calendars, due instants and elapsed working time.

Pure Python (standard library only, no Django), so the SLA clock engine, the importer and the tests can
all use it directly.

Calendars
=========
A :class:`Calendar` is built from the JSON spec a calendar exports and imports::

    {
        "timezone": "America/New_York",
        "week": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]], ...},
        "holidays": ["2026-12-25", "2026-11-26"],
    }

* ``timezone`` is an IANA key understood by :mod:`zoneinfo` (required).
* ``week`` maps ``mon`` .. ``sun`` to a list of ``[start, end]`` local wall-clock intervals written
  ``"HH:MM"``; ``"24:00"`` is a valid end.  A weekday key that is missing means no working time that
  day.  Intervals of one day may touch but not overlap and may be given in any order.  ``week`` omitted
  or ``null`` means 24x7.  A week with no working time at all is refused.
* ``holidays`` is a list of ``"YYYY-MM-DD"`` local dates (omitted or ``null``: none); a holiday removes
  the whole local date.  Unknown top-level keys are refused (a typo such as ``"holiday"`` would
  otherwise silently drop every holiday).

Malformed specs raise :class:`CalendarSpecError` (a :class:`ValueError`) whose ``field`` attribute and
message name the offending field, e.g. ``week.mon[1]: end "08:00" is not after start "09:00"``.
:meth:`Calendar.to_spec` returns the normalised spec (all seven weekdays, intervals sorted, holidays
sorted and de-duplicated) and ``Calendar.from_spec(cal.to_spec()) == cal``.  Calendars are immutable,
hashable and picklable (the span cache is not pickled; it is rebuilt lazily).

The exact rule
==============
Time is counted in whole seconds.  A UTC second ``[t, t + 1)`` is *working* iff its local wall time
(``datetime.fromtimestamp(t, zone)``, i.e. zoneinfo's own conversion) falls inside one of the intervals
of its local weekday (``start <= wall < end``) and its local date is not a holiday.

Consequences across daylight-saving changes: the working time of an interval is the real time elapsed
while the wall clock is inside it.  A ``00:00-24:00`` day lasts 23 h on a spring-forward day and 25 h on
a fall-back day; ``09:00-17:00`` is always 8 h; ``01:00-04:00`` on a US spring-forward day is 2 h (the
skipped hour never happens) and on a fall-back day 4 h (the repeated hour counts twice).  An overnight
shift is written as two intervals (``mon 22:00-24:00`` and ``tue 00:00-06:00``).

Instants and sub-second parts
=============================
Inputs must be aware datetimes (naive ones raise :class:`ValueError`); any time zone may be used.
Results are UTC datetimes (``tzinfo=datetime.timezone.utc``).

Every instant belongs to the whole second that contains it (the floor of its POSIX timestamp); the
sub-second part never adds or removes working time:

* ``elapsed(start, end)`` is the number of working seconds ``[t, t + 1)`` with
  ``floor(start) <= t < floor(end)``, negated when ``end < start``.  So ``elapsed(b, a) ==
  -elapsed(a, b)`` and ``elapsed(a, c) == elapsed(a, b) + elapsed(b, c)`` hold exactly for all
  instants, and an elapsed time is always an ``int``.
* ``add(start, s)`` for ``s > 0`` is the end of the ``s``-th working second counted from
  ``floor(start)``: the earliest instant ``due`` with ``elapsed(start, due) == s``.  It is always a whole
  second.  A target that is used up exactly at the end of an interval is due at that end, not at the
  next opening.
* ``add(start, 0)`` is ``next_working_instant(start)``: ``start`` itself (sub-second part kept) if it
  lies in a working second, otherwise the next opening.
* ``is_working(instant)`` tells whether the second containing ``instant`` is working.

Performance
===========
Each calendar lazily builds, one chunk (about a year) at a time and in either direction, sorted arrays
of its working spans in UTC epoch seconds with the cumulative working time at each span; ``add`` and
``elapsed`` are then a ``bisect`` or two plus arithmetic, independent of the target's length.  Only a
range that has been asked about is built (cost grows with the span of years queried, not with targets).
Building is guarded by a lock; readers never lock.  UTC offsets are found by sampling ``utcoffset``
every six hours and bisecting to the second where it changes (the closest pair of offset changes in
the tz database is days apart).  Instants must lie between the years 2 and 9998 (UTC), otherwise
:class:`OverflowError` is raised.
"""

from __future__ import annotations

import math
import operator
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "WEEKDAYS",
    "Calendar",
    "CalendarSpecError",
    "add",
    "elapsed",
    "is_working",
    "next_working_instant",
]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_UTC = UTC
_DAY = 86_400
_SECOND = timedelta(seconds=1)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()  # 1970-01-01 is a Thursday (weekday 3)
_CHUNK = 366 * _DAY  # span arrays grow by about a year at a time
_SAMPLE = 6 * 3600  # utcoffset sampling step when looking for zone transitions
_MIN_SEC = int(datetime(2, 1, 1, tzinfo=_UTC).timestamp())
_MAX_SEC = int(datetime(9999, 1, 1, tzinfo=_UTC).timestamp())
_TIME_RE = re.compile(r"([0-9]{2}):([0-9]{2})")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SPEC_KEYS = ("timezone", "week", "holidays")

_fromtimestamp = datetime.fromtimestamp
_floor = math.floor

Interval = tuple[int, int]  # (start, end) in seconds after local midnight, 0 <= start < end <= 86400
Week = tuple[tuple[Interval, ...], ...]  # seven days, Monday first


class CalendarSpecError(ValueError):
    """A calendar spec is malformed; ``field`` names the offending field (e.g. ``week.mon[1]``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.message))


# --------------------------------------------------------------------------------------------------
# Spec parsing
# --------------------------------------------------------------------------------------------------


def _show(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _kind(value: object) -> str:
    return type(value).__name__


def _format_time(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _parse_time(value: object, where: str, role: str) -> int:
    match = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise CalendarSpecError(where, f'{role} {_show(value)} is not a valid "HH:MM" time')
    hours, minutes = int(match[1]), int(match[2])
    if hours > 24 or minutes > 59 or (hours == 24 and minutes != 0):
        raise CalendarSpecError(where, f'{role} {_show(value)} is out of range ("00:00" to "24:00")')
    return hours * 3600 + minutes * 60


def _parse_day(name: str, value: object) -> tuple[Interval, ...]:
    where = f"week.{name}"
    if not isinstance(value, list | tuple):
        raise CalendarSpecError(where, f"expected a list of [start, end] intervals, got {_kind(value)}")
    parsed: list[tuple[int, int, int]] = []  # (start, end, index in the spec)
    for index, pair in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise CalendarSpecError(at, f'expected a ["HH:MM", "HH:MM"] pair, got {_show(pair)}')
        start = _parse_time(pair[0], at, "start")
        end = _parse_time(pair[1], at, "end")
        if end <= start:
            raise CalendarSpecError(at, f"end {_show(pair[1])} is not after start {_show(pair[0])}")
        parsed.append((start, end, index))
    parsed.sort()
    for (s1, e1, i1), (s2, e2, i2) in pairwise(parsed):
        if s2 < e1:
            raise CalendarSpecError(
                f"{where}[{i2}]",
                f'["{_format_time(s2)}", "{_format_time(e2)}"] overlaps {where}[{i1}] '
                f'["{_format_time(s1)}", "{_format_time(e1)}"]',
            )
    return tuple((start, end) for start, end, _ in parsed)


def _parse_week(value: object) -> Week | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise CalendarSpecError(
            "week", f"expected an object mapping weekdays to intervals, got {_kind(value)}"
        )
    for key in value:
        if key not in WEEKDAYS:
            raise CalendarSpecError(f"week.{key}", f"unknown weekday (expected one of {', '.join(WEEKDAYS)})")
    week = tuple(_parse_day(name, value[name]) if name in value else () for name in WEEKDAYS)
    if not any(week):
        raise CalendarSpecError("week", "no working time")
    return week


def _parse_holidays(value: object) -> frozenset[date]:
    if not isinstance(value, list | tuple):
        raise CalendarSpecError("holidays", f'expected a list of "YYYY-MM-DD" dates, got {_kind(value)}')
    days: set[date] = set()
    for index, item in enumerate(value):
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
            continue
        parsed = None
        if isinstance(item, str) and _DATE_RE.fullmatch(item):
            try:
                parsed = date.fromisoformat(item)
            except ValueError:
                parsed = None
        if parsed is None:
            raise CalendarSpecError(f"holidays[{index}]", f'{_show(item)} is not a valid "YYYY-MM-DD" date')
        days.add(parsed)
    return frozenset(days)


def _load_zone(value: object) -> ZoneInfo:
    if not isinstance(value, str):
        raise CalendarSpecError("timezone", f"expected an IANA time zone name, got {_kind(value)}")
    try:
        return ZoneInfo(value)
    except Exception:  # ZoneInfoNotFoundError, ValueError for bad keys, OSError for directories...
        raise CalendarSpecError("timezone", f"unknown time zone {_show(value)}") from None


# --------------------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """An immutable working calendar: a time zone, a weekly pattern and holidays.

    Build one with :meth:`from_spec` or :meth:`always`.  The constructor takes already-normalised parts
    (``week`` is ``None`` for 24x7 or seven tuples of sorted, non-overlapping ``(start, end)`` second
    offsets from local midnight) and only checks their shape.
    """

    timezone: str
    week: Week | None
    holidays: frozenset[date] = frozenset()
    _index: _SpanIndex = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        zone = _load_zone(self.timezone)
        if self.week is not None:
            if len(self.week) != 7 or not any(self.week):
                raise ValueError("Calendar.week must be None or seven tuples with some working time")
            for day in self.week:
                previous_end = 0
                for start, end in day:
                    if not (previous_end <= start < end <= _DAY):
                        raise ValueError("Calendar.week intervals must be sorted, non-overlapping (s, e)")
                    previous_end = end
        if not isinstance(self.holidays, frozenset):
            raise TypeError("Calendar.holidays must be a frozenset of dates")
        object.__setattr__(self, "_index", _SpanIndex(zone, self.week, self.holidays))

    def __reduce__(self) -> tuple[Any, ...]:
        # The span cache holds a lock and is cheap to rebuild: pickle only the definition.
        return (type(self), (self.timezone, self.week, self.holidays))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Calendar:
        """Build a calendar from its JSON spec; raise :class:`CalendarSpecError` if it is malformed."""
        if not isinstance(spec, Mapping):
            raise CalendarSpecError("spec", f"expected an object, got {_kind(spec)}")
        for key in spec:
            if key not in _SPEC_KEYS:
                raise CalendarSpecError(str(key), f"unknown key (expected one of {', '.join(_SPEC_KEYS)})")
        if "timezone" not in spec:
            raise CalendarSpecError("timezone", "is required")
        _load_zone(spec["timezone"])
        week = _parse_week(spec.get("week"))
        holidays = _parse_holidays(spec.get("holidays") or [])
        return cls(spec["timezone"], week, holidays)

    @classmethod
    def always(cls, timezone: str = "UTC") -> Calendar:
        """A 24x7 calendar with no holidays (``timezone`` only matters if holidays are added later)."""
        return cls.from_spec({"timezone": timezone})

    def to_spec(self) -> dict[str, Any]:
        """The normalised JSON spec: ``Calendar.from_spec(cal.to_spec()) == cal``."""
        week = None
        if self.week is not None:
            week = {
                name: [[_format_time(start), _format_time(end)] for start, end in day]
                for name, day in zip(WEEKDAYS, self.week, strict=True)
            }
        return {
            "timezone": self.timezone,
            "week": week,
            "holidays": [day.isoformat() for day in sorted(self.holidays)],
        }


# --------------------------------------------------------------------------------------------------
# Span index: sorted working spans in UTC epoch seconds with cumulative working time
# --------------------------------------------------------------------------------------------------

# The state is one tuple, swapped atomically, so readers need no lock:
#   (lo, hi, base, starts, ends, offs, cends)
# covering UTC seconds [lo, hi).  Span i is [starts[i], ends[i]).  W(t), the working time before t
# measured from an arbitrary fixed origin, is offs[i] + t inside span i, cends[i] just after it and
# base before the first span.  W never changes once computed: extensions keep the origin.
_State = tuple[int, int, int, list[int], list[int], list[int], list[int]]


def _make_state(lo: int, hi: int, base: int, spans: list[tuple[int, int]]) -> _State:
    starts: list[int] = []
    ends: list[int] = []
    offs: list[int] = []
    cends: list[int] = []
    worked = base
    for start, end in spans:
        starts.append(start)
        ends.append(end)
        offs.append(worked - start)
        worked += end - start
        cends.append(worked)
    return (lo, hi, base, starts, ends, offs, cends)


def _join(first: list[tuple[int, int]], second: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if first and second and first[-1][1] == second[0][0]:
        return [*first[:-1], (first[-1][0], second[0][1]), *second[1:]]
    return first + second


class _SpanIndex:
    __slots__ = ("_holidays", "_lock", "_week", "_zone", "state")

    def __init__(self, zone: ZoneInfo, week: Week | None, holidays: frozenset[date]) -> None:
        self._zone = zone
        days = (((0, _DAY),),) * 7 if week is None else week
        merged: list[tuple[Interval, ...]] = []
        for day in days:  # touching intervals of one day become one
            out: list[Interval] = []
            for start, end in day:
                if out and out[-1][1] == start:
                    out[-1] = (out[-1][0], end)
                else:
                    out.append((start, end))
            merged.append(tuple(out))
        self._week = tuple(merged)
        self._holidays = frozenset(day.toordinal() - _EPOCH_ORDINAL for day in holidays)
        self._lock = threading.Lock()
        self.state: _State = (0, 0, 0, [], [], [], [])

    # -- building -----------------------------------------------------------------------------------

    def _offset(self, t: int) -> int:
        return _fromtimestamp(t, self._zone).utcoffset() // _SECOND

    def _segments(self, a: int, b: int) -> list[tuple[int, int, int]]:
        """Split UTC [a, b) into pieces of constant UTC offset: (start, end, offset)."""
        segments = []
        seg_start, seg_off = a, self._offset(a)
        probe = a
        while probe < b - 1:
            nxt = min(probe + _SAMPLE, b - 1)
            nxt_off = self._offset(nxt)
            while nxt_off != seg_off:  # one or more transitions in (probe, nxt]: bisect to the second
                low, high = probe, nxt
                while high - low > 1:
                    mid = (low + high) // 2
                    if self._offset(mid) == seg_off:
                        low = mid
                    else:
                        high = mid
                segments.append((seg_start, high, seg_off))
                seg_start, seg_off, probe = high, self._offset(high), high
            probe = nxt
        segments.append((seg_start, b, seg_off))
        return segments

    def _build(self, a: int, b: int) -> list[tuple[int, int]]:
        """Working spans inside UTC [a, b), sorted, with touching spans merged."""
        week, holidays = self._week, self._holidays
        spans: list[tuple[int, int]] = []
        for seg_start, seg_end, off in self._segments(a, b):
            local_lo, local_hi = seg_start + off, seg_end + off  # wall-clock seconds, read as UTC
            for day in range(local_lo // _DAY, (local_hi - 1) // _DAY + 1):
                if day in holidays:
                    continue
                midnight = day * _DAY
                for start, end in week[(day + 3) % 7]:
                    lo = max(midnight + start, local_lo) - off
                    hi = min(midnight + end, local_hi) - off
                    if lo < hi:
                        if spans and spans[-1][1] == lo:
                            spans[-1] = (spans[-1][0], hi)
                        else:
                            spans.append((lo, hi))
        return spans

    def cover(self, low: int, high: int) -> _State:
        """Return a state whose range contains the seconds ``low`` .. ``high``."""
        if low < _MIN_SEC or high >= _MAX_SEC:
            raise OverflowError("business time is only supported for instants between the years 2 and 9998")
        with self._lock:
            lo, hi, base, starts, ends, _, _ = self.state
            if lo <= low and high < hi:
                return self.state
            if lo == hi:  # nothing built yet
                lo = max(low // _CHUNK * _CHUNK, _MIN_SEC)
                hi = min((high // _CHUNK + 1) * _CHUNK, _MAX_SEC)
                state = _make_state(lo, hi, 0, self._build(lo, hi))
            else:
                spans = list(zip(starts, ends, strict=True))
                if low < lo:
                    new_lo = max(low // _CHUNK * _CHUNK, _MIN_SEC)
                    before = self._build(new_lo, lo)
                    base -= sum(end - start for start, end in before)
                    spans = _join(before, spans)
                    lo = new_lo
                if high >= hi:
                    new_hi = min((high // _CHUNK + 1) * _CHUNK, _MAX_SEC)
                    spans = _join(spans, self._build(hi, new_hi))
                    hi = new_hi
                state = _make_state(lo, hi, base, spans)
            self.state = state
            return state

    def grow(self, seen_hi: int) -> _State:
        """Extend the range by one chunk forward (unless another thread already did)."""
        state = self.state
        if state[1] > seen_hi:
            return state
        if seen_hi >= _MAX_SEC:
            raise OverflowError("business time is only supported for instants between the years 2 and 9998")
        return self.cover(seen_hi, min(seen_hi + _CHUNK, _MAX_SEC) - 1)

    # -- queries (seconds in, seconds out) --------------------------------------------------------------

    def elapsed(self, a: int, b: int) -> int:
        state = self.state
        if a < state[0] or b < state[0] or a >= state[1] or b >= state[1]:
            state = self.cover(min(a, b), max(a, b))
        _, _, base, starts, ends, offs, cends = state
        i = bisect_right(starts, a) - 1
        wa = base if i < 0 else (offs[i] + a if a < ends[i] else cends[i])
        i = bisect_right(starts, b) - 1
        wb = base if i < 0 else (offs[i] + b if b < ends[i] else cends[i])
        return wb - wa

    def add(self, a: int, seconds: int) -> int:
        state = self.state
        if a < state[0] or a >= state[1]:
            state = self.cover(a, a)
        _, hi, base, starts, ends, offs, cends = state
        i = bisect_right(starts, a) - 1
        target = (base if i < 0 else (offs[i] + a if a < ends[i] else cends[i])) + seconds
        i = bisect_left(cends, target)
        while i == len(cends):
            _, hi, _, _, _, offs, cends = state = self.grow(hi)
            i = bisect_left(cends, target)
        return target - offs[i]

    def next_start(self, a: int) -> int | None:
        """None if second ``a`` is working, else the start of the next working span."""
        state = self.state
        if a < state[0] or a >= state[1]:
            state = self.cover(a, a)
        while True:
            starts, ends = state[3], state[4]
            i = bisect_right(starts, a) - 1
            if i >= 0 and a < ends[i]:
                return None
            if i + 1 < len(starts):
                return starts[i + 1]
            state = self.grow(state[1])

    def is_working(self, a: int) -> bool:
        state = self.state
        if a < state[0] or a >= state[1]:
            state = self.cover(a, a)
        i = bisect_right(state[3], a) - 1
        return i >= 0 and a < state[4][i]


# --------------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------------


def _naive(name: str) -> ValueError:
    return ValueError(f"{name} must be a timezone-aware datetime")


def add(start: datetime, seconds: int, calendar: Calendar) -> datetime:
    """Return the instant (UTC) at which ``seconds`` of working time starting at ``start`` are used up.

    ``seconds > 0``: the end of the last working second (a whole second, possibly the end of an
    interval).  ``seconds == 0``: the first working instant at or after ``start``.  Negative ``seconds``
    raise :class:`ValueError`; non-integers raise :class:`TypeError`; a naive ``start`` raises
    :class:`ValueError`.
    """
    if start.utcoffset() is None:
        raise _naive("start")
    if type(seconds) is not int:
        seconds = operator.index(seconds)
    if seconds > 0:
        return _fromtimestamp(calendar._index.add(_floor(start.timestamp()), seconds), _UTC)
    if seconds < 0:
        raise ValueError(f"seconds must not be negative (got {seconds})")
    return next_working_instant(start, calendar)


def elapsed(start: datetime, end: datetime, calendar: Calendar) -> int:
    """Return the working seconds from ``start`` to ``end`` (negative if ``end`` is before ``start``).

    Counts the working seconds ``[t, t + 1)`` with ``floor(start) <= t < floor(end)`` (sub-second parts
    are ignored), so ``elapsed(b, a) == -elapsed(a, b)`` and the result is additive.
    """
    if start.utcoffset() is None:
        raise _naive("start")
    if end.utcoffset() is None:
        raise _naive("end")
    return calendar._index.elapsed(_floor(start.timestamp()), _floor(end.timestamp()))


def is_working(instant: datetime, calendar: Calendar) -> bool:
    """Whether the second containing ``instant`` is working time in ``calendar``."""
    if instant.utcoffset() is None:
        raise _naive("instant")
    return calendar._index.is_working(_floor(instant.timestamp()))


def next_working_instant(instant: datetime, calendar: Calendar) -> datetime:
    """The first working instant at or after ``instant``, in UTC.

    That is ``instant`` itself (sub-second part kept) if it lies in a working second, otherwise the
    start of the next working interval.
    """
    if instant.utcoffset() is None:
        raise _naive("instant")
    start = calendar._index.next_start(_floor(instant.timestamp()))
    if start is None:
        return instant.astimezone(_UTC)
    return _fromtimestamp(start, _UTC)
