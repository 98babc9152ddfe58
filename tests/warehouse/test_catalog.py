"""The table catalog (warehouse/catalog.py): one entry per table, and what derives from it."""

from __future__ import annotations

import re

import warehouse
from her2qa import staging
from her2qa.config import SiteConfig
from tests.conftest import REPO
from tests.marts_fixtures import build as staged_warehouse
from tests.marts_fixtures import ihc, ish
from warehouse import build, catalog


def test_the_readme_table_of_tables_is_the_catalog():
    readme = (REPO / "README.md").read_text("utf-8")
    block = re.search(r"<!-- tables:begin -->\n(.*?)\n<!-- tables:end -->", readme, re.S)
    assert block and block.group(1) == catalog.markdown_table()


def test_every_table_has_its_sql_file_and_known_upstream_tables():
    for table in catalog.TABLES:
        assert (warehouse.SQL_DIR / f"{table.sql}.sql").is_file(), table.name
        assert table.grain and table.description, table.name
        for up in table.upstream:
            assert up in catalog.BY_NAME, (table.name, up)


def test_every_built_table_lists_exactly_the_tables_its_sql_reads():
    """The catalog's upstream is what the SQL reads (comments aside): the build order, the
    audit pack's stage copies and the README derive from it, so it must not drift."""
    for table in catalog.TABLES:
        if not table.built:
            continue
        sql = re.sub(r"--[^\n]*", "", (warehouse.SQL_DIR / f"{table.sql}.sql").read_text("utf-8"))
        reads = {
            other.name
            for other in catalog.TABLES
            if other.name != table.name
            and (
                re.search(rf"\b{re.escape(other.name)}\b", sql)
                or (other.layer == "scratch" and re.search(rf"\b{other.short}\b", sql))
            )
        }
        assert reads == set(table.upstream), table.name


def test_an_additive_table_counts_one_case_level_table_by_its_key_columns(tmp_path):
    """What the nightly merge of counts (warehouse/build.py) relies on: the table reads only
    the case-level table it counts, its SQL is one SELECT the merge can run on the scope's
    rows, and its columns are its key and its counts, nothing else (a column outside both
    would be summed over, or split the combinations)."""
    additive = [t for t in catalog.TABLES if t.counts_of]
    assert additive
    con = staged_warehouse(tmp_path / "w.duckdb", [ihc("2+")])
    try:
        for table in additive:
            assert table.upstream == (table.counts_of,), table.name
            assert catalog.table(table.counts_of).scope, table.name
            assert table.counts and table.key, table.name
            assert table.counts_of in build.counting_select(table), table.name
            columns = [r[0] for r in con.execute(f"DESCRIBE {table.name}").fetchall()]
            assert sorted(columns) == sorted((*table.key, *table.counts)), table.name
    finally:
        con.close()


def test_build_order_puts_every_table_after_what_it_reads():
    order = [t.name for t in catalog.build_order()]
    assert len(order) == len(set(order)) == sum(1 for t in catalog.TABLES if t.built)
    for i, name in enumerate(order):
        for up in catalog.table(name).upstream:
            if catalog.table(up).built:
                assert order.index(up) < i, (name, up)
    assert order[-1] == "marts.findings"


def test_the_warehouse_holds_exactly_the_catalog_tables_after_a_build(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.ensure_schema(con)
        staging.stage_pending(con, SiteConfig())
        build.build_marts(con, SiteConfig())
        present = {
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary "
                "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
                "WHERE NOT temporary AND NOT internal"
            ).fetchall()
        }
    assert present == {t.name for t in catalog.TABLES if t.layer != "scratch"}


def test_every_finding_code_made_is_listed_in_the_catalog(tmp_path):
    rows = [ihc("3+", accession_id=f"A{i}") for i in range(3)]
    rows += [ish(2.5, 5.0, accession_id=f"A{i}") for i in range(3)]
    rows.append(
        ihc(
            "0",
            accession_id="M",
            specimen_role="metastasis",
            specimen_site="liver",
            patient_key="P1",
        )
    )
    rows.append(ihc("3+", accession_id="P", patient_key="P1"))
    con = staged_warehouse(tmp_path / "w.duckdb", rows)
    made = {r[0] for r in con.execute("SELECT DISTINCT finding FROM marts.findings").fetchall()}
    con.close()
    assert made and made <= set(catalog.FINDINGS)
    assert {
        "lab_target_ihc_vs_ish",
        "positivity_control",
        "metastasis_loss_published_range",
    } <= made
