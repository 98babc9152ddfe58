"""The ``her2qa`` command (spec/warehouse.md §Commands).

Every failure a user can cause (no inbox, no key, a locked or broken warehouse,
a bad configuration) ends in one line on stderr and a non-zero exit, never a
traceback. A quality finding is not a failure: the run exits 0.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from her2qa import config
from her2qa.generate.formats import FORMATS
from her2qa.ingest import phi

EXIT_FAILED = 1
EXIT_USAGE = 2


class UserError(Exception):
    """Something the user can fix; printed as one line."""


# Set by ``entry``: this process is the ``her2qa`` command and ends with it.
_OWN_PROCESS = False


def entry() -> NoReturn:
    """The ``her2qa`` command (console script and ``python -m her2qa.cli``): ``main`` in a
    process of its own, which then ends without Python's last garbage collections.

    Those collections traverse every object still alive (Dagster's definitions, pandas,
    plotly) to find cycles in a heap the process is about to give back whole: 0.9-1.1 s
    after each run, measured (py-spy: gc_collect_main after main returned). Frozen objects
    are not traversed; they are still released as the interpreter ends (stdout, logging and
    atexit handlers run as before)."""
    global _OWN_PROCESS
    _OWN_PROCESS = True
    code = main()
    gc.freeze()
    sys.exit(code)


@contextmanager
def _for_the_process() -> Iterator[None]:
    """Imports made inside live as long as the process (Dagster, pandas, the definitions):
    in the ``her2qa`` process (``entry``) they are made without collections (0.15-0.2 s),
    then frozen out of the collector's full passes, each of which traversed them again
    (0.85 s of collections in a 1M night, 0.46 s so). Not when main() is called in a process
    that goes on (tests): its garbage of the moment would be frozen with them."""
    if not _OWN_PROCESS:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not os.environ.get("HER2QA_DEBUG"):
        # Framework warnings (deprecations, beta and preview notices) are for developers;
        # they are kept out of an operator's terminal and its nightly mail.
        warnings.simplefilter("ignore")
    try:
        return args.func(args)
    except (UserError, config.ConfigError) as exc:
        print(f"her2qa: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("her2qa: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, traceback on request
        if os.environ.get("HER2QA_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"her2qa: unexpected error: {type(exc).__name__}: {first} "
            "(set HER2QA_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="her2qa", description="HER2 testing quality assurance for pathology laboratories."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="ingest new extracts and rebuild everything downstream")
    run.add_argument("--inbox", required=True, help="folder where LIS extracts (*.csv) land")
    run.add_argument(
        "--warehouse", help="DuckDB file (default $HER2QA_WAREHOUSE or warehouse/her2.duckdb)"
    )
    run.add_argument("--site", help="dashboard folder (default $HER2QA_SITE or build/site)")
    run.add_argument("--quiet", action="store_true", help="print only the summary")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="generate a synthetic network's extracts and run on them")
    demo.add_argument("--rows", type=int, default=60_000)
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--warehouse", help="DuckDB file (default warehouse/her2.duckdb)")
    demo.add_argument("--site", help="dashboard folder (default build/site)")
    demo.set_defaults(func=cmd_demo)

    rebuild = sub.add_parser(
        "rebuild", help="rebuild staging, quarantine and marts from the raw layer"
    )
    rebuild.add_argument("--warehouse", help="DuckDB file (default as for run)")
    rebuild.add_argument("--site", help="dashboard folder (default as for run)")
    rebuild.set_defaults(func=cmd_rebuild)

    ui = sub.add_parser("ui", help="start the Dagster UI and daemon (schedule, sensor) on loopback")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)

    audit = sub.add_parser(
        "audit", help="write the accreditation audit pack of an inspection period"
    )
    audit.add_argument("--from", dest="date_from", required=True, help="first day, YYYY-MM-DD")
    audit.add_argument(
        "--to", dest="date_to", required=True, help="last day, YYYY-MM-DD (inclusive)"
    )
    audit.add_argument("--lab", help="one laboratory's pack (default: every laboratory)")
    audit.add_argument("--out", help="pack folder (default build/audit/<from>_<to>[_<lab>])")
    audit.add_argument(
        "--warehouse", help="DuckDB file (default $HER2QA_WAREHOUSE or warehouse/her2.duckdb)"
    )
    audit.set_defaults(func=cmd_audit)

    gen = sub.add_parser(
        "generate", help="write a synthetic LIS extract with a ground-truth manifest"
    )
    gen.add_argument("--out", required=True, help="folder to write the CSV files and manifest.json")
    gen.add_argument("--rows", type=int, default=20_000)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--messy", action="store_true", help="plant invalid rows and LIS spellings")
    gen.add_argument(
        "--format",
        dest="fmt",
        choices=FORMATS,
        default=None,
        help="input format of the files (the same network in each; default csv)",
    )
    gen.add_argument(
        "--layout",
        choices=("long", "wide"),
        default="long",
        help="wide: one row per case, IHC and ISH side by side (= --format wide; "
        "docs/formats/wide-example.toml reads it)",
    )
    gen.set_defaults(func=cmd_generate)
    return parser


def cmd_generate(args: argparse.Namespace) -> int:
    from her2qa.generate import generate

    if args.rows < 1:
        raise UserError("--rows must be at least 1")
    started = time.monotonic()
    if args.layout == "wide":
        if args.fmt not in (None, "xlsx", "wide"):
            raise UserError(f"--layout wide writes workbooks (--format wide), not {args.fmt}")
        args.fmt = "wide"
    args.fmt = args.fmt or "csv"
    if args.messy and args.fmt != "csv":
        raise UserError("--messy writes CSV files only (its planted faults are CSV's)")
    manifest = generate(
        Path(args.out), rows=args.rows, seed=args.seed, messy=args.messy, fmt=args.fmt
    )
    files = manifest.get("files", [])
    print(
        f"wrote {sum(f.get('data_rows', 0) for f in files):,} rows in {len(files)} file(s) "
        f"to {args.out} in {time.monotonic() - started:.1f} s (manifest: manifest.json)"
    )
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """The audit pack of [--from, --to] (dashboards/audit_pack): report.html/.pdf, metrics.csv,
    lineage.json, generated.json and the restricted cases/ folder."""
    from dashboards.audit_pack import AuditError, build_audit_pack
    from dashboards.audit_pack.period import Period, PeriodError, parse_date

    try:
        period = Period(parse_date(args.date_from, "--from"), parse_date(args.date_to, "--to"))
    except PeriodError as exc:
        raise UserError(str(exc)) from None
    if args.lab is not None and not args.lab.strip():
        raise UserError("--lab is empty: give a laboratory code, or leave --lab out for all")
    warehouse_file = config.warehouse_path(args.warehouse)
    if not warehouse_file.exists():
        raise UserError(f"warehouse {warehouse_file} does not exist: run `her2qa run` first")
    try:
        summary = build_audit_pack(
            warehouse_file, period.date_from, period.date_to, lab=args.lab, out_dir=args.out
        )
    except AuditError as exc:
        raise UserError(str(exc)) from None
    print(summary)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from her2qa.generate import generate

    key_file = phi.ensure_demo_key()
    inbox = config.home() / "demo" / "inbox"
    if not any(inbox.glob("*.csv")):
        print(f"generating {args.rows:,} synthetic results into {inbox} ...", file=sys.stderr)
        generate(inbox, rows=args.rows, seed=args.seed, messy=True)
    print(f"PHI key: {key_file} (synthetic data only)", file=sys.stderr)
    return _run(inbox, args.warehouse, args.site, quiet=False)


def cmd_run(args: argparse.Namespace) -> int:
    return _run(Path(args.inbox), args.warehouse, args.site, quiet=args.quiet)


def cmd_rebuild(args: argparse.Namespace) -> int:
    return _run(None, args.warehouse, args.site, quiet=False, job_name="rebuild_job")


def cmd_ui(args: argparse.Namespace) -> int:
    from her2qa import services

    phi.load_key()
    config.lab_timezone()
    processes = services.start(args.port)
    print(
        f"Dagster UI on http://127.0.0.1:{args.port} (webserver and daemon; Ctrl-C stops both)\n"
        f"  inbox watched by the sensor: {config.inbox_path().absolute()}\n"
        f"  nightly run: 02:00 {config.lab_timezone()}",
        file=sys.stderr,
    )
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(1)
        dead = next(p for p in processes if p.poll() is not None)
        raise UserError(f"{Path(dead.args[0]).name} stopped unexpectedly (exit {dead.returncode})")
    finally:
        services.stop(processes)


def _run(
    inbox: Path | None,
    warehouse_flag: str | None,
    site_flag: str | None,
    *,
    quiet: bool,
    job_name: str = "her2qa_job",
) -> int:
    with _for_the_process():
        from her2qa.runner import RunFailed, run_pipeline

    if inbox is not None and not inbox.is_dir():
        raise UserError(f"inbox {inbox} does not exist or is not a folder")
    phi.load_key()  # refuse to start without a key, before anything is written
    config.load_site_config()
    try:
        summary = run_pipeline(
            inbox, warehouse_flag, site_flag, progress=not quiet, job_name=job_name
        )
    except RunFailed as exc:
        print(f"her2qa: run failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(summary)
    return 0


if __name__ == "__main__":
    entry()
