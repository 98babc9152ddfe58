"""The nightly benchmark's floors (benchmarks/nightly_benchmark.py ``floor``): the DuckDB floor
and, with ``layers``, the layers' writes alone on top of it. No timing is asserted, only that
both read every row of the files and leave no database behind."""

from __future__ import annotations

import sys

from her2qa.generate import generate
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import nightly_benchmark  # the benchmarks folder is scripts, not a package


def test_the_floor_and_the_layers_floor_read_every_row_and_clean_up(tmp_path):
    generate(tmp_path / "network", rows=300, seed=5)
    files = sorted((tmp_path / "network").glob("*.csv"))
    rows = sum(len(f.read_text().splitlines()) - 1 for f in files)
    plain = nightly_benchmark.floor(tmp_path, files)
    layers = nightly_benchmark.floor(tmp_path, files, layers=True)
    assert plain["rows"] == rows and plain["groups"] > 0
    assert layers.pop("layer_rows") == [rows] * (2 + nightly_benchmark.CASE_LEVEL_COPIES)
    assert layers == plain
    assert not (tmp_path / "floor.duckdb").exists()
