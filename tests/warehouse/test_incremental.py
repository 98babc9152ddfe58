"""Incremental == full: after random sequences of nightly files (new results, amendments,
repeats, late results, a result moved to another patient), the marts kept incrementally
(warehouse/build.py) equal the marts built whole from the same staged results, table by
table, row for row."""

from __future__ import annotations

import csv
import itertools
import random
import shutil
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

import warehouse
from her2qa import staging
from her2qa.generate import generate
from her2qa.ingest import inbox
from pipelines.factory import gather_scope, rule_violations, table_rules
from schemas import contract
from tests.conftest import IHC_ROW, write_extract
from warehouse import build, catalog

AS_OF = datetime(2026, 1, 15)
# A result's values, kit to reported call (the contract's order): what an amendment changes.
RESULT_FIELDS = contract.NAMES[
    contract.NAMES.index("assay_kit") : contract.NAMES.index("reported_result") + 1
]
PATIENT_FIELDS = ("patient_mrn", "patient_name", "patient_dob")
COMPARED = [t.name for t in catalog.build_order() if t.layer != "scratch"] + [
    "staging.her2_results"
]


def _rows(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def _amend(row: dict, donor: dict) -> dict:
    """The next version of ``row`` with the result of ``donor`` (same assay: a valid row)."""
    version = int(row["result_version"] or 1) + 1  # blank: version 1 (the contract)
    return {**row, **{f: donor[f] for f in RESULT_FIELDS}, "result_version": str(version)}


def _nights(rows: list[dict], rng: random.Random) -> list[list[dict]]:
    """Nightly files: shuffled chunks of the network (so ISH results arrive after their
    specimen's IHC, late results after their quarter), each followed by what a lab re-sends."""
    order = rows[:]
    rng.shuffle(order)
    size = len(order) // 6
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    sent: list[dict] = []
    nights = []
    for chunk in chunks:
        night = list(chunk)
        if sent:
            by_assay: dict[str, list[dict]] = {}
            for r in sent:
                by_assay.setdefault(r["assay"], []).append(r)
            for old in rng.sample(sent, min(15, len(sent))):  # amendments of old results
                amended = _amend(old, rng.choice(by_assay[old["assay"]]))
                night.append(amended)
                sent[sent.index(old)] = amended
            night += rng.sample(sent, min(10, len(sent)))  # repeats, identical
            moved = rng.choice(sent)  # an amendment that moves a result to another patient
            other = rng.choice(sent)
            moved_v2 = {
                **moved,
                **{f: other[f] for f in PATIENT_FIELDS},
                "result_version": str(int(moved["result_version"] or 1) + 1),
            }
            night.append(moved_v2)
            sent[sent.index(moved)] = moved_v2
        sent += chunk
        nights.append(night)
    return nights


def _differences(incremental: Path, full: Path, tables=COMPARED) -> dict[str, int]:
    with warehouse.connect(incremental) as con:
        con.execute(f"ATTACH '{full}' AS full_build (READ_ONLY)")
        out = {}
        for name in tables:
            one_way = f"SELECT * FROM {name} EXCEPT ALL SELECT * FROM full_build.{name}"
            other_way = f"SELECT * FROM full_build.{name} EXCEPT ALL SELECT * FROM {name}"
            n = con.execute(
                f"SELECT (SELECT count(*) FROM ({one_way})) + (SELECT count(*) FROM ({other_way}))"
            ).fetchone()[0]
            if n:
                out[name] = n
        return out


@pytest.mark.parametrize(("seed", "scope_in"), [(3, "memory"), (11, "file"), (29, "memory")])
def test_incremental_marts_equal_a_full_build(wh, seed, scope_in, monkeypatch, tmp_path):
    monkeypatch.setattr(build, "FULL_ABOVE", 1.0)  # every night incremental, however small
    if scope_in == "file":  # as a bulk batch onto a large warehouse
        monkeypatch.setattr(build, "SCOPE_IN_MEMORY", 0)
    databases = []
    real_build_scope = build._build_scope

    def recorded(con, params, *args, database=":memory:", **kw):
        databases.append(database)
        real_build_scope(con, params, *args, database=database, **kw)

    monkeypatch.setattr(build, "_build_scope", recorded)
    source = tmp_path / f"network-{seed}"
    generate(source, rows=2400, seed=seed)
    rng = random.Random(seed)
    modes = []
    for n, night in enumerate(_nights(_rows(source), rng)):
        write_extract(wh.inbox / f"night-{n:02d}.csv", night)
        wh.run(f"night-{n}")
        with warehouse.connect(wh.path) as con:
            modes.append(build.build_marts(con, wh.site, as_of=AS_OF).mode)
    assert modes[0] == "full" and set(modes[1:]) == {"incremental"}, modes
    # every night's scope built where it was meant to be (":memory:" has no suffix)
    assert {Path(d).suffix for d in databases} == {".partition" if scope_in == "file" else ""}
    assert not list(wh.path.parent.glob("*.partition*"))
    with warehouse.connect(wh.path, read_only=True) as con:  # the last night's checks hold
        broken = {
            rule.name: n
            for table in catalog.TABLES
            for rule in table_rules(table)
            if (n := rule_violations(con, rule, table))
        }
    assert broken == {}

    full = tmp_path / "full.duckdb"
    shutil.copy(wh.path, full)
    with warehouse.connect(full) as con:
        staging.refresh_current_results(con)
        summary = build.build_marts(con, wh.site, as_of=AS_OF, incremental=False)
    assert summary.mode == "full" and summary.rows["specimen_her2"] > 500
    assert _differences(wh.path, full) == {}


STAGED = (
    "ops.ingested_files",
    "staging.her2_results",
    "staging.her2_results_history",
    "quarantine.rejected_rows",
)


def _ingested_nights(wh, tmp_path) -> list[list[dict]]:
    """A sequence of nightly files, ingested and not staged, with a conflict at the end (a
    result sent again later with its version but another value); returns the nights."""
    source = tmp_path / "network"
    generate(source, rows=2400, seed=7)
    rng = random.Random(7)
    nights = _nights(_rows(source), rng)
    first = next(r for r in nights[0] if r["assay"] == "IHC")
    donor = next(
        r for r in nights[0] if r["assay"] == "IHC" and r["ihc_score"] != first["ihc_score"]
    )
    nights.append([{**_amend(first, donor), "result_version": first["result_version"]}])
    for n, night in enumerate(nights):
        write_extract(wh.inbox / f"night-{n:02d}.csv", night)
    with warehouse.connect(wh.path) as con:
        warehouse.ensure_schema(con)
        inbox.ingest_inbox(con, wh.inbox, tmp_path / "archive", wh.key, "run-1")
    return nights


@pytest.mark.parametrize("step_rows", [1, 700])
def test_staging_in_steps_stages_what_one_step_stages(wh, monkeypatch, tmp_path, step_rows):
    """Pending files are staged in steps of about STEP_ROWS rows (her2qa/staging.py): any cut
    of the same files gives the same staged, current and quarantined rows and accounting."""
    nights = _ingested_nights(wh, tmp_path)
    in_steps = tmp_path / "in_steps.duckdb"
    shutil.copy(wh.path, in_steps)

    steps: list[list[int]] = []
    real = staging._stage

    def counted(con, site, file_ids, **kwargs):
        steps.append(file_ids)
        return real(con, site, file_ids, **kwargs)

    monkeypatch.setattr(staging, "_stage", counted)
    now = datetime(2026, 1, 15, 6, 0)
    with warehouse.connect(wh.path) as con:
        whole = staging.stage_pending(con, wh.site, run_id="run-1", now=now)
    assert len(steps) == 1
    steps.clear()
    monkeypatch.setattr(staging, "STEP_ROWS", step_rows)
    with warehouse.connect(in_steps) as con:
        cut = staging.stage_pending(con, wh.site, run_id="run-1", now=now)
    assert 2 < len(steps) <= len(nights)
    assert [f for step in steps for f in step] == list(range(1, len(nights) + 1))

    assert cut == whole and whole.rows_read > whole.results_current
    assert _differences(in_steps, wh.path, STAGED) == {}
    with warehouse.connect(in_steps, read_only=True) as con:
        conflicts = con.execute(
            "SELECT count(*) FROM quarantine.rejected_rows WHERE list_contains(reason_codes, 'conflicting_version')"
        ).fetchone()[0]
    assert conflicts == 1


# Every result of the raw layer looked up, as staging did before staging/contested_results.
EVERY_RESULT_LOOKED_UP = (
    "CREATE OR REPLACE TEMP TABLE contested_results AS "
    "SELECT DISTINCT result_id(lab_id) AS lab_id, result_id(test_id) AS test_id "
    "FROM raw.her2_rows"
)


@pytest.mark.parametrize("step_rows", [1, 700, 10**9])
def test_staging_looks_up_only_contested_results_and_stages_what_looking_up_every_one_stages(
    wh, monkeypatch, tmp_path, step_rows
):
    """A run looks up only the results that may meet another arrival (received more than once
    in its files, or already in the history: staging/contested_results). Two runs of nightly
    files (amendments, repeats, a result moved to another patient, a conflict), the second
    meeting the first's results, in steps of any size, stage exactly what they stage with
    every result looked up. A run of one step on a history looks every result of it up: its
    step reads the history for them anyway."""
    source = tmp_path / "network"
    generate(source, rows=2400, seed=7)
    nights = _nights(_rows(source), random.Random(7))
    first = next(r for r in nights[0] if r["assay"] == "IHC")
    donor = next(
        r for r in nights[0] if r["assay"] == "IHC" and r["ihc_score"] != first["ihc_score"]
    )
    nights.append([{**_amend(first, donor), "result_version": first["result_version"]}])
    monkeypatch.setattr(staging, "STEP_ROWS", step_rows)
    contested, real_stage, real_sql = [], staging._stage, warehouse.sql

    def counted(con, site, file_ids, **kwargs):
        contested.append(con.execute("SELECT count(*) FROM contested_results").fetchone()[0])
        return real_stage(con, site, file_ids, **kwargs)

    monkeypatch.setattr(staging, "_stage", counted)
    now = datetime(2026, 1, 15, 6, 0)
    summaries, looked_up = {}, {}
    for how in ("contested", "every"):
        if how == "every":
            monkeypatch.setattr(
                warehouse,
                "sql",
                lambda name: (
                    EVERY_RESULT_LOOKED_UP
                    if name == "staging/contested_results"
                    else real_sql(name)
                ),
            )
        path, folder = tmp_path / f"{how}.duckdb", tmp_path / f"inbox-{how}"
        folder.mkdir()
        contested.clear()
        for run, nights_of_run in enumerate((nights[:3], nights[3:])):
            for night in nights_of_run:
                n = nights.index(night)
                write_extract(folder / f"night-{n:02d}.csv", night)
            with warehouse.connect(path) as con:
                warehouse.ensure_schema(con)
                inbox.ingest_inbox(con, folder, tmp_path / f"archive-{how}", wh.key, f"r{run}")
                summaries[how, run] = staging.stage_pending(con, wh.site, run_id=f"r{run}", now=now)
        looked_up[how] = list(contested)
    assert _differences(tmp_path / "contested.duckdb", tmp_path / "every.duckdb", STAGED[1:]) == {}
    assert [summaries["contested", r] for r in (0, 1)] == [summaries["every", r] for r in (0, 1)]
    if step_rows < 10**9:  # runs of several steps look up a few results, not all
        assert 0 < max(looked_up["contested"]) < min(looked_up["every"]) / 5
    else:  # the second run, one step on a history (a night), looks every result of it up
        assert looked_up["contested"][0] < looked_up["every"][0] / 5
        assert looked_up["contested"][1] == len(
            {(r["lab_id"], r["test_id"]) for n in nights[3:] for r in n}
        )
    with warehouse.connect(tmp_path / "contested.duckdb", read_only=True) as con:
        conflicts, replaced = con.execute(
            "SELECT (SELECT count(*) FROM quarantine.rejected_rows "
            "WHERE list_contains(reason_codes, 'conflicting_version')), "
            "(SELECT count(*) FROM staging.her2_results_history WHERE NOT is_current)"
        ).fetchone()
    assert conflicts == 1 and replaced > 15


@pytest.mark.parametrize("step_rows", [1, 10**9])
def test_a_result_resent_with_its_identifiers_padded_is_the_same_result_in_any_step(
    wh, monkeypatch, step_rows
):
    """The contested results are keyed as the staged rows are (macros/text result_id): a
    version sent again with white space around its lab and test ids, in a later file of the
    same run, meets the first arrival (a conflict here, its value changed), in the next step
    or in the same one."""
    first = {**IHC_ROW, "ihc_score": "1+", "reported_result": "negative"}
    again = {**first, "lab_id": f" {first['lab_id']}\t", "test_id": f"\u00a0{first['test_id']} "}
    again["ihc_score"] = "0"
    write_extract(wh.inbox / "a.csv", [first])
    write_extract(wh.inbox / "b.csv", [again])
    monkeypatch.setattr(staging, "STEP_ROWS", step_rows)
    summary = wh.run()
    assert (summary.rows_staged, summary.rows_quarantined, summary.results_current) == (1, 1, 1)
    with warehouse.connect(wh.path, read_only=True) as con:
        (codes,) = con.execute("SELECT reason_codes FROM quarantine.rejected_rows").fetchone()
    assert "conflicting_version" in codes


def test_a_run_that_dies_between_steps_keeps_its_steps_and_the_next_run_stages_the_rest(
    wh, monkeypatch, tmp_path
):
    """A failure in a later step leaves the steps before it staged, whole, with their
    accounting, and the files after it pending; the next run stages them, and the result is
    one clean staging's."""
    nights = _ingested_nights(wh, tmp_path)
    whole = tmp_path / "whole.duckdb"
    shutil.copy(wh.path, whole)
    now = datetime(2026, 1, 15, 6, 0)
    with warehouse.connect(whole) as con:
        staging.stage_pending(con, wh.site, run_id="run-1", now=now)

    monkeypatch.setattr(staging, "STEP_ROWS", 1)  # a step per file
    real, done = staging._stage, []

    def dies_at_the_third(con, site, file_ids, **kwargs):
        if len(done) == 2:
            raise RuntimeError("killed")
        done.append(file_ids)
        return real(con, site, file_ids, **kwargs)

    monkeypatch.setattr(staging, "_stage", dies_at_the_third)
    with warehouse.connect(wh.path) as con, pytest.raises(RuntimeError, match="killed"):
        staging.stage_pending(con, wh.site, run_id="run-1", now=now)
    with warehouse.connect(wh.path, read_only=True) as con:
        staged = con.execute(
            "SELECT file_id, rows_read = rows_staged + rows_quarantined FROM ops.ingested_files "
            "WHERE staged_at IS NOT NULL ORDER BY file_id"
        ).fetchall()
        pending = con.execute(
            "SELECT count(*) FROM ops.ingested_files WHERE staged_at IS NULL"
        ).fetchone()[0]
    assert staged == [(1, True), (2, True)] and pending == len(nights) - 2

    monkeypatch.setattr(staging, "_stage", real)
    with warehouse.connect(wh.path) as con:
        staging.stage_pending(con, wh.site, run_id="run-2", now=now)
    assert _differences(wh.path, whole, STAGED[1:]) == {}
    with warehouse.connect(wh.path, read_only=True) as con:
        unbalanced = con.execute(
            "SELECT count(*) FROM ops.ingested_files "
            "WHERE staged_at IS NULL OR rows_read <> rows_staged + rows_quarantined"
        ).fetchone()[0]
    assert unbalanced == 0


def test_a_change_of_rules_or_settings_builds_whole(wh, tmp_path):
    generate(wh.inbox, rows=600, seed=2)
    wh.run()
    with warehouse.connect(wh.path) as con:
        assert build.build_marts(con, wh.site, as_of=AS_OF).mode == "full"
        assert build.build_marts(con, wh.site, as_of=AS_OF).mode == "incremental"
        con.execute("UPDATE ops.mart_state SET fingerprint = 'older rules'")
        assert build.build_marts(con, wh.site, as_of=AS_OF).mode == "full"
        # nothing left to do: the work list was cleared by the build that did it
        assert con.execute("SELECT count(*) FROM ops.mart_changes").fetchone()[0] == 0


def _build_then_rebuild_specimens(con, wh, n: int) -> None:
    """A full build, then an incremental one of the first ``n`` specimens, logged as changed."""
    build.build_marts(con, wh.site, as_of=AS_OF)
    con.execute(
        "INSERT INTO ops.mart_changes SELECT lab_id, accession_id, patient_key "
        "FROM marts.specimen_her2 ORDER BY lab_id, accession_id LIMIT $n",
        {"n": n},
    )
    assert build.build_marts(con, wh.site, as_of=AS_OF).mode == "incremental"


def test_the_checks_of_an_incremental_build_read_the_rows_it_recomputed(wh):
    generate(wh.inbox, rows=600, seed=4)
    wh.run()
    specimens = catalog.table("marts.specimen_her2")
    (key_rule,) = [r for r in table_rules(specimens) if r.name.endswith("_key_unique")]
    with warehouse.connect(wh.path) as con:
        _build_then_rebuild_specimens(con, wh, 3)
        assert rule_violations(con, key_rule, specimens) == 0
        # a second copy of a recomputed row breaks the key; the check of this build sees it
        con.execute(f"INSERT INTO marts.specimen_her2 {build.scope_rows(con, specimens)} LIMIT 1")
        assert rule_violations(con, key_rule, specimens) == 1
        # as a check step reads them: the scope's rows gathered once for all its rules
        scoped = gather_scope(con, [specimens])
        assert scoped["marts.specimen_her2"].startswith("temp.")
        assert rule_violations(con, key_rule, specimens, scoped=scoped) == 1


def test_the_checks_find_the_rows_of_a_scope_by_row_id_as_by_their_keys(wh):
    """After an incremental build, each case-level table's rows of the scope are found by the
    row ids the build recorded, the same rows as by their keys, in a later connection (a
    checkpoint between, as between two Dagster steps); a table changed since is read by keys."""
    generate(wh.inbox, rows=600, seed=5)
    wh.run()
    case_level = catalog.case_level()
    with warehouse.connect(wh.path) as con:
        _build_then_rebuild_specimens(con, wh, 7)
    with warehouse.connect(wh.path) as con:
        located = {
            r[0] for r in con.execute("SELECT table_name FROM ops.mart_scope_tables").fetchall()
        }
        assert located == {t.name for t in case_level}
        rows = {}
        for t in case_level:
            by_id, by_keys = build.scope_rows(con, t), build.scope_rows_by_keys(t)
            assert "BETWEEN" in by_id, t.name
            rows[t.name] = con.execute(f"SELECT count(*) FROM ({by_id})").fetchone()[0]
            differ = con.execute(
                f"SELECT count(*) FROM (({by_id}) EXCEPT ALL ({by_keys})) "
                f"UNION ALL SELECT count(*) FROM (({by_keys}) EXCEPT ALL ({by_id}))"
            ).fetchall()
            assert differ == [(0,), (0,)], t.name
        assert rows["marts.specimen_her2"] >= 7
        specimens = catalog.table("marts.specimen_her2")
        first = con.execute(
            "SELECT first_rowid FROM ops.mart_scope_tables WHERE table_name = 'marts.specimen_her2'"
        ).fetchone()[0]
        con.execute("DELETE FROM marts.specimen_her2 WHERE rowid = $first", {"first": first})
        assert build.scope_rows(con, specimens) == build.scope_rows_by_keys(specimens)
        # a build that merges nothing leaves no location behind
        assert build.build_marts(con, wh.site, as_of=AS_OF).scope_specimens == 0
        assert con.execute("SELECT count(*) FROM ops.mart_scope_tables").fetchone()[0] == 0


def test_a_build_with_nothing_staged_keeps_when_the_marts_last_changed(wh):
    """ops.mart_state.changed_at (what the worklists are written from) moves with a build
    that recomputed rows, not with one that had nothing to do."""
    generate(wh.inbox, rows=600, seed=9)
    wh.run()
    changed_at = "SELECT changed_at, built_at FROM ops.mart_state"
    with warehouse.connect(wh.path) as con:
        build.build_marts(con, wh.site, as_of=AS_OF)
        (full, built) = con.execute(changed_at).fetchone()
        assert full == built
        assert build.build_marts(con, wh.site, as_of=AS_OF).scope_specimens == 0
        (kept, built) = con.execute(changed_at).fetchone()
        assert kept == full and built > full
        _build_then_rebuild_specimens(con, wh, 2)  # its full build first changes it too
        (moved, built) = con.execute(changed_at).fetchone()
        assert moved == built and moved > kept
        # some tables rebuilt whole (ops.mart_state itself untouched): it moves too
        build.build_marts(con, wh.site, tables=(catalog.table("marts.reference_bands"),))
        (rebuilt, _) = con.execute(changed_at).fetchone()
        assert rebuilt > moved


def _history_key_rule_and_first_file(con):
    """The history's table, its key rule, and the id of the first file ingested."""
    history = catalog.table("staging.her2_results_history")
    (key_rule,) = [r for r in table_rules(history) if r.name.endswith("_key_unique")]
    (first_file,) = con.execute("SELECT min(file_id) FROM ops.ingested_files").fetchone()
    return history, key_rule, first_file


def test_the_staging_checks_of_a_run_read_the_results_it_staged(wh):
    generate(wh.inbox, rows=600, seed=6)
    wh.run("night-1")
    with warehouse.connect(wh.path) as con:
        con.execute("UPDATE ops.ingested_files SET staged_run_id = 'night-1'")
        history, key_rule, first_file = _history_key_rule_and_first_file(con)
        con.execute(
            "UPDATE ops.ingested_files SET run_id = 'night-0', staged_run_id = 'night-0' "
            "WHERE file_id = $f",
            {"f": first_file},
        )
        # a second copy of a result of night 1's files: night 1's check sees it
        con.execute(
            "INSERT INTO staging.her2_results_history SELECT * FROM "
            "staging.her2_results_history WHERE file_id <> $f LIMIT 1",
            {"f": first_file},
        )
        assert rule_violations(con, key_rule, history, "night-1") == 1
        assert rule_violations(con, key_rule, history) == 1  # and a check of every row
        # a run that staged none of these results reads none of them
        assert rule_violations(con, key_rule, history, "another-run") == 0


def test_the_staging_checks_of_a_run_that_ingested_every_file_read_every_row(wh):
    """A first run wrote every row: its rules read the tables whole (pipelines/factory.py
    ``_wrote_part``), not through the look-up of its results, which ran out of memory at 50M."""
    generate(wh.inbox, rows=600, seed=6)
    wh.run("night-1")
    with warehouse.connect(wh.path) as con:
        history, key_rule, first_file = _history_key_rule_and_first_file(con)
        # every file ingested by night 1, the first one staged by another run, and a second
        # copy of one of its results: outside night 1's staged rows, inside its whole tables
        con.execute(
            "UPDATE ops.ingested_files SET run_id = 'night-1', staged_run_id = "
            "CASE WHEN file_id = $f THEN 'night-0' ELSE 'night-1' END",
            {"f": first_file},
        )
        con.execute(
            "INSERT INTO staging.her2_results_history SELECT * FROM "
            "staging.her2_results_history WHERE file_id = $f LIMIT 1",
            {"f": first_file},
        )
        assert rule_violations(con, key_rule, history, "night-1") == 1
        con.execute(
            "UPDATE ops.ingested_files SET run_id = 'night-0' WHERE file_id = $f",
            {"f": first_file},
        )
        assert rule_violations(con, key_rule, history, "night-1") == 0  # its own rows only


def test_a_bulk_load_builds_whole_and_leaves_no_work(wh, tmp_path):
    generate(wh.inbox, rows=600, seed=8)
    wh.run()
    with warehouse.connect(wh.path) as con:
        build.build_marts(con, wh.site, as_of=AS_OF)
        before = con.execute("SELECT count(*) FROM marts.specimen_her2").fetchone()[0]
        # every specimen changed at once: over FULL_ABOVE of the current results
        con.execute(
            "INSERT INTO ops.mart_changes "
            "SELECT lab_id, accession_id, patient_key FROM marts.specimen_her2"
        )
        summary = build.build_marts(con, wh.site, as_of=AS_OF)
        assert summary.mode == "full" and summary.scope_specimens == 0
        assert con.execute("SELECT count(*) FROM marts.specimen_her2").fetchone()[0] == before
        assert con.execute("SELECT count(*) FROM ops.mart_changes").fetchone()[0] == 0
        assert con.execute("SELECT mode FROM ops.mart_state").fetchone()[0] == "full"


def test_a_build_with_nothing_staged_since_rebuilds_only_the_findings(wh, monkeypatch, tmp_path):
    generate(wh.inbox, rows=600, seed=8)
    wh.run()
    with warehouse.connect(wh.path) as con:
        build.build_marts(con, wh.site, as_of=AS_OF)
    ran: list[str] = []
    real_run = warehouse.run

    def recorded(con, name, params=None):
        ran.append(name)
        return real_run(con, name, params)

    monkeypatch.setattr(warehouse, "run", recorded)
    later = AS_OF.replace(year=AS_OF.year + 1)  # the findings read the clock (data freshness)
    with warehouse.connect(wh.path) as con:
        summary = build.build_marts(con, wh.site, as_of=later)
    assert (summary.mode, summary.scope_specimens) == ("incremental", 0)
    aggregates = {t.sql for t in catalog.build_order() if build._from_results(t)}
    assert len(aggregates) > 10 and not aggregates & set(ran)
    assert "findings/findings" in ran
    monkeypatch.setattr(warehouse, "run", real_run)

    full = tmp_path / "full.duckdb"
    shutil.copy(wh.path, full)
    with warehouse.connect(full) as con:
        build.build_marts(con, wh.site, as_of=later, incremental=False)
    assert _differences(wh.path, full) == {}


def _link_in_a_chain(con, specimens: int) -> None:
    """Make ``specimens`` specimens link their patients in a chain, through the history's
    current rows: one result of each specimen moved to the next one's patient (as amendments
    that move results do)."""
    chain = con.execute(
        "SELECT lab_id, accession_id, any_value(patient_key) AS patient_key "
        "FROM staging.her2_results GROUP BY lab_id, accession_id "
        "HAVING count(*) >= 2 AND count(DISTINCT patient_key) = 1 "
        "ORDER BY hash(lab_id, accession_id) LIMIT $n",
        {"n": specimens},
    ).fetchall()
    assert len({p for _, _, p in chain}) == specimens
    for (lab, accession, _), (_, _, next_patient) in itertools.pairwise(chain):
        con.execute(
            "UPDATE staging.her2_results_history SET patient_key = $p "
            "WHERE rowid = (SELECT min(rowid) FROM staging.her2_results_history "
            "WHERE is_current AND lab_id = $lab AND accession_id = $accession)",
            {"p": next_patient, "lab": lab, "accession": accession},
        )


@pytest.mark.parametrize("partitions", [3, 8])
def test_a_full_build_in_partitions_equals_one_in_one_piece(wh, monkeypatch, tmp_path, partitions):
    """A full build over more than PARTITION_RESULTS current results makes its case-level
    tables a partition of patients at a time (warehouse/build.py): the same tables, row for
    row, as a build in one piece, with specimens that link patients (one result moved to
    another patient), in a chain that crosses partitions."""
    source = tmp_path / "network"
    generate(source, rows=2400, seed=5)
    for n, night in enumerate(_nights(_rows(source), random.Random(5))):
        write_extract(wh.inbox / f"night-{n:02d}.csv", night)
    wh.run()
    with warehouse.connect(wh.path) as con:
        _link_in_a_chain(con, 12)
        (results,) = con.execute("SELECT count(*) FROM staging.her2_results").fetchone()
    one_piece = tmp_path / "one-piece.duckdb"
    shutil.copy(wh.path, one_piece)
    with warehouse.connect(one_piece) as con:
        assert build.build_marts(con, wh.site, as_of=AS_OF, incremental=False).mode == "full"

    monkeypatch.setattr(build, "PARTITION_RESULTS", -(-results // partitions))
    appended: list[int] = []
    real_build_scope = build._build_scope

    def recorded(con, params, results_sql, results_params, site, database):
        appended.append(results_params["part"])
        assert Path(database).parent == wh.path.parent  # a file beside the warehouse
        real_build_scope(con, params, results_sql, results_params, site, database)

    monkeypatch.setattr(build, "_build_scope", recorded)
    with warehouse.connect(wh.path) as con:
        summary = build.build_marts(con, wh.site, as_of=AS_OF, incremental=False)
        left = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE ends_with(table_name, '__next')"
        ).fetchone()[0]
    assert appended == list(range(partitions)) and summary.mode == "full" and left == 0
    assert not list(wh.path.parent.glob("*.partition*"))
    assert _differences(wh.path, one_piece) == {}


KILLED_IN_THE_SECOND_PARTITION = """
import os, signal, sys
from datetime import datetime
from pathlib import Path
import warehouse
from her2qa.config import SiteConfig
from warehouse import build
build.PARTITION_RESULTS = int(sys.argv[2])
real_build_scope = build._build_scope
def killed(con, params, results_sql, results_params, site, database):
    real_build_scope(con, params, results_sql, results_params, site, database)
    if results_params["part"] == 1:  # the second partition built, not yet appended
        os.kill(os.getpid(), signal.SIGKILL)
build._build_scope = killed
with warehouse.connect(Path(sys.argv[1])) as con:
    build.build_marts(con, SiteConfig(), as_of=datetime(2026, 1, 15), incremental=False)
"""


def test_a_partitioned_build_killed_midway_leaves_the_marts_as_they_were(wh):
    """The partitions are committed as they are built, beside the tables; a process killed
    (SIGKILL) before the swap leaves the marts as the last build made them, and the next
    build drops what it left: the first partition's tables, the file the second was built in."""
    generate(wh.inbox, rows=600, seed=8)
    wh.run()
    marts = "SELECT sum(hash(COLUMNS(*))) FROM marts.specimen_her2"
    next_tables = "SELECT count(*) FROM duckdb_tables() WHERE ends_with(table_name, '__next')"
    with warehouse.connect(wh.path) as con:
        build.build_marts(con, wh.site, as_of=AS_OF)
        before = con.execute(marts).fetchall()
        (results,) = con.execute("SELECT count(*) FROM staging.her2_results").fetchone()
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_IN_THE_SECOND_PARTITION, str(wh.path), str(results // 3)],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert list(wh.path.parent.glob("*.partition"))
    with warehouse.connect(wh.path) as con:
        assert con.execute(next_tables).fetchone()[0] == len(catalog.case_level())
        assert con.execute(marts).fetchall() == before
    with warehouse.connect(wh.path) as con:
        build.build_marts(con, wh.site, as_of=AS_OF)
        assert con.execute(next_tables).fetchone()[0] == 0
        assert con.execute(marts).fetchall() == before
    assert not list(wh.path.parent.glob("*.partition*"))
