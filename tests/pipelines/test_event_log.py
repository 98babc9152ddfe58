"""The deployment's Dagster event log (her2qa/event_log.py): the cross-run index shard is
opened once per process, and every event still reaches it at once, for the webserver and the
daemon (other processes) to read."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from her2qa.event_log import KeptIndexSqliteEventLogStorage
from her2qa.instance import open_instance
from her2qa.runner import run_pipeline
from tests.conftest import IHC_ROW, ISH_ROW, write_extract

COUNT_EVENTS = """
SELECT dagster_event_type, count(*) FROM event_logs
WHERE run_id = ? AND dagster_event_type IN (
    'ASSET_MATERIALIZATION', 'ASSET_CHECK_EVALUATION', 'ASSET_CHECK_EVALUATION_PLANNED')
GROUP BY 1 ORDER BY 1
"""


def _counts_from_another_process(db: Path, run_id: str) -> list[tuple[str, int]]:
    """The events of a run in a SQLite file, as a separate process reads them now."""
    code = (
        "import sqlite3, sys, json; c = sqlite3.connect(sys.argv[1]); "
        "print(json.dumps(c.execute(sys.argv[2], (sys.argv[3],)).fetchall()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(db), COUNT_EVENTS, run_id],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [tuple(row) for row in __import__("json").loads(out)]


def test_a_run_opens_the_index_once_and_every_event_is_readable_at_once(
    env: Path, monkeypatch: pytest.MonkeyPatch
):
    write_extract(env / "inbox" / "a.csv", [IHC_ROW, ISH_ROW])
    instance = open_instance()
    storage = instance.event_log_storage
    assert isinstance(storage, KeptIndexSqliteEventLogStorage)  # from the dagster.yaml we write

    index_db = Path(storage.path_for_shard("index"))
    opened: list[str] = []
    real_connect = sqlite3.dbapi2.connect

    def counting_connect(database, *args, **kwargs):
        opened.append(str(database))
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3.dbapi2, "connect", counting_connect)
    try:
        run_pipeline(
            env / "inbox", env / "w.duckdb", env / "site", progress=False, instance=instance
        )
        run_id = instance.get_runs(limit=1)[0].run_id

        # the index is opened a few times per process (the kept connection, and a look for a
        # table absent from it), not for every event (Dagster's own storage: over 150 here)
        assert sum(Path(db) == index_db for db in opened) <= 5
        run_shard = Path(storage.path_for_shard(run_id))
        assert sum(Path(db) == run_shard for db in opened) > 10  # run shards as Dagster does

        # while this process still holds its connection, another process sees every event
        # of the run mirrored into the index: nothing waits in an open transaction
        in_run_shard = _counts_from_another_process(run_shard, run_id)
        assert dict(in_run_shard)["ASSET_MATERIALIZATION"] > 20
        assert dict(in_run_shard)["ASSET_CHECK_EVALUATION"] > 20
        assert _counts_from_another_process(index_db, run_id) == in_run_shard
    finally:
        monkeypatch.undo()
        instance.dispose()
    assert storage._index_engine is None  # dispose closed it


def test_a_wipe_empties_the_index_through_the_kept_connection(env: Path):
    """wipe() closes the kept connection, deletes the run shards and empties the index; the
    storage answers from a new connection afterwards."""
    write_extract(env / "inbox" / "a.csv", [IHC_ROW])
    instance = open_instance()
    try:
        run_pipeline(
            env / "inbox", env / "w.duckdb", env / "site", progress=False, instance=instance
        )
        key = instance.get_asset_keys()[0]
        assert instance.get_latest_materialization_event(key) is not None
        instance.event_log_storage.wipe()
        assert instance.get_latest_materialization_event(key) is None
        assert instance.get_asset_keys() == []
    finally:
        instance.dispose()
