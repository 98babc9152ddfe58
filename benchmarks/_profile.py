"""Where a nightly run's time goes, for benchmarks/nightly_benchmark.py.

    last_run(dagster_home, warehouse)  the instance's latest run: each step's start and end
                                       (Dagster event log) and what the run ingested
    stages(steps, started, ended)      those steps by stage, plus Dagster's own overhead
    breakdown(inbox, folder)           the same work again in process, through the pipeline's
                                       public entry points, each timed (read, PHI keying,
                                       validation SQL, staging, pandera, marts, findings, ...)

``breakdown`` calls only public functions, whose current signatures it checks first: when one
moved or changed, it stops with one line naming it (the benchmark then goes on without the
breakdown). It times the SQL files the steps run by wrapping ``warehouse.run`` and a few
ingest helpers by name; a helper that is gone is listed as not timed, never guessed.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import os
import resource
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

# The pipeline's asset steps by name (pipelines/defs); any other step that materialises an
# asset counts as "other assets", one that evaluates a check as a check.
ASSET_STEPS = {
    "ingest_inbox": "ingest",
    "stage_results": "staging",
    "build_marts": "marts",
    "site": "site",
    "snapshot": "snapshot",
}
PANDERA_CHECKS = ("raw_rows_carry_no_phi", "staged_rows_match_contract")
STAGES = ("ingest", "staging", "pandera", "checks", "marts", "site", "snapshot", "other assets")
# Which SQL files of warehouse/sql are validation rules (the rest of staging moves rows).
VALIDATION_SQL = ("staging/typed_rows", "staging/verdicts")


def last_run(dagster_home: Path, warehouse: Path) -> dict:
    """The latest run of the instance at ``dagster_home``: status, steps (start, end, kind)
    and, from the warehouse, what the files it ingested became."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    instance = dg.DagsterInstance.get()
    runs = instance.get_runs(limit=1)
    if not runs:
        return {"run_id": None, "steps": []}
    run = runs[0]
    steps: dict[str, dict] = {}
    kinds = {
        dg.DagsterEventType.ASSET_MATERIALIZATION: "asset",
        dg.DagsterEventType.ASSET_CHECK_EVALUATION: "check",
    }
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        step = steps.setdefault(entry.step_key, {"step": entry.step_key, "kind": None})
        if event.event_type == dg.DagsterEventType.STEP_START:
            step["start"] = entry.timestamp
        elif event.event_type in (
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        ):
            step["end"] = entry.timestamp
            step["status"] = event.event_type_value
        elif event.event_type in kinds:
            step["kind"] = step["kind"] or kinds[event.event_type]
    timed = sorted((s for s in steps.values() if "start" in s and "end" in s), key=_start)
    for s in timed:
        s["stage"] = stage_of(s["step"], s["kind"])
    out = {"run_id": run.run_id, "status": run.status.value, "steps": timed}
    out.update(warehouse_counts(warehouse, run.run_id))
    return out


def _start(step: dict) -> float:
    return step["start"]


def stage_of(step: str, kind: str | None) -> str:
    if step in ASSET_STEPS:
        return ASSET_STEPS[step]
    if kind == "check":
        return "pandera" if step.endswith(PANDERA_CHECKS) else "checks"
    return "other assets"


def warehouse_counts(warehouse: Path, run_id: str) -> dict:
    """What the files a run ingested became (ops.ingested_files, quarantine reason codes:
    codes only, never a value), and the warehouse's size."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        files, read, staged, repeated, quarantined = con.execute(
            "SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_staged), 0), "
            "coalesce(sum(rows_repeated), 0), coalesce(sum(rows_quarantined), 0) "
            "FROM ops.ingested_files WHERE run_id = $run AND status = 'ingested'",
            {"run": run_id},
        ).fetchone()
        reasons = con.execute(
            "SELECT code, count(*) FROM (SELECT unnest(q.reason_codes) AS code "
            "FROM quarantine.rejected_rows AS q JOIN ops.ingested_files AS f USING (file_id) "
            "WHERE f.run_id = $run) GROUP BY code ORDER BY 2 DESC, 1 LIMIT 5",
            {"run": run_id},
        ).fetchall()
        history, current = con.execute(
            "SELECT (SELECT count(*) FROM staging.her2_results_history), "
            "(SELECT count(*) FROM staging.her2_results)"
        ).fetchone()
    finally:
        con.close()
    return {
        "files_ingested": files,
        "rows_read": read,
        "rows_staged": staged,
        "rows_repeated": repeated,
        "rows_quarantined": quarantined,
        "quarantine_reasons": {code: n for code, n in reasons},
        "history_rows": history,
        "current_results": current,
        "warehouse_mb": warehouse.stat().st_size / 1e6,
    }


def stages(steps: list[dict], started: float, ended: float) -> dict[str, float]:
    """Seconds by stage of one run, and Dagster's overhead: what the process spent outside
    any step (start-up: imports, definitions, instance; between steps: the event log; after
    the last step: the summary and exit). ``started``/``ended``: the process's wall clock."""
    out = dict.fromkeys(STAGES, 0.0)
    for s in steps:
        out[s["stage"]] += s["end"] - s["start"]
    if steps:
        out["overhead: start-up"] = steps[0]["start"] - started
        out["overhead: between steps"] = sum(
            b["start"] - a["end"] for a, b in itertools.pairwise(steps)
        )
        out["overhead: after the last step"] = ended - steps[-1]["end"]
    return out


# --- the in-process breakdown (runs in a child process of its own) -----------------------


class Moved(SystemExit):
    """A public entry point the breakdown calls is gone or takes other arguments."""


def _entry(module: str, name: str) -> Any:
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise Moved(
            f"breakdown: {module}.{name} is gone ({type(exc).__name__}: {exc}); "
            "update benchmarks/_profile.py"
        ) from None
    return found


def _call(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise Moved(
            f"breakdown: {fn.__module__}.{fn.__qualname__}{inspect.signature(fn)} no longer "
            f"takes what benchmarks/_profile.py passes ({exc})"
        ) from None
    return fn(*args, **kwargs)


class Clock:
    """Seconds by label, and the process's peak RSS after each step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.rss_mb: dict[str, float] = {}
        self.not_timed: list[str] = []

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[label] += time.perf_counter() - started
            self.rss_mb[label] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    @contextmanager
    def wrapping(self, owner: Any, name: str, label: Callable[..., str] | str) -> Iterator[None]:
        """Time every call of ``owner.name`` (looked up by the callers at call time) under
        ``label`` (a string, or a function of the call's arguments)."""
        original = getattr(owner, name, None)
        if original is None:
            self.not_timed.append(f"{owner.__name__}.{name}")
            yield
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                key = label if isinstance(label, str) else label(*args, **kwargs)
                self.seconds[key] += time.perf_counter() - started

        setattr(owner, name, timed)
        try:
            yield
        finally:
            setattr(owner, name, original)


class TimedConnection:
    """A DuckDB connection whose ``execute`` and ``executemany`` are timed by statement,
    labelled by the statement's first words (the pipeline's SQL text, never a value); every
    other attribute is the connection's own."""

    def __init__(self, con: Any, clock: Clock, prefix: str) -> None:
        self._con, self._clock, self._prefix = con, clock, prefix

    def _label(self, query: object) -> str:
        words = " ".join(str(query).split()).split(" ")
        return f"{self._prefix}{' '.join(words[:7])[:64]}"

    def execute(self, query: object, *args: Any, **kwargs: Any) -> Any:
        with self._clock.step(self._label(query)):
            return self._con.execute(query, *args, **kwargs)

    def executemany(self, query: object, *args: Any, **kwargs: Any) -> Any:
        with self._clock.step(self._label(query)):
            return self._con.executemany(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _sql_name(_con: Any, name: str, *_args: Any, **_kwargs: Any) -> str:
    return f"sql {name}"


def breakdown(inbox: Path, folder: Path) -> dict:
    """Ingest, stage, check, build and publish ``inbox`` into a fresh warehouse in
    ``folder``, each step through its public entry point, timed (see the module's doc)."""

    import warehouse
    from her2qa.ingest import formats, phi, raw_layer
    from her2qa.ingest import inbox as inbox_module

    ingest_inbox = _entry("her2qa.ingest.inbox", "ingest_inbox")
    stage_pending = _entry("her2qa.staging", "stage_pending")
    build_marts = _entry("warehouse.build", "build_marts")
    build_site = _entry("dashboards.site.build", "build_site")
    snapshot = _entry("warehouse.publish", "snapshot")
    default_paths = _entry("pipelines.defs.resources", "default_paths")
    hmac_sql = _entry("her2qa.ingest.phi", "hmac_sql")

    folder.mkdir(parents=True, exist_ok=True)
    paths = default_paths(inbox, folder / "her2.duckdb", folder / "site")
    site_config = paths.load_site_config()
    key = phi.load_key()
    run_id = "nightly-benchmark-breakdown"
    clock = Clock()
    with ExitStack() as hooks:
        hooks.enter_context(clock.wrapping(warehouse, "run", _sql_name))
        hooks.enter_context(clock.wrapping(formats, "read", "ingest: parse (formats.read)"))
        for helper, label in (
            ("_hash_fd", "ingest: hash and archive copy"),
            ("_archive_fd", "ingest: hash and archive copy"),
        ):
            hooks.enter_context(clock.wrapping(inbox_module, helper, label))
        raw_load = "ingest: raw load, by batch (PHI keying, screening, insert)"
        hooks.enter_context(clock.wrapping(raw_layer, "load", raw_load))
        with clock.step("ingest"), paths.connect() as con:
            timed = TimedConnection(con, clock, "ingest statement: ")
            _call(ingest_inbox, timed, Path(paths.inbox), Path(paths.archive_dir), key, run_id)
        with clock.step("staging"), paths.connect() as con:
            _call(stage_pending, con, site_config, run_id=run_id)
        _pandera(clock, paths, run_id)
        with clock.step("marts and findings"), paths.connect() as con:
            _call(build_marts, con, site_config)
        with clock.step("site"), paths.connect(read_only=True) as con:
            _call(
                build_site,
                con,
                paths.site_dir,
                site_config,
                run_id,
                restricted_dir=paths.restricted_dir,
            )
        with clock.step("snapshot"), paths.connect() as con:
            _call(snapshot, con, paths.warehouse_file, paths.snapshot_file)

    _phi_keying_alone(clock, inbox, key, hmac_sql)
    return {
        "timings": dict(clock.seconds),
        "rss_mb_after": clock.rss_mb,
        "not_timed": clock.not_timed,
    }


PHI_ALONE = "PHI keying alone (HMAC-SHA256 in SQL, every MRN)"


def _phi_keying_alone(clock: Clock, inbox: Path, key: Any, hmac_sql: Callable) -> None:
    """The HMAC the raw load computes, over every MRN of the inbox, on its own: the MRNs are
    read first (untimed) into an in-memory connection with the text macros the expression
    uses (warehouse/sql/macros/text.sql, when it exists)."""
    import duckdb

    import warehouse

    files = sorted(str(p) for p in Path(inbox).glob("*.csv"))
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        if (Path(warehouse.SQL_DIR) / "macros" / "text.sql").is_file():
            warehouse.run(con, "macros/text")
        con.execute(
            "CREATE TEMP TABLE mrns AS SELECT patient_mrn FROM read_csv($files, header = true, "
            "all_varchar = true)",
            {"files": files},
        )
        ipad, opad = key.pads()
        with clock.step(PHI_ALONE):
            con.execute(
                f"SELECT count({hmac_sql('patient_mrn')}) FROM mrns",  # noqa: S608 - our SQL
                {"ipad": ipad, "opad": opad},
            ).fetchone()
    except duckdb.Error as exc:
        clock.seconds.pop(PHI_ALONE, None)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        clock.not_timed.append(f"PHI keying alone: {first}")
    finally:
        con.close()


# The contract checks as the pipeline defines them (pipelines/defs): the schema, the SQL of the
# run's rows and of the rows always checked, by name.
CONTRACT_CHECKS = (
    (
        "raw rows",
        ("schemas.raw", "raw_her2_rows"),
        ("pipelines.defs.ingest", "RAW_ROWS_OF_RUN"),
        ("pipelines.defs.ingest", "RAW_ALWAYS"),
    ),
    (
        "staged rows",
        ("schemas.staged", "staged_her2_results"),
        ("pipelines.defs.staging", "STAGED_ROWS_OF_RUN"),
        ("pipelines.defs.staging", "STAGED_ALWAYS"),
    ),
)
EVERY_ROW = 1 << 62  # a sample this large is the whole run


def _pandera(clock: Clock, paths: Any, run_id: str) -> None:
    """Each contract check as the pipeline runs it (``validate_run``), and on every row of the
    run (the full pass it replaced), timed. Nothing later depends on them: an entry point that
    moved leaves them untimed, said so, not the whole breakdown."""
    try:
        validate_run = _entry("pipelines.validation", "validate_run")
        checks = [(name, *(_entry(*where) for where in parts)) for name, *parts in CONTRACT_CHECKS]
    except Moved as exc:
        clock.not_timed.append(str(exc))
        return
    for name, schema, rows_of_run, always in checks:
        for how, kwargs in (("as the check runs", {}), ("every row", {"sample_rows": EVERY_ROW})):
            label = f"pandera: {name}, {how}"
            try:
                with clock.step(label):
                    _call(validate_run, paths, schema, rows_of_run, run_id, always, **kwargs)
            except Moved as exc:
                clock.seconds.pop(label, None)
                clock.not_timed.append(str(exc))


def breakdown_rows(got: dict) -> list[tuple[str, float]]:
    """The breakdown in the issue's stages (read, PHI keying, validation in SQL, pandera,
    staging, marts, findings, site), each with what it is made of."""
    s = got["timings"]
    sql = {k.removeprefix("sql "): v for k, v in s.items() if k.startswith("sql ")}

    def of(prefix: str) -> float:
        return sum(v for k, v in sql.items() if k.startswith(prefix))

    validation = sum(sql.get(name, 0.0) for name in VALIDATION_SQL)
    findings = of("findings/")
    ingest_parts = [k for k in s if k.startswith("ingest: ")]
    rows = [("ingest (inbox.ingest_inbox)", s.get("ingest", 0.0))]
    rows += [(f"  {k.removeprefix('ingest: ')}", s[k]) for k in sorted(ingest_parts)]
    statements = sorted(
        ((k, v) for k, v in s.items() if k.startswith("ingest statement: ")), key=lambda kv: -kv[1]
    )
    rows += [(f"    SQL: {k.removeprefix('ingest statement: ')}", v) for k, v in statements[:4]]
    rows += [
        (
            "  PHI keying alone (HMAC-SHA256 in SQL, every MRN, measured apart)",
            s.get(PHI_ALONE, 0.0),
        ),
        ("validation in SQL (" + ", ".join(VALIDATION_SQL) + ")", validation),
        ("staging: the rest of staging.stage_pending", s.get("staging", 0.0) - validation),
        *((f"{k} (validation.validate_run)", v) for k, v in s.items() if k.startswith("pandera")),
        (
            "marts (build.build_marts without findings/*)",
            s.get("marts and findings", 0.0) - findings,
        ),
        ("findings (sql findings/*)", findings),
        ("site (dashboards.site.build.build_site)", s.get("site", 0.0)),
        ("snapshot (warehouse.publish.snapshot)", s.get("snapshot", 0.0)),
    ]
    slowest = sorted(sql.items(), key=lambda kv: -kv[1])[:5]
    rows += [(f"  slowest SQL: {name}", secs) for name, secs in slowest]
    return rows
