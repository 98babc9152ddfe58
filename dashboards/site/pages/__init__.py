"""The pages, one module each, in navigation order. Each module has ``build(ctx) -> Page``
(the overview also gets the other pages, to gather their readings)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import worklists
from dashboards.site.data import Context
from dashboards.site.figures import Figure, to_spec
from dashboards.site.layout import FigureBlock, HtmlBlock, View, para, table


def figure_block(
    ctx: Context,
    slot: str,
    title: str,
    data: dict[str, Any],
    make: Callable[[View, Any], Figure | None],
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


def worklist_block(
    ctx: Context,
    file: str,
    what: str,
    rule_labels: dict[str, str],
    empty: str = "None for this selection.",
) -> HtmlBlock:
    """A worklist counted on its page: the count of the restricted CSV ``file`` (its rows, read
    from the same table under the same filter: dashboards/site/worklists.py), ``what`` it
    counts in plain words, and the count per rule. Counts, not verdicts; no case is shown.
    The count carries ``data-worklist`` and ``data-lab`` so a test can hold it to the CSV."""
    totals = worklists.counts(ctx.con, file)
    by_rule = worklists.counts_by_rule(ctx.con, file)

    def make(view: View) -> Markup:
        lab = view.lab or "ALL"
        n = totals.get(lab, 0)
        sentence = Markup(
            "<p class='worklist-count'><strong data-worklist='{file}' data-lab='{lab}'>{n}</strong>"
            " {what}, listed case by case (specimen, rule, reason and guideline source) in "
            "<code>{file}</code> in the restricted folder {where}.</p>"
        ).format(file=file, lab=lab, n=fmt.count(n), what=what, where=ctx.restricted_label)
        rules = by_rule.get(lab, {})
        if not rules:
            return sentence + para(empty, "empty")
        body = [
            [rule_labels.get(code, code), Markup("<code>{}</code>").format(code), fmt.count(k)]
            for code, k in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        return sentence + table(
            ["what put the case on the list", "rule", "cases"], body, numeric=(2,)
        )

    return html_block(ctx, make)
