"""What a ``[[sources]]`` entry says about the values of a file, applied after any reader:
the default laboratory (``lab_id``) and the value maps (``values``).

    [[sources]]
    pattern = "NORTH_*.xlsx"
    lab_id = "NORTH"                       # results whose file does not say their lab
    [sources.values.specimen_role]         # file value = contract value
    P = "primary"
    M = "metastasis"

A value map is matched like the contract's vocabulary (trimmed, case-insensitive); a value it
does not name is left as it is, for validation to accept or quarantine (never guessed). Both
run on the Arrow table of text columns (vectorised), before the raw layer.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from her2qa.config import ConfigError, SourceConfig
from schemas import contract


def where(source: SourceConfig) -> str:
    """How a ConfigError names the ``[[sources]]`` entry (its pattern: configuration text)."""
    return f"[[sources]] {source.pattern!r}"


def provided(source: SourceConfig) -> set[str]:
    """Contract columns the source gives when the file does not (``lab_id``)."""
    return {"lab_id"} if source.lab_id else set()


def value_maps(source: SourceConfig) -> dict[str, dict[str, str]]:
    """``values``, checked: {contract column: {file value (folded): contract value}}."""
    raw = source.get("values")
    if raw is None:
        return {}
    at = f"{where(source)}: values"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at} must be a table of {{contract column = {{file value = value}}}}")
    maps: dict[str, dict[str, str]] = {}
    for column, table in raw.items():
        if column not in contract.BY_NAME:
            raise ConfigError(f"{at}: {column!r} is not a contract column")
        if column in contract.PHI:
            raise ConfigError(f"{at}: {column} is a patient identifier: it cannot be mapped")
        if not isinstance(table, dict) or not table:
            raise ConfigError(f'{at}.{column} must be a table like {{"P" = "primary"}}')
        folded: dict[str, str] = {}
        for spelling, value in table.items():
            if not isinstance(value, str):
                raise ConfigError(f"{at}.{column}: the value for {spelling!r} must be text")
            key = contract.header_key(spelling)
            if key in folded and folded[key] != value:
                raise ConfigError(
                    f"{at}.{column}: {spelling!r} is mapped twice (matched case-insensitively)"
                )
            folded[key] = value
        maps[column] = folded
    return maps


def apply(table: pa.Table, source: SourceConfig) -> pa.Table:
    """The source's default lab and value maps applied to an extract's table (columns named
    like the contract's; rows with a ``malformed`` reason keep no values anyway)."""
    if source.lab_id:
        table = _default_lab(table, source.lab_id)
    for column, mapping in value_maps(source).items():
        if column not in table.column_names:
            continue
        values = table.column(column)
        keys = pa.array(list(mapping), pa.string())
        found = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(values)), value_set=keys)
        mapped = pc.take(pa.array(list(mapping.values()), pa.string()), found)
        table = table.set_column(
            table.column_names.index(column), column, pc.if_else(pc.is_null(found), values, mapped)
        )
    return table


def _default_lab(table: pa.Table, lab: str) -> pa.Table:
    """``lab_id`` where the file does not say it: no column, or an empty cell."""
    if "lab_id" not in table.column_names:
        return table.append_column("lab_id", pa.array([lab] * table.num_rows, pa.string()))
    column = table.column("lab_id")
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True)
    filled = pc.if_else(blank, pa.scalar(lab), column)
    return table.set_column(table.column_names.index("lab_id"), "lab_id", filled)


def column_map(raw: object, at: str) -> dict[str, str]:
    """``{header text = contract column}``, checked: {folded header: contract column}."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f'{at} must be a table like {{"Accession No." = "accession_id"}}')
    out: dict[str, str] = {}
    for header, column in raw.items():
        if not isinstance(column, str) or column not in contract.BY_NAME:
            raise ConfigError(f"{at}: {header!r} maps to {column!r}, not a contract column")
        key = contract.header_key(header)
        if not key:
            raise ConfigError(f"{at}: an empty header text is mapped to {column}")
        if key in out:
            raise ConfigError(f"{at}: the header {header!r} is mapped twice (case-insensitive)")
        if column in out.values():
            raise ConfigError(f"{at}: {column} is mapped from two headers")
        out[key] = column
    return out


def long_columns(source: SourceConfig) -> dict[str, str]:
    """A long-layout source's header renames (``columns``), checked."""
    if source.get("assays") is not None:
        raise ConfigError(f'{where(source)}: assays is for layout = "wide" sources')
    return column_map(source.get("columns"), f"{where(source)}: columns")
