"""Whole-file copies that cost no disk where the file system can share extents.

The copy is ``copy_file_range``: on a file system with shared extents (XFS with reflink, the
default of RHEL 8 and later; btrfs; ZFS 2.2 with block cloning) the kernel clones the file's
extents instead of copying bytes, so a copy costs the same at 100 MB or 100 GB and takes no
space until one side writes. Elsewhere (ext4) the kernel copies the bytes. Where the call is
refused (another file system, an old kernel, a sandbox's filter) the bytes are copied by read
and write. The warehouse's snapshot (warehouse/publish.py) and the inbox's archive copy
(her2qa/ingest/inbox.py) are both made here."""

from __future__ import annotations

import os

_CHUNK = 1 << 22
_PER_CALL = 1 << 30  # copy_file_range's count per call; it stops at the source's end


def copy_fd(source: int, target: int) -> int:
    """Copy the open file ``source`` from its start to its end into the empty, open file
    ``target``; returns the bytes copied. Both offsets end past the copy."""
    os.lseek(source, 0, os.SEEK_SET)
    copied = 0
    try:
        while done := os.copy_file_range(source, target, _PER_CALL):
            copied += done
        return copied
    except OSError:
        pass  # refused: the copy starts again in user space (its own errors are raised)
    os.lseek(source, 0, os.SEEK_SET)
    os.lseek(target, 0, os.SEEK_SET)
    os.ftruncate(target, 0)
    copied = 0
    while chunk := os.read(source, _CHUNK):
        view = memoryview(chunk)
        while view:  # a write may take part of the chunk
            view = view[os.write(target, view) :]
        copied += len(chunk)
    return copied
