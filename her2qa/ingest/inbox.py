"""Ingest: new inbox files -> archive -> ``ops.ingested_files`` + ``raw.her2_rows``.

A file is identified by its SHA-256: the same bytes add nothing, under any
name. Every file that lands is recorded, including duplicates and files that
cannot be read (with the reason). Each file is loaded in one transaction, so
a crash never leaves half a file behind.

PHI: the MRN is keyed (HMAC, in DuckDB) and names and birth dates are dropped
in the same statement that writes the raw layer; the file's text exists only
in memory while that statement runs and in the read-only archive copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from her2qa.ingest import extract, phi
from schemas import contract

Progress = Callable[[str], None]


@dataclass(frozen=True)
class FileOutcome:
    file_id: int | None
    file_name: str
    sha256: str
    status: str  # ingested | duplicate | rejected | seen (already recorded, nothing to do)
    reason: str | None
    rows_read: int


def inbox_files(inbox: Path) -> list[Path]:
    """The CSV files of the inbox, in name order (which fixes arrival order within a run)."""
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox {inbox} is not a readable folder")
    files = [
        p
        for p in inbox.iterdir()
        if p.suffix.lower() == ".csv" and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=lambda p: p.name)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def archive(path: Path, sha: str, archive_dir: Path) -> Path:
    """Copy a file into the content-addressed, read-only archive."""
    target = archive_dir / sha[:2] / f"{sha}.csv"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        shutil.copyfile(path, tmp)
        os.chmod(tmp, 0o440)
        os.replace(tmp, target)
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
) -> list[FileOutcome]:
    """Ingest every file of the inbox not seen before; returns one outcome per file."""
    say = progress or (lambda _msg: None)
    outcomes = []
    for path in inbox_files(inbox):
        outcome = ingest_file(con, path, archive_dir, key, run_id, now=now)
        outcomes.append(outcome)
        if outcome.status != "seen":
            detail = (
                f"{outcome.rows_read:,} rows" if outcome.status == "ingested" else outcome.reason
            )
            say(f"{outcome.status}: {outcome.file_name} ({detail})")
    return outcomes


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    archive_dir: Path,
    key: phi.PhiKey,
    run_id: str,
    *,
    now: datetime | None = None,
) -> FileOutcome:
    sha = sha256_of(path)
    # One look-up: the first file with these bytes, and every name they arrived under.
    first_id, first_name, known_names = con.execute(
        "SELECT arg_min(file_id, file_id) FILTER (WHERE status <> 'duplicate'), "
        "arg_min(file_name, file_id) FILTER (WHERE status <> 'duplicate'), "
        "coalesce(list(file_name), []) FROM ops.ingested_files WHERE sha256 = $sha",
        {"sha": sha},
    ).fetchone()
    if path.name in known_names:  # the same file still in the inbox: nothing to do
        return FileOutcome(None, path.name, sha, "seen", None, 0)

    ingested_at = (now or datetime.now(UTC)).astimezone(UTC)
    record = {
        "file_name": path.name,
        "sha256": sha,
        "size_bytes": path.stat().st_size,
        "ingested_at": ingested_at.replace(tzinfo=None),
        "arrival_date": ingested_at.astimezone().date(),
        "run_id": run_id,
    }
    if first_id is not None:
        reason = f"same content (SHA-256) as {first_name}, already ingested"
        file_id = _record(con, record, "duplicate", reason, duplicate_of=first_id)
        return FileOutcome(file_id, path.name, sha, "duplicate", reason, 0)

    archived = archive(path, sha, archive_dir)
    record["archive_path"] = str(archived)
    try:
        data = extract.read(archived)
    except extract.FileRejected as exc:
        reason = f"{exc.kind}: {exc.message}"
        file_id = _record(con, record, "rejected", reason)
        return FileOutcome(file_id, path.name, sha, "rejected", reason, 0)

    con.execute("BEGIN TRANSACTION")
    try:
        file_id = _record(
            con,
            record,
            "ingested",
            None,
            rows_read=data.table.num_rows,
            columns_missing=data.header.missing_optional,
            columns_extra=list(data.header.extra_index),
        )
        _load_raw(con, file_id, data, key)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return FileOutcome(file_id, path.name, sha, "ingested", None, data.table.num_rows)


def _record(
    con: duckdb.DuckDBPyConnection,
    record: dict,
    status: str,
    reason: str | None,
    *,
    duplicate_of: int | None = None,
    rows_read: int = 0,
    columns_missing: list[str] | None = None,
    columns_extra: list[str] | None = None,
) -> int:
    file_id = con.execute(
        "SELECT coalesce(max(file_id), 0) + 1 FROM ops.ingested_files"
    ).fetchone()[0]
    con.execute(
        """
        INSERT INTO ops.ingested_files (file_id, file_name, sha256, size_bytes, status, reason,
            duplicate_of, archive_path, ingested_at, arrival_date, columns_missing, columns_extra,
            rows_read, run_id)
        VALUES ($file_id, $file_name, $sha256, $size_bytes, $status, $reason, $duplicate_of,
            $archive_path, $ingested_at, $arrival_date, $columns_missing, $columns_extra,
            $rows_read, $run_id)
        """,
        {
            **record,
            "archive_path": record.get("archive_path"),
            "file_id": file_id,
            "status": status,
            "reason": reason,
            "duplicate_of": duplicate_of,
            "columns_missing": columns_missing or [],
            "columns_extra": columns_extra or [],
            "rows_read": rows_read,
        },
    )
    return file_id


def _load_raw(
    con: duckdb.DuckDBPyConnection, file_id: int, data: extract.Extract, key: phi.PhiKey
) -> None:
    """Write the raw layer in one statement that keys the MRN and drops the other PHI."""
    table = data.table
    extras = [name for name in table.column_names if name.startswith("extra:")]
    # Positional names for the extras: header text never becomes SQL; names go in as values.
    renamed = table.rename_columns(
        [f"x{extras.index(n)}" if n in extras else n for n in table.column_names]
    )
    present = set(table.column_names)
    select = [
        "$file_id",
        "source_row",
        *[(name if name in present else "NULL") for name in contract.RAW_KEPT],
        phi.hmac_sql("patient_mrn"),
        "malformed",
    ]
    params: dict[str, object] = {"file_id": file_id}
    if extras:
        pairs = []
        for i, name in enumerate(extras):
            params[f"k{i}"] = name.removeprefix("extra:")
            pairs.append(f"$k{i}, x{i}")
        select.append(f"json_object({', '.join(pairs)})")
    else:
        select.append("NULL")
    ipad, opad = key.pads()
    params.update(ipad=ipad, opad=opad)
    columns = ["file_id", "source_row", *contract.RAW_KEPT, "patient_key", "malformed", "extra"]
    con.register("incoming_extract", renamed)
    try:
        con.execute(
            f"INSERT INTO raw.her2_rows ({', '.join(columns)}) "  # noqa: S608 - names are ours
            f"SELECT {', '.join(select)} FROM incoming_extract",
            params,
        )
    finally:
        con.unregister("incoming_extract")
