"""The deployment's Dagster event log (her2qa/event_log.py): the cross-run index shard and the
run shard being written are each opened once per process, and every event still reaches its
files at once, for the webserver and the daemon (other processes) to read and watch."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from her2qa import instance as instance_module
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
    return [tuple(row) for row in json.loads(out)]


def _run(env: Path, instance) -> None:
    """``her2qa run`` in process on env's inbox, recorded in ``instance``."""
    run_pipeline(env / "inbox", env / "w.duckdb", env / "site", progress=False, instance=instance)


def test_a_run_keeps_the_index_open_and_every_event_is_readable_at_once(
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
        _run(env, instance)
        run_id = instance.get_runs(limit=1)[0].run_id

        # the index and the run shard are opened a few times per process (the kept
        # connection, and a look for a table absent from it), not for every event (Dagster's
        # own storage: about 900 and 350 here)
        assert sum(Path(db) == index_db for db in opened) <= 5
        run_shard = Path(storage.path_for_shard(run_id))
        assert sum(Path(db) == run_shard for db in opened) <= 5

        # while this process still holds its connection, another process sees every event
        # of the run mirrored into the index: nothing waits in an open transaction
        in_run_shard = _counts_from_another_process(run_shard, run_id)
        assert dict(in_run_shard)["ASSET_MATERIALIZATION"] > 20
        assert dict(in_run_shard)["ASSET_CHECK_EVALUATION"] > 20
        assert _counts_from_another_process(index_db, run_id) == in_run_shard
    finally:
        monkeypatch.undo()
        instance.dispose()
    assert storage._index_engine is None and storage._run_engine is None  # dispose closed them


def test_a_wipe_empties_the_index_through_the_kept_connection(env: Path):
    """wipe() (Dagster's own) deletes the run shards and empties the index through the kept
    connection; the storage answers afterwards."""
    write_extract(env / "inbox" / "a.csv", [IHC_ROW])
    instance = open_instance()
    try:
        _run(env, instance)
        key = instance.get_asset_keys()[0]
        assert instance.get_latest_materialization_event(key) is not None
        instance.event_log_storage.wipe()
        assert instance.get_latest_materialization_event(key) is None
        assert instance.get_asset_keys() == []
    finally:
        instance.dispose()


def _log_entry(run_id: str, message: str) -> dg.EventLogEntry:
    return dg.EventLogEntry(
        error_info=None, level=20, user_message=message, run_id=run_id, timestamp=time.time()
    )


def test_a_watcher_sees_each_event_as_the_kept_run_shard_gets_it(tmp_path: Path):
    """The webserver follows a run by watching its shard's file change: each write reaches the
    database file at once (a checkpoint), not when the writer closes its connection."""
    writer = KeptIndexSqliteEventLogStorage(str(tmp_path))
    watcher = SqliteEventLogStorage(str(tmp_path))  # another process's storage, as Dagster's
    seen: list[str] = []
    arrived = threading.Event()

    def callback(entry: dg.EventLogEntry, _cursor: str | None) -> None:
        seen.append(entry.user_message)
        arrived.set()

    try:
        writer.store_event(_log_entry("run-a", "first"))  # creates the shard
        watcher.watch("run-a", None, callback)
        for message in ("second", "third"):
            arrived.clear()
            writer.store_event(_log_entry("run-a", message))
            assert arrived.wait(timeout=20), f"{message} not seen while the writer holds it"
        assert seen[-1] == "third" and "second" in seen
        assert writer._run_shard == "run-a"  # written through the one kept connection
    finally:
        watcher.end_watch("run-a", callback)
        watcher.dispose()
        writer.dispose()


def test_writes_within_the_interval_share_one_checkpoint_made_when_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A checkpoint a write costs a sync of the file: writes within CHECKPOINT_EVERY_S of the
    last checkpoint wait for a timer at its end, which takes them all into the file. (The
    clock is stopped, so every write after the first falls within the interval.)"""
    writer = KeptIndexSqliteEventLogStorage(str(tmp_path))
    writer._clock = lambda: 1_000.0
    made: list[int] = []
    checkpoint = writer._checkpoint_run_shard
    monkeypatch.setattr(writer, "_checkpoint_run_shard", lambda: (made.append(1), checkpoint()))
    db = tmp_path / "run-a.db"
    try:
        writer.store_event(_log_entry("run-a", "first"))
        assert len(made) == 1  # the first write: at once
        for i in range(20):
            writer.store_event(_log_entry("run-a", f"burst {i}"))
        assert len(made) == 1 and writer._checkpoint_timer is not None
        writer._checkpoint_timer.join(timeout=20)  # fires CHECKPOINT_EVERY_S after the first
        assert len(made) == 2 and writer._checkpoint_timer is None
        # in the database file itself, not only in its -wal: as a reader without the WAL sees
        copy = tmp_path / "copy.db"
        copy.write_bytes(db.read_bytes())
        messages = [
            r[0] for r in sqlite3.connect(copy).execute("SELECT event FROM event_logs").fetchall()
        ]
        assert len(messages) == 21 and "burst 19" in messages[-1]
    finally:
        writer.dispose()


def test_a_wipe_closes_the_kept_run_shard_before_its_file_goes(tmp_path: Path):
    """wipe() deletes the run shards' files; an event stored after it lands in a new file, not
    in the deleted one the kept connection held."""
    storage = KeptIndexSqliteEventLogStorage(str(tmp_path))
    try:
        storage.store_event(_log_entry("run-b", "before"))
        storage.wipe()
        storage.store_event(_log_entry("run-b", "after"))
        shard = Path(storage.path_for_shard("run-b"))
        with sqlite3.connect(shard) as con:
            messages = [m for (m,) in con.execute("SELECT event FROM event_logs")]
        assert len(messages) == 1 and "after" in messages[0]
    finally:
        storage.dispose()


def test_an_earlier_releases_unedited_dagster_yaml_is_brought_up_to_date(env: Path):
    home = env / "var" / "dagster"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(instance_module._EARLIER_YAML, encoding="utf-8")
    instance = open_instance()
    try:
        assert isinstance(instance.event_log_storage, KeptIndexSqliteEventLogStorage)
    finally:
        instance.dispose()
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == instance_module.DAGSTER_YAML
    assert not list(home.glob("*.part"))


def test_a_dagster_yaml_an_operator_edited_is_kept(env: Path):
    home = env / "var" / "dagster"
    home.mkdir(parents=True)
    edited = instance_module._EARLIER_YAML.replace(
        "max_concurrent_runs: 1", "max_concurrent_runs: 2"
    )
    (home / "dagster.yaml").write_text(edited, encoding="utf-8")
    instance = open_instance()
    try:
        assert not isinstance(instance.event_log_storage, KeptIndexSqliteEventLogStorage)
    finally:
        instance.dispose()
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == edited


def test_a_forked_child_opens_the_index_for_itself(env: Path):
    """SQLite connections must not cross a fork: a child process that inherits the storage
    opens its own connections, and the parent's stay usable."""
    write_extract(env / "inbox" / "a.csv", [IHC_ROW])
    instance = open_instance()
    try:
        _run(env, instance)
        storage = instance.event_log_storage
        keys = storage.get_asset_keys()
        assert keys and storage._pid == os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 only if it read through a connection of its own
            ok = storage.get_asset_keys() == keys and storage._pid == os.getpid()
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert storage.get_asset_keys() == keys and storage._pid == os.getpid()
    finally:
        instance.dispose()


def test_without_dagster_home_or_base_dir_the_storage_says_so(monkeypatch: pytest.MonkeyPatch):
    import dagster as dg

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(dg.DagsterInvariantViolationError, match="DAGSTER_HOME or a base_dir"):
        KeptIndexSqliteEventLogStorage.from_config_value(None, {})
