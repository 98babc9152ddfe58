"""The page model (views, readings, sections, blocks) and the one HTML template.

Every page is one file at the site's root with the same frame: a navigation bar, the lab
selector, the page's sections, and the footer saying when, from which run and from which
files it was generated. HTML is produced by Jinja2 with autoescaping, and the few fragments
built in Python go through ``markupsafe`` (``Markup.format`` escapes its arguments), so text
from input data (a lab code, a kit name, a file name) always lands as text.

Figures are not inline scripts: each page carries one ``application/json`` block with every
figure of every view (escaped by ``figures.script_json``), drawn by ``assets/site.js`` with the
site's single ``plotly.min.js``. The Content-Security-Policy forbids inline scripts and every
network fetch, so even a missed escape could not run or call out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import jinja2
from markupsafe import Markup, escape

TEMPLATES = Path(__file__).with_name("templates")

# No inline script, no network (connect/img/font/frame limited to the site's own files).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'none'; frame-src 'none'; "
    "form-action 'none'; base-uri 'none'"
)

# Badge words when a reading carries none of its own (readings.py gives each finding the
# words of its kind: "in control" only for control limits, her2-domain.md §QA-WORDING).
STATUS_LABEL = {
    "ok": "OK",
    "look": "Look here",
    "small": "Small n",
    "info": "For information",
    "none": "No data",
}
STATUS_ICON = {"ok": "✓", "look": "!", "small": "≈", "info": "i", "none": "–"}


@dataclass(frozen=True)
class View:
    """What the lab selector offers: the network (``lab`` None) or one laboratory."""

    key: str  # "all", "lab-1", ...: safe in HTML attributes and JSON
    lab: str | None  # the lab's code as in the warehouse
    label: str


@dataclass(frozen=True)
class Reading:
    """A one-line verdict a lab director reads first: status, words, where to look. Made from
    rows of marts.findings (dashboards/site/readings.py), which it names in data attributes."""

    status: str  # ok | look | small | info | none
    text: str
    topic: str = ""
    href: str = ""
    label: str = ""  # the badge's words; default STATUS_LABEL[status]
    finding: str = ""  # the finding code it shows
    lab: str = ""  # the finding's lab_id ('labs': a summary over the laboratories)
    period: str = ""
    subgroup: str = ""
    source: str = ""  # where its threshold comes from (shown on the topic pages)


@dataclass
class FigureBlock:
    slot: str  # unique on the page
    title: str  # accessible name of the figure
    specs: dict[str, dict | None]  # view key -> {data, layout}; None: no data for that view
    caption: str = ""
    kind: str = "figure"


@dataclass
class HtmlBlock:
    per_view: dict[str, Markup]  # view key -> fragment shown when that view is selected
    kind: str = "html"


@dataclass
class StaticBlock:
    html: Markup
    kind: str = "static"


Block = FigureBlock | HtmlBlock | StaticBlock


@dataclass
class Section:
    title: str
    anchor: str
    intro: str = ""
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Page:
    filename: str
    nav_label: str
    title: str
    lede: str
    sections: list[Section] = field(default_factory=list)

    def figures(self) -> list[FigureBlock]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, FigureBlock)]


# --- HTML fragments (escaped).
def text(value: object) -> Markup:
    return escape("" if value is None else value)


def para(value: str, cls: str = "") -> Markup:
    if cls:
        return Markup('<p class="{}">{}</p>').format(cls, value)
    return Markup("<p>{}</p>").format(value)


def badge(r: Reading) -> Markup:
    return Markup(
        '<span class="badge badge-{s}"><span aria-hidden="true">{icon}</span> {label}</span>'
    ).format(s=r.status, icon=STATUS_ICON[r.status], label=r.label or STATUS_LABEL[r.status])


def _attrs(r: Reading) -> Markup:
    if not r.finding:
        return Markup("")
    return Markup(' data-finding="{}" data-lab="{}" data-period="{}" data-subgroup="{}"').format(
        r.finding, r.lab, r.period, r.subgroup or "ALL"
    )


def reading(r: Reading, *, link: bool = True) -> Markup:
    body = Markup('<p class="reading reading-{s}"{attrs}>{badge} {topic}{text}{more}</p>')
    topic = Markup("<strong>{}:</strong> ").format(r.topic) if r.topic else Markup("")
    more = (
        Markup(' <a class="more" href="{}" data-nav>details</a>').format(r.href)
        if link and r.href
        else Markup(' <span class="source">Source: {}.</span>').format(r.source)
        if r.source
        else Markup("")
    )
    return body.format(
        s=r.status, attrs=_attrs(r), badge=badge(r), topic=topic, text=r.text, more=more
    )


def readings(items: Iterable[Reading], *, link: bool = True) -> Markup:
    return Markup("").join(reading(r, link=link) for r in items)


@dataclass(frozen=True)
class Tile:
    """A headline figure with its readings (findings; none: the figure is for information,
    said in ``note`` as plain text, without a badge)."""

    label: str
    value: str
    detail: str
    readings: tuple[Reading, ...] = ()
    href: str = ""
    note: str = ""

    @property
    def status(self) -> str:
        order = ("look", "small", "ok", "info", "none")
        return min((r.status for r in self.readings), key=order.index, default="info")


def tiles(items: Sequence[Tile]) -> Markup:
    parts = []
    for t in items:
        link = (
            Markup('<a class="more" href="{}" data-nav>where to look</a>').format(t.href)
            if t.href
            else Markup("")
        )
        lines = Markup("").join(
            Markup('<div class="tile-reading"{}>{} {}</div>').format(_attrs(r), badge(r), r.text)
            for r in t.readings
        )
        if t.note:
            lines += Markup('<div class="tile-reading">{}</div>').format(t.note)
        parts.append(
            Markup(
                '<div class="tile tile-{s}"><div class="tile-label">{label}</div>'
                '<div class="tile-value">{value}</div><div class="tile-detail">{detail}</div>'
                "{lines}<div>{link}</div></div>"
            ).format(
                s=t.status,
                label=t.label,
                value=t.value,
                detail=t.detail,
                lines=lines,
                link=link,
            )
        )
    return Markup('<div class="tiles">{}</div>').format(Markup("").join(parts))


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    numeric: Iterable[int] = (),
    nowrap: Iterable[int] = (),
    caption: str = "",
    empty: str = "Nothing to show for this selection.",
) -> Markup:
    """A plain table; columns listed in ``numeric`` are right-aligned, ``nowrap`` unbroken."""
    num = set(numeric)
    keep = set(nowrap)

    def cls(i: int) -> Markup:
        names = " ".join(n for n, on in (("num", i in num), ("nowrap", i in keep)) if on)
        return Markup(' class="{}"').format(names) if names else Markup("")

    head = Markup("").join(
        Markup('<th scope="col"{}>{}</th>').format(cls(i), h) for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = Markup("").join(
            Markup("<td{}>{}</td>").format(cls(i), "" if v is None else v)
            for i, v in enumerate(row)
        )
        body.append(Markup("<tr>{}</tr>").format(cells))
    if not body:
        return para(empty, "empty")
    cap = Markup("<caption>{}</caption>").format(caption) if caption else Markup("")
    return Markup(
        '<div class="table-wrap"><table>{}<thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>'
    ).format(cap, head, Markup("").join(body))


Row = TypeVar("Row")


@dataclass(frozen=True)
class Column(Generic[Row]):
    """A table column: its header, its cell for a row, right-aligned when ``numeric``. A table
    made of columns (``column_table``) keeps each header beside its cell, not in a parallel
    list of headers and a list of column numbers."""

    header: str
    cell: Callable[[Row], object]
    numeric: bool = False


def column_table(columns: Sequence[Column[Row]], rows: Iterable[Row], **options: str) -> Markup:
    """``table`` with one column per ``Column``, one line per row; ``options``: caption, empty."""
    return table(
        [c.header for c in columns],
        [[c.cell(r) for c in columns] for r in rows],
        numeric=[i for i, c in enumerate(columns) if c.numeric],
        **options,
    )


# --- the page.
@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    current: bool


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(
    page: Page,
    *,
    pages: Sequence[Page],
    views: Sequence[View],
    banners: dict[str, Markup],
    footer: Markup,
    data_json: str,
) -> str:
    """The whole HTML document of one page."""
    nav = [NavItem(p.filename, p.nav_label, p.filename == page.filename) for p in pages]
    return _ENV.get_template("page.html.j2").render(
        page=page,
        nav=nav,
        views=views,
        default_view=views[0].key,
        banners=banners,
        footer=footer,
        csp=CSP,
        data_json=Markup(data_json),  # already safe inside <script> (figures.script_json)
    )
