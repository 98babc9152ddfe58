"""Plotly helpers shared by every page: one colour-blind-safe palette, CI bands and error
bars, published bands, lab-target lines, and the one serialisation step.

Figures are plain dicts (``Figure``, ``subplots``, ``Scatter``, ... from
dashboards/site/plotly_spec.py: go.Figure's interface and output, without its object tree,
which cost about 50 ms a figure); ``to_spec`` validates each with plotly.py's validators.

Text rule: page code writes *plain text* (a newline for a line break) into figures, and
``to_spec`` HTML-escapes every string of the figure once, on the way out. Plotly draws a
subset of HTML in labels (``<b>``, ``<a href>``, ...); escaping makes a kit name such as
``<img src=x onerror=...>`` show as text (Plotly decodes the entities into SVG text nodes).
Nothing else may put markup into a figure.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import NamedTuple

from _plotly_utils.utils import PlotlyJSONEncoder

from dashboards.report import formatting as fmt
from dashboards.site.plotly_spec import Figure, Spec, trace, validate
from dashboards.site.plotly_spec import subplots as subplots  # for the pages, with Figure
from warehouse import catalog

# The trace types the pages draw, called as go.Scatter(...) etc. are (a dict comes back).
Scatter = partial(trace, "scatter")
Bar = partial(trace, "bar")
Heatmap = partial(trace, "heatmap")
Sankey = partial(trace, "sankey")

# --- colours: Okabe & Ito (2008), distinguishable with the common colour-vision deficiencies.
BLACK = "#000000"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#999999"
LIGHT_GREY = "#C8C8C8"
COLORWAY = [BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, BLACK, GREY]

VALUE = BLUE  # the figure of the selected lab (or the network)
OTHER = LIGHT_GREY  # the other labs, for comparison
TARGET = VERMILLION  # a lab target line (dashed)
FLAG = VERMILLION  # a flagged point (also a distinct marker symbol: never colour alone)
BAND = "rgba(120,120,120,0.22)"  # a published benchmark band (context, not a limit)
BAND_LINE = "#6E6E6E"
LIMIT = BLACK  # control limits, guideline limits


def fill(colour: str, alpha: float = 0.18) -> str:
    """A translucent fill of a palette colour (for CI bands)."""
    c = colour.lstrip("#")
    r, g, b = (int(c[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


class Term(NamedTuple):
    """How a code of a vocabulary is drawn: its words and its colour."""

    label: str
    colour: str


@dataclass(frozen=True)
class Vocabulary:
    """A classification several pages draw (HER2 categories, final statuses, comparisons): its
    codes in drawing order, each with the words and the colour it has on every page. Made
    from one term per code (``of``), so no code has a colour without words or the reverse."""

    order: tuple[str, ...]
    labels: dict[str, str]
    colours: dict[str, str]

    @classmethod
    def of(cls, terms: dict[str, Term], order: Sequence[str] | None = None) -> Vocabulary:
        """From ``code -> Term``, in the terms' order or in ``order`` (a contract's tuple),
        which must name the same codes."""
        codes = tuple(terms if order is None else order)
        if set(codes) != set(terms):
            raise ValueError(f"vocabulary terms {sorted(terms)} do not match the order {codes}")
        return cls(codes, {c: terms[c].label for c in codes}, {c: terms[c].colour for c in codes})

    @classmethod
    def coded(cls, colours: dict[str, str], order: Sequence[str] | None = None) -> Vocabulary:
        """Codes that are their own words (the final statuses): ``code -> colour``."""
        return cls.of({code: Term(code, colour) for code, colour in colours.items()}, order)


# The contract's HER2 categories, in the contract's order; a category keeps its colour everywhere.
CATEGORY = Vocabulary.of(
    {
        "positive": Term("HER2-positive", VERMILLION),
        "low": Term("HER2-low", ORANGE),
        "ultralow": Term("HER2-ultralow", YELLOW),
        "null": Term("HER2-null (IHC 0, no staining)", SKY),
        "zero_unspecified": Term("IHC 0, % stained not recorded", BLUE),
        "negative_unspecified": Term("HER2-negative by ISH alone (no IHC)", LIGHT_GREY),
        "equivocal": Term("equivocal", PURPLE),
        "indeterminate": Term("indeterminate", GREY),
    },
    catalog.HER2_CATEGORIES,
)
# The contract's final statuses, in the contract's order.
STATUS = Vocabulary.coded(
    {"positive": VERMILLION, "negative": SKY, "equivocal": PURPLE, "indeterminate": GREY},
    catalog.FINAL_STATUSES,
)
# The pairs marts.agreement compares, in the order the Concordance page draws them.
COMPARISON = Vocabulary.of(
    {
        "ihc_vs_ish": Term("IHC vs ISH (same specimen)", BLUE),
        "lab_vs_reference": Term("Lab vs reference laboratory", GREEN),
        "observer_vs_observer": Term("Pathologist vs second reader (IHC score)", PURPLE),
        "primary_vs_metastasis": Term("Primary vs metastasis (status)", ORANGE),
    }
)
IHC_SCORES = ("0", "1+", "2+", "3+")

# The page-wide look, sent once per page (figures carry no template of their own).
TEMPLATE = {
    "layout": {
        "font": {"family": "Segoe UI, Helvetica, Arial, sans-serif", "size": 13, "color": "#222"},
        "colorway": COLORWAY,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "closest",
        "hoverlabel": {"align": "left", "bgcolor": "#ffffff", "font": {"size": 12}},
        "title": {
            "x": 0,
            "xanchor": "left",
            "xref": "paper",
            "y": 0.98,
            "yanchor": "top",
            "yref": "container",
            "font": {"size": 16},
        },
        "legend": {
            "orientation": "h",
            "yref": "container",
            "y": 0,
            "yanchor": "bottom",
            "x": 0,
        },
        "xaxis": {
            "gridcolor": "#e6e6e6",
            "linecolor": "#888",
            "zeroline": False,
            "automargin": True,
        },
        "yaxis": {
            "gridcolor": "#e6e6e6",
            "linecolor": "#888",
            "zeroline": False,
            "automargin": True,
        },
        "margin": {"l": 70, "r": 30, "t": 100, "b": 60},
    }
}


# --- numbers for the page JSON.
def rnd(x: float | None, digits: int = 5) -> float | None:
    """Round for the page (smaller JSON); None and NaN become null."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else round(x, digits)


def rounded(values: Iterable[float | None], digits: int = 5) -> list[float | None]:
    return [rnd(v, digits) for v in values]


# --- figure pieces.
def new_figure(
    title: str, *, subtitle: str | None = None, height: int = 420, **layout: object
) -> Figure:
    """An empty figure with the site's title style (template comes from the page)."""
    title_spec: dict = {"text": title}
    if subtitle:
        title_spec["subtitle"] = {"text": subtitle, "font": {"size": 12, "color": "#555"}}
    fig = Figure()  # no template: the page's TEMPLATE applies in the browser
    fig.update_layout(title=title_spec, height=height, **layout)
    return fig


def set_title(fig: Figure, title: str, *, subtitle: str, height: int, **layout: object) -> None:
    """Title, subtitle and height of a figure ``new_figure`` did not make (``subplots``)."""
    fig.update_layout(
        title={"text": title, "subtitle": {"text": subtitle}}, height=height, **layout
    )


def ci_band(
    fig: Figure,
    x: Sequence,
    y: Sequence[float | None],
    low: Sequence[float | None],
    high: Sequence[float | None],
    *,
    name: str,
    colour: str = VALUE,
    hovertext: Sequence[str] | None = None,
    scale: float = 1.0,
    row: int | None = None,
    col: int | None = None,
    showlegend: bool = True,
    band_name: str = "95% CI (Wilson)",
    marker_symbols: Sequence[str] | None = None,
) -> None:
    """A line with markers and its 95% CI as a shaded band (upper, lower filled to it)."""
    group = name
    where = {"row": row, "col": col} if row is not None else {}
    # the band: its upper edge, then its lower edge filled up to it (Plotly's 'tonexty')
    fig.add_trace(_band_edge(x, high, scale, group, showlegend=False), **where)
    fig.add_trace(
        _band_edge(
            x,
            low,
            scale,
            group,
            fill="tonexty",
            fillcolor=fill(colour),
            name=f"{name}: {band_name}",
            showlegend=showlegend,
        ),
        **where,
    )
    marker: dict = {"color": colour, "size": 7}
    if marker_symbols is not None:
        marker["symbol"] = list(marker_symbols)
    lone = sum(v is not None for v in y) == 1  # a band needs two points: error bars instead
    plus, minus = error_bars(list(y), list(low), list(high), scale) if lone else (None, None)
    fig.add_trace(
        Scatter(
            error_y={"type": "data", "array": plus, "arrayminus": minus, "width": 5}
            if lone
            else None,
            x=list(x),
            y=_scaled(y, scale),
            mode="lines+markers",
            line={"color": colour, "width": 2},
            marker=marker,
            name=name,
            hovertext=list(hovertext) if hovertext is not None else None,
            hoverinfo="text" if hovertext is not None else None,
            showlegend=showlegend,
            legendgroup=group,
            connectgaps=False,
        ),
        **where,
    )


def _scaled(values: Iterable[float | None], scale: float) -> list[float | None]:
    """Values times ``scale`` (a proportion as a percent), rounded for the page; None stays."""
    return rounded(v * scale if v is not None else None for v in values)


def _band_edge(
    x: Sequence, values: Sequence[float | None], scale: float, group: str, **style: object
) -> Spec:
    """One edge of a CI band: an invisible line, skipped by the hover, in the band's legend
    group; ``style`` fills it and names it in the legend."""
    return Scatter(
        x=list(x),
        y=_scaled(values, scale),
        mode="lines",
        line={"width": 0},
        hoverinfo="skip",
        legendgroup=group,
        **style,
    )


def error_bars(
    values: Sequence[float | None],
    low: Sequence[float | None],
    high: Sequence[float | None],
    scale: float = 1.0,
) -> tuple[list, list]:
    """Plotly's asymmetric error arrays (plus, minus) from a value and its interval."""
    plus, minus = [], []
    for v, lo, hi in zip(values, low, high, strict=True):
        if v is None or lo is None or hi is None:
            plus.append(None)
            minus.append(None)
        else:
            plus.append(rnd((hi - v) * scale))
            minus.append(rnd((v - lo) * scale))
    return plus, minus


def _span(
    axis: str,
    low: float,
    high: float,
    *,
    xref: str,
    yref: str,
    start: float | str | None = None,
    end: float | str | None = None,
) -> dict:
    """Where a band or a reference line lies: from ``low`` to ``high`` on ``axis`` ('y': a
    horizontal band or line, 'x': a vertical one), and across the plot on the other axis (its
    whole domain, or from ``start`` to ``end`` in data units)."""
    across, along = ("x", "y") if axis == "y" else ("y", "x")
    ref = {"x": xref, "y": yref}
    return {
        f"{across}ref": f"{ref[across]} domain" if start is None else ref[across],
        f"{across}0": 0 if start is None else start,
        f"{across}1": 1 if end is None else end,
        f"{along}ref": ref[along],
        f"{along}0": low,
        f"{along}1": high,
    }


def band_shape(
    *,
    low: float,
    high: float,
    name: str,
    axis: str = "y",
    xref: str = "x",
    yref: str = "y",
    showlegend: bool = True,
    x0: float | str | None = None,
    x1: float | str | None = None,
) -> dict:
    """A published band as a shaded rectangle across the plot (or between x0 and x1 on the
    other axis), listed in the legend under its own name (its source)."""
    shape = {"type": "rect", **_span(axis, low, high, xref=xref, yref=yref, start=x0, end=x1)}
    shape.update(
        fillcolor=BAND,
        line={"width": 1, "color": BAND_LINE, "dash": "dot"},
        layer="below",
        name=name,
        showlegend=showlegend,
    )
    return shape


def line_shape(
    value: float,
    *,
    name: str,
    colour: str = TARGET,
    axis: str = "y",
    xref: str = "x",
    yref: str = "y",
    dash: str = "dash",
    showlegend: bool = True,
) -> dict:
    """A horizontal (axis='y') or vertical (axis='x') reference line across the plot,
    named in the legend (e.g. 'lab target (ASCO/CAP 2007 criterion): 95%')."""
    spec = _span(axis, value, value, xref=xref, yref=yref)
    spec.update(
        type="line",
        line={"color": colour, "width": 2, "dash": dash},
        name=name,
        showlegend=showlegend,
    )
    return spec


class Estimates(NamedTuple):
    """Point estimates with their 95% CI, one per row of a figure: proportions, or kappas."""

    values: list[float | None]
    low: list[float | None]
    high: list[float | None]

    @classmethod
    def of(cls, rows: Sequence[dict], value: str, low: str, high: str, per: int = 1) -> Estimates:
        """The columns ``value``, ``low`` and ``high`` of the rows, divided by ``per`` (100 for
        columns in percent); None stays None."""

        def column(key: str) -> list[float | None]:
            return [None if r[key] is None else r[key] / per for r in rows]

        return cls(column(value), column(low), column(high))


def forest_traces(
    *,
    labels: Sequence[str],
    estimates: Estimates,
    n: Sequence[int],
    hovertext: Sequence[str],
    small: Sequence[bool],
    colours: Sequence[str] | str = VALUE,
    name: str = "estimate with 95% CI",
    scale: float = 100.0,
    n_at: float = 101.0,
) -> list[Spec]:
    """A forest plot column: points with horizontal 95% CI bars, one row per label, and the
    row's n written at ``n_at`` (right of the scale). Small-n rows get an open marker and
    'small n' (shape and words, never colour alone; ``small`` per row, from the small-n rule
    of marts.reference_bands)."""
    plus, minus = error_bars(estimates.values, estimates.low, estimates.high, scale)
    points = Scatter(
        x=_scaled(estimates.values, scale),
        y=list(labels),
        mode="markers",
        marker={
            "size": 10,
            "color": colours if isinstance(colours, str) else list(colours),
            "symbol": ["circle-open" if s else "circle" for s in small],
            "line": {"width": 2},
        },
        error_x={"type": "data", "array": plus, "arrayminus": minus, "thickness": 1.5, "width": 4},
        hovertext=list(hovertext),
        hoverinfo="text",
        name=name,
        showlegend=False,
    )
    counts = Scatter(
        x=[n_at] * len(labels),
        y=list(labels),
        mode="text",
        text=[
            f"n={fmt.count(k)}" + (" · small n" if s else "") for k, s in zip(n, small, strict=True)
        ],
        textposition="middle right",
        textfont={"size": 11, "color": "#444"},
        hoverinfo="skip",
        showlegend=False,
        cliponaxis=False,
    )
    return [points, counts]


class Measure(NamedTuple):
    """A column of rows drawn as a line: the column, its name in the legend, colour, dash."""

    column: str
    name: str
    colour: str
    dash: str = "solid"


def measure_lines(
    x: Sequence[str],
    rows: Sequence[dict],
    measures: Sequence[Measure],
    *,
    digits: int,
    hover: Callable[[dict, Measure], str],
    marker: dict | None = None,
) -> list[Spec]:
    """One line with markers per measure over the same x (one per row: quarters, months),
    values rounded to ``digits``; ``hover(row, measure)`` says each point in words."""
    return [
        Scatter(
            x=list(x),
            y=rounded((r[m.column] for r in rows), digits),
            mode="lines+markers",
            name=m.name,
            line={"color": m.colour, "dash": m.dash},
            marker=marker,
            hovertext=[hover(r, m) for r in rows],
            hoverinfo="text",
        )
        for m in measures
    ]


def count_bars(
    rows: Iterable[dict],
    *,
    x: str,
    series: str,
    n: str,
    vocabulary: Vocabulary,
    hover: Callable[[date, str, int], str],
) -> list[Spec]:
    """The bars of a stacked count chart from rows of counts (the date ``x``, the code
    ``series``, the count ``n``): one trace per code of ``vocabulary`` (its words in the
    legend, its colour), every date of the rows on the axis, 0 where a code has no row;
    ``hover(date, code, count)`` says each bar in words."""
    counts = {(r[x], r[series]): r[n] for r in rows}
    dates = sorted({d for d, _ in counts})
    bars = []
    for code in vocabulary.order:
        ys = [counts.get((d, code), 0) for d in dates]
        bars.append(
            Bar(
                x=[d.isoformat() for d in dates],
                y=ys,
                name=vocabulary.labels[code],
                marker={"color": vocabulary.colours[code]},
                hovertext=[hover(d, code, k) for d, k in zip(dates, ys, strict=True)],
                hoverinfo="text",
            )
        )
    return bars


def count_heatmap(
    *,
    z: list[list],
    x: list[str],
    y: list[str],
    text: list[list[str]],
    hovertext: list[list[str]],
    colorbar: dict,
    **scale: object,
) -> Spec:
    """A cross-table as a heatmap: colour from ``z`` (Cividis: ordered light to dark, readable
    with the common colour-vision deficiencies), ``text`` written in each cell, the hover in
    words, a gap between cells; ``scale`` fixes the colour range (zmin, zmax)."""
    return Heatmap(
        z=z,
        x=x,
        y=y,
        text=text,
        texttemplate="%{text}",
        hovertext=hovertext,
        hoverinfo="text",
        colorscale="Cividis",
        colorbar=colorbar,
        xgap=2,
        ygap=2,
        **scale,
    )


def cell_outline(column: int, row: int, *, colour: str, width: float) -> dict:
    """A rectangle around one cell of a heatmap (by index: a cell is one unit wide)."""
    return {
        "type": "rect",
        "x0": column - 0.5,
        "x1": column + 0.5,
        "y0": row - 0.5,
        "y1": row + 0.5,
        "line": {"color": colour, "width": width},
    }


def pct_axis(low: float, high: float = 100.0) -> dict:
    """A percent axis from ``low`` (rounded down to 5) to ``high``, ticks only inside."""
    start = max(0.0, math.floor(low / 5.0) * 5.0)
    span = high - start
    step = 5.0 if span <= 30 else 10.0 if span <= 60 else 20.0
    ticks = []
    t = start
    while t <= high + 1e-9:
        ticks.append(t)
        t += step
    return {"tickmode": "array", "tickvals": ticks, "ticktext": [f"{t:g}%" for t in ticks]}


# --- serialisation.
_EXTRA = html.escape("<extra></extra>", quote=False)


def _escape(value: object, key: str = "") -> object:
    if isinstance(value, str):
        out = html.escape(value, quote=False).replace("\n", "<br>")
        if key == "hovertemplate":  # the one tag a template needs: hide the trace name box
            out = out.replace(_EXTRA, "<extra></extra>")
        return out
    if isinstance(value, dict):
        return {k: _escape(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape(v, key) for v in value]
    return value


LEGEND_WIDTH_PX = 1000  # a conservative figure width for laying out the legend rows
AXIS_ROOM_PX = 75  # ticks and title of an x axis, unless the figure sets margin.b itself
LEGEND_ROW_PX = 26
NO_LEGEND = {"heatmap", "sankey", "table"}


def _legend_rows(data: list[dict], layout: dict) -> int:
    """How many rows the horizontal legend takes (Plotly wraps entries at the width)."""
    if layout.get("showlegend") is False:
        return 0
    names = [
        t["name"]
        for t in data
        if t.get("name") and t.get("showlegend") is not False and t.get("type") not in NO_LEGEND
    ] + [sh["name"] for sh in layout.get("shapes", []) if sh.get("showlegend") and sh.get("name")]
    if len(names) < 2 and layout.get("showlegend") is not True:
        return 0
    rows, used = 1, 0.0
    for name in names:
        width = 45 + 6.6 * len(name)
        if used and used + width > LEGEND_WIDTH_PX:
            rows, used = rows + 1, width
        else:
            used += width
    return rows


def to_spec(fig: Figure) -> dict:
    """The figure as {data, layout} for the page: validated by plotly.py's validators
    (plotly_spec.validate: what go.Figure checks, on every property), without a template
    (the page sends one), room at the bottom for the legend under the x axis (Plotly's
    automargin makes room for either, not both), every string HTML-escaped (see the module
    docstring)."""
    spec = validate(fig.to_plotly_json())
    plain = json.loads(json.dumps(spec, cls=PlotlyJSONEncoder))
    rows = _legend_rows(plain["data"], plain["layout"])
    if rows:
        margin = plain["layout"].setdefault("margin", {})
        margin["b"] = margin.get("b", AXIS_ROOM_PX) + LEGEND_ROW_PX * rows + 10
        plain["layout"]["height"] = plain["layout"].get("height", 450) + LEGEND_ROW_PX * rows
    return _escape(plain)  # type: ignore[return-value]


def script_json(value: object) -> str:
    """JSON safe inside an HTML <script> element: no '<', '>' or '&' survives literally, so
    no string can close the element or open a comment; U+2028/2029 escaped for old parsers."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
