"""Dagster's SQLite event log, with the cross-run index kept open.

Dagster's ``SqliteEventLogStorage`` opens a new SQLAlchemy engine and SQLite connection for
every write and closes it after. Closing the last connection of a WAL database checkpoints
it (a write and an fsync of the database file), so every event costs an open, a checkpoint
and a close, twice for asset and check events, which are mirrored into the index shard
(``index.db``). A nightly run writes about 350 events: measured on a 1M-result night, this
was about 1,240 connections and 2.5 s of a 15.7 s run (paired runs: 13.2 s with this storage).

This storage keeps one connection to the index shard for the life of the process; each
write is still its own committed transaction, so other processes (webserver, daemon) read
it at once, as SQLite's WAL mode allows. The run shards (``<run_id>.db``) keep Dagster's
open-write-close: the webserver follows a running run by watching that file change
(``SqliteEventLogStorageWatchdog``), and with a kept connection the writes would stay in
the ``-wal`` file until a checkpoint.

Configured by the ``dagster.yaml`` her2qa writes (``her2qa/instance.py``).
"""

from __future__ import annotations

import os
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


class KeptIndexSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose index shard connection stays open (see module)."""

    def __init__(self, base_dir: str, inst_data: dg.ConfigurableClassData | None = None):
        self._index_engine: Engine | None = None
        self._index_pid = 0  # the process that opened it: a forked child opens its own
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
        if shard != INDEX_SHARD_NAME:
            with super()._connect(shard) as conn:
                yield conn
            return
        with self._db_lock:  # one connection, used by one thread at a time
            if self._index_pid != os.getpid():
                self._index_engine = None  # SQLite connections must not cross a fork
            if self._index_engine is None:
                engine = create_engine(
                    self.conn_string_for_shard(shard),
                    poolclass=StaticPool,
                    connect_args={
                        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                        "check_same_thread": False,
                    },
                )
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
                self._index_engine, self._index_pid = engine, os.getpid()
            with self._index_engine.connect() as conn, conn.begin():
                yield conn

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

    def dispose(self) -> None:
        with self._db_lock:
            if self._index_engine is not None and self._index_pid == os.getpid():
                self._index_engine.dispose()
            self._index_engine = None
        super().dispose()
