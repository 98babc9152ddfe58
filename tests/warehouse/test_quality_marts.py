"""The quality marts (warehouse/sql/marts/, built by warehouse/build.py), each with
hand-built staged rows and answers worked out by hand (or by statsmodels for the Wilson
intervals). One warehouse for the module: every scenario lives in its own lab (and its own
patients), so the answers do not mix; the 'ALL' rows are only tested for adding up.

References: her2-domain.md §BENCH, §PREANALYTIC, §QA-WORDING, §STATS, §CAP-CHECKLIST,
§HER2-LOW, §FINAL-STATUS, §ISH-RESOLVE, §ISH-SINGLE.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest
from statsmodels.stats.proportion import proportion_confint

import warehouse
from her2qa import config
from pipelines.factory import rule_violations, table_rules
from tests.marts_fixtures import build, ihc, ish, records, single_probe_ish
from warehouse import build as mart_build
from warehouse import catalog

# The SQL of every table the runner builds (the findings too): none may hold a threshold.
BUILT_SQL = [warehouse.SQL_DIR / f"{t.sql}.sql" for t in catalog.build_order()]
# Every row of marts.reference_bands.sql's VALUES lists (published bands, guideline limits and
# requirements, the default lab target, her2qa rules): counted from the file, not restated.
N_BANDS = len(
    re.findall(
        r"^\s*\(\s*\n\s*'[a-z0-9_]+', '",
        (warehouse.SQL_DIR / "marts" / "reference_bands.sql").read_text("utf-8"),
        re.M,
    )
)
BENCHMARK_LABEL = "published benchmark band (context, not a limit)"


def wilson(k: int, n: int) -> tuple[float, float]:
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return float(low), float(high)


def build_quality(path: Path, rows: list[dict], site: config.SiteConfig | None = None):
    """Stage rows and build every mart; an open connection."""
    return build(path, rows, site)


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> dict:
    rows = records(con, sql, params)
    assert len(rows) == 1, rows
    return rows[0]


# --- scenarios: one lab each ---------------------------------------------------------------


def discordance_rows() -> list[dict]:
    """Lab DISC: the three kinds of the worklist and two concordant specimens."""
    lab = {"lab_id": "DISC", "patient_key": "PD"}
    return [
        ihc("3+", accession_id="D1", test_id="D1-IHC", **lab),
        ish(1.20, 2.40, accession_id="D1", test_id="D1-ISH", ish_cells_counted=15, **lab),
        ihc("1+", accession_id="D2", **lab),
        ish(2.50, 5.00, accession_id="D2", **lab),
        ihc("2+", accession_id="D3", **lab),
        ish(1.50, 6.50, accession_id="D3", **lab),  # group 3 with IHC 2+ -> positive
        ihc(None, accession_id="D4", **lab),  # indeterminate IHC: no usable score
        ish(1.60, 4.80, accession_id="D4", **lab),  # group 4 without IHC -> equivocal
        ihc("2+", accession_id="D5", **lab),
        ish(2.50, 5.00, accession_id="D5", **lab),  # concordant
        ihc("3+", accession_id="D6", **lab),
        ish(2.50, 5.00, accession_id="D6", **lab),  # concordant
    ]


def amplification_rows() -> list[dict]:
    """Lab AMP: 12 IHC 2+ specimens, 10 with ISH (groups 1,1,1,2,3,5,5,5,5,5); two IHC 3+
    with ISH (groups 2 and 5); three IHC 0 without ISH."""
    lab = {"lab_id": "AMP", "patient_key": "PA"}
    rows = []
    groups = [1, 1, 1, 2, 3, 5, 5, 5, 5, 5]
    numbers = {1: (2.5, 5.0), 2: (2.2, 3.5), 3: (1.5, 6.5), 5: (1.2, 2.4)}
    for i, g in enumerate(groups):
        rows += [
            ihc("2+", accession_id=f"A{i}", **lab),
            ish(*numbers[g], accession_id=f"A{i}", **lab),
        ]
    rows += [ihc("2+", accession_id=f"AN{i}", **lab) for i in range(2)]
    for i, g in enumerate([2, 5]):
        rows += [
            ihc("3+", accession_id=f"A3{i}", **lab),
            ish(*numbers[g], accession_id=f"A3{i}", **lab),
        ]
    rows += [ihc("0", accession_id=f"A0{i}", **lab) for i in range(3)]
    return rows


def agreement_rows() -> list[dict]:
    """Lab GRP: six IHC/ISH pairs over two kits and two pathologists, one second read."""
    lab = {"lab_id": "GRP", "patient_key": "PG"}
    cases = [  # accession, kit, pathologist, IHC, ISH (ratio, HER2/cell)
        ("G1", "4B5", "P1", "3+", (2.5, 5.0)),
        ("G2", "4B5", "P1", "3+", (2.5, 5.0)),
        ("G3", "4B5", "P2", "1+", (1.2, 2.4)),
        ("G4", "4B5", "P2", "1+", (2.5, 5.0)),  # disagree
        ("G5", "SP3", "P2", "0", (1.2, 2.4)),
        ("G6", "SP3", "P2", "3+", (1.2, 2.4)),  # disagree
    ]
    rows = []
    for acc, kit, reader, score, numbers in cases:
        rows.append(ihc(score, accession_id=acc, assay_kit=kit, pathologist_id=reader, **lab))
        rows.append(ish(*numbers, accession_id=acc, pathologist_id="P9", **lab))
    rows.append(
        ihc("2+", accession_id="G1", test_purpose="second_read", pathologist_id="P5", **lab)
    )
    return rows


def pchart_rows() -> list[dict]:
    """Lab PCH: Jan-Mar 2024 1 positive of 10 each (reader P1); Apr 9 of 10 (reader P9).
    p̄ = 12/40 = 0.3; plus specimens left out of the rate (equivocal, metastasis)."""
    lab = {"lab_id": "PCH", "patient_key": "PP"}
    rows = []
    for month, positives, reader in [(1, 1, "P1"), (2, 1, "P1"), (3, 1, "P1"), (4, 9, "P9")]:
        for i in range(10):
            rows.append(
                ihc(
                    "3+" if i < positives else "1+",
                    accession_id=f"C{month}-{i}",
                    collection_date=date(2024, month, 15),
                    report_date=date(2024, month, 20),
                    pathologist_id=reader,
                    **lab,
                )
            )
    common = {"collection_date": date(2024, 4, 15), "report_date": date(2024, 4, 20), **lab}
    rows.append(ihc("2+", accession_id="CEQ", **common))  # equivocal: not in the rate
    rows.append(ihc("3+", accession_id="CMET", specimen_role="metastasis", **common))
    return rows


def her2_low_rows() -> list[dict]:
    """Lab LOW, 2024-Q1 primaries: 2 positive, 3 low, 1 ultralow, 2 null, 1 zero_unspecified,
    1 equivocal; 2024-Q2: one metastasis (low)."""
    lab = {"lab_id": "LOW", "patient_key": "PL", "collection_date": date(2024, 2, 1)}
    cases = [
        ("3+", 80.0, None),
        ("3+", 90.0, None),
        ("1+", 30.0, None),
        ("1+", 40.0, None),
        ("2+", 50.0, (1.2, 2.4)),  # 2+ with ISH negative -> low
        ("0", 5.0, None),  # ultralow
        ("0", 0.0, None),  # null
        ("0", 0.0, None),  # null
        ("0", None, None),  # zero_unspecified
        ("2+", 50.0, None),  # equivocal
    ]
    rows = []
    for i, (score, pct, numbers) in enumerate(cases):
        rows.append(ihc(score, accession_id=f"L{i}", ihc_pct_stained=pct, **lab))
        if numbers:
            rows.append(ish(*numbers, accession_id=f"L{i}", **lab))
    rows.append(
        ihc(
            "1+",
            accession_id="LM",
            ihc_pct_stained=20.0,
            specimen_role="metastasis",
            **{**lab, "collection_date": date(2024, 5, 2), "report_date": date(2024, 5, 6)},
        )
    )
    return rows


def audit_rows() -> list[dict]:
    """Lab AUD: interpretation disagreements and % contradictions."""
    lab = {"lab_id": "AUD", "patient_key": "PU"}
    return [
        ihc("2+", accession_id="U1", test_id="U1-IHC", reported_result="positive", **lab),
        ihc("1+", accession_id="U2", test_id="U2-IHC", **lab),
        # group 2, concurrent IHC 1+: negative since 2018, reported positive (legacy reading)
        ish(2.2, 3.5, accession_id="U2", test_id="U2-ISH", reported_result="positive", **lab),
        ihc(None, accession_id="U3", test_id="U3-IHC", **lab),  # indeterminate: not audited
        ish(1.6, 4.8, accession_id="U3", test_id="U3-ISH", reported_result="negative", **lab),
        ihc("2+", accession_id="U4", test_id="U4-IHC", **lab),
        single_probe_ish(
            5.0, accession_id="U4", test_id="U4-SP", reported_result="equivocal", **lab
        ),
        single_probe_ish(7.0, accession_id="U5", test_id="U5-SP", **lab),
        single_probe_ish(
            3.0, accession_id="U6", test_id="U6-SP", reported_result="positive", **lab
        ),
        ihc("0", accession_id="U7", test_id="U7-IHC", ihc_pct_stained=25.0, **lab),
        ihc("1+", accession_id="U8", test_id="U8-IHC", ihc_pct_stained=10.0, **lab),
        ihc("1+", accession_id="U9", test_id="U9-IHC", ihc_pct_stained=10.5, **lab),
        ihc("0", accession_id="U10", test_id="U10-IHC", ihc_pct_stained=10.0, **lab),
        # lab OLD reads under ASCO/CAP 2013: group 2 is ISH-positive there
        ihc("1+", lab_id="OLD", accession_id="O1", patient_key="PO", report_date=date(2016, 5, 2)),
        ish(
            2.2,
            3.5,
            lab_id="OLD",
            accession_id="O1",
            test_id="O1-ISH",
            patient_key="PO",
            report_date=date(2016, 5, 2),
        ),
    ]


def cap11_rows() -> list[dict]:
    """Lab CAP, March 2024: seven specimens, one with a disagreeing call (C3); five IHC 2+
    of which four have a dual-probe ISH after 4, 10, 1 and 20 days."""
    lab = {"lab_id": "CAP", "patient_key": "PC", "collection_date": date(2024, 3, 1)}

    def d(day: int) -> date:
        return date(2024, 3, day)

    return [
        ihc("1+", accession_id="C1", report_date=d(4), **lab),
        ihc("3+", accession_id="C2", report_date=d(4), **lab),
        ihc("2+", accession_id="C3", report_date=d(4), reported_result="positive", **lab),
        ish(2.5, 5.0, accession_id="C3", report_date=d(8), **lab),
        ihc("2+", accession_id="C4", report_date=d(4), **lab),
        ish(1.2, 2.4, accession_id="C4", report_date=d(14), **lab),
        ihc("2+", accession_id="C5", report_date=d(10), **lab),  # reflex ISH missing
        ihc("2+", accession_id="C6", report_date=d(5), **lab),
        ish(1.2, 2.4, accession_id="C6", report_date=d(6), **lab),
        ihc("2+", accession_id="C7", report_date=d(6), **lab),
        ish(1.2, 2.4, accession_id="C7", report_date=d(26), **lab),
    ]


def cap11_repeat_rows() -> list[dict]:
    """Lab REP, May 2024: five equivocal core biopsies (IHC 2+, no ISH) of five patients, and
    what followed (CAP 11: a repeat may be on another specimen, here within 90 days):
      R1  excision 30 days later, ISH group 5 (negative)   -> completed on another specimen
      R2  excision 120 days later, IHC 3+                   -> outside the window: not completed
      R3  excision 20 days later, IHC 2+ again, no ISH      -> still equivocal: not completed
      R4  a metastasis 10 days later, IHC 3+                -> another role: not completed
      R5  ISH on the core itself (group 1), no excision     -> completed on the same specimen
    plus R6: IHC 1+ reported positive (disagrees with the algorithm), not equivocal.
    Rate 1 (per audited specimen, May only): 6 cores, 5 agree. Rate 2: 5 equivocal cores,
    2 completed (R1 another specimen, R5 same). Rate 3: agree AND (not equivocal OR
    completed) = R1, R5 -> 2 of 6."""
    may = {"lab_id": "REP", "collection_date": date(2024, 5, 2), "report_date": date(2024, 5, 6)}
    rows = [ihc("2+", accession_id=f"R{i}", patient_key=f"PR{i}", **may) for i in range(1, 6)] + [
        ihc("1+", accession_id="R6", patient_key="PR6", reported_result="positive", **may),
        ish(
            1.2,
            2.4,
            accession_id="R5",
            patient_key="PR5",
            lab_id="REP",
            collection_date=date(2024, 5, 2),
            report_date=date(2024, 5, 9),
        ),
    ]

    def later(acc: str, patient: str, days: int, row: dict, role: str = "primary") -> dict:
        when = date.fromordinal(date(2024, 5, 2).toordinal() + days)
        return {
            **row,
            "accession_id": acc,
            "patient_key": patient,
            "lab_id": "REPX",
            "specimen_role": role,
            "collection_date": when,
            "report_date": date.fromordinal(when.toordinal() + 3),
        }

    return [
        *rows,
        later("X1", "PR1", 30, ihc("2+")),
        later("X1", "PR1", 30, ish(1.2, 2.4)),
        later("X2", "PR2", 120, ihc("3+")),
        later("X3", "PR3", 20, ihc("2+")),
        later("X4", "PR4", 10, ihc("3+"), role="metastasis"),
    ]


def metastasis_rows() -> list[dict]:
    """Primaries at lab PRI, metastases at lab MET. Primary positive: 5 patients, 2 losses.
    Primary low: 8 comparable patients, 1 gain, 1 low -> null, 6 low -> low; one more with an
    indeterminate metastasis; one metastasis (IHC 2+, no ISH) whose patient has no primary."""
    prim = {"lab_id": "PRI", "collection_date": date(2023, 6, 1), "report_date": date(2023, 6, 5)}
    met = {
        "lab_id": "MET",
        "specimen_role": "metastasis",
        "specimen_site": "liver",
        "collection_date": date(2024, 6, 1),
        "report_date": date(2024, 6, 5),
    }
    plan = (
        [("3+", ("1+", 30.0)), ("3+", ("1+", 30.0))]  # loss x2
        + [("3+", ("3+", 90.0))] * 3
        + [("1+", ("3+", 90.0))]  # gain
        + [("1+", ("0", 0.0))]  # low -> null
        + [("1+", ("1+", 30.0))] * 6
        + [("1+", (None, None))]  # indeterminate metastasis: not comparable, no usable result
    )
    rows = []
    for i, (p_score, (m_score, m_pct)) in enumerate(plan):
        patient = f"PM{i:02d}"
        rows.append(ihc(p_score, accession_id=f"P{i}", patient_key=patient, **prim))
        rows.append(
            ihc(m_score, accession_id=f"M{i}", patient_key=patient, ihc_pct_stained=m_pct, **met)
        )
    rows.append(ihc("2+", accession_id="MX", patient_key="PMX", **met))
    return rows


def preanalytic_rows() -> list[dict]:
    """Lab PRE, collected 2024-05-01: boundary values of cold ischaemia and fixation."""
    lab = {"lab_id": "PRE", "patient_key": "PR", "collection_date": date(2024, 5, 1)}

    def d(day: int) -> date:
        return date(2024, 5, day)

    return [
        ihc("1+", accession_id="E1", cold_ischemia_min=60.0, fixation_hours=6.0, report_date=d(4), **lab),
        ihc("1+", accession_id="E2", cold_ischemia_min=61.0, fixation_hours=72.0, report_date=d(6), **lab),
        ihc("1+", accession_id="E3", cold_ischemia_min=None, fixation_hours=5.9, report_date=d(8), **lab),
        ihc("1+", accession_id="E4", cold_ischemia_min=30.0, fixation_hours=72.1, report_date=d(3), **lab),
        ihc("2+", accession_id="E5", cold_ischemia_min=30.0, fixation_hours=24.0, report_date=d(4), **lab),
        ish(1.2, 2.4, accession_id="E5", cold_ischemia_min=90.0, fixation_hours=80.0, report_date=d(12), **lab),
        ihc("1+", accession_id="E6", cold_ischemia_min=None, fixation_hours=None, report_date=d(5), **lab),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("quality")
    rows = (
        discordance_rows()
        + amplification_rows()
        + agreement_rows()
        + pchart_rows()
        + her2_low_rows()
        + audit_rows()
        + cap11_rows()
        + cap11_repeat_rows()
        + metastasis_rows()
        + preanalytic_rows()
    )
    site = config.SiteConfig(
        labs={"OLD": config.LabConfig(guidelines=(config.GuidelinePeriod("2013"),))}
    )
    connection = build_quality(root / "her2.duckdb", rows, site)
    yield connection
    connection.close()


# --- reference_bands (§BENCH, §PREANALYTIC, §QA-WORDING) -----------------------------------


def test_reference_bands_hold_the_published_figures_with_source_and_label(con):
    bands = {r["band_id"]: r for r in records(con, "SELECT * FROM marts.reference_bands")}
    expected = {  # band: (point, low, high, source must name)
        "positivity_dk_departments": (0.140, 0.118, 0.172, "BCR-DK-2023"),
        "positivity_de_institutes": (0.167, 0.135, 0.199, "DE-POSRATE-2011"),
        "amplification_ihc_0": (0.016, 0.016, 0.016, "DENDUKURI-2007"),
        "amplification_ihc_1": (0.049, 0.049, 0.049, "DENDUKURI-2007"),
        "amplification_ihc_2": (0.298, 0.178, 0.298, "CN-IHC2-2018"),
        "amplification_ihc_3": (0.924, 0.924, 0.924, "DENDUKURI-2007"),
        "her2_low_dk_departments": (0.592, 0.463, 0.718, "BCR-DK-2023"),
        "metastasis_loss_schrijver": (0.213, 0.143, 0.305, "SCHRIJVER-2018"),
        "metastasis_gain_schrijver": (0.095, 0.074, 0.121, "SCHRIJVER-2018"),
        "metastasis_discordance_houssami": (0.055, 0.036, 0.085, "HOUSSAMI-2011"),
        "cold_ischemia_limit": (None, None, 60, "ERPGR-2010"),
        "fixation_window": (None, 6, 72, "§PREANALYTIC"),
        "fixation_window_2007": (None, 6, 48, "CAP-SURVEY-2008"),
    }
    for band, (point, low, high, cited) in expected.items():
        row = bands[band]
        assert (row["point"], row["low"], row["high"]) == (point, low, high), band
        assert cited in row["source"] and "her2-domain.md §" in row["source"], band
    # MAIS-2023 "≤13.6%" is an upper bound: quoted, never a band's end (§BENCH 6.2)
    assert "MAIS-2023" in bands["amplification_ihc_2"]["population"]
    assert 0.136 not in {bands["amplification_ihc_2"][c] for c in ("point", "low", "high")}
    # the cold-ischaemia limit is the 2010 ASCO/CAP ER/PgR guideline's, not a study's
    assert "MODPATH" not in bands["cold_ischemia_limit"]["source"]
    assert "ER/PgR" in bands["cold_ischemia_limit"]["label"]
    assert bands["positivity_dk_departments"]["source"] == (
        "Denmark 2007–2019, BCR-DK-2023 (her2-domain.md §BENCH 6.1)"
    )
    for band, row in bands.items():
        if row["role"] in ("primary", "context"):
            assert row["label"] == BENCHMARK_LABEL, band
        elif row["role"] == "target":  # §QA-WORDING: a lab target, named after its origin
            assert row["label"].startswith("lab target"), band
        elif row["role"] == "rule":  # her2qa's own choices say so
            assert "her2qa" in row["source"] or "her2qa" in row["label"], band
        else:
            assert "limit" in row["label"] or "ASCO/CAP" in row["label"], band
        assert "CAP requirement" not in row["label"]  # §QA-WORDING


def test_no_band_number_appears_outside_reference_bands(con):
    """Benchmarks as data: the other quality marts join marts.reference_bands by band_id."""
    band_numbers = {
        float(x)
        for row in con.execute(
            "SELECT point, low, high FROM marts.reference_bands "
            "WHERE role IN ('primary', 'context', 'limit')"
        ).fetchall()
        for x in row
        if x is not None
    }
    band_numbers -= {6.0}  # also the single-probe ISH cut-off (a rule, §ISH-SINGLE)
    assert {0.118, 0.172, 0.924, 60.0, 72.0} <= band_numbers
    for path in BUILT_SQL:
        if path.stem == "reference_bands":
            continue
        code = "\n".join(ln.split("--")[0] for ln in path.read_text("utf-8").splitlines())
        code = re.sub(r"'[^']*'", "''", code)  # not inside text
        literals = {float(x) for x in re.findall(r"(?<![\w.])(\d+\.\d+|\d+)(?![\w.])", code)}
        assert not literals & band_numbers, (path.name, literals & band_numbers)


# --- ihc_ish_discordance (§FINAL-STATUS, §ISH-RESOLVE) -------------------------------------


def test_discordance_worklist_has_the_three_kinds_and_nothing_concordant(con):
    rows = {
        r["accession_id"]: r
        for r in records(con, "SELECT * FROM marts.ihc_ish_discordance WHERE lab_id = 'DISC'")
    }
    assert set(rows) == {"D1", "D2", "D3", "D4"}
    d1 = rows["D1"]
    assert d1["discordance_type"] == "ihc3_ish_group5"
    assert (d1["ihc_test_id"], d1["ish_test_id"]) == ("D1-IHC", "D1-ISH")
    assert (d1["ihc_score"], d1["ish_group"], d1["ish_ratio"], d1["ish_her2_per_cell"]) == (
        "3+",
        5,
        1.2,
        2.4,
    )
    assert d1["final_status"] == "positive" and d1["cells_below_20"]
    assert d1["reason"].startswith("IHC 3+ but dual-probe ISH group 5 (ratio 1.20, HER2 2.40/cell)")
    assert d1["specimen_date"] == date(2024, 3, 8) and d1["patient_key"] == "PD"
    assert rows["D2"]["discordance_type"] == "ihc01_ish_group1"
    assert rows["D2"]["final_status"] == "positive"
    d3 = rows["D3"]
    assert d3["discordance_type"] == "ish_group_2_4"
    assert (d3["resolution"], d3["needs_blinded_recount"]) == ("IHC 2+ -> positive", True)
    d4 = rows["D4"]
    assert (d4["ihc_score"], d4["ish_group"], d4["final_status"]) == (None, 4, "equivocal")
    assert d4["resolution"] == "unresolved: no concurrent IHC"
    assert "without a concurrent IHC score" in d4["reason"]


# --- amplification_by_ihc_score (§BENCH 6.2) -----------------------------------------------


def test_amplification_rates_by_ihc_score_with_wilson_ci(con):
    r = one(
        con,
        "SELECT * FROM marts.amplification_by_ihc_score WHERE lab_id = 'AMP' AND ihc_score = '2+'",
    )
    assert (r["n_specimens"], r["n_with_ish"]) == (12, 10)
    assert r["ish_tested_share"] == pytest.approx(10 / 12)
    assert (r["n_group1"], r["n_ratio_amplified"]) == (3, 4)  # group 2: ratio >= 2.0
    assert r["n_ish_positive"] == 4  # group 1 x3 + group 3 with IHC 2+ (group 2 + 2+: negative)
    assert r["amplified_rate"] == pytest.approx(0.3)
    assert (r["amplified_ci_low"], r["amplified_ci_high"]) == pytest.approx(wilson(3, 10))
    assert r["ratio_amplified_rate"] == pytest.approx(0.4)
    assert (r["ish_positive_ci_low"], r["ish_positive_ci_high"]) == pytest.approx(wilson(4, 10))
    assert (r["band_point"], r["band_low"], r["band_high"]) == (0.298, 0.178, 0.298)
    assert r["band_label"] == BENCHMARK_LABEL and "§BENCH 6.2" in r["band_source"]

    r3 = one(
        con,
        "SELECT * FROM marts.amplification_by_ihc_score WHERE lab_id = 'AMP' AND ihc_score = '3+'",
    )
    # group 2 with IHC 3+ resolves positive (§ISH-RESOLVE); group 5 with 3+ is ISH-negative
    assert (r3["n_with_ish"], r3["n_group1"], r3["n_ratio_amplified"], r3["n_ish_positive"]) == (
        2,
        0,
        1,
        1,
    )
    assert r3["band_point"] == 0.924
    r0 = one(
        con,
        "SELECT * FROM marts.amplification_by_ihc_score WHERE lab_id = 'AMP' AND ihc_score = '0'",
    )
    assert (r0["n_specimens"], r0["n_with_ish"]) == (3, 0)
    assert r0["amplified_rate"] is None and r0["amplified_ci_low"] is None


# --- agreement_by_group (§STATS) -----------------------------------------------------------


def test_agreement_broken_down_by_kit_and_pathologist(con):
    rows = {
        (r["breakdown"], r["breakdown_value"]): r
        for r in records(
            con,
            "SELECT * FROM marts.agreement_by_group WHERE comparison = 'ihc_vs_ish' "
            "AND lab_id = 'GRP'",
        )
    }
    assert set(rows) == {
        ("assay_kit", "4B5"),
        ("assay_kit", "SP3"),
        ("pathologist", "P1"),
        ("pathologist", "P2"),
    }
    kit = rows[("assay_kit", "4B5")]
    assert (kit["n_pairs"], kit["n_agree"], kit["pct_agree"]) == (4, 3, 75.0)
    assert (kit["n_pos_pos"], kit["n_pos_neg"], kit["n_neg_pos"], kit["n_neg_neg"]) == (2, 0, 1, 1)
    low, high = wilson(3, 4)
    assert (kit["ci_low"], kit["ci_high"]) == pytest.approx((100 * low, 100 * high))
    # p_o = 0.75, p_e = (2·3 + 2·1) / 16 = 0.5 -> kappa 0.5; PPA 2/3, NPA 1/1
    assert kit["kappa"] == pytest.approx(0.5)
    assert (kit["ppa"], kit["npa"]) == pytest.approx((200 / 3, 100.0))
    assert (rows[("assay_kit", "SP3")]["n_pairs"], rows[("assay_kit", "SP3")]["n_agree"]) == (2, 1)
    p1 = rows[("pathologist", "P1")]
    assert (p1["n_pairs"], p1["n_agree"], p1["kappa"]) == (2, 2, None)  # p_e = 1: undefined
    p2 = rows[("pathologist", "P2")]
    assert (p2["n_pairs"], p2["n_agree"]) == (4, 2)

    observer = one(
        con,
        "SELECT * FROM marts.agreement_by_group WHERE comparison = 'observer_vs_observer' "
        "AND lab_id = 'GRP' AND breakdown = 'pathologist'",
    )
    assert (observer["breakdown_value"], observer["n_pairs"], observer["n_agree"]) == ("P1", 1, 0)
    assert observer["n_pos_pos"] is None and observer["ppa"] is None
    # the breakdown adds up to marts.agreement
    total = one(
        con,
        "SELECT n_pairs FROM marts.agreement WHERE comparison = 'ihc_vs_ish' AND lab_id = 'GRP' "
        "AND period = 'ALL'",
    )
    assert total["n_pairs"] == 6
    assert not records(
        con, "SELECT 1 FROM marts.agreement_by_group WHERE comparison = 'primary_vs_metastasis'"
    )


# --- positivity_monthly (§BENCH 6.1): a p-chart point out of control -----------------------


def test_pchart_limits_stay_within_zero_and_one(con):
    (n,) = con.execute(
        "SELECT count(*) FROM marts.positivity_monthly WHERE NOT (0 <= lcl AND lcl <= centre_line "
        "AND centre_line <= ucl AND ucl <= 1)"
    ).fetchone()
    assert n == 0


# --- her2_low_distribution (§HER2-LOW, §BENCH 6.3) -----------------------------------------


def test_her2_low_shares(con):
    r = one(
        con,
        "SELECT * FROM marts.her2_low_distribution WHERE lab_id = 'LOW' "
        "AND specimen_role = 'primary' AND quarter = '2024-Q1'",
    )
    assert r["n_specimens"] == 10
    expected = {
        "positive": 2,
        "low": 3,
        "ultralow": 1,
        "null": 2,
        "zero_unspecified": 1,
        "equivocal": 1,
        "indeterminate": 0,
    }
    for category, n in expected.items():
        assert r[f"n_{category}"] == n, category
        assert r[f"share_{category}"] == pytest.approx(n / 10), category
    assert r["share_ihc0"] == pytest.approx(0.4)
    assert r["share_ultralow_of_negative"] == pytest.approx(1 / 7)
    assert (r["bench_low_point"], r["bench_low_low"], r["bench_low_high"]) == (0.592, 0.463, 0.718)
    assert r["bench_ihc0_point"] == 0.268 and r["bench_positive_point"] == 0.140
    assert "§BENCH 6.3" in r["bench_source"] and r["bench_label"] == BENCHMARK_LABEL
    # the roll-ups: role ALL over both quarters, and the metastasis on its own
    everything = one(
        con,
        "SELECT * FROM marts.her2_low_distribution WHERE lab_id = 'LOW' "
        "AND specimen_role = 'ALL' AND quarter = 'ALL'",
    )
    assert (everything["n_specimens"], everything["n_low"]) == (11, 4)
    met = one(
        con,
        "SELECT * FROM marts.her2_low_distribution WHERE lab_id = 'LOW' "
        "AND specimen_role = 'metastasis' AND quarter = '2024-Q2'",
    )
    assert (met["n_specimens"], met["share_low"]) == (1, 1.0)


# --- interpretation_audit and cap11_rates (§CAP-CHECKLIST "CAP 11") ------------------------


def test_interpretation_audit_disagreements_and_their_reasons(con):
    rows = {
        r["test_id"]: r
        for r in records(
            con, "SELECT * FROM marts.interpretation_audit WHERE lab_id IN ('AUD', 'OLD')"
        )
    }
    u1 = rows["U1-IHC"]
    assert (u1["algorithm_call"], u1["agrees"]) == ("equivocal", False)
    assert u1["reason"] == "reported positive; IHC 2+ reads equivocal (her2-domain.md §IHC-2018)"
    u2 = rows["U2-ISH"]
    assert (u2["ish_probe"], u2["ish_group"], u2["concurrent_ihc_score"]) == ("dual", 2, "1+")
    assert (u2["algorithm_call"], u2["agrees"]) == ("negative", False)
    assert u2["reason"].startswith(
        "reported positive; dual-probe ISH group 2 (ratio 2.20, HER2 3.50/cell) with concurrent "
        "IHC 1+ reads negative (her2-domain.md §ISH-RESOLVE)"
    )
    assert "group 2 was ISH-positive under the 2013 rules" in u2["reason"]
    assert rows["U2-IHC"]["agrees"] is True and rows["U2-IHC"]["reason"] is None
    # indeterminate rows are kept, not audited
    assert (rows["U3-IHC"]["audited"], rows["U3-IHC"]["agrees"]) == (False, None)
    u3 = rows["U3-ISH"]  # group 4 without a usable IHC: equivocal (IHC review missing)
    assert (u3["algorithm_call"], u3["agrees"]) == ("equivocal", False)
    assert "with concurrent IHC missing reads equivocal" in u3["reason"]
    # single-probe ISH (§ISH-SINGLE): >= 6 positive, 4-6 equivocal, < 4 negative
    assert (rows["U4-SP"]["ish_probe"], rows["U4-SP"]["algorithm_call"]) == ("single", "equivocal")
    assert rows["U4-SP"]["agrees"] and rows["U5-SP"]["agrees"]
    assert rows["U6-SP"]["reason"] == (
        "reported positive; single-probe ISH (HER2 3.00/cell) reads negative "
        "(her2-domain.md §ISH-SINGLE)"
    )
    # lab OLD under ASCO/CAP 2013: a group 2 reported positive agrees
    old = rows["O1-ISH"]
    assert (old["guideline_version"], old["algorithm_call"], old["agrees"]) == (
        "2013",
        "positive",
        True,
    )
    assert sum(not r["agrees"] for r in rows.values() if r["audited"]) == 4


def test_pct_stained_contradictions_are_findings_with_boundaries(con):
    rows = {
        r["test_id"]: r
        for r in records(con, "SELECT * FROM marts.interpretation_audit WHERE lab_id = 'AUD'")
    }
    assert rows["U7-IHC"]["pct_contradiction"]  # IHC 0 with 25%
    assert rows["U7-IHC"]["pct_finding"].startswith(
        "IHC 0 with 25% of cells stained contradicts the score: score 0 allows faint staining "
        "in 10% or less (ASCO/CAP 2013/2018)"
    )
    assert rows["U8-IHC"]["pct_contradiction"]  # IHC 1+ with exactly 10%
    assert "score 1+ needs staining in over 10%" in rows["U8-IHC"]["pct_finding"]
    assert not rows["U9-IHC"]["pct_contradiction"]  # 1+ with 10.5%
    assert not rows["U10-IHC"]["pct_contradiction"]  # 0 with exactly 10%
    assert rows["U7-IHC"]["agrees"]  # the call itself agrees: a separate finding


def test_cap11_rate1_and_rate2_with_days_ihc_to_ish(con):
    r = one(con, "SELECT * FROM marts.cap11_rates WHERE lab_id = 'CAP'")
    assert r["month"] == date(2024, 3, 1)
    assert (r["n_specimens_audited"], r["n_specimens_agree"]) == (7, 6)  # C3's IHC disagrees
    assert r["rate1"] == pytest.approx(6 / 7)
    assert (r["rate1_ci_low"], r["rate1_ci_high"]) == pytest.approx(wilson(6, 7))
    assert (r["n_ihc_equivocal"], r["n_ish_completed"]) == (5, 4)
    assert (r["n_equivocal"], r["n_equivocal_completed"], r["n_repeat_other_specimen"]) == (
        5,
        4,
        0,  # every C specimen was collected the same day: none is a later repeat of another
    )
    assert r["rate2"] == pytest.approx(0.8)
    assert (r["rate2_ci_low"], r["rate2_ci_high"]) == pytest.approx(wilson(4, 5))
    # days IHC -> ISH: 4, 10, 1, 20 -> median 7; p90 (linear) 10 + 0.7·10 = 17
    assert r["days_ihc_to_ish_median"] == pytest.approx(7.0)
    assert r["days_ihc_to_ish_p90"] == pytest.approx(17.0)
    assert "CAP 11" in r["rate1_label"] and "ASCO/CAP algorithm" in r["rate1_label"]
    assert "completed repeat test" in r["rate2_label"]
    # rate 3: agrees AND (not equivocal OR completed): C1, C2, C4, C6, C7 (C3 disagrees, C5
    # has no ISH) -> 5 of 7
    assert r["n_rate3_met"] == 5
    assert r["rate3"] == pytest.approx(5 / 7)
    assert (r["rate3_ci_low"], r["rate3_ci_high"]) == pytest.approx(wilson(5, 7))
    assert "rate 3, the reported rate" in r["rate3_label"]


def test_cap11_a_repeat_on_another_specimen_within_the_window_completes(con):
    r = one(con, "SELECT * FROM marts.cap11_rates WHERE lab_id = 'REP'")
    assert r["repeat_window_days"] == 90  # marts.reference_bands 'cap11_repeat_window_days'
    assert (r["n_specimens_audited"], r["n_specimens_agree"]) == (6, 5)
    assert (r["n_equivocal"], r["n_equivocal_completed"]) == (5, 2)
    assert (r["n_repeat_same_specimen"], r["n_repeat_other_specimen"]) == (1, 1)
    assert r["rate2"] == pytest.approx(2 / 5)
    assert (r["rate2_ci_low"], r["rate2_ci_high"]) == pytest.approx(wilson(2, 5))
    assert r["n_rate3_met"] == 2
    assert r["rate3"] == pytest.approx(2 / 6)
    assert (r["rate3_ci_low"], r["rate3_ci_high"]) == pytest.approx(wilson(2, 6))
    # the reflex turnaround covers the same-specimen ISH only: R5, 3 days
    assert r["days_ihc_to_ish_median"] == pytest.approx(3.0)


def test_cap11_repeat_window_is_a_labelled_her2qa_rule(con):
    band = one(
        con,
        "SELECT * FROM marts.reference_bands WHERE band_id = 'cap11_repeat_window_days'",
    )
    assert band["role"] == "rule" and band["low"] == 90
    assert "her2qa choice" in band["source"] and "not a published limit" in band["label"]
    assert "§CAP-CHECKLIST" in band["source"]


# --- primary_metastasis_summary, her2_low_transitions, retest_candidates (§BENCH 6.4) ------


def test_gain_loss_and_discordance_rates_with_wilson_ci(con):
    r = one(con, "SELECT * FROM marts.primary_metastasis_summary WHERE lab_id = 'MET'")
    assert (r["n_pairs"], r["n_comparable"], r["n_not_comparable"], r["n_cross_lab"]) == (
        14,
        13,
        1,
        14,
    )
    assert (r["n_gain"], r["n_primary_negative"], r["n_loss"], r["n_primary_positive"]) == (
        1,
        8,
        2,
        5,
    )
    assert r["gain_rate"] == pytest.approx(1 / 8)
    assert (r["gain_ci_low"], r["gain_ci_high"]) == pytest.approx(wilson(1, 8))
    assert r["loss_rate"] == pytest.approx(2 / 5)
    assert (r["loss_ci_low"], r["loss_ci_high"]) == pytest.approx(wilson(2, 5))
    assert r["discordance_rate"] == pytest.approx(3 / 13)
    assert (r["discordance_ci_low"], r["discordance_ci_high"]) == pytest.approx(wilson(3, 13))
    assert (r["loss_bench_point"], r["loss_bench_low"], r["loss_bench_high"]) == (
        0.213,
        0.143,
        0.305,
    )
    assert (r["gain_bench_point"], r["gain_bench_low"], r["gain_bench_high"]) == (
        0.095,
        0.074,
        0.121,
    )
    assert (r["discordance_bench_low"], r["discordance_bench_high"]) == (0.036, 0.085)
    assert "SCHRIJVER-2018" in r["loss_bench_source"]
    assert "HOUSSAMI-2011" in r["discordance_bench_source"]
    assert r["bench_label"] == BENCHMARK_LABEL


def test_her2_low_transitions(con):
    rows = {
        (r["primary_category"], r["metastasis_category"]): r
        for r in records(con, "SELECT * FROM marts.her2_low_transitions WHERE lab_id = 'MET'")
    }
    counts = {k: (r["n_pairs"], r["transition_kind"]) for k, r in rows.items()}
    assert counts == {
        ("positive", "low"): (2, "loss"),
        ("positive", "positive"): (3, "same"),
        ("low", "positive"): (1, "gain"),
        ("low", "null"): (1, "low_to_zero"),
        ("low", "low"): (6, "same"),
        ("low", "indeterminate"): (1, "not_comparable"),
    }
    assert rows[("low", "low")]["share_of_primary"] == pytest.approx(6 / 9)
    assert rows[("positive", "low")]["share_of_primary"] == pytest.approx(2 / 5)
    assert rows[("low", "null")]["changes_eligibility"]
    assert not rows[("low", "low")]["changes_eligibility"]


def test_retest_candidates_with_their_reasons(con):
    rows = records(
        con, "SELECT * FROM marts.retest_candidates WHERE lab_id = 'MET' ORDER BY accession_id"
    )
    got = {r["accession_id"]: (r["reason_group"], r["reason_code"]) for r in rows}
    assert got == {
        "M0": ("therapy_change", "loss"),
        "M1": ("therapy_change", "loss"),
        "M5": ("therapy_change", "gain"),
        "M6": ("therapy_change", "low_to_zero"),
        "M13": ("incomplete_result", "no_usable_result"),
        "MX": ("incomplete_result", "ihc_2plus_without_ish"),  # no primary needed
    }
    loss = next(r for r in rows if r["accession_id"] == "M0")
    assert (loss["primary_lab_id"], loss["primary_accession_id"]) == ("PRI", "P0")
    assert loss["reason"].startswith(
        "HER2 loss: primary PRI/P0 positive, metastasis negative (low)"
    )
    assert "§BENCH 6.4" in loss["reason"]
    mx = next(r for r in rows if r["accession_id"] == "MX")
    assert mx["primary_lab_id"] is None and "reflex ISH missing" in mx["reason"]


# --- preanalytic_monthly (§PREANALYTIC): boundaries 60 min, 6 h, 72 h ---------------------


def test_preanalytic_compliance_categories_and_boundaries(con):
    r = one(con, "SELECT * FROM marts.preanalytic_monthly WHERE lab_id = 'PRE'")
    assert (r["month"], r["n_specimens"]) == (date(2024, 5, 1), 6)
    # cold: 60 within (inclusive), 61 over, E5 takes its worst row (90), two undocumented
    assert (r["n_cold_within"], r["n_cold_over"], r["n_cold_undocumented"]) == (2, 2, 2)
    assert r["cold_compliance_rate"] == pytest.approx(0.5)
    assert (r["cold_compliance_ci_low"], r["cold_compliance_ci_high"]) == pytest.approx(
        wilson(2, 4)
    )
    assert r["cold_documented_rate"] == pytest.approx(4 / 6)
    # fixation: 6 and 72 within (inclusive); 5.9 under, 72.1 over, E5 (24 h and 80 h) over
    assert (r["n_fixation_within"], r["n_fixation_outside"], r["n_fixation_undocumented"]) == (
        2,
        3,
        1,
    )
    assert (r["n_fixation_under"], r["n_fixation_over"]) == (1, 2)
    assert r["fixation_compliance_rate"] == pytest.approx(2 / 5)
    assert (r["fixation_compliance_ci_low"], r["fixation_compliance_ci_high"]) == pytest.approx(
        wilson(2, 5)
    )
    # turnaround, collection -> report: 3, 5, 7, 2, 11, 4 days -> median 4.5, p90 9.0
    assert r["turnaround_median_days"] == pytest.approx(4.5)
    assert r["turnaround_p90_days"] == pytest.approx(9.0)
    assert (r["cold_limit_min"], r["fixation_low_h"], r["fixation_high_h"]) == (60, 6, 72)
    assert "§PREANALYTIC" in r["limits_source"]


# --- the build ----------------------------------------------------------------------------


def test_all_rows_add_up_and_every_integrity_rule_holds(con):
    for table in catalog.build_order():
        for rule in table_rules(table):
            violations = rule_violations(con, rule)
            assert violations == 0, rule.name


def test_the_build_is_one_transaction(tmp_path):
    con = build_quality(tmp_path / "her2.duckdb", [ihc("3+")])
    before = con.execute("SELECT count(*) FROM marts.interpretation_audit").fetchone()
    findings = con.execute("SELECT count(*) FROM marts.findings").fetchone()
    bands = con.execute("SELECT count(*) FROM marts.reference_bands").fetchone()
    assert bands == (N_BANDS,)
    # a broken input late in the build (the findings read it): the build must fail whole
    con.execute("DROP TABLE quarantine.rejected_rows")
    with pytest.raises(duckdb.Error):
        mart_build.build_marts(con, config.SiteConfig())
    assert con.execute("SELECT count(*) FROM marts.interpretation_audit").fetchone() == before
    assert con.execute("SELECT count(*) FROM marts.findings").fetchone() == findings
    assert con.execute("SELECT count(*) FROM marts.reference_bands").fetchone() == bands
    con.close()


def test_an_empty_warehouse_builds_empty_marts(tmp_path):
    con = build_quality(tmp_path / "her2.duckdb", [])
    summary = mart_build.summarise(con, list(catalog.layer("marts")))
    assert summary.rows["reference_bands"] == N_BANDS
    assert summary.rows["interpretation_audit"] == 0 and summary.rows["positivity_monthly"] == 0
    con.close()
