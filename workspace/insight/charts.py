"""Bar-chart geometry for the server-side SVG charts; the template draws (and escapes) it.

Coordinates are integers in a fixed viewBox, so no locale ever formats them; labels and
descriptions are translated and formatted for the reader's locale here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

WIDTH, HEIGHT = 664, 236
LEFT, TOP, PLOT_HEIGHT = 48, 24, 160
SLOT, BAR = 48, 32  # 12 slots of 48 units; room on the right for the last week's label
BOTTOM = TOP + PLOT_HEIGHT
LABEL_EVERY = 3  # week labels under every third bar counting back from this week


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    value: int
    value_label: str
    centre: int
    week: date
    week_label: str  # empty when this bar's week is not labelled on the axis


@dataclass(frozen=True)
class Gridline:
    y: int
    label: str


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    description: str
    bars: list[Bar]
    gridlines: list[Gridline]
    value_heading: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = LEFT + 12 * SLOT
    bottom: int = BOTTOM
    axis_label_y: int = BOTTOM + 20


def nice_maximum(value: int) -> int:
    """The smallest of 1, 2, 5 × 10^k (k ≥ 0) that is at least `value`, for round gridlines."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step >= value:
                return factor * step
        step *= 10


def bar_chart(
    *, chart_id: str, title: str, value_heading: str, weeks: list[date], counts: list[int]
) -> BarChart:
    top = nice_maximum(max(counts, default=0))
    bars = []
    for i, (week, value) in enumerate(zip(weeks, counts, strict=True)):
        height = round(PLOT_HEIGHT * value / top)
        x = LEFT + i * SLOT + (SLOT - BAR) // 2
        labelled = (len(weeks) - 1 - i) % LABEL_EVERY == 0
        bars.append(
            Bar(
                x=x,
                y=BOTTOM - height,
                width=BAR,
                height=height,
                value=value,
                value_label=number_format(value),
                centre=x + BAR // 2,
                week=week,
                week_label=date_format(week, "MONTH_DAY_FORMAT") if labelled else "",
            )
        )
    gridlines = [Gridline(y=BOTTOM, label=number_format(0))]
    if top % 2 == 0:
        gridlines.append(Gridline(y=BOTTOM - PLOT_HEIGHT // 2, label=number_format(top // 2)))
    gridlines.append(Gridline(y=TOP, label=number_format(top)))
    return BarChart(
        id=chart_id,
        title=title,
        description=_describe(weeks, counts),
        bars=bars,
        gridlines=gridlines,
        value_heading=value_heading,
    )


def _describe(weeks: list[date], counts: list[int]) -> str:
    total = sum(counts)
    peak = max(counts, default=0)
    first = date_format(weeks[0], "SHORT_DATE_FORMAT") if weeks else ""
    last = date_format(weeks[-1], "SHORT_DATE_FORMAT") if weeks else ""
    text = _(
        "Bar chart of %(weeks)s weeks, from the week of %(first)s to the week of %(last)s. "
        "Total: %(total)s."
    ) % {
        "weeks": number_format(len(weeks)),
        "first": first,
        "last": last,
        "total": number_format(total),
    }
    if peak:
        busiest = date_format(weeks[counts.index(peak)], "SHORT_DATE_FORMAT")
        text += " " + _("Highest: %(peak)s, in the week of %(week)s.") % {
            "peak": number_format(peak),
            "week": busiest,
        }
    return text
