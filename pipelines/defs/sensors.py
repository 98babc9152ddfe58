"""Inbox sensor: start a run when files with new *content* land in the inbox.

The cursor holds the SHA-256 of every file already requested, so a renamed copy
of a file starts nothing (ingest would record it as a duplicate anyway). To avoid
re-hashing large files every tick, the cursor also remembers (size, mtime) per
name: a file whose size and mtime are unchanged keeps its known hash.

The sensor reads only the inbox, never the warehouse: DuckDB allows one
process at a time on the file, and a sensor tick must not block a run.
"""

import hashlib
import json
import os
from pathlib import Path

import dagster as dg

from her2qa.ingest.inbox import inbox_files, sha256_of
from pipelines.defs.jobs import her2qa_job
from pipelines.defs.resources import Her2qaPaths


def _load_cursor(cursor: str | None) -> tuple[set[str], dict[str, list]]:
    if not cursor:
        return set(), {}
    data = json.loads(cursor)
    return set(data.get("hashes", [])), data.get("stat", {})


def scan(inbox: Path, known_stat: dict[str, list]) -> dict[str, list]:
    """name -> [size, mtime_ns, sha256] for every CSV in the inbox."""
    current = {}
    for path in inbox_files(inbox):
        st = path.stat()
        cached = known_stat.get(path.name)
        if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            current[path.name] = cached
        else:
            current[path.name] = [st.st_size, st.st_mtime_ns, sha256_of(path)]
    return current


@dg.sensor(
    job=her2qa_job,
    minimum_interval_seconds=int(os.environ.get("HER2QA_SENSOR_INTERVAL", "60")),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a run when an extract with new content lands in the inbox "
    "(content hash, so a renamed copy starts nothing).",
)
def inbox_sensor(context: dg.SensorEvaluationContext, paths: Her2qaPaths):
    inbox = Path(paths.inbox)
    if not inbox.is_dir():
        return dg.SkipReason(f"inbox {inbox} is not a folder")
    hashes, known_stat = _load_cursor(context.cursor)
    current = scan(inbox, known_stat)
    new = sorted({entry[2] for entry in current.values()} - hashes)
    cursor = json.dumps({"hashes": sorted(hashes | set(new)), "stat": current}, sort_keys=True)
    context.update_cursor(cursor)
    if not new:
        return dg.SkipReason("no new content in the inbox")
    # run_key: the set of new contents, so the same new files never start two runs
    digest = hashlib.sha256("".join(new).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=f"inbox-{digest}", tags={"her2qa/new_files": str(len(new))})
