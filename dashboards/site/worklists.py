"""Case-level worklists: the only place the dashboards put individual cases, and never on a
page. Each is a CSV in the restricted folder (mode 0700, files 0600, spreadsheet formulas
neutralised: her2qa/restricted.py), for the people who must review the cases.

Default folder: ``<site_dir>/../restricted/`` — beside the site, not inside it, so copying the
site to a shared drive never carries a case list. The lab's own identifiers (lab_id,
accession_id, test ids) are kept, since a reviewer needs them to pull the case;
``patient_key`` is left out (a reviewer does not need it: data minimisation).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb

from her2qa.restricted import restricted_folder, write_csv

# file name -> query. Ordered for a reviewer: by lab, then the reason, then the case.
WORKLISTS: dict[str, str] = {
    "ihc_ish_discordance.csv": (
        "SELECT * EXCLUDE (patient_key) FROM marts.ihc_ish_discordance "
        "ORDER BY lab_id, discordance_type, specimen_date, accession_id"
    ),
    "metastasis_retest_candidates.csv": (
        "SELECT * EXCLUDE (patient_key) FROM marts.retest_candidates "
        "ORDER BY lab_id, reason_group DESC, reason_code, collection_date, accession_id"
    ),
    "interpretation_disagreements.csv": (
        "SELECT * EXCLUDE (patient_key, agrees) FROM marts.interpretation_audit "
        "WHERE audited AND NOT agrees ORDER BY lab_id, report_date, test_id"
    ),
}
DESCRIPTION = {
    "ihc_ish_discordance.csv": "IHC 3+ with ISH group 5, IHC 0/1+ with group 1, and every "
    "ISH group 2-4 with how it resolved (marts.ihc_ish_discordance)",
    "metastasis_retest_candidates.csv": "metastases to consider for HER2 retesting, with the "
    "reason (marts.retest_candidates)",
    "interpretation_disagreements.csv": "results whose reported call differs from the ASCO/CAP "
    "algorithm's call for the row (marts.interpretation_audit)",
}
BATCH = 10_000


def _batches(cur: duckdb.DuckDBPyConnection) -> Iterator[tuple]:
    while True:
        chunk = cur.fetchmany(BATCH)
        if not chunk:
            return
        yield from chunk


def write_all(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Write every worklist into ``folder`` (created 0700); returns rows per file."""
    restricted_folder(folder)
    written = {}
    for name, query in WORKLISTS.items():
        cur = con.cursor()
        try:
            cur.execute(query)
            columns = [d[0] for d in cur.description]
            written[name] = write_csv(folder / name, columns, _batches(cur))
        finally:
            cur.close()
    return written
