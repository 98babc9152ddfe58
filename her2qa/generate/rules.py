"""ASCO/CAP 2018 readings the simulation needs, vectorised over numpy arrays.

The generator must write a ``reported_result`` consistent with the guideline
reading of each row and compute its ground truth the way ``spec/warehouse.md``
defines it, so it carries these few rules itself. Codes follow
``schemas.vocabulary``: results index ``REPORTED_RESULTS``, scores index
``IHC_SCORES`` (``NO_SCORE`` = no score), ISH values are integers in hundredths
(``NONE`` = empty) so that boundary values compare exactly.

When the project's own rules module lands, this module should delegate to it.
"""

from __future__ import annotations

import numpy as np

from schemas.vocabulary import REPORTED_RESULTS

POSITIVE = REPORTED_RESULTS.index("positive")
NEGATIVE = REPORTED_RESULTS.index("negative")
EQUIVOCAL = REPORTED_RESULTS.index("equivocal")
INDETERMINATE = REPORTED_RESULTS.index("indeterminate")

NO_SCORE = -1
NONE = -1
NO_GROUP = 0


def ratio_hundredths(her2_c: np.ndarray, cep17_c: np.ndarray) -> np.ndarray:
    """round(HER2 / CEP17, 2) from the rounded means, half up, in exact integer arithmetic."""
    her2_c = np.asarray(her2_c, np.int64)
    cep17_c = np.maximum(np.asarray(cep17_c, np.int64), 1)
    return (200 * her2_c + cep17_c) // (2 * cep17_c)


def ish_group(ratio_c: np.ndarray, her2_c: np.ndarray) -> np.ndarray:
    """2018 dual-probe group 1-5 from the reported values (§ISH-GROUPS); 0 when not dual-probe.

    Boundaries: ratio 2.00 is on the ">= 2.0" side, 4.00 and 6.00 signals on the ">=" side.
    """
    ratio_c = np.asarray(ratio_c)
    her2_c = np.asarray(her2_c)
    high = ratio_c >= 200
    group = np.select(
        [high & (her2_c >= 400), high, her2_c >= 600, her2_c >= 400], [1, 2, 3, 4], 5
    ).astype(np.int8)
    group[(ratio_c < 0) | (her2_c < 0)] = NO_GROUP
    return group


def ihc_reading(score: np.ndarray) -> np.ndarray:
    """IHC row: 0/1+ negative, 2+ equivocal, 3+ positive, no score indeterminate (§IHC-2018)."""
    table = np.array([NEGATIVE, NEGATIVE, EQUIVOCAL, POSITIVE, INDETERMINATE], dtype=np.int8)
    return table[np.asarray(score)]  # NO_SCORE (-1) picks the last entry


def ish_reading(group: np.ndarray, ihc_score: np.ndarray) -> np.ndarray:
    """Dual-probe ISH row: group 1 positive, 5 negative, 2-4 per concurrent IHC (§ISH-RESOLVE).

    Groups 2-4 without a concurrent IHC score read ``equivocal`` (IHC review missing).
    """
    group = np.asarray(group)
    ihc = np.asarray(ihc_score)
    positive = (
        (group == 1)
        | ((group == 2) & (ihc == 3))
        | ((group == 3) & (ihc >= 2))
        | ((group == 4) & (ihc == 3))
    )
    unresolved = np.isin(group, (2, 3, 4)) & (ihc == NO_SCORE)
    out = np.where(positive, POSITIVE, NEGATIVE).astype(np.int8)
    out[unresolved] = EQUIVOCAL
    out[group == NO_GROUP] = INDETERMINATE
    return out


def single_probe_reading(her2_c: np.ndarray) -> np.ndarray:
    """Single-probe ISH row (§ISH-SINGLE): >= 6.0 positive, < 4.0 negative, else equivocal."""
    her2_c = np.asarray(her2_c)
    out = np.where(her2_c >= 600, POSITIVE, np.where(her2_c < 400, NEGATIVE, EQUIVOCAL))
    out[her2_c < 0] = INDETERMINATE
    return out.astype(np.int8)


def final_status(ihc_score: np.ndarray, group: np.ndarray) -> np.ndarray:
    """A specimen's final status from its usable IHC score and dual-probe group (§FINAL-STATUS)."""
    ihc = np.asarray(ihc_score)
    group = np.asarray(group)
    has_ihc = ihc != NO_SCORE
    conditions = [
        ihc == 3,
        group == 1,
        np.isin(group, (2, 4)) & has_ihc,
        (group == 3) & (ihc == 2),
        (group == 3) & has_ihc,
        np.isin(group, (2, 3, 4)),
        group == 5,
        np.isin(ihc, (0, 1)),
        ihc == 2,
    ]
    choices = [
        POSITIVE,
        POSITIVE,
        NEGATIVE,
        POSITIVE,
        NEGATIVE,
        EQUIVOCAL,
        NEGATIVE,
        NEGATIVE,
        EQUIVOCAL,
    ]
    return np.select(conditions, choices, INDETERMINATE).astype(np.int8)


def final_status_single(ihc_score: np.ndarray, her2_c: np.ndarray) -> np.ndarray:
    """Final status with a single-probe ISH and no usable dual-probe one (contract v2,
    §ISH-SINGLE): IHC 3+ or >= 6.0 HER2/cell positive; else < 4.0 or IHC 0/1+ negative;
    else (4.0 to < 6.0 with IHC 2+ or no IHC) equivocal."""
    ihc = np.asarray(ihc_score)
    her2_c = np.asarray(her2_c)
    return np.select(
        [(ihc == 3) | (her2_c >= 600), (her2_c < 400) | np.isin(ihc, (0, 1))],
        [POSITIVE, NEGATIVE],
        EQUIVOCAL,
    ).astype(np.int8)
