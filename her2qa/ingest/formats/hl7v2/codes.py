"""Which HL7 v2 observation codes give which contract column, and what fits each column.

One definition for the reader (``results``), the generator's writer
(``her2qa.generate.formats.hl7v2``) and the documentation (docs/formats/hl7v2.md):

- the LOINC codes of issue 13 (``LOINC_QUESTIONS``) and the LOINC answer codes of the IHC
  score and the calls (``LOINC_ANSWERS``; PROVENANCE-formats.md, her2-domain.md §LOINC);
- local codes of the coding system ``99HER2QA`` (HL7's "99zzz" convention for a locally
  defined system) named like the contract's columns (``LOCAL_COLUMNS``): how a LIS, or our
  generator, sends a fact HL7 v2 has no field for (specimen role, pre-analytic times, kit);
- a source's own code map (``[[sources]] codes``), e.g. for CAP eCC synoptic items: the
  mechanism only, CAP's codes are licensed and not shipped.

A code says a column, not a guess: its value must have a fitting value type (OBX-2) and unit
(OBX-6), else the result is quarantined (her2-domain.md §LOINC: real messages misuse codes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from her2qa.config import ConfigError, SourceConfig
from schemas import contract, vocabulary

LOCAL_SYSTEM = "99HER2QA"
LOINC_SYSTEMS = ("LN", "LOINC", "2.16.840.1.113883.6.1", "")

IHC_SCORE_CODE = "85319-2"
IHC_SCORE_CODES = ("85319-2", "18474-7")
ISH_NUMBER_CODES = {  # contract column -> LOINC
    "ish_her2_per_cell": "74860-8",
    "ish_cep17_per_cell": "74861-6",
    "ish_ratio": "49683-6",
    "ish_cells_counted": "62361-1",
}
ISH_PRESENCE_CODE = "85318-4"
ISH_PRESENCE_CODES = ("85318-4", "31150-6")
INTERPRETATION_CODE = "48676-1"

# LOINC answer codes -> contract value (LL4396-9 for the score, LA6576-8 / LA6577-6 calls).
SCORE_ANSWER_CODES = {"0": "LA6111-4", "1+": "LA11841-6", "2+": "LA11842-4", "3+": "LA11843-2"}
CALL_ANSWER_CODES = {"positive": "LA6576-8", "negative": "LA6577-6", "indeterminate": "LA11884-6"}

# Columns an observation may give; the others come from MSH, PID, OBR and SPM fields.
LOCAL_COLUMNS: tuple[str, ...] = (
    "assay",
    "assay_kit",
    "ihc_score",
    "ihc_pct_stained",
    "ish_her2_per_cell",
    "ish_cep17_per_cell",
    "ish_ratio",
    "ish_cells_counted",
    "reported_result",
    "specimen_role",
    "specimen_site",
    "cold_ischemia_min",
    "fixation_hours",
    "test_purpose",
    "expected_result",
    "result_version",
)
# Columns that come from an OBX field rather than its value (OBX-16 reader, OBX-23 lab).
FIELD_COLUMNS = ("pathologist_id", "performing_lab")
COLUMNS = (*LOCAL_COLUMNS, *FIELD_COLUMNS)
COLUMN_ID = {c: i for i, c in enumerate(COLUMNS)}
NUMERIC = {c for c in LOCAL_COLUMNS if contract.BY_NAME[c].kind in ("number", "integer")}

ASSAYS = (None, "IHC", "ISH")  # affinity codes 0, 1, 2: the assay a value belongs to
ASSAY_ID = {"IHC": 1, "ISH": 2}
COLUMN_ASSAY = {
    "ihc_score": "IHC",
    "ihc_pct_stained": "IHC",
    **dict.fromkeys(ISH_NUMBER_CODES, "ISH"),
}
# Facts of the specimen: the same for an IHC and an ISH result of one OBR.
CASE_LEVEL = ("specimen_role", "specimen_site", "cold_ischemia_min", "fixation_hours")

# Units (OBX-6, UCUM) that fit a column. Counts of signals and nuclei are dimensionless (1,
# or UCUM annotations such as {signals}/{nucleus}); no unit is ever converted.
_DIMENSIONLESS = r"(1|#|\{[^{}]*\})?(/(1|\{[^{}]*\}))?"
UNITS: dict[str, tuple[str, str]] = {
    **{c: (_DIMENSIONLESS, "none, 1 or an annotation such as {ratio}") for c in ISH_NUMBER_CODES},
    "result_version": (_DIMENSIONLESS, "none"),
    "ihc_pct_stained": ("%?", "% or none"),
    "cold_ischemia_min": ("(min)?", "min or none"),
    "fixation_hours": ("h?", "h or none"),
}
WRITER_UNITS = {
    "ish_her2_per_cell": "{signals}/{nucleus}",
    "ish_cep17_per_cell": "{signals}/{nucleus}",
    "ish_ratio": "{ratio}",
    "ish_cells_counted": "{cells}",
    "ihc_pct_stained": "%",
    "cold_ischemia_min": "min",
    "fixation_hours": "h",
}


def unit_fits(column: str, unit: str) -> bool:
    pattern, _ = UNITS.get(column, ("", "none"))
    return re.fullmatch(pattern, unit) is not None


def unit_doc(column: str) -> str:
    return UNITS.get(column, ("", "none"))[1]


# Value types (OBX-2) that fit a column: numbers as NM or SN; the rest coded or string.
NUMERIC_TYPES = ("NM", "SN")
CODED_TYPES = ("CWE", "CE", "CNE", "CF")
TEXT_TYPES = (*CODED_TYPES, "ST", "TX", "IS", "ID")
VALUE_TYPES = (*NUMERIC_TYPES, *TEXT_TYPES)


def type_fits(column: str, vtype: str) -> bool:
    return vtype in (NUMERIC_TYPES if column in NUMERIC else TEXT_TYPES)


@dataclass(frozen=True)
class Assign:
    """One value a code gives: ``column`` and, for a code that means a value by itself (an
    answer code, ``column=value``), that value; ``assay`` the assay it belongs to."""

    column: str
    value: str | None = None
    assay: str | None = None


# Question codes (OBX-3). A score code answered with a call (LA6576-8 Positive, as in the MII
# examples) gives reported_result instead (results.py).
LOINC_QUESTIONS: dict[str, tuple[Assign, ...]] = {
    **{code: (Assign("ihc_score", assay="IHC"),) for code in IHC_SCORE_CODES},
    **{code: (Assign(col, assay="ISH"),) for col, code in ISH_NUMBER_CODES.items()},
    **{code: (Assign("reported_result", assay="ISH"),) for code in ISH_PRESENCE_CODES},
    INTERPRETATION_CODE: (Assign("reported_result"),),
}
LOINC_ANSWERS: dict[str, tuple[Assign, ...]] = {
    **{la: (Assign("ihc_score", score, "IHC"),) for score, la in SCORE_ANSWER_CODES.items()},
    **{la: (Assign("reported_result", call),) for call, la in CALL_ANSWER_CODES.items()},
}


# --- the source's code map ([[sources]] codes) -----------------------------------------------


def code_map(source: SourceConfig) -> dict[str, tuple[Assign, ...]]:
    """The source's ``codes``: {code = "column" | "column=value" | ["column=value", ...]}.

    ``"column"``: an observation (OBX-3) whose value (OBX-5) is that column's.
    ``"column=value"`` (or a list): a code that means those values, as the observation
    (OBX-3) or as its coded answer (OBX-5): a CAP eCC answer "Negative (Score 1+)" is
    ``["ihc_score=1+", "reported_result=negative"]``. A configured code replaces a built-in
    one of the same spelling."""
    raw = source.get("codes")
    if raw is None:
        return {}
    where = f"[[sources]] '{source.pattern}' codes"
    if not isinstance(raw, dict):
        raise ConfigError(f'{where} must be a table {{code = "column" or "column=value"}}')
    out: dict[str, tuple[Assign, ...]] = {}
    for key, target in raw.items():
        code = str(key).strip()
        targets = [target] if isinstance(target, str) else target
        if not code or not isinstance(targets, list) or not targets:
            raise ConfigError(f"{where}: '{code}' must map to a column or column=value strings")
        entries = tuple(_assign(where, code, t) for t in targets)
        if len(entries) > 1 and any(e.value is None for e in entries):
            raise ConfigError(
                f"{where}: '{code}' maps to several targets: each must be column=value"
            )
        out[code] = entries
    return out


def _assign(where: str, code: str, target: object) -> Assign:
    if not isinstance(target, str):
        raise ConfigError(f"{where}: '{code}' must map to a column or column=value strings")
    column, eq, value = (part.strip() for part in target.partition("="))
    column = column.lower()
    if column not in LOCAL_COLUMNS:
        raise ConfigError(
            f"{where}: '{code}' maps to '{column}', which an observation cannot give "
            f"(one of: {', '.join(LOCAL_COLUMNS)})"
        )
    if not eq:
        return Assign(column, None, COLUMN_ASSAY.get(column))
    if not value:
        raise ConfigError(f"{where}: '{code}' = '{target}' has no value after '='")
    if not _known_value(column, value):
        raise ConfigError(f"{where}: '{code}' = '{target}': '{value}' is not a {column} value")
    assay = vocabulary.normalise("assay", value) if column == "assay" else COLUMN_ASSAY.get(column)
    return Assign(column, value, assay)


def _known_value(column: str, value: str) -> bool:
    """A configured value must be one the contract accepts (a map is never a place to invent
    a spelling)."""
    if column in NUMERIC:
        return re.fullmatch(r"[0-9]+([.][0-9]*)?", value) is not None
    if column == "expected_result":
        fields = ("ihc_score", "reported_result")
    elif column in vocabulary.CANONICAL:
        fields = (column,)
    else:
        return True  # free text: assay_kit
    return any(
        vocabulary.normalise(f, value, assay) is not None
        for f in fields
        for assay in (None, "IHC", "ISH")
    )


# --- the tables the reader looks codes up in -------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """Every code entry (a tuple of ``Assign``) numbered, with flat arrays of their
    assignments for vectorised expansion, and the keys each kind of match uses."""

    entries: tuple[tuple[Assign, ...], ...]
    code: tuple[str, ...]  # entry -> the code it is looked up by (safe to name in a reason)
    first: np.ndarray  # entry -> index of its first assignment
    count: np.ndarray  # entry -> number of assignments
    fixed: np.ndarray  # entry -> every assignment carries its value (column=value)
    column: np.ndarray  # assignment -> column id
    value: pa.Array  # assignment -> value (null: the observation's)
    assay: np.ndarray  # assignment -> affinity (0 none, 1 IHC, 2 ISH)
    origin: np.ndarray  # entry -> 0 LOINC, 1 local, 2 configured
    by_kind: dict[str, dict[str, int]]  # match kind -> {code: entry}

    @classmethod
    def build(cls, configured: dict[str, tuple[Assign, ...]]) -> Lookup:
        entries: list[tuple[Assign, ...]] = []
        names: list[str] = []
        origin: list[int] = []
        keys: dict[str, tuple[list[str], list[int]]] = {
            k: ([], []) for k in ("loinc_q", "local_q", "config_q", "loinc_a", "config_a")
        }

        def add(kind: str, code: str, entry: tuple[Assign, ...], source: int) -> None:
            keys[kind][0].append(code)
            keys[kind][1].append(len(entries))
            entries.append(entry)
            names.append(code)
            origin.append(source)

        for code, entry in LOINC_QUESTIONS.items():
            if code not in configured:
                add("loinc_q", code, entry, 0)
        for column in LOCAL_COLUMNS:
            if column not in configured:
                add("local_q", column, (Assign(column, None, COLUMN_ASSAY.get(column)),), 1)
        for code, entry in LOINC_ANSWERS.items():
            if code not in configured:
                add("loinc_a", code, entry, 0)
        for code, entry in configured.items():
            add("config_q", code, entry, 2)
            if all(a.value is not None for a in entry):
                keys["config_a"][0].append(code)
                keys["config_a"][1].append(len(entries) - 1)
        flat = [a for entry in entries for a in entry]
        count = np.array([len(e) for e in entries], np.int64)
        return cls(
            entries=tuple(entries),
            code=tuple(names),
            first=np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.int64),
            count=count,
            fixed=np.array([all(a.value is not None for a in e) for e in entries], bool),
            column=np.array([COLUMN_ID[a.column] for a in flat], np.int64),
            value=pa.array([a.value for a in flat], pa.large_string()),
            assay=np.array([ASSAY_ID.get(a.assay or "", 0) for a in flat], np.int8),
            origin=np.array(origin, np.int8),
            by_kind={k: dict(zip(codes, ids, strict=True)) for k, (codes, ids) in keys.items()},
        )
