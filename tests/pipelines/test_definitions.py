"""The Dagster code location as `dg` sees it: `dg check defs` loads pipelines/defs/ and
validates every asset, check, job, schedule and sensor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipelines.definitions import defs
from pipelines.factory import INTEGRITY_KEYS, asset_key, table_rules
from tests.conftest import REPO
from warehouse import catalog


def test_dg_check_defs_validates_the_code_location(tmp_path):
    dg = Path(sys.executable).with_name("dg")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "HER2QA_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(dg), "check", "defs"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_every_published_table_is_an_asset_of_its_layer():
    graph = defs.resolve_asset_graph()
    for table in catalog.published():
        node = graph.get(asset_key(table.name))
        assert node.group_name == table.layer, table.name
        assert table.grain in node.description, table.name


def test_each_rule_has_a_key_of_its_own_in_its_tables_integrity_check():
    """A table's integrity check counts each rule under the rule's name: two rules of one
    table with the same name, or a rule named like the check's own keys, would hide a count."""
    for table in catalog.TABLES:
        names = [rule.name for rule in table_rules(table)]
        assert len(names) == len(set(names)), table.name
        assert not set(names) & set(INTEGRITY_KEYS), table.name
