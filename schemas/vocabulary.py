"""The LIS vocabulary: the one place that says which spellings normalise.

Every enumerated field of the input contract (``spec/lis-extract.md`` §Spellings)
is matched case-insensitively with surrounding spaces trimmed and inner runs of
white space folded to one space. A spelling listed here maps to its canonical
value; anything else is quarantined as "not in the vocabulary". Nothing is
guessed: ranges (``1-2+``), qualified scores (``3+ (outside)``) and ``4+`` are
deliberately absent.

The table is loaded into DuckDB (``ops.vocabulary``) at every run, so the SQL
validation, the pandera staged schema and the synthetic generator all read
this one definition.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

# Canonical values of each enumerated field (the staged layer holds only these).
IHC_SCORES: tuple[str, ...] = ("0", "1+", "2+", "3+")
ASSAYS: tuple[str, ...] = ("IHC", "ISH")
REPORTED_RESULTS: tuple[str, ...] = ("positive", "negative", "equivocal", "indeterminate")
SPECIMEN_ROLES: tuple[str, ...] = ("primary", "metastasis")
SPECIMEN_SITES: tuple[str, ...] = (
    "breast",
    "lymph_node",
    "liver",
    "lung",
    "bone",
    "brain",
    "skin",
    "pleura",
    "other",
)
TEST_PURPOSES: tuple[str, ...] = (
    "clinical",
    "second_read",
    "reference_lab",
    "validation",
    "proficiency",
)


class Spelling(NamedTuple):
    field: str
    spelling: str  # lower case, trimmed, inner white space folded
    canonical: str
    assay: str | None = None  # the spelling is only valid on rows of this assay


def _same(field: str, values: tuple[str, ...]) -> list[Spelling]:
    return [Spelling(field, v.lower(), v) for v in values]


SPELLINGS: tuple[Spelling, ...] = tuple(
    [
        # IHC score: the bare digit and the "Score N+" form are common LIS outputs.
        Spelling("ihc_score", "0", "0"),
        Spelling("ihc_score", "0+", "0"),
        Spelling("ihc_score", "score 0", "0"),
        Spelling("ihc_score", "1", "1+"),
        Spelling("ihc_score", "1+", "1+"),
        Spelling("ihc_score", "score 1+", "1+"),
        Spelling("ihc_score", "2", "2+"),
        Spelling("ihc_score", "2+", "2+"),
        Spelling("ihc_score", "score 2+", "2+"),
        Spelling("ihc_score", "3", "3+"),
        Spelling("ihc_score", "3+", "3+"),
        Spelling("ihc_score", "score 3+", "3+"),
        # Assay: method names a LIS uses for the two assay families.
        Spelling("assay", "ihc", "IHC"),
        Spelling("assay", "immunohistochemistry", "IHC"),
        Spelling("assay", "ish", "ISH"),
        Spelling("assay", "fish", "ISH"),
        Spelling("assay", "sish", "ISH"),
        Spelling("assay", "cish", "ISH"),
        Spelling("assay", "ddish", "ISH"),
        # Reported result. "Amplified" only means positive for an ISH row.
        *_same("reported_result", REPORTED_RESULTS),
        Spelling("reported_result", "pos", "positive"),
        Spelling("reported_result", "neg", "negative"),
        Spelling("reported_result", "amplified", "positive", assay="ISH"),
        Spelling("reported_result", "not amplified", "negative", assay="ISH"),
        Spelling("reported_result", "non-amplified", "negative", assay="ISH"),
        Spelling("reported_result", "nonamplified", "negative", assay="ISH"),
        *_same("specimen_role", SPECIMEN_ROLES),
        Spelling("specimen_role", "metastatic", "metastasis"),
        Spelling("specimen_role", "recurrence", "metastasis"),
        *_same("specimen_site", SPECIMEN_SITES),
        Spelling("specimen_site", "lymph node", "lymph_node"),
        Spelling("specimen_site", "lymph-node", "lymph_node"),
        *_same("test_purpose", TEST_PURPOSES),
        Spelling("test_purpose", "second read", "second_read"),
        Spelling("test_purpose", "reference lab", "reference_lab"),
        Spelling("test_purpose", "reference", "reference_lab"),
        Spelling("test_purpose", "pt", "proficiency"),
    ]
)

ENUMERATED_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(s.field for s in SPELLINGS))

CANONICAL: dict[str, tuple[str, ...]] = {
    "ihc_score": IHC_SCORES,
    "assay": ASSAYS,
    "reported_result": REPORTED_RESULTS,
    "specimen_role": SPECIMEN_ROLES,
    "specimen_site": SPECIMEN_SITES,
    "test_purpose": TEST_PURPOSES,
}


def fold(text: str) -> str:
    """The matching key of a raw value: trimmed, lower case, inner spaces folded.

    Mirrors the SQL expression in ``warehouse/sql/staging/typed_rows.sql``.
    """
    return " ".join(text.split()).lower()


def normalise(field: str, value: str | None, assay: str | None = None) -> str | None:
    """Canonical value of ``value`` for ``field``, or None when it is not in the vocabulary."""
    if value is None:
        return None
    key = fold(value)
    for s in SPELLINGS:
        if s.field == field and s.spelling == key and (s.assay is None or s.assay == assay):
            return s.canonical
    return None


def rows() -> Iterator[tuple[str, str, str, str | None]]:
    """The vocabulary as rows for the ``ops.vocabulary`` table."""
    for s in SPELLINGS:
        yield (s.field, s.spelling, s.canonical, s.assay)
