"""Benchmark of every mart and the findings (warehouse/build.py) on a synthetic staged layer.

    PYTHONPATH=. python benchmarks/marts_benchmark.py                 # 1M and 10M rows
    PYTHONPATH=. python benchmarks/marts_benchmark.py --rows 200000   # a quick one
    PYTHONPATH=. python benchmarks/marts_benchmark.py --rows 10000000 \
        --partition-results 100000000 5000000   # one piece, then in partitions of 5M

For each size, a child process builds ``staging.her2_results_history`` directly in
DuckDB SQL (``range()`` and hash-based pseudo-random columns, no CSV), then runs
``staging/her2_results``; a second, fresh child opens the file as the pipeline does
(``warehouse.connect``, so its DuckDB settings apply), times ``build_marts`` (every table of
the catalog's marts and findings layers, one transaction) and reports its wall time, peak RSS
(``getrusage``)
and the DuckDB memory limit in force, so the figures are the marts' own; also the peak size
of DuckDB's temp directory and of the file a partitioned build builds each partition in
(sampled every 0.2 s). ``--partition-results`` builds the same staged file whole once per
value given, as ``build.PARTITION_RESULTS``: in partitions of about that many results.
The aim set when the marts were fewer, 10M rows in <= 60 s and <= 4 GB on 2 cores, is no
longer met: 90.9 s and 1.2 GB at 10M on 2026-12-06 (the catalog has grown since); the
target that counts now is the whole job's, benchmarks/nightly_benchmark.py.

The synthetic layer, per three rows: one specimen (8 labs, two specimens per
patient so patients cross labs, ~35% metastases), a clinical IHC (2% indeterminate),
a clinical ISH (85% dual-probe, 10% single-probe, 5% indeterminate), and a third
row that is a second_read IHC (40%), a reference_lab IHC (20%), a repeat clinical
IHC (20%) or a validation run (20%); 1% of rows get an amended version 2.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

import warehouse
from her2qa.config import SiteConfig
from her2qa.staging import refresh_current_results
from warehouse import build as mart_build

GENERATE = """
INSERT INTO staging.her2_results_history
WITH base AS (
    SELECT
        i,
        i // 3 AS s,
        i % 3 AS slot,
        hash(i, 'a') AS h1,
        hash(i, 'b') AS h2,
        hash(i, 'c') AS h3,
        hash(i // 3, 'spec') AS hs
    FROM range($rows) AS t(i)
),
shaped AS (
    SELECT
        *,
        'LAB' || (hs % 8)::VARCHAR AS lab_id,
        CASE
            WHEN slot = 2 AND h3 % 10 < 4 THEN 'second_read'
            WHEN slot = 2 AND h3 % 10 < 6 THEN 'reference_lab'
            WHEN slot = 2 AND h3 % 10 < 8 THEN 'clinical'
            WHEN slot = 2 THEN 'validation'
            ELSE 'clinical'
        END AS test_purpose,
        CASE WHEN slot = 1 THEN 'ISH' ELSE 'IHC' END AS assay,
        DATE '2019-01-01' + (hs % 2000)::INTEGER AS collection_date,
        CASE h1 % 100 // 35 WHEN 0 THEN '0' WHEN 1 THEN '1+' ELSE NULL END AS low_score,
        0.8 + (h1 % 400) / 100.0 AS ratio,
        1.5 + (h2 % 150) / 100.0 AS cep17
    FROM base
),
valued AS (
    SELECT
        *,
        CASE
            WHEN assay <> 'IHC' THEN NULL
            WHEN h2 % 100 < 2 THEN NULL
            WHEN h1 % 100 < 35 THEN '0'
            WHEN h1 % 100 < 70 THEN '1+'
            WHEN h1 % 100 < 85 THEN '2+'
            ELSE '3+'
        END AS ihc_score,
        CASE
            WHEN assay <> 'ISH' THEN NULL
            WHEN h3 % 100 < 85 THEN 'dual'
            WHEN h3 % 100 < 95 THEN 'single'
        END AS probe
    FROM shaped
)
SELECT
    lab_id,
    CASE WHEN test_purpose = 'reference_lab' THEN 'REFLAB' ELSE lab_id END,
    'T' || i::VARCHAR,
    1,
    'S' || s::VARCHAR,
    'P' || (s // 2)::VARCHAR,
    CASE WHEN s % 2 = 1 AND hs % 10 < 7 THEN 'metastasis' ELSE 'primary' END,
    CASE WHEN s % 2 = 1 AND hs % 10 < 7 THEN 'liver' ELSE 'breast' END,
    collection_date,
    collection_date + (h2 % 20)::INTEGER,
    (h3 % 120)::DOUBLE,
    6 + (h1 % 60)::DOUBLE,
    assay,
    CASE WHEN assay = 'IHC' THEN '4B5' ELSE 'PathVysion' END,
    ihc_score,
    CASE WHEN ihc_score IS NOT NULL THEN (h3 % 40)::DOUBLE END,
    CASE WHEN probe IS NOT NULL THEN round(ratio * cep17, 2) END,
    CASE WHEN probe = 'dual' THEN cep17 END,
    CASE WHEN probe = 'dual' THEN round(ratio, 2) END,
    CASE WHEN probe IS NOT NULL THEN 20 + (h2 % 40)::INTEGER END,
    CASE
        WHEN assay = 'IHC' AND ihc_score IS NULL THEN 'indeterminate'
        WHEN assay = 'ISH' AND probe IS NULL THEN 'indeterminate'
        WHEN ihc_score = '3+' OR ratio >= 2.0 THEN 'positive'
        WHEN ihc_score = '2+' THEN 'equivocal'
        ELSE 'negative'
    END,
    'DR' || (h2 % 40)::VARCHAR,
    test_purpose,
    1 + i // 100000,
    'bench_' || (i // 100000)::VARCHAR || '.csv',
    1 + i % 100000,
    NULL,  -- expected_result: no validation/proficiency key in this synthetic layer
    true  -- is_current: refresh_current_results keeps the highest version's
FROM valued
;
INSERT INTO staging.her2_results_history
SELECT * REPLACE (
    2 AS result_version,
    CASE WHEN ihc_score IS NOT NULL THEN '2+' END AS ihc_score,
    report_date + 3 AS report_date
)
FROM staging.her2_results_history
WHERE hash(test_id, 'amend') % 100 = 0
"""


def generate(path: Path, rows: int) -> dict:
    started = time.perf_counter()
    con = duckdb.connect(str(path))
    warehouse.ensure_schema(con)
    for statement in GENERATE.split(";\n"):
        if statement.strip():
            con.execute(statement, {"rows": rows} if "$rows" in statement else None)
    refresh_current_results(con)
    history, current = con.execute(
        "SELECT (SELECT count(*) FROM staging.her2_results_history), "
        "(SELECT count(*) FROM staging.her2_results)"
    ).fetchone()
    con.close()
    return {"history": history, "current": current, "seconds": time.perf_counter() - started}


def _peak_sizes(path: Path, stop: threading.Event, peaks: dict) -> None:
    """Sample the sizes of DuckDB's temp directory and of the partition file until ``stop``."""
    temp, partition = Path(f"{path}.tmp"), Path(f"{path}.partition")
    while not stop.wait(0.2):
        for name, size in (("temp", _size(temp)), ("partition", _size(partition))):
            peaks[name] = max(peaks.get(name, 0), size)


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(f.stat().st_size for f in path.iterdir())
        return path.stat().st_size
    except FileNotFoundError:  # deleted while sampled
        return 0


def build(path: Path, partition_results: int | None) -> dict:
    if partition_results:
        mart_build.PARTITION_RESULTS = partition_results
    peaks: dict[str, int] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_peak_sizes, args=(path, stop, peaks), daemon=True)
    watcher.start()
    # Opened as the pipeline opens it (warehouse.connect: its DuckDB settings apply).
    with warehouse.connect(path) as con:
        (threads,) = con.execute("SELECT current_setting('threads')").fetchone()
        started = time.perf_counter()
        summary = mart_build.build_marts(con, SiteConfig(), incremental=False)
        seconds = time.perf_counter() - started
    stop.set()
    watcher.join()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    return {
        "seconds": seconds,
        "partition_results": mart_build.PARTITION_RESULTS,
        "peak_temp_mb": peaks.get("temp", 0) / 2**20,
        "peak_partition_file_mb": peaks.get("partition", 0) / 2**20,
        "memory_limit": summary.memory_limit,
        "threads": threads,
        "peak_rss_mb": peak_kb / 1024,
        "specimens": summary.rows["specimen_her2"],
        "agreement_rows": summary.rows["agreement"],
        "metastasis_pairs": summary.rows["primary_metastasis_pairs"],
        "findings": summary.rows["findings"],
    }


def _child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark step {args[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dir", type=Path, help="where the DuckDB files go (default: temp)")
    parser.add_argument(
        "--partition-results",
        type=int,
        nargs="+",
        default=[0],
        help="build whole once per value, in partitions of about that many results "
        "(default: the build's own PARTITION_RESULTS)",
    )
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(generate(args.generate, args.rows[0])))
        return
    if args.build:
        print(json.dumps(build(args.build, args.partition_results[0])))
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for rows in args.rows:
            path = Path(tmp) / f"bench_{rows}.duckdb"
            made = _child("--generate", str(path), "--rows", str(rows))
            for size in args.partition_results:
                result = _child("--build", str(path), "--partition-results", str(size))
                print(
                    f"{rows:>11,} rows generated ({made['history']:,} history, "
                    f"{made['current']:,} current, {made['seconds']:.1f} s) -> all marts, "
                    f"partitions of {result['partition_results']:,} results: "
                    f"{result['seconds']:.1f} s wall, "
                    f"peak RSS {result['peak_rss_mb']:,.0f} MB "
                    f"(DuckDB memory_limit {result['memory_limit']}, "
                    f"{result['threads']} threads), peak temp "
                    f"{result['peak_temp_mb']:,.0f} MB, peak partition file "
                    f"{result['peak_partition_file_mb']:,.0f} MB; "
                    f"{result['specimens']:,} specimens, {result['agreement_rows']:,} agreement "
                    f"rows, {result['metastasis_pairs']:,} metastasis pairs, "
                    f"{result['findings']:,} findings",
                    flush=True,
                )
            path.unlink()


if __name__ == "__main__":
    main()
