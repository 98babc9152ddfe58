"""Inline SVG interval charts for the report: a point and its 95% interval per row, beside a
band or a target line. Static markup (no script, no external file): the same drawing in the
browser and in the printed PDF. Every label is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


def _svg_open(width: float, height: float, title: str) -> str:
    """The opening of a chart's <svg> element, drawn at its own size (1 user unit = 1 px), with
    its title as the accessible name (and the tooltip); the caller closes the element."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><title>{escape(title)}</title>'
    )


@dataclass(frozen=True)
class Item:
    label: str
    value: float | None
    low: float | None
    high: float | None


def interval_chart(
    items: Sequence[Item],
    *,
    title: str,
    band: tuple[float | None, float | None] | None = None,
    band_label: str = "",
    target: float | None = None,
    target_label: str = "",
    kappa: bool = False,
) -> Markup:
    """Proportions (0-1) on a percent axis; with ``kappa``, kappas (-1 to 1) on a plain axis."""
    shown = [i for i in items if i.value is not None]
    if not shown:
        return Markup("")
    floor = -1.0 if kappa else 0.0
    ends = [x for i in shown for x in (i.value, i.low, i.high) if x is not None]
    ends += [x for x in (band or ()) if x is not None] + ([target] if target is not None else [])
    lo = max(floor, min(ends) - 0.05)
    hi = min(1.0, max(ends) + 0.05)
    if hi - lo < 0.1:
        lo, hi = max(floor, lo - 0.05), min(1.0, hi + 0.05)
    left, width, row_h, top = 150, 470, 22, 24
    height = top + row_h * len(shown) + 30

    def x(v: float) -> float:
        return round(left + (v - lo) / (hi - lo) * width, 1)

    parts = [_svg_open(left + width + 20, height, title)]
    if band and band[0] is not None and band[1] is not None:
        bx, bw = x(band[0]), max(1.5, x(band[1]) - x(band[0]))
        parts.append(
            f'<rect x="{bx}" y="{top - 6}" width="{bw}" height="{row_h * len(shown) + 6}" '
            f'class="band"><title>{escape(band_label)}</title></rect>'
        )
    if target is not None:
        tx = x(target)
        parts.append(
            f'<line x1="{tx}" x2="{tx}" y1="{top - 8}" y2="{top + row_h * len(shown)}" '
            f'class="target"><title>{escape(target_label)}</title></line>'
        )
    for n, item in enumerate(shown):
        y = top + row_h * n + row_h / 2
        parts.append(
            f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" class="label">'
            f"{escape(item.label)}</text>"
        )
        if item.low is not None and item.high is not None:
            parts.append(
                f'<line x1="{x(item.low)}" x2="{x(item.high)}" y1="{y}" y2="{y}" class="ci"/>'
            )
        parts.append(f'<circle cx="{x(item.value)}" cy="{y}" r="4" class="point"/>')
    axis_y = top + row_h * len(shown) + 4
    for k in range(6):
        v = lo + (hi - lo) * k / 5
        parts.append(
            f'<text x="{x(v)}" y="{axis_y + 16}" text-anchor="middle" class="tick">'
            + (f"{v:.2f}</text>" if kappa else f"{100 * v:.0f}%</text>")
        )
    parts.append(
        f'<line x1="{left}" x2="{left + width}" y1="{axis_y}" y2="{axis_y}" class="axis"/></svg>'
    )
    return Markup("".join(parts))


@dataclass(frozen=True)
class FunnelPoint:
    label: str
    n: int
    rate: float
    limit_low: float | None
    limit_high: float | None


def funnel_chart(points: Sequence[FunnelPoint], *, centre: float | None, title: str) -> Markup:
    """A funnel plot: each reader's rate (y, percent) at its n (x), the laboratory's rate as
    the centre line and the control limits at each reader's n joined into the funnel. Every
    number drawn is a row of metrics.csv (the limits are the rows' targets)."""
    shown = sorted((p for p in points if p.n > 0), key=lambda p: (p.n, p.label))
    if not shown:
        return Markup("")
    ends = [v for p in shown for v in (p.rate, p.limit_low, p.limit_high) if v is not None]
    ends += [centre] if centre is not None else []
    lo, hi = max(0.0, min(ends) - 0.03), min(1.0, max(ends) + 0.03)
    n_max = max(p.n for p in shown) * 1.08
    left, width, top, plot_h = 60, 540, 24, 220
    height = top + plot_h + 40

    def x(n: float) -> float:
        return round(left + n / n_max * width, 1)

    def y(v: float) -> float:
        return round(top + (hi - v) / (hi - lo) * plot_h, 1)

    parts = [_svg_open(left + width + 20, height, title)]
    for side in ("limit_low", "limit_high"):
        line = [(p.n, getattr(p, side)) for p in shown if getattr(p, side) is not None]
        if line:
            coords = " ".join(f"{x(n)},{y(v)}" for n, v in line)
            parts.append(f'<polyline points="{coords}" class="target" fill="none"/>')
    if centre is not None:
        parts.append(
            f'<line x1="{left}" x2="{left + width}" y1="{y(centre)}" y2="{y(centre)}" '
            f'class="axis"><title>laboratory rate {100 * centre:.1f}%</title></line>'
        )
    for p in shown:
        parts.append(
            f'<circle cx="{x(p.n)}" cy="{y(p.rate)}" r="4" class="point">'
            f"<title>{escape(p.label)}: {100 * p.rate:.1f}% of {p.n:,}</title></circle>"
            f'<text x="{x(p.n) + 6}" y="{y(p.rate) - 5}" class="tick">{escape(p.label)}</text>'
        )
    base = top + plot_h
    parts.append(f'<line x1="{left}" x2="{left + width}" y1="{base}" y2="{base}" class="axis"/>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{base}" class="axis"/>')
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(
            f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end" class="tick">'
            f"{100 * v:.0f}%</text>"
        )
        n = n_max * k / 4
        parts.append(
            f'<text x="{x(n)}" y="{base + 16}" text-anchor="middle" class="tick">{n:,.0f}</text>'
        )
    parts.append(
        f'<text x="{left + width / 2}" y="{base + 32}" text-anchor="middle" class="label">'
        "first primaries read (n)</text></svg>"
    )
    return Markup("".join(parts))
