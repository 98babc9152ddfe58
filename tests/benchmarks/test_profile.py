"""The nightly benchmark's breakdown (benchmarks/_profile.py) runs the pipeline's public entry
points through timing wrappers: a change to the pipeline must not leave it unable to measure.
No timing is asserted, only that every stage was measured."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.conftest import REPO, SHARED

sys.path.insert(0, str(REPO / "benchmarks"))
import _profile  # the benchmarks folder is scripts, not a package


def test_the_breakdown_measures_every_stage_of_a_real_extract(env):
    inbox = env / "inbox"
    shutil.copy(SHARED / "data" / "real" / "tcga-brca" / "extract.csv", inbox / "tcga.csv")
    got = _profile.breakdown(inbox, env / "breakdown")
    assert got["not_timed"] == []
    for stage in ("ingest", "staging", "marts and findings", "site", "snapshot"):
        assert stage in got["timings"], stage
    assert any(k.startswith("pandera: ") for k in got["timings"])
    assert any(k.startswith("sql findings/") for k in got["timings"])
    labels = dict(_profile.breakdown_rows(got))
    assert labels["ingest (inbox.ingest_inbox)"] > 0
    assert Path(env / "breakdown" / "her2.duckdb").is_file()
