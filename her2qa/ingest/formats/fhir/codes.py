"""What FHIR codes mean for the contract: the built-in code table, her2qa's own extension
URLs, and a source's configured code map (``[[sources]] codes``).

One table drives reading and writing (``her2qa/generate/formats/fhir.py`` writes with the
same codes). Every entry says what a coding found in a resource means, in the form of the
configuration's code map: ``{"system|code": "column" | "column=value" | [both, ...]}``.

- ``"column"``: an Observation or component with this code carries that contract column's
  value (``ihc_score``, ``ish_ratio``, ``reported_result``, ...). The assay follows from the
  column (``ihc_*`` is IHC, ``ish_*`` ISH) unless an ``assay=`` entry says it.
- ``"column=value"``: a coding with this code, wherever it appears (the Observation's code,
  a coded value, an interpretation, a method, a specimen's type or body site), sets that
  column to that value (``"reported_result=negative"``, ``"assay=IHC"``).

Built in: the LOINC codes of issue 13 (checked against mCODE's value set, see
``shared/reference/her2-domain.md`` §LOINC), the LOINC answer codes of the IHC answer list
and of positive/negative, SNOMED CT's positive/negative/equivocal/indeterminate qualifiers
(mCODE PositiveNegativeVS) and HL7's ObservationInterpretation codes. CAP eCC codes are
licensed: a site maps its own through ``codes`` (the mechanism is shipped, not their codes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from her2qa.config import ConfigError
from schemas import contract

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"

# her2qa's own namespace, for the few contract fields FHIR R4 has no element for (why a
# test was done, the proficiency provider's key, primary vs metastatic specimen, cold
# ischaemia and fixation times, percentage of stained cells). A site whose feed carries
# them under its own codes maps those with ``codes``.
HER2QA = "http://her2qa.org/fhir"
HER2QA_CODES = f"{HER2QA}/CodeSystem/her2qa"
EXT_TEST_PURPOSE = f"{HER2QA}/StructureDefinition/test-purpose"
EXT_EXPECTED_RESULT = f"{HER2QA}/StructureDefinition/expected-result"
EXT_SPECIMEN_ROLE = f"{HER2QA}/StructureDefinition/specimen-role"
EXT_COLD_ISCHEMIA = f"{HER2QA}/StructureDefinition/cold-ischemia-time"
EXT_FIXATION = f"{HER2QA}/StructureDefinition/fixation-duration"
# extension URL -> the contract column its value is
EXTENSIONS: dict[str, str] = {
    EXT_TEST_PURPOSE: "test_purpose",
    EXT_EXPECTED_RESULT: "expected_result",
    EXT_SPECIMEN_ROLE: "specimen_role",
    EXT_COLD_ISCHEMIA: "cold_ischemia_min",
    EXT_FIXATION: "fixation_hours",
}
# the unit each duration extension is written in (UCUM); another unit is not converted
EXTENSION_UNITS: dict[str, str] = {EXT_COLD_ISCHEMIA: "min", EXT_FIXATION: "h"}

# LOINC codes of issue 13 (her2-domain.md §LOINC).
IHC_SCORE = "85319-2"  # HER2 [Presence] in Breast cancer specimen by Immune stain
IHC_TISSUE = "18474-7"  # HER2 Ag [Presence] in Tissue by Immune stain
ISH_PRESENCE = "85318-4"  # ERBB2 gene duplication [Presence] in Breast cancer specimen by FISH
ISH_PRESENCE_TISSUE = "31150-6"  # ERBB2 gene duplication [Presence] in Tissue by FISH
ISH_TUMOR = "96893-3"  # ERBB2 gene duplication in Tumor by FISH
ISH_RATIO = "49683-6"  # ERBB2 copy number / Chromosome 17 copy number
ISH_HER2_PER_NUCLEUS = "74860-8"
ISH_CEP17_PER_NUCLEUS = "74861-6"
CELLS_COUNTED = "62361-1"
ISH_PANEL = "74885-5"  # ERBB2 gene duplication associated observations panel
HER2_STATUS = "48676-1"  # HER2 [Interpretation] in Tissue: the overall status
IHC_PCT_STAINED = "ihc-pct-stained"  # her2qa: % of invasive cells with membrane staining

# IHC answer list LL4396-9 and positive / negative answers (LOINC), SNOMED CT qualifiers.
IHC_ANSWERS = {"0": "LA6111-4", "1+": "LA11841-6", "2+": "LA11842-4", "3+": "LA11843-2"}
CALL_SNOMED = {
    "positive": "10828004",
    "negative": "260385009",
    "equivocal": "42425007",
    "indeterminate": "82334004",
}

BUILT_IN: dict[str, str | list[str]] = {
    f"{LOINC}|{IHC_SCORE}": "ihc_score",
    f"{LOINC}|{IHC_TISSUE}": "ihc_score",
    f"{LOINC}|{ISH_PRESENCE}": ["assay=ISH", "reported_result"],
    f"{LOINC}|{ISH_PRESENCE_TISSUE}": ["assay=ISH", "reported_result"],
    f"{LOINC}|{ISH_TUMOR}": ["assay=ISH", "reported_result"],
    f"{LOINC}|{ISH_RATIO}": "ish_ratio",
    f"{LOINC}|{ISH_HER2_PER_NUCLEUS}": "ish_her2_per_cell",
    f"{LOINC}|{ISH_CEP17_PER_NUCLEUS}": "ish_cep17_per_cell",
    f"{LOINC}|{CELLS_COUNTED}": "ish_cells_counted",
    f"{LOINC}|{ISH_PANEL}": "assay=ISH",
    f"{LOINC}|{HER2_STATUS}": "reported_result",
    f"{HER2QA_CODES}|{IHC_PCT_STAINED}": "ihc_pct_stained",
    # answers
    **{f"{LOINC}|{code}": f"ihc_score={score}" for score, code in IHC_ANSWERS.items()},
    f"{LOINC}|LA11884-6": "reported_result=indeterminate",
    f"{LOINC}|LA6576-8": "reported_result=positive",
    f"{LOINC}|LA6577-6": "reported_result=negative",
    **{f"{SNOMED}|{code}": f"reported_result={call}" for call, code in CALL_SNOMED.items()},
    f"{V3_INTERPRETATION}|POS": "reported_result=positive",
    f"{V3_INTERPRETATION}|NEG": "reported_result=negative",
    f"{V3_INTERPRETATION}|E": "reported_result=equivocal",
    f"{V3_INTERPRETATION}|IND": "reported_result=indeterminate",
}

# Columns a code may carry or set: everything but the patient's identifiers, which only
# ever come from the Patient resource (and the result's own identity, from its resource).
MAPPABLE = tuple(
    c
    for c in contract.NAMES
    if c not in contract.PHI and c not in ("lab_id", "test_id", "result_version", "accession_id")
)
NUMERIC = frozenset(c.name for c in contract.COLUMNS if c.kind in ("number", "integer"))
# Columns whose value is a call or a score (coded): a number there is a misfit.
CODED = frozenset(c.name for c in contract.COLUMNS if c.kind == "enum")


@dataclass(frozen=True)
class Meaning:
    """What one coding means: the column its owner's value goes to (``carries``) and the
    columns it sets to fixed values (``sets``)."""

    carries: str | None = None
    sets: tuple[tuple[str, str], ...] = ()

    @property
    def assay(self) -> str | None:
        """The assay this coding implies: an explicit ``assay=``, else its column's."""
        for column, value in self.sets:
            if column == "assay":
                return value
        return assay_of(self.carries) if self.carries else None


def assay_of(column: str) -> str | None:
    if column.startswith("ihc_"):
        return "IHC"
    if column.startswith("ish_"):
        return "ISH"
    return None


@dataclass(frozen=True)
class CodeMap:
    """Built-in meanings overlaid with a source's ``codes`` (which win). Keys are
    ``system|code``; a key without ``|`` matches its code in any system."""

    exact: dict[tuple[str, str], Meaning] = field(default_factory=dict)
    any_system: dict[str, Meaning] = field(default_factory=dict)

    def get(self, system: object, code: object) -> Meaning | None:
        if not isinstance(code, str):
            return None
        found = self.exact.get((system if isinstance(system, str) else "", code))
        return found if found is not None else self.any_system.get(code)


_COLUMN_VALUE = re.compile(r"^\s*([a-z_0-9]+)\s*(?:=\s*(.*?)\s*)?$", re.S)


def _meaning(key: str, target: object, where: str) -> Meaning:
    items = target if isinstance(target, list) else [target]
    if not items or not all(isinstance(t, str) and t.strip() for t in items):
        raise ConfigError(
            f'{where}: the meaning of {key!r} must be "column", "column=value" or a list of them'
        )
    carries: str | None = None
    sets: list[tuple[str, str]] = []
    for text in items:
        match = _COLUMN_VALUE.match(text)
        column = match.group(1) if match else ""
        if column not in MAPPABLE:
            raise ConfigError(
                f"{where}: {text!r} for {key!r} does not name a contract column a code can "
                f"carry ({', '.join(MAPPABLE)})"
            )
        value = match.group(2)
        if value is None:
            if carries is not None:
                raise ConfigError(f"{where}: {key!r} carries two columns; give one")
            carries = column
        elif not value:
            raise ConfigError(f"{where}: {text!r} for {key!r} sets {column} to nothing")
        else:
            sets.append((column, value))
    return Meaning(carries, tuple(sets))


def _add(table: CodeMap, key: str, target: object, where: str) -> None:
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"{where}: a code map key must be 'system|code' or 'code'")
    meaning = _meaning(key, target, where)
    system, bar, code = key.rpartition("|")
    if not bar:
        table.any_system[key.strip()] = meaning
    elif not code.strip():
        raise ConfigError(f"{where}: {key!r} has no code after '|'")
    else:
        table.exact[(system.strip(), code.strip())] = meaning


def code_map(configured: object, where: str = "[[sources]] codes") -> CodeMap:
    """The built-in table with a source's ``codes`` over it; a wrong entry is a
    ``ConfigError`` naming it."""
    table = CodeMap()
    for key, target in BUILT_IN.items():
        _add(table, key, target, "built-in code table")
    if configured is None:
        return table
    if not isinstance(configured, Mapping):
        raise ConfigError(f'{where} must be a table of "system|code" = "column" entries')
    for key, target in configured.items():
        _add(table, key, target, where)
    return table


DEFAULT_CODES = code_map(None)
