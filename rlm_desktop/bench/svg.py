"""Line charts drawn as inline SVG by hand: reports open offline, in any browser, with no
script and no network."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

COLOURS = {
    "rlm": "#2f7de1",
    "no-subcalls": "#1b7a35",
    "direct": "#b00020",
    "retrieval": "#d98b00",
}
_SPARE = ("#6a3d9a", "#17becf", "#8c564b", "#e377c2")


def colour(name: str, index: int = 0) -> str:
    """The colour of a method, or a spare one for other names."""
    return COLOURS.get(name, _SPARE[index % len(_SPARE)])


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (1 for 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def short(n: float) -> str:
    """2K, 128K, 1M: a token count as a tick label."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000:
        return f"{n / 1_000:g}K"
    return f"{n:g}"


@dataclass(frozen=True)
class Series:
    """One line: its points (x, y), colour and legend label; dashed for a second reading."""

    label: str
    points: list[tuple[float, float]]
    colour: str
    dashed: bool = False


def line_chart(
    series: list[Series],
    title: str,
    y_label: str,
    y_max: float | None = None,
    y_format: Callable[[float], str] = lambda v: f"{v:g}",
    x_label: str = "context length (tokens, log scale)",
) -> str:
    """An SVG line chart, x on a log scale (context lengths), y from 0."""
    width, height = 720, 320
    left, right, top, bottom = 64, 200, 36, 48
    xs = sorted({x for s in series for x, _ in s.points}) or [1.0]
    top_y = y_max or nice_ceiling(max([y for s in series for _, y in s.points] + [0]))
    low, high = math.log10(xs[0]), math.log10(xs[-1])

    def px(x: float) -> float:
        if high == low:
            return left + (width - left - right) / 2
        return left + (width - left - right) * (math.log10(x) - low) / (high - low)

    def py(y: float) -> float:
        return height - bottom - (height - top - bottom) * min(y, top_y) / top_y

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)}' "
        "font-family='sans-serif' font-size='11'>",
        f"<text x='{left}' y='18' font-size='13' font-weight='bold'>{escape(title)}</text>",
    ]
    for i in range(5):
        value = top_y * i / 4
        y = py(value)
        parts.append(
            f"<line x1='{left}' y1='{y:.1f}' x2='{width - right}' y2='{y:.1f}' "
            f"stroke='{'#999' if i == 0 else '#e4e4e4'}'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{y_format(value)}</text>"
        )
    for x in xs:
        parts.append(
            f"<text x='{px(x):.1f}' y='{height - bottom + 16}' text-anchor='middle'>"
            f"{short(x)}</text>"
        )
    parts.append(
        f"<text x='{(left + width - right) / 2:.0f}' y='{height - 8}' text-anchor='middle' "
        f"fill='#555'>{escape(x_label)}</text>"
        f"<text x='14' y='{(top + height - bottom) / 2:.0f}' text-anchor='middle' fill='#555' "
        f"transform='rotate(-90 14 {(top + height - bottom) / 2:.0f})'>{escape(y_label)}</text>"
    )
    solid = [line for line in series if not line.dashed]
    for n, line in enumerate(series):
        points = sorted(line.points)
        dash = " stroke-dasharray='6 4'" if line.dashed else ""
        # Earlier lines are drawn wider, so lines on the same values show as stripes.
        wide = 2 + 3 * (len(solid) - 1 - solid.index(line)) if line in solid else 1.5
        if len(points) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
            parts.append(
                f"<polyline points='{path}' fill='none' stroke='{line.colour}' "
                f"stroke-width='{wide:g}'{dash}/>"
            )
        for x, y in points:
            parts.append(
                f"<circle cx='{px(x):.1f}' cy='{py(y):.1f}' r='{3 if line.dashed else 4}' "
                f"fill='{'white' if line.dashed else line.colour}' stroke='{line.colour}'>"
                f"<title>{escape(line.label)}: {short(x)} tokens, {y_format(y)}</title></circle>"
            )
        legend_y = top + 8 + 18 * n
        parts.append(
            f"<line x1='{width - right + 14}' y1='{legend_y}' x2='{width - right + 40}' "
            f"y2='{legend_y}' stroke='{line.colour}' stroke-width='2'{dash}/>"
            f"<text x='{width - right + 46}' y='{legend_y + 4}'>{escape(line.label)}</text>"
        )
    return "".join(parts) + "</svg>"
