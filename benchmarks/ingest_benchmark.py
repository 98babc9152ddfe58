"""Benchmark: generate -> ingest -> validate -> stage, at 100k and 1M rows.

Prints wall time, rows/s and peak RSS of each step (``pipeline`` = ingest, validate and
stage with their checks, through Dagster; ``whole_job`` = the nightly job from scratch),
each measured in its own child process (so one step's memory does not hide another's),
and the ratio
to DuckDB's own ``read_csv`` of the same files into a table: the floor no
ingest can beat. Target (issue #2): 1M rows <= 60 s and <= 2 GB on 2 cores.

    .venv/bin/python benchmarks/ingest_benchmark.py [--rows 100000 1000000] [--clean]

Not a test: nothing here asserts; it prints figures to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import _common  # benchmarks/_common.py: the script's own folder is on sys.path
from _common import finish


def child(step: str, work: Path, rows: int, messy: bool) -> dict:
    """Runs one step in this (child) process and returns its figures."""
    inbox = work / "inbox"
    started = time.perf_counter()
    if step == "generate":
        from her2qa.generate import generate

        generate(inbox, rows=rows, seed=7, messy=messy)
        out = {}
    elif step in ("pipeline", "whole_job"):
        import dagster as dg

        from her2qa.runner import execute
        from pipelines.defs import ingest as ingest_defs
        from pipelines.defs import staging as staging_defs
        from pipelines.defs.resources import default_paths

        paths = default_paths(inbox, work / "her2.duckdb", work / "site")
        if step == "pipeline":  # the scope: ingest -> validate -> stage, with checks
            checks = [
                ingest_defs.raw_rows_carry_no_phi,
                *ingest_defs.integrity,
                staging_defs.accounting_balances,
                staging_defs.staged_rows_match_contract,
                *staging_defs.integrity,
            ]
            result = dg.materialize(
                [ingest_defs.ingest_inbox, staging_defs.stage_results, *checks],
                resources={"paths": paths},
            )
        else:  # everything a nightly run does, marts and outputs included
            result = execute(paths)
        import duckdb

        con = duckdb.connect(str(work / "her2.duckdb"), read_only=True)
        read, staged, quarantined = con.execute(
            "SELECT sum(rows_read), sum(rows_staged), sum(rows_quarantined) FROM ops.ingested_files"
        ).fetchone()
        con.close()
        out = {
            "success": result.success,
            "read": read,
            "staged": staged,
            "quarantined": quarantined,
        }
    elif step == "duckdb_floor":
        import duckdb

        files = sorted(str(p) for p in inbox.glob("*.csv"))
        con = duckdb.connect(str(work / "floor.duckdb"))
        loaded = 0
        for f in files:  # one by one: some planted files are deliberately unreadable
            try:
                con.execute(
                    "CREATE OR REPLACE TABLE t AS SELECT * FROM read_csv($f, all_varchar = true)",
                    {"f": f},
                )
                loaded += con.execute("SELECT count(*) FROM t").fetchone()[0]
            except duckdb.Error:
                pass
        con.close()
        out = {"read": loaded}
    else:
        raise SystemExit(f"unknown step {step}")
    return finish(out, started)


def measure(step: str, work: Path, rows: int, messy: bool) -> dict:
    return _common.measure(
        __file__, step, work, "--rows", str(rows), *(["--messy"] if messy else [])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--clean", action="store_true", help="clean data (default: --messy)")
    parser.add_argument("--child")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--messy", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.work, args.rows[0], args.messy)))
        return

    messy = not args.clean
    print(f"her2qa ingest benchmark ({'messy' if messy else 'clean'} data, {os.cpu_count()} cores)")
    print(f"{'rows':>10} {'step':<14} {'wall s':>8} {'rows/s':>12} {'peak RSS MB':>12}  notes")
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="her2qa-bench-") as tmp:
            work = Path(tmp)
            results = {}
            for step in ("generate", "duckdb_floor", "pipeline", "whole_job"):
                if step == "whole_job":
                    (work / "her2.duckdb").unlink()
                    shutil.rmtree(work / "var", ignore_errors=True)
                results[step] = r = measure(step, work, rows, messy)
                note = ""
                if step == "whole_job":
                    note = "ingest -> staging -> all marts and outputs, fresh warehouse"
                if step == "pipeline":
                    note = (
                        f"staged {r['staged']:,} + quarantined {r['quarantined']:,} = read "
                        f"{r['read']:,}; {r['seconds'] / results['duckdb_floor']['seconds']:.1f}x "
                        "the read_csv floor"
                    )
                print(
                    f"{rows:>10,} {step:<14} {r['seconds']:>8.1f} "
                    f"{rows / r['seconds']:>12,.0f} {r['peak_rss_mb']:>12.0f}  {note}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
