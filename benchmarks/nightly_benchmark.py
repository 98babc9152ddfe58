"""Benchmark: the nightly job at network scale (issue 14), each figure with its ratio to the
DuckDB floor measured in the same run and its peak RSS.

    .venv/bin/python benchmarks/nightly_benchmark.py --rows 1000000 [10000000] --work DIR
        [--keep] [--json PATH] [--increments 3] [--grow density|labs]
    .venv/bin/python benchmarks/nightly_benchmark.py --rows 100000000 --batches bulk,nightly \\
        --work DIR                                         # the moonshot (10 bulk batches)

For each size N, every step in a process of its own (benchmarks/_common.py), the job itself
as ``python -m her2qa.cli run`` exactly as an operator starts it:

- ``floor``: DuckDB's own ``read_csv`` of the same CSV files into a table (types detected,
  DuckDB's default settings) plus one GROUP BY (lab, month): what no pipeline reading those
  files can beat. The best of ``--floor-tries`` (3) child processes, so that other work on a
  shared machine does not flatter the ratios.
- ``layers`` (``--layers``): the floor, then what the design writes at least, with no rule:
  the same files again as text (the raw layer's shape), one typed copy of the table (the
  history) and ``CASE_LEVEL_COPIES`` more (the case-level marts that are a row per result or
  per specimen), checkpointed. Its ratio to the floor is what a fresh run cannot go under
  while those layers are tables (README "Scale and scale-out").
- ``fresh``: the whole job (ingest -> staging -> checks -> marts -> findings -> site ->
  snapshot) on an empty warehouse with all N rows in the inbox: wall time, CPU time and peak
  RSS of the process (``os.wait4``), x floor. **Target: <= 5x the floor at 1M and 10M, peak
  RSS <= 2 GB at 1M and <= 4 GB at 10M.**
- ``profile``: the fresh run's steps from its Dagster event log (STEP_START/STEP_SUCCESS of
  ingest_inbox, stage_results, build_marts, site, snapshot and every asset check) grouped by
  stage, and Dagster's overhead = wall - the steps (start-up: imports, definitions, instance;
  between steps: the event log; after the last step: summary, exit).
- ``breakdown``: the same inputs again into a warehouse of their own, in one process through the
  public entry points, each timed: parse (``formats.read``), hash and archive copy, raw load
  with PHI keying (and its statements), PHI keying alone, validation SQL, staging, the two
  pandera contract checks (as the pipeline runs them, and on every row of the run for
  comparison), marts, findings, site, snapshot (benchmarks/_profile.py).
- ``increment k``: after the fresh run, one new file of 1,000 rows (benchmarks/_network.py:
  85% new results of new specimens reported the night after the warehouse's last report, 10%
  amendments of old tests, 5% late second reads of old specimens; staged with zero
  quarantined rows, printed) and the whole job again. **Target: <= 15 s at 10M, and <= 2x
  the same increment at 1M** (the ratio is printed when both sizes run; median of the
  increments).
- ``no new file``: the whole job again with nothing new in the inbox.
- ``bulk b`` (``--batches bulk,...``): the network ingested in batches of ``--bulk-rows``
  (each batch a run of the whole job on the files added), each batch's time, RSS and stages
  printed as it ends: where the design bends. Then the nightly increments on top.

A network of N rows is generated once in chunks of ``--chunk-rows`` (``her2qa generate``,
seed 7 + chunk, ids rewritten per chunk: benchmarks/_network.py; ``--grow density`` keeps
the 5 laboratories, ``--grow labs`` adds laboratories) and cached in ``--work``: a later run
with the same DIR reuses it. 1M rows are ~175 MB of CSV; the run folder holds an archive copy
and the warehouse's snapshot (clones that take no disk on XFS or btrfs, whole copies
elsewhere), the warehouse and, during a full mart build, DuckDB's
temp files and the partition file of one piece of at most ``build.PARTITION_RESULTS``
(``GB_PER_MILLION``, ``BUILD_GB_PER_MILLION``; the script says when the disk looks too
small). Run folders are deleted after each size unless ``--keep``. Results go to the
terminal and, with ``--json``, to a file.

Table columns: figure, wall seconds, x the floor's wall seconds, peak RSS MB, CPU seconds and
x the floor's CPU seconds (on a shared machine other work stretches wall time; CPU time much
less: quote both). Not a test: nothing here asserts; it prints figures to quote (say if the
machine was shared: the load average is printed at start and end).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import _common  # benchmarks/_common.py: the script's own folder is on sys.path
import _network
import _profile
from _common import KEY, REPO, finish

from warehouse.build import PARTITION_RESULTS  # the build's pieces (_disk_note)

SCRIPT = str(Path(__file__).resolve())
MB = 1024  # ru_maxrss is in KiB on Linux
FRESH_X_FLOOR = 5.0
INCREMENT_SECONDS = 15.0
INCREMENT_X_1M = 2.0


def rss_target_mb(rows: int) -> float | None:
    """Issue 14: <= 2 GB at 1M rows, <= 4 GB at 10M (none stated beyond)."""
    if rows <= 1_000_000:
        return 2048
    if rows <= 10_000_000:
        return 4096
    return None


# --- child steps ---------------------------------------------------------------------------


def child(step: str, work: Path, params: dict) -> dict:
    """One step in this (child) process; returns its figures."""
    started = time.perf_counter()
    if step == "chunk":
        out = _network.make_chunk(work, params["chunk"], params["rows"], params["grow"])
    elif step == "floor":
        files = [Path(p) for p in json.loads(Path(params["files"]).read_text())]
        out = floor(work, files)
    elif step == "layers":
        files = [Path(p) for p in json.loads(Path(params["files"]).read_text())]
        out = floor(work, files, layers=True)
    elif step == "nightly_file":
        sources = [Path(p) for p in params["sources"]]
        out = _network.nightly_file(sources, Path(params["out"]), params["k"], params["rows"])
    elif step == "last_run":
        out = _profile.last_run(Path(params["dagster_home"]), Path(params["warehouse"]))
    elif step == "breakdown":
        out = _profile.breakdown(Path(params["inbox"]), work)
    else:
        raise SystemExit(f"unknown step {step}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # the whole child, imports included
    return finish(out, started)


# The case-level marts with a row per result or per specimen (interpretation_audit,
# specimen_her2, positivity_cases, agreement_pairs, specimen_preanalytic, ...): at least this
# many whole copies of the results in a fresh build.
CASE_LEVEL_COPIES = 4


def floor(work: Path, files: list[Path], layers: bool = False) -> dict:
    """DuckDB reading the files into a table of its own, then one grouping of them; with
    ``layers``, then the layers' writes alone (``layers`` in the docstring above)."""
    import duckdb

    db = work / "floor.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("SET enable_progress_bar = false")
    con.execute(
        "CREATE TABLE results AS SELECT * FROM read_csv($files, header = true)",
        {"files": [str(f) for f in files]},
    )
    rows, groups = con.execute(
        """
        SELECT (SELECT count(*) FROM results), count(*) FROM (
            SELECT lab_id, date_trunc('month', report_date::DATE) AS month, count(*) AS n,
                   count(*) FILTER (WHERE reported_result = 'positive') AS positive
            FROM results GROUP BY ALL)
        """
    ).fetchone()
    if layers:
        con.execute(
            "CREATE TABLE raw_text AS SELECT * FROM read_csv($files, header = true, "
            "all_varchar = true)",
            {"files": [str(f) for f in files]},
        )
        con.execute("CREATE TABLE history AS SELECT * FROM results")
        for i in range(CASE_LEVEL_COPIES):
            con.execute(f"CREATE TABLE case_level_{i} AS SELECT * FROM history")  # noqa: S608
        con.execute("CHECKPOINT")
        layer_rows = [
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - ours
            for t in ("raw_text", "history", *(f"case_level_{i}" for i in range(CASE_LEVEL_COPIES)))
        ]
    con.close()
    db.unlink()
    return {"rows": rows, "groups": groups, **({"layer_rows": layer_rows} if layers else {})}


def measure(step: str, work: Path, **params: object) -> dict:
    return _common.measure(SCRIPT, step, work, "--params", json.dumps(params))


# --- the job, as an operator runs it --------------------------------------------------------


@dataclass(frozen=True)
class RunDir:
    """One size's deployment: inbox, warehouse, site, HER2QA_HOME and DAGSTER_HOME."""

    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def home(self) -> Path:
        return self.root / "var"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def warehouse(self) -> Path:
        return self.root / "her2.duckdb"

    @property
    def site(self) -> Path:
        return self.root / "site"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def run_job(run: RunDir, label: str) -> dict:
    """``python -m her2qa.cli run`` in a process of its own: wall and CPU seconds, peak RSS
    (os.wait4: this process's own figures), then its steps from the event log."""
    env = {
        **os.environ,
        "HER2QA_PHI_KEY": KEY,
        "HER2QA_HOME": str(run.home),
        "DAGSTER_HOME": str(run.dagster_home),
        "PYTHONPATH": str(REPO),
    }
    cmd = [sys.executable, "-m", "her2qa.cli", "run", "--inbox", str(run.inbox)]
    cmd += ["--warehouse", str(run.warehouse), "--site", str(run.site), "--quiet"]
    run.logs.mkdir(parents=True, exist_ok=True)
    name = label.replace(" ", "_")
    with (run.logs / f"{name}.out").open("w") as out, (run.logs / f"{name}.err").open("w") as err:
        started_at = time.time()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=run.root)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        ended_at = time.time()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode != 0:
        tail = (run.logs / f"{name}.err").read_text(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(
            f"{label}: her2qa run failed (exit {proc.returncode}):\n" + "\n".join(tail)
        )
    got = measure(
        "last_run", run.root, dagster_home=str(run.dagster_home), warehouse=str(run.warehouse)
    )
    return {
        "label": label,
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / MB,
        "stages": _profile.stages(got["steps"], started_at, ended_at),
        **{k: v for k, v in got.items() if k not in ("seconds", "peak_rss_mb", "cpu_seconds")},
    }


def link_into(inbox: Path, files: list[str]) -> None:
    """Files land in the inbox as hard links to the cache (a copy across file systems)."""
    inbox.mkdir(parents=True, exist_ok=True)
    for f in map(Path, files):
        target = inbox / f.name
        if target.exists():
            continue
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


# --- one size ------------------------------------------------------------------------------


def network(rows: int, args: argparse.Namespace, cache: Path) -> list[dict]:
    """The chunks of an N-row network, generated (each in a child process) where not cached."""
    per = min(rows, args.chunk_rows)
    n_chunks = -(-rows // per)
    chunks = []
    for c in range(n_chunks):
        size = min(per, rows - c * per)
        cached = _network.chunk_dir(cache, c, size, args.grow) / _network.DONE
        if cached.is_file():
            chunks.append(json.loads(cached.read_text("utf-8")))
            continue
        got = measure("chunk", cache, chunk=c, rows=size, grow=args.grow)
        print(
            f"  generated chunk {c + 1}/{n_chunks}: {got['rows']:,} rows in {got['seconds']:.1f} s",
            flush=True,
        )
        chunks.append({k: got[k] for k in ("chunk", "seed", "grow", "rows", "files", "bytes")})
    return chunks


def bench_size(rows: int, args: argparse.Namespace, work: Path) -> dict:
    chunks = network(rows, args, work / "networks")
    files = [f for ch in chunks for f in ch["files"]]
    total_rows = sum(ch["rows"] for ch in chunks)
    size_mb = sum(ch["bytes"] for ch in chunks) / 1e6
    print(
        f"\n== {rows:,} rows: {total_rows:,} results in {len(files):,} CSV files, "
        f"{size_mb:,.0f} MB ({len(chunks)} chunk(s), --grow {args.grow}) ==",
        flush=True,
    )
    _disk_note(rows, work, args)
    run = RunDir(work / "runs" / str(rows))
    shutil.rmtree(run.root, ignore_errors=True)
    run.root.mkdir(parents=True)
    listing = run.root / "files.json"
    listing.write_text(json.dumps(files))
    out: dict = {"rows": total_rows, "files": len(files), "csv_mb": size_mb, "runs": []}

    # The floor is a lower bound: the best of a few tries (other work on a shared machine
    # only ever makes it slower).
    tries = [measure("floor", run.root, files=str(listing)) for _ in range(args.floor_tries)]
    fl = min(tries, key=lambda t: t["seconds"])
    out["floor"] = {**fl, "tries_s": [t["seconds"] for t in tries]}
    note = f"{fl['groups']:,} (lab, month) groups; best of " + ", ".join(
        f"{t['seconds']:.1f}" for t in tries
    )
    base = Floor(fl["seconds"], fl["cpu_seconds"])
    report(out, "floor", fl, base, rows, note)
    if args.layers:
        out["layers"] = measure("layers", run.root, files=str(listing))
        note = f"the floor + raw text, history and {CASE_LEVEL_COPIES} case-level copies"
        report(out, "layers' writes alone", out["layers"], base, None, note)

    batches = args.batches
    if "fresh" in batches:
        link_into(run.inbox, files)
        fresh = run_job(run, "fresh")
        out["fresh"] = fresh
        report(out, "fresh whole job", fresh, base, rows, _ingested(fresh))
        print_profile(fresh)
        if not args.no_breakdown:
            out["breakdown"] = print_breakdown(run, base.seconds)
    if "bulk" in batches:
        out["bulk"] = bulk(run, chunks, args, base, out)
    if "nightly" in batches:
        nightly(run, chunks, args, base, out)
    if not args.keep:
        shutil.rmtree(run.root, ignore_errors=True)
    return out


# Disk per 1M rows: the CSV files (cached), their archive copy and the warehouse's snapshot
# (each a clone that takes no disk where the file system shares extents, XFS or btrfs: an upper
# bound), the snapshot before last (kept to be patched where snapshots are not clones:
# warehouse/publish.py), the warehouse after a few nights (at 100M after two nights: 17.7 GB
# of CSV, 31.9 GB of warehouse); the floor's own table comes and goes.
GB_PER_MILLION = {
    "csv": 0.18,
    "archive": 0.18,
    "warehouse": 0.32,
    "snapshot": 0.32,
    "spare snapshot": 0.32,
}
# A full mart build's temp, per 1M results of one piece: it is built in pieces of at most
# build.PARTITION_RESULTS (at 10M in one piece: 3.6 GB of temp; at 50M in five: 5.3 GB of
# temp and a 2.4 GB partition file).
BUILD_GB_PER_MILLION = {"temp": 0.53, "partition file": 0.25}


def _disk_note(rows: int, work: Path, args: argparse.Namespace) -> None:
    """Say when the run folder will not fit (GB_PER_MILLION for every 1M rows, the build's
    temp and partition file for one piece of them)."""
    piece = min(rows, PARTITION_RESULTS) / 1e6
    need = rows / 1e6 * sum(GB_PER_MILLION.values()) + piece * BUILD_GB_PER_MILLION["temp"]
    if rows > PARTITION_RESULTS:
        need += piece * BUILD_GB_PER_MILLION["partition file"]
    shared = ("archive", "snapshot", "spare snapshot")  # clones there, and no spare kept
    clones = rows / 1e6 * sum(GB_PER_MILLION[k] for k in shared)
    free = shutil.disk_usage(work).free / 1e9
    if need > 0.8 * free:
        print(
            f"  disk: this size needs about {need:,.0f} GB "
            f"({', '.join([*GB_PER_MILLION, *BUILD_GB_PER_MILLION])}), "
            f"{free:,.0f} GB are free in {work}: it may run out (on XFS or btrfs the archive "
            f"and the snapshot are clones, and no spare snapshot is kept: {clones:,.0f} GB less)",
            flush=True,
        )


def bulk(run: RunDir, chunks: list[dict], args: argparse.Namespace, floor: Floor, out: dict):
    per = max(1, args.bulk_rows // max(ch["rows"] for ch in chunks))  # chunks per batch
    batches = [chunks[i : i + per] for i in range(0, len(chunks), per)]
    total_rows = sum(ch["rows"] for ch in chunks)
    done = []
    for b, batch in enumerate(batches, 1):
        link_into(run.inbox, [f for ch in batch for f in ch["files"]])
        got = run_job(run, f"bulk {b}")
        done.append(got)
        # x floor of a batch: against the floor's share of the batch's rows (reading is linear)
        share = sum(ch["rows"] for ch in batch) / total_rows
        note = f"x floor of its rows; {_ingested(got)}; {_stage_line(got)}"
        report(out, f"bulk {b}/{len(batches)}", got, floor.share(share), None, note)
    total = {
        "seconds": sum(g["seconds"] for g in done),
        "cpu_seconds": sum(g["cpu_seconds"] for g in done),
        "peak_rss_mb": max(g["peak_rss_mb"] for g in done),
    }
    report(out, "bulk, all batches", total, floor, None, f"{len(done)} runs")
    return {"batches": done, **total}


def nightly(run: RunDir, chunks: list[dict], args: argparse.Namespace, floor: Floor, out: dict):
    """Increments of ``--increment-rows`` new rows, each followed by a run with no new file."""
    # Versions and dates come from the first and last chunks (a chunk's tests are in its own
    # files, so their versions are all there) and earlier nights' files.
    sources = [
        f for ch in {id(c): c for c in (chunks[0], chunks[-1])}.values() for f in ch["files"]
    ]
    nights = run.root / "nights"
    nights.mkdir(exist_ok=True)
    out["increments"], out["no_new_file"] = [], []
    for k in range(1, args.increments + 1):
        night_files = sorted(str(p) for p in nights.glob("*.csv"))
        made = measure(
            "nightly_file",
            run.root,
            sources=sources + night_files,
            out=str(nights / f"network_nightly_{k:02d}.csv"),
            k=k,
            rows=args.increment_rows,
        )
        final = nights / f"network_nightly_{made['night']}_{k:02d}.csv"
        os.replace(made["file"], final)
        link_into(run.inbox, [str(final)])
        got = run_job(run, f"increment {k}")
        got["file"] = {key: made[key] for key in ("night", "rows", "new", "amended", "late")}
        out["increments"].append(got)
        note = (
            f"{made['new']} new, {made['amended']} amended, {made['late']} late ({made['night']}):"
            f" {_ingested(got)}; {_stage_line(got)}"
        )
        report(out, f"increment {k}", got, floor, None, note)
        empty = run_job(run, f"no new file {k}")
        out["no_new_file"].append(empty)
        report(out, f"no new file {k}", empty, floor, None, _stage_line(empty))
    if out["increments"]:
        out["increment_median_s"] = statistics.median(g["seconds"] for g in out["increments"])
        out["no_new_file_median_s"] = statistics.median(g["seconds"] for g in out["no_new_file"])
        out["increment_median_cpu_s"] = statistics.median(
            g["cpu_seconds"] for g in out["increments"]
        )


# --- printing -------------------------------------------------------------------------------

ROW = "{:<30} {:>9} {:>8} {:>9} {:>8} {:>8}  {}"


@dataclass(frozen=True)
class Floor:
    """The floor's wall and CPU seconds (CPU: less moved by other work on a shared machine)."""

    seconds: float
    cpu_seconds: float

    def share(self, fraction: float) -> Floor:
        return Floor(self.seconds * fraction, self.cpu_seconds * fraction)


def report(out: dict, figure: str, got: dict, floor: Floor, rows: int | None, note: str) -> None:
    """One line of the table: figure, seconds, x floor, peak RSS MB, CPU s, CPU x floor's."""
    x = got["seconds"] / floor.seconds
    cpu = got.get("cpu_seconds")
    x_cpu = cpu / floor.cpu_seconds if cpu is not None and floor.cpu_seconds else None
    target = ""
    if figure.startswith("fresh") and rows is not None:
        rss = rss_target_mb(rows)
        target = f" [target <= {FRESH_X_FLOOR:g}x floor" + (f", <= {rss:,.0f} MB]" if rss else "]")
    out["runs"].append(
        {
            "figure": figure,
            "seconds": got["seconds"],
            "x_floor": x,
            "peak_rss_mb": got["peak_rss_mb"],
            "cpu_seconds": cpu,
            "cpu_x_floor_cpu": x_cpu,
        }
    )
    print(
        ROW.format(
            figure,
            f"{got['seconds']:.1f}",
            f"{x:.1f}",
            f"{got['peak_rss_mb']:,.0f}",
            "" if cpu is None else f"{cpu:.1f}",
            "" if x_cpu is None else f"{x_cpu:.1f}",
            note + target,
        ),
        flush=True,
    )


def _ingested(got: dict) -> str:
    reasons = ", ".join(f"{c} {n:,}" for c, n in got.get("quarantine_reasons", {}).items())
    return (
        f"read {got['rows_read']:,} = staged {got['rows_staged']:,} + quarantined "
        f"{got['rows_quarantined']:,}"
        + (f" ({reasons})" if reasons else "")
        + f"; warehouse {got['warehouse_mb']:,.0f} MB"
    )


def _stage_line(got: dict) -> str:
    s = got["stages"]
    overhead = sum(v for k, v in s.items() if k.startswith("overhead"))
    parts = [f"{k} {v:.1f}" for k, v in s.items() if not k.startswith("overhead") and v >= 0.05]
    return "s: " + ", ".join([*parts, f"Dagster overhead {overhead:.1f}"])


def print_profile(got: dict) -> None:
    wall = got["seconds"]
    print(f"  profile of the fresh run by step (Dagster event log), of {wall:.1f} s wall:")
    for s in got["steps"]:
        secs = s["end"] - s["start"]
        print(f"    {s['step']:<52} {secs:7.1f} s {100 * secs / wall:5.1f}%  {s['stage']}")
    print("  by stage:")
    stages = got["stages"]
    for name, secs in stages.items():
        if secs or not name.startswith("other"):
            print(f"    {name:<52} {secs:7.1f} s {100 * secs / wall:5.1f}%")
    overhead = sum(v for k, v in stages.items() if k.startswith("overhead"))
    label = "Dagster overhead = wall - steps"
    print(f"    {label:<52} {overhead:7.1f} s {100 * overhead / wall:5.1f}%")


def print_breakdown(run: RunDir, floor_s: float) -> dict | None:
    try:
        got = measure("breakdown", run.root / "breakdown", inbox=str(run.inbox))
    except SystemExit as exc:  # a moved entry point (or a failure): say which, and go on
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        said = [line for line in lines if line.startswith("breakdown:") or "Error" in line]
        print(f"  breakdown not measured: {(said or lines or [str(exc)])[-1]}")
        return None
    finally:
        shutil.rmtree(run.root / "breakdown", ignore_errors=True)
    print(
        f"  breakdown: the same files again in one process ({got['seconds']:.1f} s, peak "
        f"{got['peak_rss_mb']:,.0f} MB), through the public entry points:"
    )
    for label, secs in _profile.breakdown_rows(got):
        print(f"    {label:<72} {secs:7.1f} s {secs / floor_s:6.1f}x floor")
    if got["not_timed"]:
        for what in got["not_timed"]:
            print(f"    not timed: {what}")
    return got


def file_system(path: Path) -> str:
    """The type of the file system holding ``path`` (the snapshot is a clone of extents on XFS
    or btrfs, a copy of bytes on ext4: warehouse/publish.py), from /proc/self/mounts."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return kind
    for line in mounts:
        fields = line.split()
        point = fields[1].replace("\\040", " ")
        inside = str(path) == point or str(path).startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def machine() -> dict:
    load = os.getloadavg()
    import duckdb

    return {
        "cpus": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "HER2QA_DUCKDB_MEMORY": os.environ.get("HER2QA_DUCKDB_MEMORY", "(default)"),
        "HER2QA_DUCKDB_THREADS": os.environ.get("HER2QA_DUCKDB_THREADS", "(default)"),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--work", type=Path, help="cache and run folders (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep each size's run folder")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--batches",
        default="fresh,nightly",
        help="fresh (all files in one run) or bulk (--bulk-rows per run), then nightly",
    )
    parser.add_argument("--increments", type=int, default=3, help="nightly files, one per run")
    parser.add_argument("--increment-rows", type=int, default=1_000)
    parser.add_argument("--grow", choices=_network.GROW, default="density")
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument("--bulk-rows", type=int, default=10_000_000)
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument(
        "--layers", action="store_true", help="also the floor of the layers' writes alone"
    )
    parser.add_argument("--floor-tries", type=int, default=3, help="the floor: best of these")
    parser.add_argument("--child")
    parser.add_argument("--params", default="{}")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.work, json.loads(args.params)), default=str))
        return

    args.batches = {b.strip() for b in args.batches.split(",") if b.strip()}
    if args.batches - {"fresh", "bulk", "nightly"} or {"fresh", "bulk"} <= args.batches:
        raise SystemExit("--batches: fresh or bulk (not both), and/or nightly")
    # Only this benchmark's settings reach the job: no warehouse, config or key of the shell.
    for name in [n for n in os.environ if n.startswith("HER2QA_")]:
        if name not in ("HER2QA_DUCKDB_MEMORY", "HER2QA_DUCKDB_THREADS"):
            del os.environ[name]
    os.environ.pop("DAGSTER_HOME", None)
    temp = None
    if args.work is None:
        import tempfile

        temp = tempfile.TemporaryDirectory(prefix="her2qa-nightly-bench-")
        args.work = Path(temp.name)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)  # no her2qa.toml of the caller's folder applies

    info = machine()
    info["work_file_system"] = file_system(work)
    print(
        f"her2qa nightly benchmark: {info['cpus']} cores, load average "
        f"{'/'.join(map(str, info['load_average_1_5_15']))} at start (other work on the "
        f"machine shows here), DuckDB {info['duckdb']}, HER2QA_DUCKDB_MEMORY "
        f"{info['HER2QA_DUCKDB_MEMORY']}; work folder {work} ({info['work_file_system']})"
    )
    print(ROW.format("figure", "seconds", "x floor", "peak MB", "CPU s", "CPU x", "notes"))
    results: dict = {"machine": info, "args": sys.argv[1:], "sizes": {}}
    for rows in args.rows:
        results["sizes"][str(rows)] = bench_size(rows, args, work)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nload average at end: {'/'.join(map(str, results['machine']['load_average_at_end']))}")
    summary(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str), "utf-8")
        print(f"figures written to {args.json}")
    if temp is not None:
        temp.cleanup()


def summary(results: dict) -> None:
    """The targets, side by side (printed, never asserted)."""
    sizes = results["sizes"]
    print("targets (issue 14):")
    for key, got in sizes.items():
        rows = int(key)
        if "fresh" in got:
            fresh, fl = got["fresh"], got["floor"]["seconds"]
            rss = rss_target_mb(rows)
            cpu = fresh["cpu_seconds"] / got["floor"]["cpu_seconds"]
            print(
                f"  fresh {rows:,}: {fresh['seconds']:.1f} s = {fresh['seconds'] / fl:.1f}x floor "
                f"(target <= {FRESH_X_FLOOR:g}x; CPU {cpu:.1f}x the floor's), peak "
                f"{fresh['peak_rss_mb']:,.0f} MB" + (f" (target <= {rss:,.0f} MB)" if rss else "")
            )
        if "increment_median_s" in got:
            print(
                f"  increment of {results_rows(got)} rows on {rows:,}: median "
                f"{got['increment_median_s']:.1f} s ({got['increment_median_cpu_s']:.1f} s CPU)"
                + (f" (target <= {INCREMENT_SECONDS:g} s at 10M)" if rows >= 10_000_000 else "")
                + f"; no new file: median {got['no_new_file_median_s']:.1f} s"
            )
    base = sizes.get("1000000", {}).get("increment_median_s")
    for key, got in sizes.items():
        if base and int(key) > 1_000_000 and "increment_median_s" in got:
            ratio = got["increment_median_s"] / base
            results.setdefault("ratios", {})[f"increment_{key}_over_1M"] = ratio
            print(
                f"  increment at {int(key):,} / increment at 1,000,000: {ratio:.2f} "
                f"(target <= {INCREMENT_X_1M:g})"
            )


def results_rows(got: dict) -> str:
    files = [g["file"]["rows"] for g in got.get("increments", [])]
    return f"{files[0]:,}" if files else "?"


if __name__ == "__main__":
    main()
