"""Components of whole columns of HL7 field values, without a Python loop per row.

Two ways, by what a column holds:

- few distinct values (a code, a value type, a unit, a status, a sending facility): each
  distinct value is parsed once in Python (``per_value``) and the result mapped back to the
  rows by its dictionary index: a file of a million observations holds a few hundred codes;
- many distinct values (an MRN, a name, a date, an accession, a number): pyarrow splits the
  column in C++ (``component``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from her2qa.ingest.formats.hl7v2.text import Delimiters

T = TypeVar("T")
NULL = pa.scalar(None, pa.large_string())


def large(values: list | tuple) -> pa.Array:
    return pa.array(list(values), pa.large_string())


def per_value(values: pa.Array, fn: Callable[[str | None], T]) -> tuple[np.ndarray, list[T]]:
    """``fn`` of each distinct value (and of None, for null rows): (each row's index into
    the results, the results)."""
    encoded = values.dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    index = pc.fill_null(encoded.indices, len(distinct)).to_numpy(zero_copy_only=False)
    return index.astype(np.int64), [fn(v) for v in distinct] + [fn(None)]


def map_text(values: pa.Array, fn: Callable[[str | None], str | None]) -> pa.Array:
    index, results = per_value(values, fn)
    return large(results).take(pa.array(index))


def map_int(values: pa.Array, fn: Callable[[str | None], int]) -> np.ndarray:
    index, results = per_value(values, fn)
    return np.array(results, np.int64)[index]


def piece(value: str | None, d: Delimiters, n: int, sub: int | None = None) -> str | None:
    """Component n (1-based) of the first repetition; subcomponent ``sub``; trimmed, empty as
    None (the Python side of ``component``)."""
    if value is None:
        return None
    parts = value.split(d.repetition, 1)[0].split(d.component)
    got = parts[n - 1] if n <= len(parts) else ""
    if sub is not None:
        subs = got.split(d.subcomponent)
        got = subs[sub - 1] if sub <= len(subs) else ""
    return got.strip() or None


def _nth(values: pa.Array, sep: str, n: int) -> pa.Array:
    """Piece n (1-based) of each value split at ``sep`` (null when absent)."""
    if not pc.any(pc.fill_null(pc.match_substring(values, sep), False)).as_py():
        return values if n == 1 else pa.nulls(len(values), pa.large_string())
    padded = pc.binary_join_element_wise(
        values, pa.scalar(sep * n, pa.large_string()), pa.scalar("", pa.large_string())
    )
    return pc.list_element(pc.split_pattern(padded, sep, max_splits=n), n - 1)


def component(values: pa.Array, d: Delimiters, n: int, sub: int | None = None) -> pa.Array:
    """Component n (1-based) of the first repetition of each value (subcomponent ``sub``),
    trimmed, empty as null: in C++, for columns of many distinct values."""
    out = _nth(values, d.repetition, 1)
    out = _nth(out, d.component, n)
    if sub is not None:
        out = _nth(out, d.subcomponent, sub)
    out = pc.utf8_trim_whitespace(out)
    return pc.if_else(pc.equal(out, ""), NULL, out)
