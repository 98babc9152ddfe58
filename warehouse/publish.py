"""The warehouse's published snapshot: a whole-file copy taken under the writer's lock, after a
checkpoint, replaced atomically, so a reader opens either the previous snapshot or this one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb


def snapshot(con: duckdb.DuckDBPyConnection, warehouse: str | Path, target: str | Path) -> int:
    """Copy the warehouse ``con`` holds (write lock) to ``target``; returns its size in bytes.

    CHECKPOINT moves the write-ahead log into the file first, so the file alone is the whole
    state; holding the connection keeps any other writer out while it is copied."""
    source, target = Path(warehouse), Path(target)
    if source.resolve() == target.resolve():
        raise ValueError("the snapshot must not be the warehouse itself")
    con.execute("CHECKPOINT")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    shutil.copyfile(source, partial)
    os.chmod(partial, 0o444)  # read-only for everyone: a reader cannot write to it by mistake
    os.replace(partial, target)
    return target.stat().st_size
