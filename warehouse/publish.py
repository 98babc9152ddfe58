"""The warehouse's published snapshot: a whole-file copy taken under the writer's lock, after a
checkpoint, replaced atomically, so a reader opens either the previous snapshot or this one.

How the copy is made (her2qa/filecopy.py), cheapest first:

- ``cloned``: where the file system shares extents (XFS with reflink, btrfs, ZFS with block
  cloning) the file is cloned: the same cost at 100 MB or 100 GB, and the warehouse's later
  writes copy only the blocks they change.
- ``patched``: elsewhere (ext4), the snapshot before the published one, kept beside it as
  ``.<name>.spare``, is made equal to the warehouse by writing only the chunks that differ:
  both files are read, a night's few dozen MB are written. A 10M-result warehouse (3.3 GB)
  took 11 s a night to copy on ext4, which made the snapshot the largest part of the night;
  patched, 0.8-1.3 s. The reads still grow with the warehouse: at 30M (9.6 GB, the two files
  beyond the page cache) 7.1-8.3 s against 11.1 s for the copy.
  The spare is patched only when nothing can be reading it: it is no longer published (a
  reader opening the snapshot by name gets the published file, never the spare), and no
  process holds it open through DuckDB (every DuckDB connection, read-only too, holds a
  POSIX lock on its file for as long as it is open: a notebook still reading the snapshot
  of two nights ago keeps its file as it was, and the snapshot is copied instead).
- ``copied``: the bytes copied, when there is no spare (a first snapshot, a spare still
  open, one left by a run killed mid-way).

The spare costs one more warehouse's size of disk where snapshots are not clones."""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from her2qa import filecopy


@dataclass(frozen=True)
class Published:
    size: int  # bytes of the snapshot
    how: str  # "cloned", "patched" or "copied"
    written: int  # bytes written to make it (0 for a clone)


def snapshot(
    con: duckdb.DuckDBPyConnection, warehouse: str | Path, target: str | Path
) -> Published:
    """Copy the warehouse ``con`` holds (write lock) to ``target``.

    CHECKPOINT moves the write-ahead log into the file first, so the file alone is the whole
    state; holding the connection keeps any other writer out while it is copied."""
    source, target = Path(warehouse), Path(target)
    if source.resolve() == target.resolve():
        raise ValueError("the snapshot must not be the warehouse itself")
    con.execute("CHECKPOINT")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    spare = target.with_name(f".{target.name}.spare")
    partial.unlink(missing_ok=True)  # a killed run's leftover: a copy or a half-patched spare
    with source.open("rb") as src:
        if _clone(src.fileno(), partial):
            how, written = "cloned", 0
        elif (patched := _patch(src.fileno(), spare, target, partial)) is not None:
            how, written = "patched", patched
        else:
            with partial.open("wb") as dst:
                how, written = "copied", filecopy.copy_fd(src.fileno(), dst.fileno())
    os.chmod(partial, 0o444)  # read-only for everyone: a reader cannot write to it by mistake
    spare.unlink(missing_ok=True)  # an open reader keeps its file; the name goes
    if how != "cloned" and target.exists():
        # the published snapshot, the next run's spare once replaced (a file system without
        # hard links keeps none: the next snapshot is copied)
        with contextlib.suppress(OSError):
            os.link(target, spare)
    os.replace(partial, target)
    return Published(target.stat().st_size, how, written)


def _clone(source: int, partial: Path) -> bool:
    """Whether ``partial`` was made a clone of the open file ``source`` (else not there)."""
    with partial.open("wb") as dst:
        if filecopy.clone_fd(source, dst.fileno()):
            return True
    partial.unlink()
    return False


def _patch(source: int, spare: Path, target: Path, partial: Path) -> int | None:
    """The spare, patched into ``partial``: the bytes written. None (the spare left as it is)
    when there is none, or it may be read: still published (a run killed between linking and
    replacing), linked elsewhere, not ours to write, or held open by a DuckDB process."""
    try:
        kept = spare.stat()
    except FileNotFoundError:
        return None
    if kept.st_nlink != 1 or (target.exists() and os.path.samestat(kept, target.stat())):
        return None
    try:
        os.chmod(spare, 0o600)  # it was published read-only
        fd = os.open(spare, os.O_RDWR)
    except OSError:
        return None  # not ours to write (another account's): copied instead
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None  # a reader holds it (DuckDB's lock): it stays as it is
        os.rename(spare, partial)  # ours alone now; a killed run leaves it to be removed
        return filecopy.patch_fd(source, fd)
    finally:
        os.close(fd)  # and the lock with it
