"""Benchmark: the same results read as HL7 v2 ORU^R01 and as CSV (issue 13 §10).

Generates one synthetic network twice, as the contract's CSV and as HL7 v2 batches
(``her2qa generate --format hl7v2``: the same rows, the same files, one ORU^R01 per result),
then reads every file with its adapter, each format in a child process of its own:

- ``csv``: ``extract.read`` of the CSV files (the floor the issue measures against);
- ``hl7v2``: ``formats.hl7v2.read`` of the HL7 files (segments, fields, codes, checks: the
  Extract the raw layer loads);
- ``hl7v2_split``: only the byte work every HL7 reader needs (MLLP/line-ending
  normalisation, UTF-8 check, segment and field separators located): what no adapter on top
  of this parser can beat.

Prints wall seconds, rows/s, MB/s of input and peak RSS per step, and the ratio of the HL7
read to the CSV read. Target (issue 13): within 3x.

    .venv/bin/python benchmarks/formats_hl7v2.py [--rows 1000000] [--keep DIR]

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

SEED = 7


def child(step: str, work: Path, rows: int) -> dict:
    """Runs one step in this (child) process and returns its figures."""
    started = time.perf_counter()
    out: dict = {}
    if step == "generate":
        from her2qa.generate import generate

        for fmt in ("csv", "hl7v2"):
            if not (work / fmt / "manifest.json").exists():
                generate(work / fmt, rows=rows, seed=SEED, fmt=fmt)
    elif step == "csv":
        from her2qa.ingest import extract

        files = sorted((work / "csv").glob("*.csv"))
        started = time.perf_counter()  # reading only: imports are not the format's cost
        out["rows"] = sum(extract.read(f).table.num_rows for f in files)
        out["bytes"] = sum(f.stat().st_size for f in files)
    elif step == "hl7v2":
        from her2qa.config import SourceConfig
        from her2qa.ingest.formats import hl7v2

        files = sorted((work / "hl7v2").glob("*.hl7"))
        started = time.perf_counter()
        results = items = 0
        for f in files:
            table = hl7v2.read(f, SourceConfig()).table
            valid = table.column("malformed").null_count  # rows without a reason
            results, items = results + valid, items + table.num_rows - valid
        out.update(rows=results + items, results=results, items=items)
        out["bytes"] = sum(f.stat().st_size for f in files)
    elif step == "hl7v2_split":
        import numpy as np

        from her2qa.config import SourceConfig
        from her2qa.ingest.formats.hl7v2 import text

        files = sorted((work / "hl7v2").glob("*.hl7"))
        started = time.perf_counter()
        segments = 0
        for f in files:
            data = f.read_bytes()
            header = text.first_header(data)
            delims = text.delimiters(header)
            data, sep = text.normalise(data, text.charset(header, delims, SourceConfig()))
            t = text.Text(memoryview(data), sep, delims)
            t.fields(np.arange(len(t)))
            segments += len(t)
        out.update(segments=segments, bytes=sum(f.stat().st_size for f in files))
    else:
        raise SystemExit(f"unknown step {step}")
    return finish(out, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="work folder to keep (and reuse) the files")
    parser.add_argument("--child")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.work, args.rows)))
        return

    print(f"her2qa HL7 v2 vs CSV read ({args.rows:,} results, {os.cpu_count()} cores)")
    print(f"{'step':<12} {'wall s':>8} {'rows/s':>12} {'MB/s':>8} {'peak RSS MB':>12}  notes")
    with tempfile.TemporaryDirectory(prefix="her2qa-hl7-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        gen = _common.measure(__file__, "generate", work, "--rows", str(args.rows))
        print(
            f"{'generate':<12} {gen['seconds']:>8.1f} {'':>12} {'':>8} "
            f"{gen['peak_rss_mb']:>12.0f}  CSV and HL7 v2 of one network",
            flush=True,
        )
        results = {}
        for step in ("csv", "hl7v2", "hl7v2_split"):
            r = results[step] = _common.measure(__file__, step, work, "--rows", str(args.rows))
            note = ""
            if step == "csv":
                note = f"{r['rows']:,} rows, {r['bytes'] / 1e6:,.0f} MB"
            elif step == "hl7v2":
                note = (
                    f"{r['results']:,} results + {r['items']:,} items, {r['bytes'] / 1e6:,.0f} "
                    f"MB; {r['seconds'] / results['csv']['seconds']:.1f}x the CSV read"
                )
            else:
                note = (
                    f"{r['segments']:,} segments; "
                    f"{r['seconds'] / results['csv']['seconds']:.1f}x the CSV read"
                )
            rate = args.rows / r["seconds"]
            mbs = r["bytes"] / 1e6 / r["seconds"]
            print(
                f"{step:<12} {r['seconds']:>8.2f} {rate:>12,.0f} {mbs:>8.0f} "
                f"{r['peak_rss_mb']:>12.0f}  {note}",
                flush=True,
            )
        ratio = results["hl7v2"]["seconds"] / results["csv"]["seconds"]
        print(f"ratio hl7v2 / csv = {ratio:.2f} (target <= 3)")


if __name__ == "__main__":
    main()
