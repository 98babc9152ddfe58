"""The text macros (warehouse/sql/macros/text.sql) against Python, their reference.

``blank(x)`` is Python's ``x.strip() or None``: its RE2 class must hold exactly the
characters of ``str.isspace()`` (her2qa/ingest/phi.py WHITESPACE), checked here code point
by code point, and on strings mixing white space with characters that only look like it.
The MRN's key in SQL (``phi.hmac_sql``, which trims with ``blank``) equals ``patient_key``."""

from __future__ import annotations

import random

import duckdb
import pytest

import warehouse
from her2qa.ingest import phi

# Characters that are not white space for str.isspace() but sit next to it: zero-width
# space, BOM, soft hyphen, Mongolian vowel separator (white space in old Unicode versions).
_LOOKALIKES = "\u200b\ufeff\u00ad\u180e\u2060"


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    warehouse.run(con, "macros/text")
    yield con
    con.close()


def test_blank_strips_exactly_the_characters_of_str_isspace(con):
    """Every code point DuckDB text can hold, alone, leading and trailing: blank() removes it
    exactly when Python's str.isspace() says it is white space."""
    alone, leading, trailing = con.execute(
        """
        SELECT list(i ORDER BY i) FILTER (WHERE blank(c) IS NULL),
               list(i ORDER BY i) FILTER (WHERE blank(c || 'a') = 'a'),
               list(i ORDER BY i) FILTER (WHERE blank('a' || c) = 'a')
        FROM (SELECT i, chr(i::INTEGER) AS c FROM range(1, 1114112) AS t(i)
              WHERE i < 55296 OR i > 57343)  -- surrogates are no UTF-8 text
        """
    ).fetchone()
    assert alone == leading == trailing == [ord(c) for c in phi.WHITESPACE]
    assert phi.WHITESPACE == "".join(c for c in map(chr, range(0x110000)) if c.isspace())


def test_blank_is_python_strip_on_mixed_strings(con):
    rng = random.Random(14)
    alphabet = phi.WHITESPACE + _LOOKALIKES + "aZ9,;'\"-é中"
    samples = ["".join(rng.choices(alphabet, k=rng.randint(0, 9))) for _ in range(20_000)]
    samples += ["", " MRN1 ", "\u00a0\t", "a\nb", "\na b\n", "x\u3000", "\u2028y\u2029"]
    got = con.execute(
        "SELECT list(blank(s) ORDER BY i) FROM unnest($s) WITH ORDINALITY AS t(s, i)",
        {"s": samples},
    ).fetchone()[0]
    expected = [s.strip() or None for s in samples]
    assert [(s, g) for s, g, e in zip(samples, got, expected, strict=True) if g != e] == []


def test_fold_trims_lowers_and_joins_inner_white_space(con):
    assert con.execute("SELECT fold($x)", {"x": "\u00a0 Score\t 3+ \u2003"}).fetchone()[0] == (
        "score 3+"
    )
    assert con.execute("SELECT fold($x)", {"x": "\t\u3000"}).fetchone()[0] is None


def test_key_in_sql_is_patient_key_of_the_trimmed_mrn(con):
    key = phi.PhiKey(b"test-key-not-for-production-000")
    ipad, opad = key.pads()
    mrns = ["MRN1", " MRN1\t", "\u00a0MRN1\u3000", "MRN 2", "\u200bMRN1", "\t \u2003", "", None]
    got = con.execute(
        f"SELECT list({phi.hmac_sql('m')} ORDER BY i) FROM unnest($m) WITH ORDINALITY AS t(m, i)",
        {"m": mrns, "ipad": ipad, "opad": opad},
    ).fetchone()[0]
    expected = [phi.patient_key(key, m) if m and m.strip() else None for m in mrns]
    assert got == expected
    assert got[0] == got[1] == got[2] != got[4]  # padding is the same patient; U+200B is not
