"""Checks of a built site, as plain functions (the Dagster checks in pipelines/defs/site.py
and the tests call them): page size, no case identifier on any page, offline references,
restricted worklists.

Identifiers looked for, from the warehouse itself (raw.her2_rows: every row ever read,
quarantined ones included):
  * a patient_key (64 hex characters), whole or any prefix of 12 characters or more;
  * an accession_id or a test_id, as a whole token that mixes letters and digits (a purely
    numeric id cannot be told from a count on a page; such ids are not looked for).
The warehouse holds no MRN (it is keyed as the file is read), so the keys are what an MRN
became; the tests also look for the MRNs and names of the input files. The page tokens are
first looked up among the fingerprints of those identifiers (ops.identifier_fingerprints,
warehouse/sql/macros/identifiers.sql), and only the tokens found there in the raw rows.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import duckdb

import warehouse

MAX_PAGE_BYTES = 1_000_000  # 1 MB per page, plotly.js aside
PLOTLY_JS = "plotly.min.js"
_HEX = re.compile(r"[0-9a-f]{12,}")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/\-]{4,}[A-Za-z0-9]")
_MIXED = re.compile(r"(?=.*[A-Za-z])(?=.*[0-9])")
_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//|ftp:)""", re.IGNORECASE)


def pages(site_dir: Path) -> list[Path]:
    """Every HTML page of the site."""
    return sorted(p for p in Path(site_dir).rglob("*.html") if p.is_file())


def page_sizes(site_dir: Path) -> dict[str, int]:
    site = Path(site_dir)
    return {str(p.relative_to(site)): p.stat().st_size for p in pages(site)}


def oversized(site_dir: Path, limit: int = MAX_PAGE_BYTES) -> dict[str, int]:
    return {name: size for name, size in page_sizes(site_dir).items() if size > limit}


def external_references(site_dir: Path) -> dict[str, int]:
    """Pages with a src/href to the network (pages must open offline)."""
    out = {}
    for p in pages(site_dir):
        n = len(_EXTERNAL.findall(p.read_text("utf-8", errors="replace")))
        if n:
            out[p.name] = n
    return out


def _tokens(text: str) -> tuple[set[str], set[str]]:
    hexes = set(_HEX.findall(text.lower()))
    words = {t for t in _TOKEN.findall(text) if _MIXED.match(t)}
    return hexes, words


# The page tokens some raw row's fingerprint matches. Positive IN look-ups: DuckDB builds
# their hash table on the page tokens (0.03 s at 10M rows), where a NOT IN or a MARK join
# builds it on the 10M fingerprints (0.3 s each).
_FOUND_BY_FINGERPRINT = {
    "page_hex": "SELECT token FROM page_hex WHERE identifier_fingerprint(patient_key_prefix("
    "token)) IN (SELECT patient_key_prefix FROM ops.identifier_fingerprints)",
    "page_word": "SELECT token FROM page_word WHERE identifier_fingerprint(token) IN "
    "(SELECT accession_id FROM ops.identifier_fingerprints) UNION SELECT token FROM page_word "
    "WHERE identifier_fingerprint(token) IN (SELECT test_id FROM ops.identifier_fingerprints)",
}


def identifier_leaks(con: duckdb.DuckDBPyConnection, site_dir: Path) -> list[tuple[str, str, str]]:
    """(page, kind, value) for every case identifier of the warehouse found on a page."""
    hex_rows, word_rows = [], []
    for p in pages(site_dir):
        hexes, words = _tokens(p.read_text("utf-8", errors="replace"))
        hex_rows += [(p.name, h) for h in hexes]
        word_rows += [(p.name, w) for w in words]
    found: list[tuple[str, str, str]] = []
    cur = con.cursor()
    try:
        cur.execute("CREATE TEMP TABLE page_hex (page VARCHAR, token VARCHAR)")
        cur.execute("CREATE TEMP TABLE page_word (page VARCHAR, token VARCHAR)")
        for table, rows in (("page_hex", hex_rows), ("page_word", word_rows)):
            if rows:  # one statement: two lists unnested side by side
                cur.execute(
                    f"INSERT INTO {table} SELECT unnest($p::VARCHAR[]), unnest($t::VARCHAR[])",
                    {"p": [r[0] for r in rows], "t": [r[1] for r in rows]},
                )
        # (defines macros/identifiers on the cursor, which the look-ups below use either way)
        if warehouse.fingerprints_cover_raw(cur):  # else: the raw rows, as below
            # Only the tokens some raw row's fingerprint matches are looked for in the raw
            # rows, where the match is confirmed: on a clean site none, and the raw layer is
            # not read at all (warehouse/sql/macros/identifiers.sql says why).
            for table, matched in _FOUND_BY_FINGERPRINT.items():
                cur.execute(f"DELETE FROM {table} WHERE token NOT IN ({matched})")  # noqa: S608
            left = cur.execute(
                "SELECT (SELECT count(*) FROM page_hex) + (SELECT count(*) FROM page_word)"
            ).fetchone()[0]
            if not left:
                return []
        # The page tokens (a few thousand: bounded by the pages) are the join's build side and
        # the warehouse's identifiers only probe it, in one pass: no DISTINCT over every key of
        # the warehouse, whose cost grew with it (a hash of every accession, test id and key).
        found += cur.execute(
            """
            SELECT DISTINCT h.page, 'patient_key', h.token
            FROM page_hex AS h
            JOIN raw.her2_rows AS r
                ON patient_key_prefix(r.patient_key) = patient_key_prefix(h.token)
            WHERE starts_with(r.patient_key, h.token) OR starts_with(h.token, r.patient_key)
            """
        ).fetchall()
        found += cur.execute(
            """
            SELECT DISTINCT w.page, 'accession_id', w.token
            FROM page_word AS w JOIN raw.her2_rows AS r ON trim(r.accession_id) = w.token
            UNION
            SELECT DISTINCT w.page, 'test_id', w.token
            FROM page_word AS w JOIN raw.her2_rows AS r ON trim(r.test_id) = w.token
            """
        ).fetchall()
    finally:
        cur.close()
    return sorted(found)


def restricted_problems(folder: Path) -> list[str]:
    """Why the worklist folder is not owner-only (empty list: it is)."""
    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder} does not exist"]
    problems = []
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode != 0o700:
        problems.append(f"{folder} has mode {mode:o}, not 700")
    for f in sorted(folder.iterdir()):
        m = stat.S_IMODE(f.stat().st_mode)
        if f.is_file() and m != 0o600:
            problems.append(f"{f.name} has mode {m:o}, not 600")
    return problems
