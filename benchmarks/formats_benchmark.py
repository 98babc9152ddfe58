"""Benchmark: one network ingested in every input format, against the CSV path (issue 13 §10).

Generates the same synthetic network (``her2qa generate --format``) as CSV, XLSX workbooks,
HL7 v2 ORU^R01 batches and FHIR R4 Bundles, then measures per format, each step in a child
process of its own (benchmarks/_common.py):

- ``read``: the format's adapter reading every file into contract rows
  (``her2qa.ingest.formats.read``; for CSV ``extract.read``: the floor);
- ``ingest``: the whole ingest path into a fresh warehouse: archive, read, PHI keying, the
  raw layer, validation and staging (``inbox.ingest_inbox`` + ``staging.stage_pending``),
  what a nightly run does with the files before the marts.

Prints wall time, results/s, peak RSS and each figure's ratio to the CSV figure of the same
step, measured in the same run. Not a test: nothing asserts.

    .venv/bin/python benchmarks/formats_benchmark.py [--rows 1000000] [--formats xlsx,hl7v2]
        [--work DIR]

Writing 1M results as workbooks or messages takes minutes: ``--work DIR`` keeps the
generated files, and a later run with the same DIR and rows reuses them.
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
FORMATS = ("csv", "xlsx", "hl7v2", "fhir")


def child(step: str, work: Path, rows: int) -> dict:
    """One step (``<action>_<format>``) in this (child) process; returns its figures."""
    started = time.perf_counter()
    action, fmt = step.split("_", 1)
    files = work / fmt / "inbox"
    out: dict = {}
    if action == "generate":
        from her2qa.generate import generate

        generate(files, rows=rows, seed=SEED, fmt=fmt)
    elif action == "read":
        from her2qa.ingest import extract, formats

        read = 0
        for path in sorted(p for p in files.iterdir() if p.name != "manifest.json"):
            read += formats.read(path, extract.check_bytes(path)).table.num_rows
        out["results"] = read
    elif action == "ingest":
        import warehouse
        from her2qa import config, staging
        from her2qa.ingest import inbox, phi

        site = config.SiteConfig()
        db = work / fmt / "her2.duckdb"
        db.unlink(missing_ok=True)
        with warehouse.connect(db) as con:
            warehouse.ensure_schema(con)
            inbox.ingest_inbox(con, files, work / fmt / "archive", phi.load_key(), "bench")
            staging.stage_pending(con, site)
            out["results"], out["staged"] = con.execute(
                "SELECT sum(rows_read), sum(rows_staged) FROM ops.ingested_files"
            ).fetchone()
    else:
        raise SystemExit(f"unknown step {step}")
    return finish(out, started)


def _generated(work: Path, fmt: str, rows: int) -> bool:
    manifest = work / fmt / "inbox" / "manifest.json"
    if not manifest.is_file():
        return False
    return json.loads(manifest.read_text("utf-8")).get("rows") == rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default="xlsx,hl7v2,fhir", help="besides csv")
    parser.add_argument("--child")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.work, args.rows)))
        return

    chosen = ["csv", *(f for f in args.formats.split(",") if f and f != "csv")]
    unknown = set(chosen) - set(FORMATS)
    if unknown:
        raise SystemExit(f"unknown format(s): {', '.join(sorted(unknown))}")
    print(f"her2qa input formats benchmark: {args.rows:,} results ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="her2qa-formats-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for fmt in chosen:
            if not _generated(work, fmt, args.rows):
                gen = _common.measure(__file__, f"generate_{fmt}", work, "--rows", str(args.rows))
                print(f"  generated {fmt}: {gen['seconds']:.1f} s")
        floor: dict[str, float] = {}
        print(
            f"{'format':8} {'step':7} {'seconds':>8} {'results/s':>11} {'peak MB':>8} {'x CSV':>6}"
        )
        for action in ("read", "ingest"):
            for fmt in chosen:
                got = _common.measure(__file__, f"{action}_{fmt}", work, "--rows", str(args.rows))
                seconds = got["seconds"]
                floor.setdefault(action, seconds)  # csv comes first: the floor of this step
                print(
                    f"{fmt:8} {action:7} {seconds:8.1f} {got['results'] / seconds:11,.0f} "
                    f"{got['peak_rss_mb']:8.0f} {seconds / floor[action]:6.2f}"
                )


if __name__ == "__main__":
    main()
