"""The warehouse's published snapshot: a whole-file copy taken under the writer's lock, after a
checkpoint, replaced atomically, so a reader opens either the previous snapshot or this one.

The copy is ``copy_file_range``: on a file system with shared extents (XFS with reflink, the
default of RHEL 8 and later; btrfs; ZFS 2.2 with block cloning) the kernel clones the file's
extents instead of copying bytes, so the snapshot costs the same at 100 MB or 100 GB, and the
warehouse's later writes copy only the blocks they change. Elsewhere (ext4) the kernel copies
the bytes, as ``shutil.copyfile`` does; if the call is refused (another file system, an old
kernel) the copy falls back to ``shutil.copyfile``."""

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
    partial.unlink(missing_ok=True)  # a killed run's leftover (read-only) copy
    clone_or_copy(source, partial)
    os.chmod(partial, 0o444)  # read-only for everyone: a reader cannot write to it by mistake
    os.replace(partial, target)
    return target.stat().st_size


def clone_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes a copy of ``source``: extents cloned where the file system shares
    them, bytes copied in the kernel otherwise, ``shutil.copyfile`` if the kernel refuses."""
    try:
        with source.open("rb") as src, target.open("wb") as dst:
            left = os.fstat(src.fileno()).st_size
            while left > 0:
                done = os.copy_file_range(src.fileno(), dst.fileno(), left)
                if done == 0:  # the source shrank under us: it cannot, we hold its lock
                    raise OSError(f"{source}: copy ended {left} bytes early")
                left -= done
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and not source.exists():
            raise
        shutil.copyfile(source, target)
