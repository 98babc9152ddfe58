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


def _clean(values: pa.Array) -> pa.Array:
    out = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(out, ""), NULL, out)


def components(values: pa.Array, d: Delimiters, *wanted: int | tuple[int, int]) -> list[pa.Array]:
    """Components (1-based n, or (n, subcomponent)) of the first repetition of each value,
    trimmed, empty as null: in C++ with one split per column, for columns of many distinct
    values (names, MRNs, accessions, dates)."""
    first = _nth(values, d.repetition, 1)
    wanted_n = [w if isinstance(w, int) else w[0] for w in wanted]
    top = max(wanted_n)
    if not pc.any(pc.fill_null(pc.match_substring(first, d.component), False)).as_py():
        parts = {n: first if n == 1 else pa.nulls(len(first), pa.large_string()) for n in wanted_n}
    else:
        padded = pc.binary_join_element_wise(
            first, pa.scalar(d.component * top, pa.large_string()), pa.scalar("", pa.large_string())
        )
        split = pc.split_pattern(padded, d.component, max_splits=top)
        parts = {n: pc.list_element(split, n - 1) for n in set(wanted_n)}
    out = []
    for w in wanted:
        got = parts[w] if isinstance(w, int) else _nth(parts[w[0]], d.subcomponent, w[1])
        out.append(_clean(got))
    return out


def component(values: pa.Array, d: Delimiters, n: int, sub: int | None = None) -> pa.Array:
    """Component n (1-based) of the first repetition of each value (subcomponent ``sub``)."""
    return components(values, d, n if sub is None else (n, sub))[0]
