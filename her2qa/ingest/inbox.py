"""Ingest: new inbox files -> archive -> ``ops.ingested_files`` + ``raw.her2_rows``.

A file is identified by its SHA-256: the same bytes add nothing, under any
name. Every entry of the inbox that looks like an extract is recorded, once,
including duplicates, files that cannot be read, symbolic links, folders and
other non-regular entries, each with its reason; a failure of one file never
stops the others. Files are recorded and loaded in batches, one transaction
each (``_Batch``; her2qa/ingest/raw_layer.py writes the rows), so a crash never
leaves half a file behind.

What is archived is what is hashed and read: a new file is copied into the
archive (its extents cloned where the file system shares them, so the archive
costs no disk there: her2qa/filecopy.py), and that archived copy is read once to
compute its SHA-256 and the byte checks (NUL bytes, UTF-8, physical lines); the
rows are parsed from it.
A file whose size, modification time or content changes between the first look
and the end of that read is still being written: it is left for the next run.

PHI (her2qa/ingest/raw_layer.py): the MRN is keyed (HMAC, in DuckDB) and names
and birth dates are dropped in the same statement that writes the raw layer;
extra columns named or valued like identifiers are dropped and counted; a record
that does not line up with the header keeps no value. The file's text exists
only in memory until its batch is written and in the read-only archive copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from her2qa import filecopy
from her2qa.config import DEFAULT_SOURCE, SiteConfig, SourceConfig
from her2qa.ingest import extract, formats, phi, raw_layer

Progress = Callable[[str], None]

_CHUNK = 1 << 22
# A file whose status (size, modification and change times, inode) is the one recorded at its
# last look is not read again (ops.inbox_looks). Only a look taken this long after the file's
# last change is trusted: a write in the same tick of the file system's clock as the look
# would leave the change time as it was (git's "racy" index entries).
LOOK_SETTLED_NS = 2_000_000_000
# Log between two checkpoints while the inbox is read (_checkpoints_spaced): ~0.9M raw rows.
# Rows committed but not yet checkpointed take memory (+0.1 GB peak at 1M rows), so bounded.
WAL_PER_CHECKPOINT = "256MB"


@dataclass(frozen=True)
class FileOutcome:
    file_id: int | None
    file_name: str
    sha256: str
    # ingested | duplicate | rejected | seen (already recorded, nothing to do)
    # | waiting (still being written: left for the next run, not recorded)
    status: str
    reason: str | None
    rows_read: int
    physical_lines: int | None = None
    columns_dropped: int = 0


def printable(name: str) -> str:
    """A file name as one safe line: control characters (a newline in a name splits a
    progress line) and undecodable bytes escaped."""
    name = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in name)


def _stored_name(name: str) -> str:
    """The name as stored: DuckDB text must be valid UTF-8 (a name from the file system
    may not be), otherwise as it is."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


# The names read from the inbox, by suffix (the format itself is recognised from the bytes:
# her2qa/ingest/formats). The generator's ground truth beside its extracts is not one.
EXTRACT_SUFFIXES = (
    *(".csv", ".tsv"),
    *(".xlsx", ".xlsm", ".xls", ".ods"),
    *(".hl7", ".hl7v2", ".oru"),
    *(".json", ".ndjson"),
)
_NOT_AN_EXTRACT = "manifest.json"


def _looks_like_extract(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith(EXTRACT_SUFFIXES) and lowered != _NOT_AN_EXTRACT


def inbox_files(inbox: Path) -> list[Path]:
    """The regular CSV files of the inbox that would be read, in name order (which fixes
    arrival order within a run). Links, folders and hidden names are not (see ingest)."""
    return [p for p, problem in inbox_entries(inbox) if problem is None]


def inbox_entries(inbox: Path) -> list[tuple[Path, str | None]]:
    """Every inbox entry named like an extract, with why it is not read (None: it is).

    Looked at with lstat: a symbolic link is never followed (a link to /etc/passwd would
    be read and archived), whatever it points to."""
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox {inbox} is not a readable folder")
    entries = []
    for path in sorted(inbox.iterdir(), key=lambda p: os.fsencode(p.name)):
        if not _looks_like_extract(path.name):
            continue
        try:
            st = path.lstat()
        except OSError as exc:  # vanished between listing and looking
            entries.append((path, f"unreadable: {exc.strerror or 'cannot be looked at'}"))
            continue
        if stat.S_ISLNK(st.st_mode):
            problem = "symlink: a symbolic link is not followed (copy the file into the inbox)"
        elif not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            problem = f"not_a_regular_file: {kind}, not read"
        elif path.name.startswith("."):
            problem = (
                "hidden_name: a name starting with '.' is a temporary or hidden file, not read"
            )
        else:
            problem = None
        entries.append((path, problem))
    return entries


def _archive_suffix(name: str) -> str:
    """The archive copy keeps the file's suffix (what it is), lower-cased; else ``.csv``."""
    suffix = Path(name).suffix.lower()
    return suffix if suffix in EXTRACT_SUFFIXES else ".csv"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _open_nofollow(path: Path) -> int:
    """Open for reading without following a link (a link swapped in after lstat) and
    without blocking (a FIFO swapped in)."""
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)


def _hash_fd(fd: int) -> str:
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, _CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _same_look(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ino) == (b.st_size, b.st_mtime_ns, b.st_ino)


def _archive_fd(
    fd: int, archive_dir: Path, suffix: str = ".csv"
) -> tuple[str, Path, extract.ByteChecks, os.stat_result, bool]:
    """Copy the open file into the archive, then hash and check the copy in one read.

    Returns (sha256, archived path, byte checks, the file's stat after the copy, whether
    the archive copy is new). The archived bytes are exactly the hashed bytes: the hash is
    read from the archived copy, which nothing else writes."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    tmp = archive_dir / f".incoming-{os.getpid()}-{fd}.part"
    digest = hashlib.sha256()
    checks = extract.ByteChecks()
    try:
        with tmp.open("w+b") as out:
            filecopy.copy_fd(fd, out.fileno())
            out.seek(0)
            while chunk := out.read(_CHUNK):
                digest.update(chunk)
                checks.feed(chunk)
        checks.finish()
        after = os.fstat(fd)
        sha = digest.hexdigest()
        target = archive_dir / sha[:2] / f"{sha}{suffix}"
        created = not target.exists()
        if not created:
            tmp.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o440)
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return sha, target, checks, after, created


def archive(path: Path, sha: str, archive_dir: Path) -> Path:
    """Copy a file into the content-addressed, read-only archive (checks the hash)."""
    fd = _open_nofollow(path)
    try:
        got, target, _checks, _after, _created = _archive_fd(
            fd, archive_dir, _archive_suffix(path.name)
        )
    finally:
        os.close(fd)
    if got != sha:
        raise ValueError(f"{printable(path.name)} changed while it was archived")
    return target


def ingest_inbox(
    con: duckdb.DuckDBPyConnection,
    inbox: Path,
    archive_dir: Path,
    key: phi.PhiKey,
    run_id: str,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    site: SiteConfig | None = None,
) -> list[FileOutcome]:
    """Ingest every file of the inbox not seen before; returns one outcome per entry.
    ``site``'s ``[[sources]]`` say how files of each name are read (default: by their bytes)."""
    entries = inbox_entries(inbox)
    known = _last_looks(con)
    looks: list[tuple] = []
    with _checkpoints_spaced(con):
        batch = _Batch(con, key, progress or (lambda _msg: None))
        for path, problem in entries:
            if problem is not None:
                _record_unread(batch, path, problem, run_id, now=now)
                continue
            looked_ns = time.time_ns()
            status = _status(path)
            seen = known.get(_stored_name(path.name))
            if status is not None and seen is not None and _unchanged(seen, status):
                # the bytes recorded under this name at the last look: nothing to do,
                # without reading a file the inbox may keep for years
                batch.add(FileOutcome(None, _stored_name(path.name), seen[0], "seen", None, 0))
                continue
            source = site.source_for(path.name) if site else DEFAULT_SOURCE
            outcome = ingest_file(batch, path, archive_dir, run_id, now=now, source=source)
            if status is not None and outcome.sha256 and outcome.status != "waiting":
                looks.append((outcome.file_name, outcome.sha256, status, looked_ns))
        batch.flush()
    _record_looks(con, looks, [_stored_name(p.name) for p, _ in entries])
    return batch.outcomes


def _status(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except OSError:
        return None


def _identity(status: os.stat_result) -> tuple[int, int, int, int, int]:
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev)


def _unchanged(seen: tuple, status: os.stat_result) -> bool:
    """The file is as it was at a settled look: any write since changed its change time
    (which no user can set), a replacement its inode."""
    _sha, identity, looked_ns = seen
    return identity == _identity(status) and status.st_ctime_ns + LOOK_SETTLED_NS <= looked_ns


def _last_looks(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """name -> (sha256, identity, looked_ns) of the last looks whose bytes are still recorded
    under that name in ops.ingested_files."""
    rows = con.execute(
        """
        SELECT l.file_name, l.sha256, l.size_bytes, l.mtime_ns, l.ctime_ns, l.inode, l.device,
               l.looked_ns
        FROM ops.inbox_looks AS l
        WHERE EXISTS (SELECT 1 FROM ops.ingested_files AS f
                      WHERE f.sha256 = l.sha256 AND f.file_name = l.file_name)
        """
    ).fetchall()
    return {name: (sha, tuple(identity), looked) for name, sha, *identity, looked in rows}


def _record_looks(
    con: duckdb.DuckDBPyConnection, looks: list[tuple], inbox_names: list[str]
) -> None:
    """This run's looks replace the earlier ones of the same names; names no longer in the
    inbox are forgotten (the table stays the size of the inbox)."""
    rows = [(name, sha, *_identity(status), looked) for name, sha, status, looked in looks]
    # Registered by name, not found by DuckDB in the caller's locals: that replacement scan
    # reads the calling frame, which any wrapper of the connection (a profiler) changes.
    con.register(
        "new_looks",
        pa.Table.from_pylist(
            [dict(zip(_LOOKS.names, row, strict=True)) for row in rows], schema=_LOOKS
        ),
    )
    con.register("in_inbox", pa.table({"file_name": pa.array(inbox_names, pa.string())}))
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "DELETE FROM ops.inbox_looks WHERE file_name IN (SELECT file_name FROM new_looks) "
            "OR file_name NOT IN (SELECT file_name FROM in_inbox)"
        )
        con.execute("INSERT INTO ops.inbox_looks SELECT * FROM new_looks")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("new_looks")
        con.unregister("in_inbox")


_LOOKS = pa.schema(
    [("file_name", pa.string()), ("sha256", pa.string())]
    + [(c, pa.int64()) for c in ("size_bytes", "mtime_ns", "ctime_ns")]
    + [(c, pa.uint64()) for c in ("inode", "device")]  # unsigned in stat(2)
    + [("looked_ns", pa.int64())]
)


@contextlib.contextmanager
def _checkpoints_spaced(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """While the inbox is read, DuckDB checkpoints (writes the committed rows into the
    warehouse file, compressed) every ``WAL_PER_CHECKPOINT`` of log instead of its default
    16 MB, then once at the end.

    Each batch is still its own transaction, durable when committed (the log is replayed
    after a crash). When each file was its own transaction, at the default a 1M-row inbox
    (60 files) was checkpointed every few files, and those checkpoints took most of the
    commit time (about 10 s of 27 s of the ingest, against about 3 s for the one at the
    end) and left the file a third larger. A batch of more than a row group (122,880 rows)
    is written straight into the warehouse file instead, and needs no checkpoint."""
    before = con.execute("SELECT current_setting('wal_autocheckpoint')").fetchone()[0]
    con.execute(f"SET wal_autocheckpoint = '{WAL_PER_CHECKPOINT}'")
    try:
        yield
    finally:
        con.execute("SET wal_autocheckpoint = $before", {"before": before})
    con.execute("CHECKPOINT")


def _detail(outcome: FileOutcome) -> str:
    if outcome.status != "ingested":
        return outcome.reason or ""
    text = f"{outcome.rows_read:,} rows"
    lines = outcome.physical_lines
    if lines is not None and lines - 1 != outcome.rows_read:
        text += f" from {max(lines - 1, 0):,} data lines"
    if outcome.columns_dropped:
        text += f"; {outcome.columns_dropped} identifier-like column(s) dropped"
    return text


# Files are recorded, and their rows written, in batches of one transaction each: a batch
# ends once its files hold this many rows (her2qa/ingest/raw_layer.py says why batches).
# Bounded so that the rows held in memory until then stay about 100 MB of text.
BATCH_ROWS = 500_000


@dataclass
class _Pending:
    outcome: FileOutcome
    record: dict | None  # its ops.ingested_files row (None: nothing to record)
    data: extract.Extract | None = None  # the rows of a file read, to write to the raw layer


class _Batch:
    """The inbox's entries in arrival order, recorded and written together.

    A file_id is given as each file is met, so ids follow arrival order whatever the
    batches. ``flush`` writes every pending record and the raw rows of the files read in
    one transaction: a crash leaves the whole batch unwritten, never half a file (its
    archive copies are found again by the next run)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, key: phi.PhiKey, say: Progress) -> None:
        self.con, self.key, self.say = con, key, say
        self.next_file_id = con.execute(
            "SELECT coalesce(max(file_id), 0) + 1 FROM ops.ingested_files"
        ).fetchone()[0]
        self.pending: list[_Pending] = []
        self.outcomes: list[FileOutcome] = []
        self.rows = 0
        # sha256 -> (file_id, name) of the first pending file with those bytes (a night may
        # bring thousands of one-message files: a look-up, not a scan of the batch)
        self.firsts: dict[str, tuple[int, str]] = {}

    def first_with(self, sha: str) -> tuple[int, str] | None:
        """(file_id, name) of the pending file first recorded with these bytes, if any."""
        return self.firsts.get(sha)

    def add(self, outcome: FileOutcome) -> FileOutcome:
        """An entry with nothing to record (seen, waiting)."""
        self.pending.append(_Pending(outcome, None))
        return outcome

    def record(
        self,
        record: dict,
        status: str,
        reason: str | None,
        *,
        duplicate_of: int | None = None,
        data: extract.Extract | None = None,
    ) -> FileOutcome:
        """Record a file (ingested when ``data`` holds its rows); returns its outcome."""
        alone = data is not None and not raw_layer.may_share(data)
        if alone and any(p.data is not None for p in self.pending):
            self.flush()  # a file with extra columns is written in a batch of its own
        file_id, self.next_file_id = self.next_file_id, self.next_file_id + 1
        rows = data.table.num_rows if data is not None else 0
        record = {
            **record,
            "file_id": file_id,
            "status": status,
            "reason": reason,
            "duplicate_of": duplicate_of,
            "columns_missing": data.header.missing_optional if data is not None else [],
            "columns_extra": [],
            "rows_read": rows,
            "rows_malformed": 0 if data is not None else None,
        }
        lines = record.get("physical_lines")
        outcome = FileOutcome(
            file_id, record["file_name"], record["sha256"], status, reason, rows, lines
        )
        self.pending.append(_Pending(outcome, record, data))
        if status != "duplicate" and record["sha256"]:
            self.firsts.setdefault(record["sha256"], (file_id, record["file_name"]))
        self.rows += rows
        if self.rows >= BATCH_ROWS or alone:
            self.flush()
        return outcome

    def flush(self) -> None:
        """Write the pending records and rows in one transaction; say each outcome."""
        pending, self.pending, self.rows = self.pending, [], 0
        self.firsts = {}  # from now on in ops.ingested_files
        records = [p for p in pending if p.record is not None]
        if records:
            self.con.execute("BEGIN TRANSACTION")
            try:
                self._write(records)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        for p in pending:
            outcome = p.outcome
            if p.record is not None and p.data is not None:
                outcome = replace(outcome, columns_dropped=p.record["columns_dropped"])
            self.outcomes.append(outcome)
            if outcome.status != "seen":
                self.say(f"{outcome.status}: {printable(outcome.file_name)} ({_detail(outcome)})")

    def _write(self, records: list[_Pending]) -> None:
        read = [p for p in records if p.data is not None]
        if read:
            loaded = raw_layer.load(
                self.con, [(p.record["file_id"], p.data) for p in read], self.key
            )
            for p, (kept, dropped_by_value) in zip(read, loaded, strict=True):
                by_name = len(p.data.header.dropped_extra)
                p.record.update(
                    columns_extra=kept,
                    columns_dropped=by_name + dropped_by_value,
                    columns_dropped_by_name=by_name,
                    columns_dropped_by_value=dropped_by_value,
                )
        self.con.register("new_files", _as_table(self.con, [p.record for p in records]))
        try:
            self.con.execute("INSERT INTO ops.ingested_files BY NAME SELECT * FROM new_files")
        finally:
            self.con.unregister("new_files")
        if read:
            self.con.execute(
                """
                UPDATE ops.ingested_files AS f SET rows_malformed = m.malformed
                FROM (SELECT file_id, count(*) AS malformed FROM raw.her2_rows
                      WHERE file_id BETWEEN $first AND $last AND malformed IS NOT NULL
                      GROUP BY file_id) AS m
                WHERE f.file_id = m.file_id
                """,
                {"first": read[0].record["file_id"], "last": read[-1].record["file_id"]},
            )


def _as_table(con: duckdb.DuckDBPyConnection, records: list[dict]) -> pa.Table:
    """The records as Arrow, typed as ops.ingested_files' columns of the same names (the
    DDL is their one definition; a column no record names keeps its default)."""
    table = con.sql("SELECT * FROM ops.ingested_files LIMIT 0").to_arrow_table().schema
    names = list(dict.fromkeys(name for record in records for name in record))
    return pa.Table.from_pylist(records, schema=pa.schema([table.field(n) for n in names]))


def _record_unread(
    batch: _Batch,
    path: Path,
    reason: str,
    run_id: str,
    *,
    now: datetime | None = None,
) -> FileOutcome:
    """Record, once, an entry whose bytes were not read (no content, so no SHA-256: '')."""
    name = _stored_name(path.name)
    known = batch.con.execute(
        "SELECT count(*) FROM ops.ingested_files "
        "WHERE sha256 = '' AND file_name = $name AND reason = $reason",
        {"name": name, "reason": reason},
    ).fetchone()[0]
    if known:
        return batch.add(FileOutcome(None, name, "", "seen", reason, 0))
    return batch.record(_base_record(name, "", 0, run_id, now), "rejected", reason)


def _base_record(name: str, sha: str, size: int, run_id: str, now: datetime | None) -> dict:
    ingested_at = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "file_name": name,
        "sha256": sha,
        "size_bytes": size,
        "ingested_at": ingested_at.replace(tzinfo=None),
        "arrival_date": ingested_at.astimezone().date(),
        "run_id": run_id,
    }


def ingest_file(
    batch: _Batch,
    path: Path,
    archive_dir: Path,
    run_id: str,
    *,
    now: datetime | None = None,
    source: SourceConfig = DEFAULT_SOURCE,
) -> FileOutcome:
    """One regular file: recorded whatever happens to it; only a file still being written
    is left unrecorded, for the next run."""
    name = _stored_name(path.name)
    try:
        fd = _open_nofollow(path)
    except OSError as exc:  # PermissionError, a link or FIFO swapped in, vanished, ...
        why = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
        return _record_unread(
            batch,
            path,
            f"unreadable: the file cannot be opened ({why or 'error'})",
            run_id,
            now=now,
        )
    try:
        return _ingest_fd(batch, fd, path, name, archive_dir, run_id, now=now, source=source)
    finally:
        os.close(fd)


def _ingest_fd(
    batch: _Batch,
    fd: int,
    path: Path,
    name: str,
    archive_dir: Path,
    run_id: str,
    *,
    now: datetime | None,
    source: SourceConfig,
) -> FileOutcome:
    first_look = os.fstat(fd)
    if not stat.S_ISREG(first_look.st_mode):
        return _record_unread(batch, path, "not_a_regular_file: not read", run_id, now=now)
    try:
        sha = _hash_fd(fd)
    except OSError as exc:
        reason = f"unreadable: the file cannot be read ({exc.strerror or 'error'})"
        return _record_unread(batch, path, reason, run_id, now=now)
    if not _same_look(first_look, os.fstat(fd)):
        return batch.add(_waiting(name, sha))
    # One look-up: the first file with these bytes, and every name they arrived under.
    first_id, first_name, known_names = batch.con.execute(
        "SELECT arg_min(file_id, file_id) FILTER (WHERE status <> 'duplicate'), "
        "arg_min(file_name, file_id) FILTER (WHERE status <> 'duplicate'), "
        "coalesce(list(file_name), []) FROM ops.ingested_files WHERE sha256 = $sha",
        {"sha": sha},
    ).fetchone()
    if name in known_names:  # the same file still in the inbox: nothing to do
        return batch.add(FileOutcome(None, name, sha, "seen", None, 0))
    if first_id is None and (first := batch.first_with(sha)) is not None:
        first_id, first_name = first  # the same bytes earlier in this batch

    record = _base_record(name, sha, first_look.st_size, run_id, now)
    if first_id is not None:
        reason = f"same content (SHA-256) as {printable(first_name)}, already ingested"
        return batch.record(record, "duplicate", reason, duplicate_of=first_id)

    try:
        archived_sha, archived, checks, last_look, created = _archive_fd(
            fd, archive_dir, _archive_suffix(name)
        )
    except OSError as exc:
        reason = f"unreadable: the file cannot be read ({exc.strerror or 'error'})"
        return _record_unread(batch, path, reason, run_id, now=now)
    if archived_sha != sha or not _same_look(first_look, last_look):
        # Still being written: the snapshot just archived is no file's content (and holds
        # PHI): removed. The file is ingested once it has stopped changing.
        if created:
            with contextlib.suppress(OSError):
                archived.unlink()
        return batch.add(_waiting(name, archived_sha))
    record["archive_path"] = str(archived)
    record["physical_lines"] = (
        checks.physical_lines if formats.kind(checks, source) == "csv" else None
    )
    try:
        data = formats.read(archived, checks, source)
    except extract.FileRejected as exc:
        return batch.record(record, "rejected", f"{exc.kind}: {exc.message}")
    except (OSError, UnicodeError, ValueError, pa.ArrowException, MemoryError) as exc:
        # a parse failure of one file is that file's reason, never the run's end (the
        # exception's text is never shown: a parser may quote the file's content)
        reason = f"unreadable: the file cannot be parsed ({type(exc).__name__})"
        return batch.record(record, "rejected", reason)
    return batch.record(record, "ingested", None, data=data)


def _waiting(name: str, sha: str) -> FileOutcome:
    return FileOutcome(
        None, name, sha, "waiting", "still being written (size or time changed): next run", 0
    )
