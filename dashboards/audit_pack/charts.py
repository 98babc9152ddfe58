"""Inline SVG interval charts for the report: a point and its 95% interval per row, beside a
band or a target line. Static markup (no script, no external file): the same drawing in the
browser and in the printed PDF. Every label is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


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
) -> Markup:
    """Proportions (0-1) on a percent axis."""
    shown = [i for i in items if i.value is not None]
    if not shown:
        return Markup("")
    ends = [x for i in shown for x in (i.value, i.low, i.high) if x is not None]
    ends += [x for x in (band or ()) if x is not None] + ([target] if target is not None else [])
    lo = max(0.0, min(ends) - 0.05)
    hi = min(1.0, max(ends) + 0.05)
    if hi - lo < 0.1:
        lo, hi = max(0.0, lo - 0.05), min(1.0, hi + 0.05)
    left, width, row_h, top = 150, 470, 22, 24
    height = top + row_h * len(shown) + 30

    def x(v: float) -> float:
        return round(left + (v - lo) / (hi - lo) * width, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {left + width + 20} {height}" width="{left + width + 20}" '
        f'height="{height}"><title>{escape(title)}</title>'
    ]
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
            f"{100 * v:.0f}%</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{left + width}" y1="{axis_y}" y2="{axis_y}" class="axis"/></svg>'
    )
    return Markup("".join(parts))
