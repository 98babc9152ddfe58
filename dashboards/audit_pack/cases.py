"""The restricted ``cases/`` folder: the period's worklists, for the people who act on them.

Written with her2qa/restricted.py (folder 0700, files 0600, spreadsheet formulas
neutralised). Rows are case-level — the laboratory's accession and test ids and the keyed
patient hash (``patient_key``) — and never carry a name, an MRN or a birth date: the
warehouse holds none. Each worklist ends with empty ``action_taken`` and ``reviewed_by``
columns for the review the director signs off.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from her2qa import restricted

# What each file is, for the report.
DESCRIPTIONS = {
    "ihc_ish_discordance.csv": "IHC/ISH discordant cases and ISH groups 2-4 of the period, "
    "with how each resolved and the follow-up documented in the data",
    "lab_vs_reference_discordance.csv": "specimens whose status differs from the reference "
    "laboratory's",
    "observer_disagreements.csv": "blinded second reads that differ from the clinical IHC score",
    "retest_candidates.csv": "metastases to consider for HER2 retesting, with the reason",
    "positivity_signals.csv": "laboratory and reader months out of statistical control "
    "(the p-chart findings that say 'look'), with the finding's sentence",
    "validation_cases.csv": "every validation case with its call, comparator and agreement",
    "proficiency_results.csv": "every proficiency-testing answer with the consensus and grade",
}


def write_cases(
    folder: Path, cases: Mapping[str, tuple[list[str], list[tuple]]]
) -> dict[str, dict[str, Any]]:
    """Write every worklist (also the empty ones: an empty list is evidence too); remove
    case files of an earlier pack that this one does not write. Returns {file: {rows,
    sha256}}."""
    restricted.restricted_folder(folder)
    info: dict[str, dict[str, Any]] = {}
    for name, (columns, rows) in sorted(cases.items()):
        path = folder / name
        count = restricted.write_csv(path, columns, rows)
        info[name] = {"rows": count, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    for stale in folder.glob("*.csv"):
        if stale.name not in cases:
            stale.unlink()
    return info
