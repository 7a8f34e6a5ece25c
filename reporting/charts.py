"""Server-side SVG geometry for the dashboard's charts: plain numbers the templates draw, so
every chart is readable without JavaScript and its figures sit in a table beside it."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 40, 30, 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: float | None
    target_y: float | None = None


def percent_bars(rows: list[dict], *, label: str, value: str, target: float | None = None) -> dict:
    """Vertical bars of a percentage (0-100) per row, with an optional target line."""
    plot_height = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(1, len(rows))
    bars = []
    for index, row in enumerate(rows):
        share = (row[value] or 0) / 100
        height = plot_height * share
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * 0.15, 1),
                y=round(TOP + plot_height - height, 1),
                width=round(slot * 0.7, 1),
                height=round(height, 1),
                label=str(row[label]),
                value=row[value],
            )
        )
    target_y = round(TOP + plot_height * (1 - target / 100), 1) if target is not None else None
    return {
        "bars": bars,
        "target_y": target_y,
        "target": target,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "base_y": HEIGHT - BOTTOM,
        "grid": [{"y": round(TOP + plot_height * (1 - p / 100), 1), "label": p} for p in (0, 50, 100)],
    }


def percent_line(rows: list[dict], *, label: str, value: str) -> dict:
    """A polyline of a percentage per row (days), points and labels for the first and last."""
    plot_height = HEIGHT - BOTTOM - TOP
    step = (WIDTH - LEFT - 10) / max(1, len(rows) - 1)
    points = []
    for index, row in enumerate(rows):
        if row[value] is None:
            continue
        x = round(LEFT + index * step, 1)
        y = round(TOP + plot_height * (1 - row[value] / 100), 1)
        points.append({"x": x, "y": y, "label": str(row[label]), "value": row[value]})
    return {
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "base_y": HEIGHT - BOTTOM,
        "grid": [{"y": round(TOP + plot_height * (1 - p / 100), 1), "label": p} for p in (0, 50, 100)],
    }


def heat_colour(percent: float | None) -> str:
    """Red (0 %) through amber to green (100 %); grey for no clock."""
    if percent is None:
        return "#eceff3"
    hue = round(1.2 * max(0.0, min(100.0, percent)))
    return f"hsl({hue}, 65%, 52%)"


def heatmap(cells: list[dict], channels: list[str]) -> dict:
    """Rows: channels; columns: the 168 hours of the week (Monday 00:00 first)."""
    size, left, top = 4, 70, 14
    by_key = {(c["channel"], c["weekday"], c["hour"]): c for c in cells}
    rows = []
    for row_index, channel in enumerate(channels):
        rects = []
        for weekday in range(1, 8):
            for hour in range(24):
                cell = by_key.get((channel, weekday, hour))
                column = (weekday - 1) * 24 + hour
                rects.append(
                    {
                        "x": left + column * size,
                        "fill": heat_colour(cell["percent"] if cell else None),
                        "title": f"{channel}, day {weekday} {hour:02d}:00: "
                        + (f"{cell['percent']} % of {cell['decided']}" if cell else "no clock"),
                    }
                )
        rows.append({"channel": channel, "y": top + row_index * 16, "rects": rects})
    days = [
        {"x": left + (d * 24 + 12) * size, "label": name}
        for d, name in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
    ]
    return {
        "rows": rows,
        "days": days,
        "size": size,
        "width": left + 168 * size + 10,
        "height": top + 16 * len(channels) + 6,
    }
