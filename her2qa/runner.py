"""Run the whole asset graph in process, as ``her2qa run`` does."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import dagster as dg

import warehouse
from her2qa.instance import open_instance, owner_tags, recover_stale_runs
from pipelines.definitions import build_defs
from pipelines.defs.resources import Her2qaPaths, default_paths


class RunFailed(Exception):
    """The run could not do its job; the message is one line."""


def run_pipeline(
    inbox: Path | None,
    warehouse_flag: str | Path | None = None,
    site_flag: str | Path | None = None,
    *,
    progress: bool = True,
    instance: dg.DagsterInstance | None = None,
    job_name: str = "her2qa_job",
) -> str:
    """Materialise every asset; returns a short summary, raises RunFailed with the reason."""
    paths = default_paths(inbox, warehouse_flag, site_flag)
    try:  # fail fast, in one line, on a locked, corrupt or unwritable warehouse
        with paths.connect():
            pass
    except warehouse.WarehouseError as exc:
        raise RunFailed(str(exc)) from None
    except OSError as exc:
        raise RunFailed(f"warehouse {paths.warehouse_file}: {exc.strerror or exc}") from None

    if instance is None:
        instance = _persistent_instance()
        # A run killed earlier (kill -9, OOM, reboot) must not block this one: its stale
        # claim on the pool is released and the run marked failed, one line each.
        for note in recover_stale_runs(instance):
            print(f"her2qa: {note}", file=sys.stderr)
    result = execute(paths, instance=instance, progress=progress, job_name=job_name)
    if not result.success:
        raise RunFailed(_failure_reason(result))
    return _summary(paths)


def execute(
    paths: Her2qaPaths,
    *,
    instance: dg.DagsterInstance | None = None,
    progress: bool = False,
    job_name: str = "her2qa_job",
) -> dg.ExecuteInProcessResult:
    """One in-process run of a job (her2qa_job is what the UI's "Materialize all" does).

    Without an instance the run is recorded in a throwaway one (tests, benchmarks)."""
    job = build_defs(paths).resolve_job_def(job_name)
    run_config = dict(job.run_config or {})  # the job's own config (rebuild_job: rebuild)
    run_config["loggers"] = {"progress": {"config": {"quiet": not progress}}}
    return job.with_logger_defs({"progress": progress_logger}).execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config=run_config,
        tags=owner_tags(),  # who runs it: a later run checks this process is still alive
    )


@dg.logger(config_schema={"quiet": bool})
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    """Prints what the steps say (``context.log``) as plain lines; framework events and
    their stack traces stay in the Dagster event log, not on the user's terminal."""
    logger = logging.Logger("her2qa.progress", level=logging.INFO)
    if init_context.logger_config["quiet"]:
        return logger
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_user_message)
    handler.setFormatter(logging.Formatter("%(step)s%(text)s"))
    logger.addHandler(handler)
    return logger


def _user_message(record: logging.LogRecord) -> bool:
    meta = getattr(record, "dagster_meta", None) or {}
    if meta.get("dagster_event") is not None:
        return False
    # Errors (with their stack traces) and the framework's "Dependencies for step ... failed.
    # Not executing." cascade stay in the run log: the user gets one line, last, from the CLI.
    if record.levelno >= logging.ERROR or "Not executing" in record.getMessage():
        return False
    record.text = meta.get("orig_message", record.getMessage())
    record.step = f"[{meta['step_key']}] " if meta.get("step_key") else ""
    return True


def _persistent_instance() -> dg.DagsterInstance:
    """The deployment's instance (DAGSTER_HOME): the CLI's runs join the UI's run history."""
    return open_instance()


def _failure_reason(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            while error.cause is not None and error.cls_name in (
                "DagsterExecutionStepExecutionError",
            ):
                error = error.cause
            message = (
                error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name
            )
            return f"step {event.step_key}: {message}"
    return "the run did not succeed (see the Dagster run log)"


def _summary(paths: Her2qaPaths) -> str:
    """What the run did, then every finding to look at: read from marts.findings, never
    judged here (one verdict, made once)."""
    with warehouse.connect(Path(paths.warehouse_file), read_only=True) as con:
        files, rows_read, staged, quarantined, current = con.execute(
            """
            SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_staged), 0),
                   coalesce(sum(rows_quarantined), 0), (SELECT count(*) FROM staging.her2_results)
            FROM ops.ingested_files
            """
        ).fetchone()
        look = con.execute(SUMMARY_FINDINGS).fetchall()
    lines = [
        f"warehouse {paths.warehouse_file}: {files} file(s), {rows_read:,} rows read, "
        f"{staged:,} staged, {quarantined:,} quarantined; {current:,} current results"
    ]
    if look:
        lines.append(f"findings to look at ({len(look)}, all periods pooled):")
        lines += [f"  {lab}: {title}: {message}" for lab, title, message in look]
    index = Path(paths.site_dir) / "index.html"
    if index.exists():
        lines.append(f"dashboards: {index}")
    return "\n".join(lines)


# The summary's findings: every 'look' over the whole record (period ALL or the last 12
# months), per lab and pooled; monthly and quarterly points are on the dashboards.
SUMMARY_FINDINGS = """
SELECT lab_id, title, message
FROM marts.findings
WHERE verdict = 'look' AND (period = 'ALL' OR period LIKE '%..%') AND subgroup = 'ALL'
ORDER BY lab_id <> 'ALL', lab_id, finding
"""
