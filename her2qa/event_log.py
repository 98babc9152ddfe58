"""Dagster's SQLite event log, with its connections kept open.

Dagster's ``SqliteEventLogStorage`` opens a new SQLAlchemy engine and SQLite connection for
every write and closes it after. Closing the last connection of a WAL database checkpoints
it (a write and an fsync of the database file), so every event costs an open, a checkpoint
and a close in the run's shard (``<run_id>.db``), and again in the cross-run index shard
(``index.db``) for asset and check events. A nightly run writes about 350 events.
Measured on a 1M-result night: about 1,240 connections and 2.5 s of a 15.7 s run for the
index (13.2 s with it kept open); then, with the run shard kept too and both connections at
``synchronous = NORMAL``, the event writes took 1.3 s instead of 2.9 s (timed in process)
and the run 10.76 s instead of 11.25 s (medians of three paired runs).

This storage keeps one connection to the index shard for the life of the process, and one
to the run shard it writes (one run at a time: another run's shard closes it). Each write
is still its own committed transaction, so other processes (webserver, daemon) read it at
once, as SQLite's WAL mode allows. A write to a run shard reaches the database file by a
checkpoint within ``CHECKPOINT_EVERY_S``, because the webserver follows a running run by
watching that file change (``SqliteEventLogStorageWatchdog``), not the ``-wal`` file: at once
when the last checkpoint is older, else by a timer at the end of that interval, which takes
every write made meanwhile. A checkpoint after every write cost a 1M run with no new file
0.52 s (408 events, 1.3 ms each: a write and a sync of the file).

Both connections run with ``synchronous = NORMAL``, SQLite's recommended setting in WAL
mode: a commit is not flushed to disk on its own, so a power cut may lose the last events
but never corrupts the file (an application crash loses nothing). The warehouse, not this
log, is the record of what a run did.

Configured by the ``dagster.yaml`` her2qa writes (``her2qa/instance.py``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

# A watcher of a run shard sees each event within this many seconds (module docstring).
CHECKPOINT_EVERY_S = 0.1


class KeptIndexSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose connections to the index shard and to the run shard it
    writes stay open (see module). The name, from when only the index's did, is the one the
    deployments' dagster.yaml carries."""

    def __init__(self, base_dir: str, inst_data: dg.ConfigurableClassData | None = None):
        self._index_engine: Engine | None = None
        self._run_engine: Engine | None = None
        self._run_shard: str | None = None
        self._clock = time.monotonic  # what the interval is measured by (tests stop it)
        self._checkpointed_at = 0.0  # self._clock() at the run shard's last checkpoint
        self._checkpoint_timer: threading.Timer | None = None
        self._pid = 0  # the process that opened them: a forked child opens its own
        self._tables_present: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: dg.ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> KeptIndexSqliteEventLogStorage:
        # Dagster's own default place for the run shards: $DAGSTER_HOME/history/runs
        base_dir = config_value.get("base_dir")
        if not base_dir:
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise dg.DagsterInvariantViolationError(
                    "KeptIndexSqliteEventLogStorage needs DAGSTER_HOME or a base_dir"
                )
            base_dir = os.path.join(home, "history", "runs")
        return cls(base_dir, inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:  # one connection per shard, used by one thread at a time
            if self._pid != os.getpid():  # SQLite connections must not cross a fork
                self._index_engine = self._run_engine = None
                self._run_shard, self._pid = None, os.getpid()
                self._checkpoint_timer = None  # the parent's timer thread is not this process's
            if shard == INDEX_SHARD_NAME:
                if self._index_engine is None:
                    self._index_engine = self._open(shard)
                with self._index_engine.connect() as conn, conn.begin():
                    yield conn
                return
            if self._run_shard != shard:  # the run this process writes now: one at a time
                self._close_run_shard()
                self._run_engine, self._run_shard = self._open(shard), shard
            with self._run_engine.connect() as conn:
                changes = conn.connection.dbapi_connection.total_changes
                with conn.begin():
                    yield conn
                changed = conn.connection.dbapi_connection.total_changes != changes
            if changed:  # into the database file soon: the webserver watches it (module)
                self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        """Checkpoint the run shard now, or have a timer do it at the end of the interval
        (``_db_lock`` held; a timer already set takes this write too)."""
        if self._checkpoint_timer is not None:
            return
        wait = self._checkpointed_at + CHECKPOINT_EVERY_S - self._clock()
        if wait <= 0:
            self._checkpoint_run_shard()
            return
        # not a daemon thread: a process ending within the interval waits for it
        self._checkpoint_timer = threading.Timer(wait, self._deferred_checkpoint)
        self._checkpoint_timer.start()

    def _deferred_checkpoint(self) -> None:
        with self._db_lock:
            if self._checkpoint_timer is not threading.current_thread():
                return  # cancelled while it waited for the lock: whoever did checkpointed
            self._checkpoint_timer = None
            self._checkpoint_run_shard()

    def _checkpoint_run_shard(self) -> None:
        if self._run_engine is not None:
            with self._run_engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        self._checkpointed_at = self._clock()

    def _open(self, shard: str) -> Engine:
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=StaticPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        with engine.connect() as conn:  # the one connection of the pool keeps it
            conn.exec_driver_sql("PRAGMA synchronous = NORMAL")
        return engine

    def _close_run_shard(self) -> None:
        if self._checkpoint_timer is not None:  # the checkpoint it would make, made now
            self._checkpoint_timer.cancel()
            self._checkpoint_timer = None
            self._checkpoint_run_shard()
        if self._run_engine is not None:
            self._run_engine.dispose()
        self._run_engine = self._run_shard = None

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before most writes (asset tags, check executions, pool slots), each
        # time on a new connection. A table, once there, stays: migrations add tables and
        # never drop one, so only its presence is remembered. (Not through the kept
        # connection: callers ask while they hold it.)
        if table_name in self._tables_present:
            return True
        present = super().has_table(table_name)
        if present:
            self._tables_present.add(table_name)
        return present

    def wipe(self) -> None:
        with self._db_lock:  # Dagster deletes the run shards' files: not under an open one
            if self._pid == os.getpid():
                self._close_run_shard()
        super().wipe()

    def dispose(self) -> None:
        with self._db_lock:
            if self._pid == os.getpid():
                if self._index_engine is not None:
                    self._index_engine.dispose()
                self._close_run_shard()
            self._index_engine = self._run_engine = None
            self._run_shard = None
        super().dispose()
