"""The warehouse's published snapshot: a whole-file copy taken under the writer's lock, after a
checkpoint, replaced atomically, so a reader opens either the previous snapshot or this one.

The copy is her2qa/filecopy.py's: extents cloned where the file system shares them (XFS with
reflink, btrfs), so the snapshot costs the same at 100 MB or 100 GB and the warehouse's later
writes copy only the blocks they change; bytes copied elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from her2qa import filecopy


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
    partial.unlink(missing_ok=True)  # a killed run's leftover (read-only) copy
    clone_or_copy(source, partial)
    os.chmod(partial, 0o444)  # read-only for everyone: a reader cannot write to it by mistake
    os.replace(partial, target)
    return target.stat().st_size


def clone_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes a copy of ``source`` (her2qa/filecopy.py)."""
    with source.open("rb") as src, target.open("wb") as dst:
        filecopy.copy_fd(src.fileno(), dst.fileno())
