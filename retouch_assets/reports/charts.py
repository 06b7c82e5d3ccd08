"""Charts as plain SVG geometry: pure functions from numbers to shapes, drawn by the report
templates (`templates/_chart.html.j2`) with Jinja's autoescape, so a label from input data is
escaped like any other text and no chart needs `|safe`.

Hand-written rather than a plotting library: the five chart kinds the reports need (lines
with reference lines, ranked bars, a timeline, a scatter, a strip plot) are a few hundred lines;
the output is a few KB per chart with real, selectable `<text>` in the page's own font; nothing
is fetched at view time and no script runs; and no dependency is added (matplotlib is not in
the lock, and Altair/Vega would need its JavaScript inlined, ~800 KB per report).
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from retouch_assets.vocabulary import AlertSeverity

WIDTH, HEIGHT = 600, 230
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 14, 34
INK = "#222222"  # text: 16:1 on white
MUTED = "#595959"  # axis text: 7:1 on white
GRID = "#dddddd"
# Series colours, each at least 4.5:1 on white (text and marks alike).
PALETTE = ("#1f5fbf", "#b3261e", "#1e7b34", "#7b3fa0", "#8a5300", "#00707a", "#444444")
SEVERITY_COLOURS: dict[str, str] = {AlertSeverity.PAGE: "#b3261e", AlertSeverity.TICKET: "#8a5300"}
POLICY_COLOURS = {"freeze new work (60 %)": "#8a5300", "SLO freeze (90 %)": "#b3261e"}


@dataclass(frozen=True)
class Shape:
    """One SVG element: a tag from this module, attribute values (escaped when drawn) and
    optional text content."""

    tag: str
    attrs: tuple[tuple[str, str], ...]
    text: str = ""


@dataclass
class Chart:
    """An SVG chart: its title and description (the accessible name) and its shapes."""

    chart_id: str
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    shapes: list[Shape] = field(default_factory=list)

    def add(self, tag: str, text: str = "", **attrs: object) -> None:
        self.shapes.append(Shape(tag, tuple((_attr(k), _fmt(v)) for k, v in attrs.items()), text))

    @property
    def marks(self) -> int:
        """Drawn data marks (not axes or labels): what a test checks for an empty chart."""
        return sum(1 for s in self.shapes if ("class", "mark") in s.attrs)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    dashed: bool = False


def _attr(name: str) -> str:
    # `class_` (a Python keyword) is `class`; `stroke_width` is `stroke-width`.
    return name.rstrip("_").replace("_", "-")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    value = math.floor(low / step) * step
    ticks = [round(value, 10)]
    while ticks[-1] < high - step * 1e-9:
        value += step
        ticks.append(round(value, 10))
    return ticks


def _scale(lo: float, hi: float, a: float, b: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _y_axis(chart: Chart, ticks: list[float], y, fmt: Callable[[float], str]) -> None:
    for t in ticks:
        chart.add("line", x1=LEFT, x2=chart.width - RIGHT, y1=y(t), y2=y(t), stroke=GRID)
        chart.add(
            "text", fmt(t), x=LEFT - 6, y=y(t) + 4, text_anchor="end", fill=MUTED, font_size=11
        )


def _x_labels(chart: Chart, labels: Sequence[str], x) -> None:
    # At most ~8 labels fit; the rest are skipped evenly.
    every = max(1, math.ceil(len(labels) / 8))
    for i, label in enumerate(labels):
        if i % every == 0:
            chart.add(
                "text",
                label,
                x=x(i),
                y=chart.height - BOTTOM + 16,
                text_anchor="middle",
                fill=MUTED,
                font_size=11,
            )


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    references: Sequence[tuple[float, str]] = (),
    floor: float | None = None,
) -> Chart:
    """Lines over categorical x (weeks or days), None values leave gaps; dashed horizontal
    reference lines (an objective, a policy threshold) labelled on the right."""
    chart = Chart(chart_id, title, description)
    values = [v for s in series for v in s.values if v is not None]
    values += [r for r, _ in references]
    low = min(values, default=0.0) if floor is None else floor
    ticks = nice_ticks(min(low, *values) if values else 0.0, max(values, default=1.0))
    y = _scale(ticks[0], ticks[-1], chart.height - BOTTOM, TOP)
    n = max(len(x_labels), 1)
    x = _scale(0, max(n - 1, 1), LEFT + 10, chart.width - RIGHT - 10)
    _y_axis(chart, ticks, y, fmt)
    _x_labels(chart, x_labels, x)
    right = chart.width - RIGHT
    for value, label in references:
        colour = POLICY_COLOURS.get(label, MUTED)
        chart.add(
            "line",
            x1=LEFT,
            x2=right,
            y1=y(value),
            y2=y(value),
            stroke=colour,
            stroke_dasharray="6 4",
        )
        chart.add("text", label, x=right + 6, y=y(value) + 4, fill=colour, font_size=11)
    ends: list[tuple[float, str, str]] = []
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = [[]]
        for j, v in enumerate(s.values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append((x(j), y(v)))
        for run in runs:
            if len(run) > 1:
                chart.add(
                    "polyline",
                    points=" ".join(f"{px:.1f},{py:.1f}" for px, py in run),
                    fill="none",
                    stroke=colour,
                    stroke_width=2,
                    stroke_dasharray="5 3" if s.dashed else "none",
                    class_="mark",
                )
            for px, py in run:
                chart.add("circle", cx=px, cy=py, r=3, fill=colour, class_="mark")
        last = next(((j, v) for j, v in reversed(list(enumerate(s.values))) if v is not None), None)
        if last is not None:
            ends.append((y(last[1]) + 4, f"{s.name} {fmt(last[1])}", colour))
    for at, label, colour in _spread(ends):
        chart.add("text", label, x=right + 6, y=at, fill=colour, font_size=11)
    return chart


def _spread(labels: list[tuple[float, str, str]], gap: float = 13.0):
    """End-of-line labels moved apart vertically so that none overlaps the one above."""
    placed: list[tuple[float, str, str]] = []
    for at, label, colour in sorted(labels):
        if placed and at - placed[-1][0] < gap:
            at = placed[-1][0] + gap
        placed.append((at, label, colour))
    return placed


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    rows: Sequence[tuple[str, float]],
    fmt: Callable[[float], str],
) -> Chart:
    """Horizontal bars, one per row in the given order, value printed at the bar's end."""
    height = TOP + 8 + 22 * max(len(rows), 1)
    chart = Chart(chart_id, title, description, height=height)
    label_w = 250
    top = max((v for _, v in rows), default=1.0) or 1.0
    x = _scale(0, top, label_w, chart.width - 90)
    for i, (label, value) in enumerate(rows):
        y0 = TOP + 22 * i
        chart.add(
            "text",
            _clip(label, 38),
            x=label_w - 6,
            y=y0 + 14,
            text_anchor="end",
            fill=INK,
            font_size=12,
        )
        chart.add(
            "rect",
            x=label_w,
            y=y0 + 3,
            width=max(x(value) - label_w, 1.0),
            height=15,
            fill=PALETTE[0],
            class_="mark",
        )
        chart.add("text", fmt(value), x=x(value) + 6, y=y0 + 14, fill=INK, font_size=11)
    return chart


def timeline(
    chart_id: str,
    title: str,
    description: str,
    start: datetime,
    end: datetime,
    rows: Sequence[tuple[str, Sequence[tuple[datetime, datetime | None, str]]]],
    day_labels: Sequence[tuple[datetime, str]],
) -> Chart:
    """One lane per row (an SLO and scope); each episode a bar from fired to resolved (to the
    end of the span while still firing), coloured by severity."""
    height = TOP + BOTTOM + 24 * max(len(rows), 1)
    chart = Chart(chart_id, title, description, height=height)
    label_w = 290
    x = _scale(start.timestamp(), end.timestamp(), label_w, chart.width - 20)
    for at, label in day_labels:
        chart.add(
            "line",
            x1=x(at.timestamp()),
            x2=x(at.timestamp()),
            y1=TOP,
            y2=height - BOTTOM,
            stroke=GRID,
        )
        chart.add(
            "text",
            label,
            x=x(at.timestamp()),
            y=height - BOTTOM + 16,
            text_anchor="middle",
            fill=MUTED,
            font_size=11,
        )
    for i, (label, episodes) in enumerate(rows):
        y0 = TOP + 24 * i
        chart.add(
            "text",
            _clip(label, 46),
            x=label_w - 6,
            y=y0 + 15,
            text_anchor="end",
            fill=INK,
            font_size=11,
        )
        for fired, resolved, severity in episodes:
            a = x(max(fired, start).timestamp())
            b = x(min(resolved or end, end).timestamp())
            chart.add(
                "rect",
                x=a,
                y=y0 + 4,
                width=max(b - a, 3.0),
                height=14,
                fill=SEVERITY_COLOURS.get(severity, PALETTE[0]),
                class_="mark",
            )
    return chart


def scatter(
    chart_id: str,
    title: str,
    description: str,
    points: Sequence[tuple[float, float, str]],
    x_label: str,
    y_label: str,
    x_fmt: Callable[[float], str],
    y_fmt: Callable[[float], str],
) -> Chart:
    """Labelled points (one per campaign): quality on x, an outcome on y."""
    chart = Chart(chart_id, title, description)
    xs = [p[0] for p in points] or [0.0, 1.0]
    ys = [p[1] for p in points] or [0.0, 1.0]
    xt, yt = nice_ticks(0.0, max(xs)), nice_ticks(min(0.0, min(ys)), max(ys))
    x = _scale(xt[0], xt[-1], LEFT + 6, chart.width - RIGHT)
    y = _scale(yt[0], yt[-1], chart.height - BOTTOM, TOP)
    _y_axis(chart, yt, y, y_fmt)
    for t in xt:
        chart.add(
            "text",
            x_fmt(t),
            x=x(t),
            y=chart.height - BOTTOM + 16,
            text_anchor="middle",
            fill=MUTED,
            font_size=11,
        )
    chart.add(
        "text",
        x_label,
        x=chart.width - RIGHT + 8,
        y=chart.height - BOTTOM + 16,
        fill=MUTED,
        font_size=11,
    )
    chart.add("text", y_label, x=LEFT, y=TOP - 2, fill=MUTED, font_size=11)
    placed: list[tuple[float, float]] = []
    for i, (px, py, label) in enumerate(points):
        colour = PALETTE[i % len(PALETTE)]
        chart.add("circle", cx=x(px), cy=y(py), r=5, fill=colour, class_="mark")
        lx, ly = x(px) + 8, y(py) + 4
        while any(abs(lx - ox) < 110 and abs(ly - oy) < 12 for ox, oy in placed):
            ly += 12  # a label that would overlap one already placed moves down a line
        placed.append((lx, ly))
        chart.add("text", _clip(label, 22), x=lx, y=ly, fill=colour, font_size=11)
    return chart


def strip_chart(
    chart_id: str,
    title: str,
    description: str,
    columns: Sequence[tuple[str, Sequence[float], float | None, float | None]],
    threshold: tuple[float, str],
    fmt: Callable[[float], str],
) -> Chart:
    """Per column (a week) every value as a dot, with P50 and P95 ticks, and a dashed
    threshold line (the slow-review limit)."""
    chart = Chart(chart_id, title, description)
    values = [v for _, vs, _, _ in columns for v in vs] + [threshold[0]]
    ticks = nice_ticks(0.0, max(values))
    y = _scale(ticks[0], ticks[-1], chart.height - BOTTOM, TOP)
    n = max(len(columns), 1)
    x = _scale(0, max(n - 1, 1), LEFT + 30, chart.width - RIGHT - 30)
    _y_axis(chart, ticks, y, fmt)
    _x_labels(chart, [c[0] for c in columns], x)
    right = chart.width - RIGHT
    chart.add(
        "line",
        x1=LEFT,
        x2=right,
        y1=y(threshold[0]),
        y2=y(threshold[0]),
        stroke=PALETTE[1],
        stroke_dasharray="6 4",
    )
    chart.add(
        "text", threshold[1], x=right + 6, y=y(threshold[0]) + 4, fill=PALETTE[1], font_size=11
    )
    for i, (_, vs, p50, p95) in enumerate(columns):
        cx = x(i) if n > 1 else (LEFT + right) / 2
        for j, v in enumerate(vs):
            jitter = ((j * 7) % 11 - 5) * 1.6  # deterministic spread so equal values stay visible
            chart.add(
                "circle",
                cx=cx + jitter,
                cy=y(v),
                r=2.5,
                fill=PALETTE[0],
                fill_opacity=0.7,
                class_="mark",
            )
        # P50 labelled on the left, P95 on the right: close values never overlap.
        for value, label, side in ((p50, "P50", -1), (p95, "P95", 1)):
            if value is not None:
                chart.add(
                    "line",
                    x1=cx - 16,
                    x2=cx + 16,
                    y1=y(value),
                    y2=y(value),
                    stroke=INK,
                    stroke_width=2,
                )
                chart.add(
                    "text",
                    label,
                    x=cx + 19 * side,
                    y=y(value) + 4,
                    text_anchor="start" if side > 0 else "end",
                    fill=INK,
                    font_size=10,
                )
    return chart


def _clip(text: str, limit: int) -> str:
    """A label cut to fit its lane (the full text is in the table next to the chart)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
