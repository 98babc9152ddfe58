"""Benchmark: the same results read as XLSX workbooks and as CSV (issue 13 §10).

Generates one synthetic network twice, as the contract's CSV and as workbooks of typed
cells (``her2qa generate --format xlsx``: the same rows, the same files), then reads every
file with its adapter, each format in a child process of its own:

- ``csv``: ``extract.read`` of the CSV files (the floor the issue measures against);
- ``xlsx``: ``formats.excel.read`` of the workbooks (python-calamine, typed cells to text);
- ``calamine``: python-calamine's own parse of each sheet and nothing else (what no
  adapter on top of it can beat);
- ``pandas`` (with --pandas): ``pandas.read_excel(engine="calamine", dtype=str)``, the
  other way the issue names, for comparison.

Prints wall time, rows/s, peak RSS and each figure's ratio to the CSV path, measured in the
same run. Not a test: nothing asserts.

    .venv/bin/python benchmarks/formats_excel.py [--rows 1000000] [--pandas] [--work DIR]

Writing 1M results as workbooks takes minutes (xlsxwriter, cell by cell): ``--work DIR``
keeps the generated files, and a later run with the same DIR and rows reuses them.
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

SEED = 13


def child(step: str, work: Path, rows: int) -> dict:
    """One step in this (child) process; returns its figures."""
    started = time.perf_counter()
    out: dict = {}
    if step in ("generate_csv", "generate_xlsx"):
        from her2qa.generate import generate

        fmt = step.removeprefix("generate_")
        generate(work / fmt, rows=rows, seed=SEED, fmt=fmt)
    elif step == "csv":
        from her2qa.ingest import extract

        out["read"] = sum(extract.read(p).table.num_rows for p in _files(work, "csv"))
    elif step == "xlsx":
        from her2qa.config import DEFAULT_SOURCE
        from her2qa.ingest.formats import excel

        out["read"] = sum(
            excel.read(p, DEFAULT_SOURCE).table.num_rows for p in _files(work, "xlsx")
        )
    elif step == "calamine":
        import python_calamine

        for p in _files(work, "xlsx"):
            python_calamine.CalamineWorkbook.from_path(p).get_sheet_by_index(0)
    elif step == "pandas":
        import pandas as pd

        out["read"] = sum(
            len(pd.read_excel(p, engine="calamine", dtype=str)) for p in _files(work, "xlsx")
        )
    else:
        raise SystemExit(f"unknown step {step}")
    return finish(out, started)


def _files(work: Path, fmt: str) -> list[Path]:
    return sorted((work / fmt).glob(f"*.{fmt}"))


def _generated(work: Path, fmt: str, rows: int) -> bool:
    """The files of an earlier run with the same rows (``--work`` kept them)."""
    manifest = work / fmt / "manifest.json"
    if not manifest.is_file():
        return False
    return json.loads(manifest.read_text("utf-8")).get("rows") == rows


def run(work: Path, rows: int, pandas: bool) -> None:
    for fmt in ("csv", "xlsx"):
        if not _generated(work, fmt, rows):
            r = _common.measure(__file__, f"generate_{fmt}", work, "--rows", str(rows))
            print(f"generated {rows:,} results as {fmt} in {r['seconds']:.0f} s", flush=True)
    steps = ["csv", "xlsx", "calamine", *(["pandas"] if pandas else [])]
    print(f"{'step':<10} {'wall s':>8} {'rows/s':>12} {'peak RSS MB':>12} {'x CSV':>7}")
    floor = None
    for step in steps:
        r = _common.measure(__file__, step, work, "--rows", str(rows))
        floor = floor or r["seconds"]
        read = r.get("read")
        if read is not None and read != rows:
            raise SystemExit(f"{step} read {read:,} rows, not {rows:,}")
        print(
            f"{step:<10} {r['seconds']:>8.1f} {rows / r['seconds']:>12,.0f} "
            f"{r['peak_rss_mb']:>12.0f} {r['seconds'] / floor:>7.1f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pandas", action="store_true", help="also pandas.read_excel")
    parser.add_argument("--work", type=Path, help="keep (and reuse) the generated files here")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.work, args.rows)))
        return
    print(f"her2qa XLSX vs CSV read ({args.rows:,} results, {os.cpu_count()} cores)")
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        run(args.work, args.rows, args.pandas)
        return
    with tempfile.TemporaryDirectory(prefix="her2qa-bench-xlsx-") as tmp:
        run(Path(tmp), args.rows, args.pandas)


if __name__ == "__main__":
    main()
