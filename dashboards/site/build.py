"""Build the dashboard site from the warehouse of the same run.

``build_site(con, site_dir, site_config, run_id)`` writes::

    <site_dir>/index.html, concordance.html, ...   one page per topic (dashboards/site/pages/)
    <site_dir>/plotly.min.js                       plotly.js, once for the whole site
    <site_dir>/assets/site.css, site.js            look and the lab selector
    <site_dir>/site.json                           pages, generation time and lineage
    <site_dir>/../restricted/*.csv                 case-level worklists (site/worklists.py)

Every page opens from disk with no network: plotly.js is local, the Content-Security-Policy
allows no fetch, no figure type needs a map, a font or MathJax from the web. Pages carry
aggregates only (never a case row, never a patient_key); the lab selector switches between
views already in the page (the network, each laboratory), so one page per topic serves
every lab and stays small (≤ 1 MB at 1M rows: benchmarks/site_benchmark.py).
"""

from __future__ import annotations

import json
import os
import pkgutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

import duckdb
import plotly
from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import worklists
from dashboards.site.data import Context
from dashboards.site.figures import TEMPLATE, script_json
from dashboards.site.layout import View, render_page
from dashboards.site.pages import (
    concordance,
    data_quality,
    her2_low,
    ihc_ish,
    metastasis,
    overview,
    positivity,
    preanalytic,
    proficiency,
    readers,
    sources,
)
from her2qa.config import SiteConfig
from her2qa.lineage import lineage

ASSETS = Path(__file__).with_name("assets")
PLOTLY_JS = "plotly.min.js"
MANIFEST = "site.json"
# Topic pages in navigation order (the overview comes first).
TOPICS = (
    concordance,
    ihc_ish,
    metastasis,
    positivity,
    her2_low,
    readers,
    preanalytic,
    proficiency,
)
AFTER = (data_quality, sources)


@dataclass(frozen=True)
class SiteSummary:
    site_dir: Path
    restricted_dir: Path
    pages: dict[str, int]  # file name -> bytes (plotly.js aside)
    plotly_js_bytes: int
    views: int  # the network and each laboratory
    figures: int  # figure slots over all pages (each drawn per view)
    worklists: dict[str, int] = field(default_factory=dict)  # file name -> rows
    seconds: float = 0.0

    @property
    def largest_page(self) -> tuple[str, int]:
        name = max(self.pages, key=self.pages.__getitem__)
        return name, self.pages[name]

    @property
    def worklist_rows(self) -> int:
        return sum(self.worklists.values())


def build_site(
    con: duckdb.DuckDBPyConnection,
    site_dir: str | os.PathLike[str],
    site_config: SiteConfig,
    run_id: str | None,
    *,
    restricted_dir: str | os.PathLike[str],
    generated_at: datetime | None = None,
) -> SiteSummary:
    """Write the whole site from the warehouse ``con``, and the case-level worklists to
    ``restricted_dir`` (configured on its own, HER2QA_RESTRICTED: never derived from the
    site's path, so a site under a web root never has a case list beside it)."""
    started = perf_counter()
    site = Path(site_dir)
    restricted = Path(restricted_dir)
    generated_at = generated_at or datetime.now(UTC)
    ctx = Context.open(con, site_config, run_id, generated_at)
    ctx.restricted_label = _where(restricted, site)
    # The worklists are written while the pages are built: DuckDB writes the lists (the GIL
    # released), the pages are mostly Python (plotly figures). Only the footer needs the
    # lists' rows. At 10M: 2.0 s of lists and 2.2 s of pages one after the other; 3.0-3.9 s
    # side by side against 4.35-4.86 s (build_site in process, three builds each).
    with ThreadPoolExecutor(max_workers=1) as pool:
        lists = pool.submit(_write_worklists, con, restricted)
        topics = [m.build(ctx) for m in TOPICS]
        after = [m.build(ctx) for m in AFTER]
        pages = [overview.build(ctx), *topics, *after]
        ctx.worklists = lists.result()

    record = lineage(con, site_config, run_id)
    footer = _footer(ctx, record)
    banners = _banners(ctx)
    site.mkdir(parents=True, exist_ok=True)
    (site / "assets").mkdir(exist_ok=True)
    for asset in sorted(ASSETS.iterdir()):
        if asset.is_file():
            _write(site / "assets" / asset.name, asset.read_bytes())
    plotly_js = plotly_js_bytes()
    _write(site / PLOTLY_JS, plotly_js)

    sizes = {}
    for page in pages:
        data = {
            "views": [{"key": v.key, "code": v.lab, "label": v.label} for v in ctx.views],
            "template": TEMPLATE,
            "figures": {b.slot: b.specs for b in page.figures()},
        }
        html = render_page(
            page,
            pages=pages,
            views=ctx.views,
            banners=banners,
            footer=footer,
            data_json=script_json(data),
        ).encode("utf-8")
        _write(site / page.filename, html)
        sizes[page.filename] = len(html)

    previous = _previous_pages(site)
    manifest = {
        "generated_at": _iso(generated_at),
        "run_id": run_id,
        "pages": list(sizes),
        "plotly_js": {"file": PLOTLY_JS, "version": plotly.__version__},
        "restricted_dir": str(restricted),
        "worklists": ctx.worklists,
        "lineage": record,
    }
    _write(site / MANIFEST, json.dumps(manifest, indent=2, default=str).encode("utf-8"))
    for stale in previous - set(sizes):  # pages an older build wrote and this one does not
        (site / stale).unlink(missing_ok=True)
    return SiteSummary(
        site_dir=site,
        restricted_dir=restricted,
        pages=sizes,
        plotly_js_bytes=len(plotly_js),
        views=len(ctx.views),
        figures=sum(len(p.figures()) for p in pages),
        worklists=dict(ctx.worklists),
        seconds=perf_counter() - started,
    )


def _write_worklists(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """``worklists.write_all`` on a cursor of its own (a DuckDB connection is used by one
    thread at a time; the pages keep ``con``)."""
    cursor = con.cursor()
    try:
        return worklists.write_all(cursor, folder)
    finally:
        cursor.close()


def plotly_js_bytes() -> bytes:
    """plotly.min.js as plotly.py ships it: the bytes plotly.offline.get_plotlyjs() decodes
    (the same package file), read as bytes (decoding 4.8 MB to encode it again cost ~20 ms
    a run)."""
    data = pkgutil.get_data("plotly", "package_data/plotly.min.js")
    if data is None:
        raise FileNotFoundError("plotly's package_data/plotly.min.js")
    return data


def _write(path: Path, content: bytes) -> None:
    """Replace ``path`` with ``content`` (atomically). A file already holding these bytes is
    left alone: plotly.min.js (4.8 MB) and the assets keep their modification time from build
    to build, so a browser's cached copy stays valid (a web server's Last-Modified and ETag
    do not change) and the nightly build does not rewrite them."""
    try:
        if path.stat().st_size == len(content) and path.read_bytes() == content:
            return
    except OSError:
        pass  # not there yet (or unreadable): write it
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def _previous_pages(site: Path) -> set[str]:
    try:
        names = json.loads((site / MANIFEST).read_text("utf-8")).get("pages", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {n for n in names if isinstance(n, str) and "/" not in n and n.endswith(".html")}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _where(restricted: Path, site: Path) -> str:
    if restricted.resolve().parent == site.resolve().parent:
        return f"'{restricted.name}/' beside this site's folder"
    return f"'{restricted}'"


def _banners(ctx: Context) -> dict[str, Markup]:
    """A banner for each view with no specimen, or too few IHC/ISH pairs to judge against the
    lab target (its finding lab_target_ihc_vs_ish, period ALL, is too_few or absent)."""
    specimens = {  # every clinical specimen of the lab (and 'ALL'): the report table's total
        r["lab_id"]: r["n"]
        for r in ctx.rows(
            "SELECT lab_id, n_specimens AS n FROM marts.her2_low_distribution "
            "WHERE specimen_role = 'ALL' AND quarter = 'ALL'"
        )
    }
    out = {}
    for view in ctx.views:
        n = specimens.get(view.lab or "ALL", 0)
        conc = ctx.findings.get("lab_target_ihc_vs_ish", view.lab)
        if n == 0:
            out[view.key] = Markup(
                "<strong>No data yet.</strong> {} has no clinical specimen in this run: the "
                "figures appear once a file with valid results arrives (see Data quality)."
            ).format(view.label)
        elif conc is None or conc.verdict == "too_few":
            out[view.key] = Markup(
                "<strong>Small numbers.</strong> {} has {} clinical specimens and {} IHC/ISH "
                "pairs in this run: too few to judge IHC/ISH concordance against the lab target, "
                "and most intervals below are wide. Read each figure with its n and 95% CI; a "
                "difference from a target or a published band may be chance."
            ).format(view.label, fmt.count(n), _pairs(ctx, view))
    return out


def _pairs(ctx: Context, view: View) -> str:
    rows = ctx.rows(
        "SELECT n_pairs FROM marts.agreement WHERE comparison = 'ihc_vs_ish' AND period = 'ALL' "
        "AND lab_id = $lab",
        {"lab": view.lab or "ALL"},
    )
    return fmt.count(rows[0]["n_pairs"] if rows else 0)


# A nightly network adds a file per lab per night: every page's footer names the latest ones
# and site.json every one (5,000 files in every footer made each page over 1 MB).
FOOTER_FILES = 20


def _footer(ctx: Context, record: dict) -> Markup:
    sw = record["software"]
    commit = (sw.get("git_commit") or "")[:12]
    code = f"her2qa {sw.get('version') or '(unversioned)'}" + (
        f", commit {commit}" + (" with uncommitted changes" if sw.get("git_dirty") == "yes" else "")
        if commit
        else ""
    )
    versions = ", ".join(
        f"{v} ({fmt.count(n)} specimens)" for v, n in record["guideline_versions"].items()
    )
    files = record["input_files"]
    latest = files[-FOOTER_FILES:]  # in arrival order (file_id): the latest last
    items = Markup("").join(
        Markup(
            "<li><span class='file'>{}</span> — sha256 <code>{}</code> — {}, {} rows read, "
            "{} quarantined</li>"
        ).format(
            f["file_name"],
            (f["sha256"] or "")[:12],
            f["status"],
            f"{fmt.count(f['rows_read'])}",
            f"{fmt.count(f['rows_quarantined'])}",
        )
        for f in latest
    )
    worklist = ", ".join(f"{name} ({fmt.count(rows)} rows)" for name, rows in ctx.worklists.items())
    return Markup(
        "<p>Generated at <strong>{generated}</strong> from run <code class='run-id'>{run}</code> "
        "of the warehouse, by {code}; configuration sha256 <code>{config}</code>; ASCO/CAP rule "
        "sets applied: {versions}.</p>"
        "<details><summary>From {n} input files: the {shown} latest below (SHA-256 prefixes); "
        "every one, with its full hash, in site.json</summary><ul class='files'>{items}</ul>"
        "</details>"
        "<p>No patient-identifying data is on these pages: aggregates only. Case-level "
        "worklists ({worklist}) are in the restricted folder {where}, readable only by the "
        "pipeline's owner account. Published figures are context bands, not limits; every "
        "threshold and its source: <a href='sources.html' data-nav>Sources &amp; "
        "definitions</a>.</p>"
    ).format(
        generated=_iso(ctx.generated_at),
        run=ctx.run_id or "(none: built outside a pipeline run)",
        code=code,
        config=record["configuration_sha256"][:12],
        versions=versions or "none yet",
        n=f"{fmt.count(len(files))}",
        shown=f"{fmt.count(len(latest))}",
        items=items,
        worklist=worklist or "none",
        where=ctx.restricted_label,
    )
