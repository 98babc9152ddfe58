"""Whole-file copies that cost no disk where the file system can share extents, and copies
that write only what changed where it cannot.

``copy_fd`` is ``copy_file_range``: on a file system with shared extents (XFS with reflink, the
default of RHEL 8 and later; btrfs; ZFS 2.2 with block cloning) the kernel clones the file's
extents instead of copying bytes, so a copy costs the same at 100 MB or 100 GB and takes no
space until one side writes. Elsewhere (ext4) the kernel copies the bytes. Where the call is
refused (another file system, an old kernel, a sandbox's filter) the bytes are copied by read
and write. The inbox's archive copy (her2qa/ingest/inbox.py) is made so.

``clone_fd`` asks for the clone alone (FICLONE) and says whether it was made; ``patch_fd``
makes an earlier copy equal to the file by writing only the chunks that differ. The
warehouse's snapshot (warehouse/publish.py) uses them: cloned where it can be, else an earlier
snapshot patched (a night changes a few dozen MB of a 3 GB warehouse), else copied."""

from __future__ import annotations

import fcntl
import os
from concurrent.futures import ThreadPoolExecutor

_CHUNK = 1 << 22
_PER_CALL = 1 << 30  # copy_file_range's count per call; it stops at the source's end
# linux/fs.h FICLONE = _IOW(0x94, 9, int); the fcntl module names it from Python 3.12. On an
# architecture that numbers it otherwise the kernel answers ENOTTY, which reads as "no clone".
FICLONE = getattr(fcntl, "FICLONE", 0x40049409)
# patch_fd compares the files in chunks this size, in this many threads (the reads and the
# comparison release the GIL): a 3.3 GB warehouse and its snapshot of the night before, both
# in the page cache, in 0.7 s on 2 threads against 1.4-2.2 s on one (2 cores).
_PATCH_CHUNK = 1 << 20
_PATCH_THREADS = 2


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


def clone_fd(source: int, target: int) -> bool:
    """Whether the kernel made the open file ``target`` a clone of ``source`` (the whole file,
    its extents shared). False where the file system cannot (ext4, tmpfs: EOPNOTSUPP,
    EINVAL, EXDEV), ``target`` then untouched."""
    try:
        fcntl.ioctl(target, FICLONE, source)
    except OSError:
        return False
    return True


def patch_fd(source: int, target: int) -> int:
    """Make the open file ``target`` (read and write) byte for byte the open file ``source``,
    writing only the chunks that differ, then cutting it to ``source``'s size; returns the
    bytes written. Reads both files whole: the cost of a copy's reads, a copy's writes only
    where they differ."""
    size = os.fstat(source).st_size
    chunks = -(-size // _PATCH_CHUNK)
    threads = max(1, min(_PATCH_THREADS, chunks))
    bounds = [i * chunks // threads * _PATCH_CHUNK for i in range(threads + 1)]

    def patch(start: int, end: int) -> int:
        mine, theirs = bytearray(_PATCH_CHUNK), bytearray(_PATCH_CHUNK)
        written = 0
        for offset in range(start, min(end, size), _PATCH_CHUNK):
            got = os.preadv(source, [mine], offset)
            old = os.preadv(target, [theirs], offset)
            if got == old == _PATCH_CHUNK and mine == theirs:
                continue
            if got < _PATCH_CHUNK and got == old and mine[:got] == theirs[:got]:
                continue
            view = memoryview(mine)[:got]
            while view:  # a write may take part of the chunk
                done = os.pwrite(target, view, offset + got - len(view))
                view = view[done:]
            written += got
        return written

    with ThreadPoolExecutor(threads) as pool:
        written = sum(pool.map(patch, bounds[:-1], bounds[1:]))
    os.ftruncate(target, size)
    return written
