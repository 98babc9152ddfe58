"""Benchmark of the dashboard site (dashboards/site/build.py) on a generated network.

Generates a messy network (default 1M rows), runs the whole pipeline on it (her2qa_job,
in process), then builds the site from that warehouse in a fresh child process, so the
figures are the site's own: build time, peak RSS, and each page's size in KB (plotly.min.js,
shipped once for the whole site, excluded). Target (dashboards issue, item 6): every page
<= 1 MB at 1M rows. Also times the publish checks (page size, identifiers on pages).

    PYTHONPATH=. python benchmarks/site_benchmark.py                  # 1M rows
    PYTHONPATH=. python benchmarks/site_benchmark.py --rows 100000    # a quick one
    PYTHONPATH=. python benchmarks/site_benchmark.py --warehouse W.duckdb   # an existing one

Not a test: nothing here asserts; it prints figures to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import _common  # benchmarks/_common.py: the script's own folder is on sys.path
from _common import finish


def child(step: str, work: Path, rows: int, warehouse_file: Path) -> dict:
    """Runs one step in this (child) process and returns its figures."""
    started = time.perf_counter()
    out: dict = {}
    if step == "generate":
        from her2qa.generate import generate

        generate(work / "inbox", rows=rows, seed=7, messy=True)
    elif step == "pipeline":
        from her2qa.runner import execute
        from pipelines.defs.resources import default_paths

        result = execute(default_paths(work / "inbox", warehouse_file, work / "site"))
        out["success"] = result.success
    elif step == "site":
        import warehouse
        from dashboards.site.build import build_site
        from her2qa.config import SiteConfig

        with warehouse.connect(warehouse_file, read_only=True) as con:
            summary = build_site(
                con, work / "site", SiteConfig(), "benchmark", restricted_dir=work / "restricted"
            )
            out["rows"] = con.execute("SELECT count(*) FROM raw.her2_rows").fetchone()[0]
        out.update(
            pages=summary.pages,
            plotly_js_bytes=summary.plotly_js_bytes,
            views=summary.views,
            figures=summary.figures,
            worklists=summary.worklists,
        )
    elif step == "checks":
        import warehouse
        from dashboards.site import checks

        with warehouse.connect(warehouse_file, read_only=True) as con:
            leaks = checks.identifier_leaks(con, work / "site")
        out.update(oversized=checks.oversized(work / "site"), identifiers_found=len(leaks))
    else:
        raise SystemExit(f"unknown step {step}")
    return finish(out, started)


def measure(step: str, work: Path, rows: int, warehouse_file: Path) -> dict:
    return _common.measure(
        __file__, step, work, "--rows", str(rows), "--warehouse", str(warehouse_file)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--warehouse", type=Path, help="use this warehouse, do not generate")
    parser.add_argument("--child")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.work, args.rows, args.warehouse)))
        return

    print(f"her2qa site benchmark ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="her2qa-site-bench-") as tmp:
        work = Path(tmp)
        warehouse_file = args.warehouse or work / "her2.duckdb"
        if args.warehouse is None:
            for step in ("generate", "pipeline"):
                r = measure(step, work, args.rows, warehouse_file)
                print(f"  {step:<9} {r['seconds']:7.1f} s  peak RSS {r['peak_rss_mb']:6.0f} MB")
        site = measure("site", work, args.rows, warehouse_file)
        checks = measure("checks", work, args.rows, warehouse_file)
    print(
        f"\nsite from {site['rows']:,} input rows: built in {site['seconds']:.1f} s, peak RSS "
        f"{site['peak_rss_mb']:.0f} MB; {len(site['pages'])} pages x {site['views']} views "
        f"(the network and each lab), {site['figures']} figure slots"
    )
    print(f"plotly.min.js (once for the whole site): {site['plotly_js_bytes'] / 1024:,.0f} KB")
    print(f"\n  {'page':<20} {'KB':>8}")
    for name, size in sorted(site["pages"].items(), key=lambda kv: -kv[1]):
        flag = "  OVER 1 MB" if size > 1_000_000 else ""
        print(f"  {name:<20} {size / 1024:8.1f}{flag}")
    total = sum(site["pages"].values())
    print(f"  {'all pages':<20} {total / 1024:8.1f}")
    print(
        "\nworklists (restricted folder): "
        + ", ".join(f"{n} {k:,} rows" for n, k in site["worklists"].items())
    )
    print(
        f"publish checks: {checks['seconds']:.1f} s, peak RSS {checks['peak_rss_mb']:.0f} MB; "
        f"pages over 1 MB: {len(checks['oversized'])}, identifiers on pages: "
        f"{checks['identifiers_found']}"
    )


if __name__ == "__main__":
    main()
