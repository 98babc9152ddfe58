"""The case worklists of issue 11, on fixtures with known answers: which case is on which list
under which rule, every boundary, and that every row names its specimen, rule, reason and
source (never a patient_key)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from her2qa import config
from tests.marts_fixtures import build, ihc, ish, records, single_probe_ish
from warehouse import catalog

NEWEST = date(2024, 12, 31)  # the newest report date of the fixture warehouse
SITE = config.SiteConfig(
    labs={"OLD": config.LabConfig(guidelines=(config.GuidelinePeriod("2007", None, None),))}
)
WINDOW_PROBE = date(2024, 1, 10)  # collection date of the CAP 11 window cases


def _rows() -> list[dict]:
    rows: list[dict] = []

    def at(lab: str, acc: str, patient: str | None = None, **kw) -> dict:
        return {
            "lab_id": lab,
            "accession_id": acc,
            "patient_key": patient or f"P-{lab}-{acc}",
            **kw,
        }

    # (a) IHC score vs % stained, 2018 (lab PCT) and 2007 (lab OLD)
    for acc, score, pct in (
        ("A1", "0", 11.0),  # over 10: listed
        ("A2", "0", 10.0),  # 10 exactly: a valid 0
        ("A3", "1+", 10.0),  # 10 or less: listed
        ("A4", "1+", 11.0),
        ("A5", "3+", 10.0),  # listed
        ("A6", "2+", 5.0),  # 2+ never judged
    ):
        rows.append(ihc(score, ihc_pct_stained=pct, **at("PCT", acc)))
    for acc, score, pct in (("O1", "3+", 30.0), ("O2", "3+", 31.0), ("O3", "0", 1.0)):
        rows.append(ihc(score, ihc_pct_stained=pct, report_date=date(2012, 3, 4), **at("OLD", acc)))
    # (b) IHC/ISH discordance with single-probe ISH
    rows += [
        ihc("3+", **at("DIS", "B1")),
        single_probe_ish(3.9, **at("DIS", "B1")),
        ihc("1+", **at("DIS", "B2")),
        single_probe_ish(6.0, **at("DIS", "B2")),  # 6.0 exactly: positive
        ihc("1+", **at("DIS", "B3")),
        single_probe_ish(5.99, **at("DIS", "B3")),  # equivocal band: negative with IHC 1+
        ihc("3+", **at("DIS", "B4")),
        ish(1.2, 2.4, **at("DIS", "B4")),  # group 5
    ]
    # (c) open equivocal cases
    rows += [
        ihc("2+", **at("EQ", "C1")),
        ihc("2+", specimen_role="metastasis", specimen_site="liver", **at("EQ", "C2")),
        ihc("2+", **at("EQ", "C3")),
        ish(2.5, 5.0, **at("EQ", "C3")),  # resolved on the specimen
        ihc("2+", **at("EQ", "C4")),
        ish(None, None, **at("EQ", "C4")),  # ISH failed: still open
        ish(1.5, 5.0, **at("EQ", "C5")),  # group 4, no IHC
        ihc("2+", **at("EQ", "C6")),
        single_probe_ish(5.0, reported_result="equivocal", **at("EQ", "C6")),
        # a decided excision of the same patient inside the CAP 11 window completes the core
        ihc(
            "2+",
            collection_date=WINDOW_PROBE,
            report_date=WINDOW_PROBE + timedelta(days=2),
            **at("EQ", "C7", "PC7"),
        ),
        ihc("3+", collection_date=WINDOW_PROBE + timedelta(days=30), **at("EQ", "C7X", "PC7")),
        # ... outside the window it does not (its date is set by the test from the band)
        ihc(
            "2+",
            collection_date=WINDOW_PROBE,
            report_date=WINDOW_PROBE + timedelta(days=2),
            **at("EQ", "C8", "PC8"),
        ),
        ihc("0", report_date=NEWEST, **at("EQ", "NEWEST")),
    ]
    # (d) ISH counting and blinded recounts
    g4 = {"ratio": 1.5, "her2": 5.0}
    rows += [
        ish(2.5, 5.0, ish_cells_counted=19, **at("CNT", "D1"), test_id="D1-ISH"),
        ish(2.5, 5.0, ish_cells_counted=20, **at("CNT", "D2"), test_id="D2-ISH"),
        ihc("2+", **at("CNT", "D3")),
        ish(g4["ratio"], g4["her2"], **at("CNT", "D3"), test_id="D3-ISH"),
        ihc("2+", **at("CNT", "D4")),
        ish(g4["ratio"], g4["her2"], pathologist_id="P01", **at("CNT", "D4"), test_id="D4-ISH"),
        ish(1.6, 5.2, test_purpose="second_read", pathologist_id="P02", **at("CNT", "D4")),
        ihc("2+", **at("CNT", "D5")),
        ish(g4["ratio"], g4["her2"], **at("CNT", "D5"), test_id="D5-ISH"),
        ish(
            1.5,
            3.0,
            test_purpose="second_read",
            pathologist_id="P02",
            test_id="D5-RC",
            **at("CNT", "D5"),
        ),
        ihc("2+", **at("CNT", "D6")),
        ish(g4["ratio"], g4["her2"], pathologist_id="P01", **at("CNT", "D6"), test_id="D6-ISH"),
        ish(1.5, 5.0, test_purpose="second_read", pathologist_id="P01", **at("CNT", "D6")),
        ihc("2+", **at("CNT", "D7")),
        ish(g4["ratio"], g4["her2"], pathologist_id="P01", **at("CNT", "D7"), test_id="D7-ISH"),
        ish(
            1.5,
            5.0,
            test_purpose="second_read",
            pathologist_id="P02",
            ish_cells_counted=19,
            test_id="D7-RC",
            **at("CNT", "D7"),
        ),
        ihc("1+", **at("CNT", "D8")),
        ish(g4["ratio"], g4["her2"], **at("CNT", "D8"), test_id="D8-ISH"),
        ish(None, None, **at("CNT", "D9"), test_id="D9-ISH"),  # indeterminate: counts nothing
    ]
    # (e) metastatic patients whose only HER2 result is an IHC 0 primary
    met = {"specimen_role": "metastasis", "specimen_site": "bone"}
    rows += [
        ihc("0", ihc_pct_stained=0.0, **at("MET", "E1P", "PE1")),
        ihc(
            None,
            collection_date=date(2024, 5, 1),
            report_date=date(2024, 5, 3),
            **met,
            **at("MET", "E1M", "PE1"),
        ),
        ihc("0", ihc_pct_stained=0.0, **at("MET", "E2P", "PE2")),
        ihc("1+", **met, **at("MET", "E2M", "PE2")),
        ihc("1+", **at("MET", "E3P", "PE3")),
        ihc(None, **met, **at("MET", "E3M", "PE3")),
        ihc("0", ihc_pct_stained=0.0, **at("MET", "E4P", "PE4")),
        ihc("0", ihc_pct_stained=5.0, **at("MET", "E5P", "PE5")),
        ihc(
            "0",
            ihc_pct_stained=0.0,
            collection_date=date(2024, 4, 1),
            report_date=date(2024, 4, 3),
            **at("MET", "E5Q", "PE5"),
        ),
        ihc(None, **met, **at("MET", "E5M", "PE5")),
    ]
    return rows


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    rows = _rows()
    # C8's excision: one day past the CAP 11 window of marts.reference_bands (read, not assumed)
    probe = build(tmp_path_factory.mktemp("probe") / "w.duckdb", [], SITE)
    days = int(
        probe.execute(
            "SELECT low FROM marts.reference_bands WHERE band_id = 'cap11_repeat_window_days'"
        ).fetchone()[0]
    )
    probe.close()
    rows.append(
        ihc(
            "3+",
            lab_id="EQ",
            accession_id="C8X",
            patient_key="PC8",
            collection_date=WINDOW_PROBE + timedelta(days=days + 1),
            report_date=WINDOW_PROBE + timedelta(days=days + 3),
        )
    )
    c = build(tmp_path_factory.mktemp("worklists") / "w.duckdb", rows, SITE)
    yield c
    c.close()


def _by(con, table: str, lab: str, key: str = "accession_id") -> dict:
    return {r[key]: r for r in records(con, f"SELECT * FROM marts.{table} WHERE lab_id = ?", [lab])}


WORKLIST_TABLES = (
    "ihc_ish_discordance",
    "worklist_pct_contradictions",
    "worklist_open_equivocal",
    "worklist_ish_counting",
    "worklist_ihc0_metastatic",
)


@pytest.mark.parametrize("table", WORKLIST_TABLES)
def test_every_row_links_specimen_rule_reason_and_source(con, table):
    entry = catalog.table(f"marts.{table}")
    rows = records(con, f"SELECT * FROM marts.{table}")
    assert rows, table
    for r in rows:
        assert r["lab_id"] and r["accession_id"] and r["rule"], r
        assert r["reason"] and len(r["reason"]) > 40, r
        assert "her2-domain.md §" in r["source"], r
    assert all("patient_key" != c for c in rows[0]) or table == "ihc_ish_discordance"
    for rule in entry.rules:
        assert con.execute(rule.violations_sql).fetchone()[0] == 0, rule.name


def test_pct_contradictions_per_version_whatever_the_call(con):
    got = _by(con, "worklist_pct_contradictions", "PCT")
    assert {a: r["rule"] for a, r in got.items()} == {
        "A1": "ihc0_pct_over_10",
        "A3": "ihc1_pct_10_or_less",
        "A5": "ihc3_pct_10_or_less",
    }
    assert got["A1"]["boundary_0_1"] and not got["A5"]["boundary_0_1"]
    assert got["A1"]["reason"].startswith(
        "IHC 0 with 11% of cells stained contradicts the score read under ASCO/CAP 2018"
    )
    assert got["A1"]["source"] == "ASCO/CAP 2018, her2-domain.md §IHC-2018, §HER2-LOW"
    # listed although the reported call agrees with the algorithm (the 120 of 120)
    agrees = records(
        con,
        "SELECT agrees FROM marts.interpretation_audit WHERE lab_id = 'PCT' AND accession_id = 'A1'",
    )
    assert agrees == [{"agrees": True}]
    old = _by(con, "worklist_pct_contradictions", "OLD")
    assert {a: r["rule"] for a, r in old.items()} == {
        "O1": "ihc3_pct_30_or_less_2007",  # 30 exactly: under 2007, 3+ needs over 30%
        "O3": "ihc0_stained_2007",
    }
    assert old["O1"]["source"].startswith("ASCO/CAP 2007")


def test_discordance_includes_single_probe_and_names_the_probe(con):
    got = _by(con, "ihc_ish_discordance", "DIS")
    assert {a: r["rule"] for a, r in got.items()} == {
        "B1": "ihc3_single_probe_negative",
        "B2": "ihc01_single_probe_positive",  # 6.0 exactly is positive
        "B4": "ihc3_ish_group5",
    }
    assert "single-probe ISH 3.90 HER2/cell" in got["B1"]["reason"]
    assert "single-probe ISH 6.00 HER2/cell" in got["B2"]["reason"]
    assert "dual-probe ISH group 5" in got["B4"]["reason"]
    assert got["B1"]["source"] == "ASCO/CAP 2018, her2-domain.md §ISH-SINGLE, §FINAL-STATUS"
    assert got["B4"]["source"] == "ASCO/CAP 2018, her2-domain.md §FINAL-STATUS"
    assert all(r["rule"] == r["discordance_type"] for r in got.values())


def test_the_aging_list_is_open_equivocal_with_the_clock(con):
    """marts.worklist_open_equivocal spells out marts.open_equivocal's columns again, to put
    the clock's where the CSV has them (as_of_date and days_open after last_report_date,
    reason before source): a column added to, dropped from or mixed up in one file and not
    the other fails here."""

    def columns(table: str) -> list[str]:
        return [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'marts' "
                "AND table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
        ]

    clock = ["as_of_date", "days_open", "reason"]
    listed, open_ = columns("worklist_open_equivocal"), columns("open_equivocal")
    assert [c for c in listed if c not in clock] == open_
    assert set(listed) - set(open_) == set(clock)
    same = ", ".join(open_)
    differ = con.execute(
        f"SELECT count(*) FROM ((SELECT {same} FROM marts.worklist_open_equivocal "
        f"EXCEPT ALL SELECT {same} FROM marts.open_equivocal) UNION ALL "
        f"(SELECT {same} FROM marts.open_equivocal "
        f"EXCEPT ALL SELECT {same} FROM marts.worklist_open_equivocal))"
    ).fetchone()[0]
    assert differ == 0
    assert con.execute("SELECT count(*) FROM marts.open_equivocal").fetchone()[0] > 0


def test_open_equivocal_cases_with_days_open(con):
    got = _by(con, "worklist_open_equivocal", "EQ")
    assert {a: r["rule"] for a, r in got.items()} == {
        "C1": "ihc_2plus_without_ish",
        "C2": "ihc_2plus_without_ish",
        "C4": "ihc_2plus_without_ish",  # a failed ISH resolves nothing
        "C5": "ish_group_2_4_without_ihc",
        "C6": "single_probe_equivocal",
        "C8": "ihc_2plus_without_ish",  # its excision is a day past the window
    }  # C3 resolved by ISH, C7 by a decided excision within the CAP 11 window
    assert got["C2"]["specimen_role"] == "metastasis"
    c1 = got["C1"]
    assert c1["as_of_date"] == NEWEST  # the warehouse's newest report date, not the clock
    assert c1["last_report_date"] == date(2024, 3, 4)
    assert c1["days_open"] == (NEWEST - date(2024, 3, 4)).days
    assert c1["reason"].endswith(f"open {c1['days_open']} days")
    assert got["C4"]["last_report_date"] == date(2024, 3, 8)  # the failed ISH's report
    assert "group 4" in got["C5"]["reason"] and "§ISH-RESOLVE" in got["C5"]["source"]
    assert "Single-probe ISH 5.00 HER2/cell" in got["C6"]["reason"]


def test_ish_counting_nuclei_boundary_and_blinded_recounts(con):
    got = {
        (r["test_id"], r["rule"]): r
        for r in records(con, "SELECT * FROM marts.worklist_ish_counting WHERE lab_id = 'CNT'")
    }
    assert set(got) == {
        ("D1-ISH", "ish_nuclei_under_minimum"),  # 19 nuclei; D2 counted exactly 20
        ("D3-ISH", "blinded_recount_missing"),
        ("D5-ISH", "blinded_recount_other_group"),
        ("D6-ISH", "blinded_recount_same_observer"),
        ("D7-RC", "ish_nuclei_under_minimum"),  # the recount itself counted 19
    }  # D4 recounted concordantly by another observer; D8 is IHC 1+; D9 failed
    d1 = got[("D1-ISH", "ish_nuclei_under_minimum")]
    assert (d1["ish_cells_counted"], d1["nuclei_minimum"], d1["test_purpose"]) == (
        19,
        20,
        "clinical",
    )
    assert "counted in 19 nuclei, under the minimum of 20" in d1["reason"]
    assert got[("D7-RC", "ish_nuclei_under_minimum")]["test_purpose"] == "second_read"
    d5 = got[("D5-ISH", "blinded_recount_other_group")]
    assert (d5["ish_group"], d5["recount_group"], d5["recount_test_id"]) == (4, 5, "D5-RC")
    assert "lands in group 5" in d5["reason"]
    assert d5["source"] == "ASCO/CAP 2018, her2-domain.md §ISH-COUNT"
    d3 = got[("D3-ISH", "blinded_recount_missing")]
    assert d3["accession_id"] == "D3" and d3["recount_test_id"] is None
    assert "no blinded recount" in d3["reason"]


def test_nuclei_minimum_is_a_reference_band(con):
    band = records(con, "SELECT * FROM marts.reference_bands WHERE band_id = 'ish_nuclei_min'")
    assert len(band) == 1
    assert band[0]["low"] == 20 and "§ISH-COUNT" in band[0]["source"]
    assert band[0]["role"] == "requirement"


def test_metastatic_patients_with_only_an_ihc0_primary(con):
    got = _by(con, "worklist_ihc0_metastatic", "MET")
    assert set(got) == {"E1P", "E5P"}  # E2 has a usable metastasis, E3 a 1+ primary, E4 no met
    e1 = got["E1P"]
    assert (e1["metastasis_accession_id"], e1["her2_category"]) == ("E1M", "null")
    assert e1["rule"] == "metastatic_only_ihc0_primary"
    assert "HER2-null" in e1["reason"] and "§HER2-LOW" in e1["source"]
    e5 = got["E5P"]  # named by the earliest of two IHC 0 primaries
    assert (e5["n_ihc0_primaries"], e5["her2_category"]) == (2, "ultralow")
    assert "DESTINY-Breast06" in e5["reason"]
    assert "patient_key" not in e5


def test_worklists_carry_no_patient_key(con):
    for table in WORKLIST_TABLES[1:]:
        cols = [r[0] for r in con.execute(f"DESCRIBE marts.{table}").fetchall()]
        assert "patient_key" not in cols, table
