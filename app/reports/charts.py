"""Charts for the results page, as SVG written here.

Not pygal: its SVG carries a <style> element, inline style attributes and a script
from a CDN, and the site's Content-Security-Policy refuses all three. These charts use
presentation attributes (fill, font-size...), which the policy allows, and no script.
Every piece is built with `Markup.format`, which escapes what it is given, so a name
cannot break out of its <text> element. Each chart is an image with a title and a
description for screen readers, and the page shows the same figures in a table.
"""

import math
from dataclasses import dataclass

from markupsafe import Markup

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
INK = "#1b2430"
MUTED = "#596373"
TRACK = "#e8ecf1"
# Fills with at least 3:1 contrast against white (non-text contrast, WCAG 1.4.11).
COLOURS = ("#0c2f57", "#0b57a4", "#1a7f4b", "#8a4b08")

WIDTH = 520
LABEL_WIDTH = 150
VALUE_WIDTH = 100
BAR_AREA = WIDTH - LABEL_WIDTH - VALUE_WIDTH


@dataclass(frozen=True)
class FunnelStep:
    label: str
    count: int


@dataclass(frozen=True)
class Series:
    """One measure drawn for every category, e.g. the act rate of each region."""

    label: str
    values: list[float | None]  # fractions of 1; None when there is nothing to divide


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _svg(chart_id: str, title: str, description: str, height: float, body: list[Markup]) -> Markup:
    opening = Markup(
        '<svg class="chart" id="{id}" xmlns="http://www.w3.org/2000/svg" '
        'viewBox="0 0 {width} {height:.0f}" width="100%" preserveAspectRatio="xMinYMin meet" '
        'role="img" aria-labelledby="{id}-title {id}-desc" '
        'font-family="{font}" font-size="15" fill="{ink}">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{description}</desc>'
    ).format(
        id=chart_id,
        width=WIDTH,
        height=height,
        font=FONT,
        ink=INK,
        title=title,
        description=description,
    )
    return opening + Markup("").join(body) + Markup("</svg>")


def _text(x: float, y: float, text: str, *, fill: str = INK) -> Markup:
    return Markup(
        '<text x="{x:.1f}" y="{y:.1f}" fill="{fill}" dominant-baseline="middle">{text}</text>'
    ).format(x=x, y=y, fill=fill, text=text)


def _rect(x: float, y: float, width: float, height: float, fill: str, radius: int = 3) -> Markup:
    return Markup(
        '<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
        'fill="{fill}" rx="{radius}"/>'
    ).format(x=x, y=y, width=width, height=height, fill=fill, radius=radius)


def funnel_chart(chart_id: str, title: str, steps: list[FunnelStep]) -> Markup:
    """Horizontal bars, each as long as its share of the first step."""
    row, gap, top = 34, 12, 8
    first = steps[0].count if steps else 0
    body: list[Markup] = []
    sentences: list[str] = []
    for index, step in enumerate(steps):
        y = top + index * (row + gap)
        share = step.count / first if first else 0.0
        shown = f"{step.count:,}" if index == 0 else f"{step.count:,} ({_percent(share)})"
        body += [
            _text(0, y + row / 2, step.label),
            _rect(LABEL_WIDTH, y, BAR_AREA, row, TRACK),
            _rect(LABEL_WIDTH, y, BAR_AREA * share, row, COLOURS[index % len(COLOURS)]),
            _text(LABEL_WIDTH + BAR_AREA + 8, y + row / 2, shown),
        ]
        sentences.append(f"{step.label}: {shown}")
    height = top * 2 + len(steps) * (row + gap) - gap
    return _svg(chart_id, title, "; ".join(sentences) + ".", max(height, row), body)


def grouped_bar_chart(
    chart_id: str, title: str, categories: list[str], series: list[Series]
) -> Markup:
    """Rates side by side for each category (0 to 100%), with a legend above. Category
    names get a line of their own above their bars, so long ones ("Middle East and
    North Africa") never run into the bars."""
    bar, inner_gap, name_line, group_gap, legend = 18, 4, 24, 14, 34
    bar_area = WIDTH - VALUE_WIDTH
    group_height = name_line + len(series) * (bar + inner_gap) - inner_gap
    body: list[Markup] = []
    x = 0.0
    for index, measure in enumerate(series):
        body += [
            _rect(x, 6, 14, 14, COLOURS[(index + 1) % len(COLOURS)], radius=2),
            _text(x + 20, 13, measure.label),
        ]
        x += 40 + 9 * len(measure.label)
    sentences: list[str] = []
    for position, category in enumerate(categories):
        y0 = legend + position * (group_height + group_gap)
        body.append(_text(0, y0 + name_line / 2 - 2, category))
        parts = []
        for index, measure in enumerate(series):
            value = measure.values[position] if position < len(measure.values) else None
            y = y0 + name_line + index * (bar + inner_gap)
            # A rate above 1 (more actions than messages delivered) stops at the end.
            share = min(max(value or 0.0, 0.0), 1.0)
            body += [
                _rect(0, y, bar_area, bar, TRACK, radius=2),
                _rect(0, y, bar_area * share, bar, COLOURS[(index + 1) % len(COLOURS)], radius=2),
                _text(
                    bar_area + 8, y + bar / 2, _percent(value), fill=MUTED if value is None else INK
                ),
            ]
            parts.append(f"{measure.label.lower()} {_percent(value)}")
        sentences.append(f"{category}: {', '.join(parts)}")
    height = legend + len(categories) * (group_height + group_gap) - group_gap
    return _svg(chart_id, title, "; ".join(sentences) + ".", height, body)


@dataclass(frozen=True)
class Column:
    """One bar of a column chart: a period ("3 Mar") and what was counted in it."""

    label: str
    count: int


def column_chart(
    chart_id: str, title: str, columns: list[Column], *, unit: tuple[str, str]
) -> Markup:
    """Counts over time as vertical bars, oldest on the left, each with its count above
    it. Period names go under every bar when they fit, else under every other one, or
    every third... (the description and the page's table name them all). `unit` is what
    is counted, in the singular and the plural: ("person", "people")."""
    top, value_line, name_line, small = 8, 20, 24, 13
    plot = 150
    slot = WIDTH / max(len(columns), 1)
    bar = min(slot * 0.7, 48)
    name_every = max(math.ceil(9 * max((len(c.label) for c in columns), default=1) / slot), 1)
    highest = max((column.count for column in columns), default=0)
    baseline = top + value_line + plot
    body: list[Markup] = [_rect(0, baseline, WIDTH, 1, MUTED, radius=0)]
    for index, column in enumerate(columns):
        centre = slot * index + slot / 2
        height = plot * column.count / highest if highest else 0.0
        body.append(_rect(centre - bar / 2, baseline - height, bar, height, COLOURS[1], radius=2))
        body.append(
            Markup(
                '<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="{size}">'
                "{text}</text>"
            ).format(x=centre, y=baseline - height - 6, size=small, text=f"{column.count:,}")
        )
        if index % name_every == 0:
            # Kept inside the drawing: a centred name under the first or last bar would
            # otherwise lose its outer letters ("2 Mar" shown as "Mar").
            half = len(column.label) * small * 0.3
            name_x = min(max(centre, half), WIDTH - half)
            body.append(
                Markup(
                    '<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="{size}" '
                    'fill="{fill}">{text}</text>'
                ).format(
                    x=name_x, y=baseline + name_line - 6, size=small, fill=MUTED, text=column.label
                )
            )
    description = "; ".join(
        f"{column.label}: {column.count:,} {unit[0] if column.count == 1 else unit[1]}"
        for column in columns
    )
    return _svg(chart_id, title, description + ".", baseline + name_line, body)
