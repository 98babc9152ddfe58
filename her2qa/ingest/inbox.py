"""Ingest: new inbox files -> archive -> ``ops.ingested_files`` + ``raw.her2_rows``.

A file is identified by its SHA-256: the same bytes add nothing, under any
name. Every entry of the inbox that looks like an extract is recorded, once,
including duplicates, files that cannot be read, symbolic links, folders and
other non-regular entries, each with its reason; a failure of one file never
stops the others. Each file is loaded in one transaction, so a crash never
leaves half a file behind.

What is read is what is archived and what is hashed: a new file is copied into
the archive in one read that also computes its SHA-256 and the byte checks (NUL
bytes, UTF-8, physical lines), and the rows are parsed from that archived copy.
A file whose size, modification time or content changes between the first look
and the end of that read is still being written: it is left for the next run.

PHI: the MRN is keyed (HMAC, in DuckDB) and names and birth dates are dropped
in the same statement that writes the raw layer; extra columns named or valued
like identifiers are dropped and counted; a record that does not line up with
the header keeps no value. The file's text exists only in memory while that
statement runs and in the read-only archive copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

import warehouse
from her2qa.config import DEFAULT_SOURCE, SiteConfig, SourceConfig
from her2qa.ingest import extract, formats, phi
from schemas import contract

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
# A contract value is a code, a date or a number; a value this long is not one (and a
# 10 MB field must not travel into the raw layer). The row is quarantined, the value dropped.
MAX_VALUE_CHARS = 4_096
# Extra-column values shaped like an identifier (besides equal to one of the file's MRNs,
# names or birth dates): a date (a birth date?), an "MRN 123"-like code, an SSN.
_ID_VALUE = (
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}"
    r"|(?i:(mrn|pid|pat|patient|med ?rec)[ #:_-]*[0-9].*)|[0-9]{3}-[0-9]{2}-[0-9]{4}"
)


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
    """Copy the open file into the archive in one read that also hashes and checks it.

    Returns (sha256, archived path, byte checks, the file's stat after the read, whether
    the archive copy is new). The archived bytes are exactly the hashed bytes: they come
    from the same buffer."""
    os.lseek(fd, 0, os.SEEK_SET)
    archive_dir.mkdir(parents=True, exist_ok=True)
    tmp = archive_dir / f".incoming-{os.getpid()}-{fd}.part"
    digest = hashlib.sha256()
    checks = extract.ByteChecks()
    try:
        with tmp.open("wb") as out:
            while chunk := os.read(fd, _CHUNK):
                digest.update(chunk)
                checks.feed(chunk)
                out.write(chunk)
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
    say = progress or (lambda _msg: None)
    outcomes = []
    entries = inbox_entries(inbox)
    known = _last_looks(con)
    looks: list[tuple] = []
    with _checkpoints_spaced(con):
        for path, problem in entries:
            if problem is not None:
                outcome = _record_unread(con, path, problem, run_id, now=now)
            else:
                looked_ns = time.time_ns()
                status = _status(path)
                seen = known.get(_stored_name(path.name))
                if status is not None and seen is not None and _unchanged(seen, status):
                    # the bytes recorded under this name at the last look: nothing to do,
                    # without reading a file the inbox may keep for years
                    outcome = FileOutcome(None, _stored_name(path.name), seen[0], "seen", None, 0)
                else:
                    source = site.source_for(path.name) if site else DEFAULT_SOURCE
                    outcome = ingest_file(
                        con, path, archive_dir, key, run_id, now=now, source=source
                    )
                    if status is not None and outcome.sha256 and outcome.status != "waiting":
                        looks.append((outcome.file_name, outcome.sha256, status, looked_ns))
            outcomes.append(outcome)
            if outcome.status != "seen":
                say(f"{outcome.status}: {printable(outcome.file_name)} ({_detail(outcome)})")
    _record_looks(con, looks, [_stored_name(p.name) for p, _ in entries])
    return outcomes


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

    Each file is still its own transaction, durable when committed (the log is replayed
    after a crash). At the default, a 1M-row inbox (60 files) was checkpointed every few
    files, and those checkpoints took most of the commit time (about 10 s of 27 s of the
    ingest, against about 3 s for the one at the end) and left the file a third larger."""
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


def _record_unread(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    reason: str,
    run_id: str,
    *,
    now: datetime | None = None,
) -> FileOutcome:
    """Record, once, an entry whose bytes were not read (no content, so no SHA-256: '')."""
    name = _stored_name(path.name)
    known = con.execute(
        "SELECT count(*) FROM ops.ingested_files "
        "WHERE sha256 = '' AND file_name = $name AND reason = $reason",
        {"name": name, "reason": reason},
    ).fetchone()[0]
    if known:
        return FileOutcome(None, name, "", "seen", reason, 0)
    record = _base_record(name, "", 0, run_id, now)
    file_id = _record(con, record, "rejected", reason)
    return FileOutcome(file_id, name, "", "rejected", reason, 0)


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
    con: duckdb.DuckDBPyConnection,
    path: Path,
    archive_dir: Path,
    key: phi.PhiKey,
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
            con, path, f"unreadable: the file cannot be opened ({why or 'error'})", run_id, now=now
        )
    try:
        return _ingest_fd(con, fd, path, name, archive_dir, key, run_id, now=now, source=source)
    finally:
        os.close(fd)


def _ingest_fd(
    con: duckdb.DuckDBPyConnection,
    fd: int,
    path: Path,
    name: str,
    archive_dir: Path,
    key: phi.PhiKey,
    run_id: str,
    *,
    now: datetime | None,
    source: SourceConfig,
) -> FileOutcome:
    first_look = os.fstat(fd)
    if not stat.S_ISREG(first_look.st_mode):
        return _record_unread(con, path, "not_a_regular_file: not read", run_id, now=now)
    try:
        sha = _hash_fd(fd)
    except OSError as exc:
        reason = f"unreadable: the file cannot be read ({exc.strerror or 'error'})"
        return _record_unread(con, path, reason, run_id, now=now)
    if not _same_look(first_look, os.fstat(fd)):
        return _waiting(name, sha)
    # One look-up: the first file with these bytes, and every name they arrived under.
    first_id, first_name, known_names = con.execute(
        "SELECT arg_min(file_id, file_id) FILTER (WHERE status <> 'duplicate'), "
        "arg_min(file_name, file_id) FILTER (WHERE status <> 'duplicate'), "
        "coalesce(list(file_name), []) FROM ops.ingested_files WHERE sha256 = $sha",
        {"sha": sha},
    ).fetchone()
    if name in known_names:  # the same file still in the inbox: nothing to do
        return FileOutcome(None, name, sha, "seen", None, 0)

    record = _base_record(name, sha, first_look.st_size, run_id, now)
    if first_id is not None:
        reason = f"same content (SHA-256) as {printable(first_name)}, already ingested"
        file_id = _record(con, record, "duplicate", reason, duplicate_of=first_id)
        return FileOutcome(file_id, name, sha, "duplicate", reason, 0)

    try:
        archived_sha, archived, checks, last_look, created = _archive_fd(
            fd, archive_dir, _archive_suffix(name)
        )
    except OSError as exc:
        reason = f"unreadable: the file cannot be read ({exc.strerror or 'error'})"
        return _record_unread(con, path, reason, run_id, now=now)
    if archived_sha != sha or not _same_look(first_look, last_look):
        # Still being written: the snapshot just archived is no file's content (and holds
        # PHI): removed. The file is ingested once it has stopped changing.
        if created:
            with contextlib.suppress(OSError):
                archived.unlink()
        return _waiting(name, archived_sha)
    record["archive_path"] = str(archived)
    lines = checks.physical_lines if formats.kind(checks, source) == "csv" else None
    record["physical_lines"] = lines
    try:
        data = formats.read(archived, checks, source)
    except extract.FileRejected as exc:
        reason = f"{exc.kind}: {exc.message}"
        file_id = _record(con, record, "rejected", reason)
        return FileOutcome(file_id, name, sha, "rejected", reason, 0, lines)
    except (OSError, UnicodeError, ValueError, pa.ArrowException, MemoryError) as exc:
        # a parse failure of one file is that file's reason, never the run's end (the
        # exception's text is never shown: a parser may quote the file's content)
        reason = f"unreadable: the file cannot be parsed ({type(exc).__name__})"
        file_id = _record(con, record, "rejected", reason)
        return FileOutcome(file_id, name, sha, "rejected", reason, 0, lines)

    con.execute("BEGIN TRANSACTION")
    try:
        file_id = _record(
            con,
            record,
            "ingested",
            None,
            rows_read=data.table.num_rows,
            columns_missing=data.header.missing_optional,
        )
        kept, dropped_by_value = _load_raw(con, file_id, data, key)
        dropped = len(data.header.dropped_extra) + dropped_by_value
        con.execute(
            "UPDATE ops.ingested_files SET columns_extra = $kept, columns_dropped = $dropped, "
            "columns_dropped_by_name = $by_name, columns_dropped_by_value = $by_value, "
            "rows_malformed = (SELECT count(*) FROM raw.her2_rows "
            "                  WHERE file_id = $file_id AND malformed IS NOT NULL) "
            "WHERE file_id = $file_id",
            {
                "kept": kept,
                "dropped": dropped,
                "by_name": len(data.header.dropped_extra),
                "by_value": dropped_by_value,
                "file_id": file_id,
            },
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return FileOutcome(file_id, name, sha, "ingested", None, data.table.num_rows, lines, dropped)


def _waiting(name: str, sha: str) -> FileOutcome:
    return FileOutcome(
        None, name, sha, "waiting", "still being written (size or time changed): next run", 0
    )


def _record(
    con: duckdb.DuckDBPyConnection,
    record: dict,
    status: str,
    reason: str | None,
    *,
    duplicate_of: int | None = None,
    rows_read: int = 0,
    columns_missing: list[str] | None = None,
) -> int:
    file_id = con.execute(
        "SELECT coalesce(max(file_id), 0) + 1 FROM ops.ingested_files"
    ).fetchone()[0]
    con.execute(
        """
        INSERT INTO ops.ingested_files (file_id, file_name, sha256, size_bytes, status, reason,
            duplicate_of, archive_path, ingested_at, arrival_date, columns_missing, columns_extra,
            rows_read, run_id, physical_lines)
        VALUES ($file_id, $file_name, $sha256, $size_bytes, $status, $reason, $duplicate_of,
            $archive_path, $ingested_at, $arrival_date, $columns_missing, [],
            $rows_read, $run_id, $physical_lines)
        """,
        {
            **record,
            "archive_path": record.get("archive_path"),
            "physical_lines": record.get("physical_lines"),
            "file_id": file_id,
            "status": status,
            "reason": reason,
            "duplicate_of": duplicate_of,
            "columns_missing": columns_missing or [],
            "rows_read": rows_read,
        },
    )
    return file_id


def _load_raw(
    con: duckdb.DuckDBPyConnection, file_id: int, data: extract.Extract, key: phi.PhiKey
) -> tuple[list[str], int]:
    """Write the raw layer in one statement that keys the MRN and drops the other PHI.

    Returns the extra columns kept and the number dropped because their values look like
    identifiers. A row is kept without values (and quarantined as malformed) when a kept
    value equals one of the file's MRNs, names or birth dates (fields shifted by an
    unquoted comma), runs over lines, or is implausibly long."""
    table = data.table
    # Positional names: header text never becomes SQL; extra names go in as values.
    extras: list[tuple[str, str]] = []  # (header name, positional column)
    renamed = []
    for name in table.column_names:
        if name.startswith("extra:"):
            extras.append((name.removeprefix("extra:"), f"x{len(extras)}"))
            renamed.append(extras[-1][1])
        else:
            renamed.append(name)
    table = table.rename_columns(renamed)
    present = set(table.column_names)
    for phi_column in ("patient_mrn", "patient_name", "patient_dob"):
        if phi_column not in present:
            table = table.append_column(phi_column, pa.nulls(table.num_rows, pa.string()))
    warehouse.run(con, "macros/text")  # blank(): white space trimmed as str.strip() does
    con.register("incoming_extract", table)
    try:
        # The file's identifiers, in memory only while this file is loaded (a TEMP table
        # lives in the connection, never in the warehouse file).
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE incoming_phi AS
            SELECT DISTINCT v FROM (
                SELECT blank(patient_mrn) AS v FROM incoming_extract
                UNION ALL SELECT blank(patient_name) FROM incoming_extract
                UNION ALL SELECT blank(patient_dob) FROM incoming_extract
                UNION ALL SELECT unnest(regexp_split_to_array(patient_name, '[\\s,;]+'))
                    FROM incoming_extract
            ) WHERE length(v) >= 3
            """
        )
        kept_extras, dropped = _screen_extras(con, extras)
        # Every kept value, by positional name (never header text), and what disqualifies
        # its record: over-long, over several lines, or equal to a patient identifier.
        checked = [c for c in contract.RAW_KEPT if c in present] + [x for _, x in kept_extras]
        too_long = [f"length({c}) > {MAX_VALUE_CHARS}" for c in checked]
        spans = [f"contains({c}, chr(10)) OR contains({c}, chr(13))" for c in checked]
        # (kept extras hold no identifier value: _screen_extras checked every one of them)
        leak = _leak_test(con, [c for c in contract.RAW_KEPT if c in present])
        screened = (
            "SELECT *, CASE WHEN malformed IS NOT NULL THEN malformed "  # noqa: S608 - ours
            f"WHEN coalesce({' OR '.join(too_long) or 'false'}, false) THEN $why_long "
            f"WHEN coalesce({' OR '.join(spans) or 'false'}, false) THEN $why_spans "
            f"WHEN {leak} THEN $why_leak "
            "END AS why_malformed FROM incoming_extract"
        )

        def kept(column: str) -> str:
            return f"CASE WHEN why_malformed IS NULL THEN {column} END"

        select = [
            "$file_id",
            "source_row",
            *[(kept(name) if name in present else "NULL") for name in contract.RAW_KEPT],
            f"CASE WHEN why_malformed IS NULL THEN {phi.hmac_sql('patient_mrn')} END",
            "why_malformed",
        ]
        params: dict[str, object] = {
            "file_id": file_id,
            "why_long": f"a value is longer than {MAX_VALUE_CHARS:,} characters (not a contract "
            "value); the values of this record are not kept",
            "why_spans": "a value runs over several lines (an unterminated quote?); the values "
            "of this record are not kept",
            "why_leak": "a value equals a patient identifier of this file (fields shifted by an "
            "unquoted comma?); the values of this record are not kept",
        }
        if kept_extras:
            pairs = []
            for i, (name, column) in enumerate(kept_extras):
                params[f"k{i}"] = name
                pairs.append(f"$k{i}, {column}")
            select.append(
                f"CASE WHEN why_malformed IS NULL THEN json_object({', '.join(pairs)}) END"
            )
        else:
            select.append("NULL")
        ipad, opad = key.pads()
        params.update(ipad=ipad, opad=opad)
        columns = ["file_id", "source_row", *contract.RAW_KEPT, "patient_key", "malformed", "extra"]
        con.execute(
            f"INSERT INTO raw.her2_rows ({', '.join(columns)}) "  # noqa: S608 - names are ours
            f"SELECT {', '.join(select)} FROM ({screened})",
            params,
        )
        # the site's identifier check looks these rows' identifiers up by fingerprint
        warehouse.run(con, "macros/identifiers")
        warehouse.run(con, "ops/identifier_fingerprints", {"file_id": file_id})
    finally:
        con.execute("DROP TABLE IF EXISTS incoming_phi")
        con.execute("DROP TABLE IF EXISTS incoming_leaks")
        con.unregister("incoming_extract")
    return [name for name, _ in kept_extras], dropped


def _leak_test(con: duckdb.DuckDBPyConnection, columns: list[str]) -> str:
    """SQL that is true for a record one of whose ``columns``, trimmed, is one of the file's
    identifiers (``incoming_phi``): fields shifted by an unquoted comma.

    The file's distinct values are trimmed and looked up once, into ``incoming_leaks`` (the
    values as read whose trimmed form is an identifier; a TEMP table, dropped with
    incoming_phi). Usually it is empty and no record needs a look-up; otherwise a record is
    looked up by its values as read, with the same truth as trimming each: a value is in
    incoming_leaks exactly when its trimmed form is in incoming_phi (a NULL in neither)."""
    if not columns:
        return "false"
    values = f"unnest([{', '.join(columns)}])"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE incoming_leaks AS
        SELECT v FROM (SELECT DISTINCT {values} AS v FROM incoming_extract)
        WHERE blank(v) IN (SELECT v FROM incoming_phi)
        """  # noqa: S608 - column names are ours
    )
    if not con.execute("SELECT count(*) FROM incoming_leaks").fetchone()[0]:
        return "false"
    record = f"SELECT {values} AS v"
    return f"EXISTS (SELECT 1 FROM ({record}) SEMI JOIN incoming_leaks USING (v))"  # noqa: S608


def _screen_extras(
    con: duckdb.DuckDBPyConnection, extras: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], int]:
    """Drop the extra columns whose name or any value looks like an identifier: equal to
    one of the file's MRNs, names or birth dates, or shaped like a date or an MRN code.
    One aggregate query over the file, in DuckDB."""
    if not extras:
        return [], 0
    # One pass over the file's extra values, unpivoted (one IN look-up, not one per column:
    # 900 columns each with its own look-up ran out of memory).
    columns = ", ".join(x for _, x in extras)
    flagged_columns = {
        r[0]
        for r in con.execute(
            f"""
            SELECT col FROM (UNPIVOT (SELECT {columns} FROM incoming_extract)
                             ON {columns} INTO NAME col VALUE val)
            WHERE blank(val) IN (SELECT v FROM incoming_phi)
               OR regexp_full_match(blank(val), $id_value)
            GROUP BY col
            """,  # noqa: S608 - positional names are ours
            {"id_value": _ID_VALUE},
        ).fetchall()
    }
    row = [x in flagged_columns for _, x in extras]
    # A header name equal to a patient's identifier (a data row taken for a header) too.
    names_phi = {
        r[0]
        for r in con.execute(
            "SELECT v FROM incoming_phi WHERE v IN (SELECT unnest($names))",
            {"names": [n.strip() for n, _ in extras]},
        ).fetchall()
    }
    kept = [
        (name, x)
        for (name, x), flagged in zip(extras, row, strict=True)
        if not flagged and name.strip() not in names_phi
    ]
    return kept, len(extras) - len(kept)
