"""Benchmark: the same results as FHIR R4 JSON and as the contract's CSV (issue 13 §10).

One synthetic network is written twice (``her2qa generate --format fhir`` and ``csv``: the
same rows in the same files, one Bundle per lab and quarter), then each step runs in its
own child process (so one step's memory does not hide another's):

- ``read_csv``: ``extract.read`` of every CSV file (the CSV path: the floor of the target);
- ``parse_fhir``: DuckDB's typed parsing of the same files only (what the adapter does
  before any mapping): the floor of any FHIR reading here;
- ``read_fhir``: the FHIR adapter (``her2qa.ingest.formats.fhir.read``) of every file;
- ``read_fhir_object`` (``--object``): the same Bundles rewritten as one JSON value each
  (the layout of most FHIR servers), which DuckDB parses as one value instead of line by line;
- ``ingest_csv`` / ``ingest_fhir`` (``--ingest``): the whole ingest of the inbox (archive,
  hash, read, PHI keying, raw layer) into a fresh warehouse, for each format.

It prints wall time, results/s and peak RSS per step and the ratio of each FHIR step to
its CSV counterpart. Target (issue 13): FHIR within 3x the CSV path.

    .venv/bin/python benchmarks/formats_fhir.py [--rows 1000000] [--object] [--ingest]

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


def child(step: str, work: Path, rows: int) -> dict:
    """Runs one step in this (child) process and returns its figures."""
    started = time.perf_counter()
    out: dict = {}
    if step.startswith("generate_"):
        from her2qa.generate import generate

        fmt = step.removeprefix("generate_")
        inbox = work / fmt
        generate(inbox, rows=rows, seed=7, fmt=fmt)
        (inbox / "manifest.json").unlink()
        out["bytes"] = sum(p.stat().st_size for p in inbox.iterdir())
    elif step == "object_layout":  # each Bundle as one JSON value (not part of the timing)
        target = work / "fhir_object"
        target.mkdir()
        for path in sorted((work / "fhir").glob("*.json")):
            bundle = json.loads(path.read_bytes())
            (target / path.name).write_text(json.dumps(bundle), encoding="utf-8")
        out["bytes"] = sum(p.stat().st_size for p in target.iterdir())
    elif step == "read_csv":
        from her2qa.ingest import extract

        files = sorted((work / "csv").glob("*.csv"))
        started = time.perf_counter()
        out["results"] = sum(extract.read(f).table.num_rows for f in files)
    elif step == "parse_fhir":
        import duckdb

        from her2qa.ingest.formats.fhir import load

        files = sorted((work / "fhir").glob("*.json"))
        started = time.perf_counter()
        resources = 0
        for f in files:
            con = duckdb.connect(config={"threads": 2})
            load.load(con, f.read_bytes())
            resources += con.execute("SELECT count(*) FROM res").fetchall()[0][0]
            con.close()
        out["resources"] = resources
    elif step in ("read_fhir", "read_fhir_object"):
        from her2qa.ingest.formats import fhir

        folder = "fhir" if step == "read_fhir" else "fhir_object"
        files = sorted((work / folder).glob("*.json"))
        started = time.perf_counter()
        results = rows_read = 0
        for f in files:
            table = fhir.read(f).table
            rows_read += table.num_rows
            results += table["malformed"].null_count
        out |= {"results": results, "rows": rows_read}
    elif step.startswith("ingest_"):
        import warehouse
        from her2qa.ingest import inbox, phi

        fmt = step.removeprefix("ingest_")
        db = work / f"{fmt}.duckdb"
        with warehouse.connect(db) as con:
            warehouse.ensure_schema(con)
            started = time.perf_counter()
            inbox.ingest_inbox(con, work / fmt, work / f"archive_{fmt}", phi.load_key(), "bench")
            out["results"] = con.execute(
                "SELECT sum(rows_read) FROM ops.ingested_files"
            ).fetchall()[0][0]
        db.unlink()
        shutil.rmtree(work / f"archive_{fmt}", ignore_errors=True)
    else:
        raise SystemExit(f"unknown step {step}")
    return finish(out, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--object", action="store_true", help="also one-value Bundles")
    parser.add_argument("--ingest", action="store_true", help="also the whole ingest")
    parser.add_argument("--child")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.work, args.rows)))
        return

    print(f"her2qa FHIR vs CSV benchmark ({args.rows:,} results, {os.cpu_count()} cores)")
    print(f"{'step':<18} {'wall s':>8} {'results/s':>12} {'peak RSS MB':>12}  notes")
    with tempfile.TemporaryDirectory(prefix="her2qa-fhir-bench-") as tmp:
        work = Path(tmp)
        steps = ["generate_csv", "generate_fhir"]
        steps += ["object_layout"] if args.object else []
        steps += ["read_csv", "parse_fhir", "read_fhir"]
        steps += ["read_fhir_object"] if args.object else []
        steps += ["ingest_csv", "ingest_fhir"] if args.ingest else []
        got: dict[str, dict] = {}
        for step in steps:
            got[step] = r = _common.measure(__file__, step, work, "--rows", str(args.rows))
            note = ""
            if "bytes" in r:
                note = f"{r['bytes'] / 1e6:,.0f} MB ({r['bytes'] / args.rows:,.0f} bytes/result)"
            if step == "parse_fhir":
                note = (
                    f"{r['resources']:,} resources parsed, no mapping; "
                    f"{r['seconds'] / got['read_csv']['seconds']:.1f}x the CSV path"
                )
            if step.startswith("read_fhir"):
                note = (
                    f"{r['rows']:,} rows, {r['results']:,} results; "
                    f"{r['seconds'] / got['read_csv']['seconds']:.1f}x the CSV path"
                )
            if step == "ingest_fhir":
                note = f"{r['seconds'] / got['ingest_csv']['seconds']:.1f}x the CSV ingest"
            print(
                f"{step:<18} {r['seconds']:>8.1f} {args.rows / r['seconds']:>12,.0f} "
                f"{r['peak_rss_mb']:>12.0f}  {note}",
                flush=True,
            )


if __name__ == "__main__":
    main()
