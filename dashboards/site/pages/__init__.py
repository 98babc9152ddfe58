"""The pages, one module each, in navigation order. Each module has ``build(ctx) -> Page``
(the overview also gets the other pages, to gather their readings)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from dashboards.site.data import Context
from dashboards.site.figures import to_spec
from dashboards.site.layout import FigureBlock, HtmlBlock, View, para


def figure_block(
    ctx: Context,
    slot: str,
    title: str,
    data: dict[str, Any],
    make: Callable[[View, Any], go.Figure | None],
    caption: str = "",
) -> FigureBlock:
    """One figure slot: a figure per view built from that view's data (none without data)."""
    specs: dict[str, dict | None] = {}
    for view in ctx.views:
        d = data.get(view.key)
        fig = make(view, d) if d else None
        specs[view.key] = to_spec(fig) if fig is not None else None
    return FigureBlock(slot, title, specs, caption)


def html_block(
    ctx: Context,
    make: Callable[[View], Markup | None],
    empty: str = "No data for this laboratory in this run.",
) -> HtmlBlock:
    """One fragment per view (the lab selector shows the selected one)."""
    out = {}
    for view in ctx.views:
        fragment = make(view)
        out[view.key] = fragment if fragment is not None else para(empty, "empty")
    return HtmlBlock(out)
