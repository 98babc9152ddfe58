"""Does the dashboard site's build cost follow the warehouse? Every page, query, worklist and
publish check of ``build_site`` timed on warehouses of different sizes, side by side.

    PYTHONPATH=. python benchmarks/site_scale_benchmark.py --warehouse W1 --warehouse W10

Each warehouse is built into a site in a fresh child process (read-only connection, so the
warehouses are not changed), with timers put around the site's own functions: every query a
page reads (``dashboards.site.data.rows``: a file of dashboards/report/sql/ by name, an inline
query by the tables it reads), every page builder, the worklist counts, each restricted
worklist (with its rows: its cost should follow its own rows, not the warehouse), the
lineage footer, rendering, and the publish checks of pipelines/defs/site.py. The floor,
measured in the same child: one grouping scan of the case table marts.specimen_her2 (what a
page pays if it reads case rows instead of a report table).

The last column is the ratio of the largest warehouse to the smallest: a page whose cost
does not depend on the warehouse stays near 1. Not a test: nothing here asserts; it prints
figures to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import _common  # benchmarks/_common.py: the script's own folder is on sys.path
from _common import finish

_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_]+\.[a-z_0-9]+)", re.IGNORECASE)


def child(work: Path, warehouse_file: Path) -> dict:
    """Builds the site from ``warehouse_file`` with timers around the site's functions."""
    import warehouse
    from dashboards.site import build, checks, data, worklists
    from dashboards.site.pages import overview
    from her2qa.config import SiteConfig

    timings: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # item -> [s, rows]
    stage = ["open"]
    names = {}
    for f in sorted(data.SQL_DIR.glob("*.sql")):
        names[data.sql(f.stem)] = f"report/sql/{f.name}"

    def add(item: str, seconds: float, rows: int = 0) -> None:
        timings[item][0] += seconds
        timings[item][1] += rows

    def timed(label, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            out = fn(*args, **kwargs)
            add(label(*args, **kwargs) if callable(label) else label, time.perf_counter() - t)
            return out

        return wrapper

    query_rows = data.rows

    def rows(con, query, params=None):
        t = time.perf_counter()
        out = query_rows(con, query, params)
        what = names.get(query) or "inline " + "+".join(dict.fromkeys(_TABLE.findall(query)))
        add(f"  {stage[0]}: {what}", time.perf_counter() - t, len(out))
        return out

    data.rows = rows
    for fn in ("counts", "counts_by_rule"):
        label = lambda con, file, fn=fn: f"  {stage[0]}: worklists.{fn}({file})"  # noqa: E731
        setattr(worklists, fn, timed(label, getattr(worklists, fn)))
    write_one = worklists.write

    def write(con, folder, w):
        t = time.perf_counter()
        n = write_one(con, folder, w)
        add(f"worklist {w.file}", time.perf_counter() - t, n)
        return n

    worklists.write = write
    for module in (*build.TOPICS, *build.AFTER, overview):
        page_build = module.build

        def page(ctx, *args, _build=page_build, _name=module.FILENAME):
            stage[0] = _name
            t = time.perf_counter()
            out = _build(ctx, *args)
            add(f"page {_name}", time.perf_counter() - t)
            stage[0] = "site"
            return out

        module.build = page
    build.lineage = timed("lineage (footer, site.json)", build.lineage)
    build.render_page = timed("render pages (HTML)", build.render_page)
    build.Context.open = timed("Context.open (views, bands, findings)", build.Context.open)

    started = time.perf_counter()
    out: dict = {}
    with warehouse.connect(warehouse_file, read_only=True) as con:
        out["staged_rows"] = con.execute("SELECT count(*) FROM staging.her2_results").fetchone()[0]
        out["raw_rows"] = con.execute("SELECT count(*) FROM raw.her2_rows").fetchone()[0]
        t = time.perf_counter()
        con.execute(
            "SELECT lab_id, count(*), max(collection_date) FROM marts.specimen_her2 GROUP BY 1"
        ).fetchall()
        out["floor"] = time.perf_counter() - t
        t = time.perf_counter()
        summary = build.build_site(
            con, work / "site", SiteConfig(), "benchmark", restricted_dir=work / "restricted"
        )
        add("build_site (whole)", time.perf_counter() - t)
        for label, check in (
            ("check identifier_leaks", lambda: checks.identifier_leaks(con, work / "site")),
            ("check oversized", lambda: checks.oversized(work / "site")),
            ("check external_references", lambda: checks.external_references(work / "site")),
        ):
            t = time.perf_counter()
            found = check()
            add(label, time.perf_counter() - t, len(found))
    out.update(timings={k: v for k, v in timings.items()}, pages=summary.pages)
    return finish(out, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, action="append", required=True)
    parser.add_argument("--child")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.work, args.warehouse[0])))
        return

    print(f"her2qa site-at-scale benchmark ({os.cpu_count()} cores)")
    results = []
    for w in args.warehouse:
        with tempfile.TemporaryDirectory(prefix="her2qa-site-scale-") as tmp:
            results.append(_common.measure(__file__, "profile", Path(tmp), "--warehouse", str(w)))
    results.sort(key=lambda r: r["staged_rows"])
    head = "".join(f"{r['staged_rows'] / 1e6:>9.1f}M" for r in results)
    print("\nseconds per item, by staged rows of the warehouse (rows: of the last size)\n")
    print(f"  {'item':<92}{head}  {'ratio':>6} {'rows':>9}")
    items = list(results[-1]["timings"])
    for r in results[:-1]:
        items += [k for k in r["timings"] if k not in items]
    for item in items:
        secs = [r["timings"].get(item, [0.0, 0])[0] for r in results]
        n = results[-1]["timings"].get(item, [0.0, 0])[1]
        ratio = secs[-1] / secs[0] if secs[0] > 0 else float("nan")
        cells = "".join(f"{s:10.3f}" for s in secs)
        print(f"  {item[:92]:<92}{cells}  {ratio:6.1f} {int(n):9,}")
    print(
        f"  {'floor: one grouping scan of marts.specimen_her2':<92}"
        + "".join(f"{r['floor']:10.3f}" for r in results)
    )
    print(f"  {'child process wall time':<92}" + "".join(f"{r['seconds']:10.1f}" for r in results))
    print(f"  {'child peak RSS (MB)':<92}" + "".join(f"{r['peak_rss_mb']:10.0f}" for r in results))


if __name__ == "__main__":
    main()
