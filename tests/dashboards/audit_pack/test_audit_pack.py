"""The accreditation audit pack end to end (dashboards/audit_pack, `her2qa audit`, Dagster audit_pack):
a messy generated network (20k rows, plus a planted file with an XSS canary and spreadsheet
formulas) is run through the real Dagster job once; packs are made for a period, for one lab
and for the whole history, and checked against independent SQL, statsmodels, the input files'
PHI, a real browser and pdftotext."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import stat
import subprocess
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

import warehouse
from dashboards.audit_pack import build_audit_pack, compute, metrics
from dashboards.audit_pack.period import Period
from her2qa import cli, config
from her2qa.generate import generate
from her2qa.restricted import neutralise
from her2qa.runner import execute
from pipelines.definitions import defs
from pipelines.defs.audit_pack import AUDIT_PACK, audit_pack
from pipelines.defs.resources import Her2qaPaths, default_paths
from pipelines.defs.schedules import quarterly_audit_schedule
from schemas import contract
from tests.browser import open_page
from tests.conftest import IHC_ROW, ISH_ROW, REPO, TEST_KEY

FROM, TO = date(2024, 1, 1), date(2024, 6, 30)
LAB = "NORTH"
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
FORMULA_READER = '=HYPERLINK("http://evil.example","click")'
FORMULA_KIT = "=1+1"
CANARY = {"mrn": "MRN99999901", "name": "Canary Testpatient", "dob": "1950-05-05"}
# The report's sections: the headline, one per metrics section, then lineage and sign-off.
SECTIONS = ("headline", *metrics.SECTIONS, "lineage", "signoff")


def _canary_rows() -> list[dict]:
    """Two NORTH specimens in the period: IHC 3+ with ISH group 5 (a true discordance) read by
    a 'formula' reader with an XSS kit name; IHC 0 with group 5 on a kit named '=1+1'."""
    base = {
        "lab_id": LAB,
        "patient_mrn": CANARY["mrn"],
        "patient_name": CANARY["name"],
        "patient_dob": CANARY["dob"],
        "collection_date": "2024-05-02",
    }
    return [
        {
            **IHC_ROW,
            **base,
            "test_id": "CANARY-IHC-1",
            "accession_id": "S24-99901-A1",
            "report_date": "2024-05-06",
            "ihc_score": "3+",
            "ihc_pct_stained": "80",
            "reported_result": "positive",
            "assay_kit": XSS,
            "pathologist_id": FORMULA_READER,
        },
        {
            **ISH_ROW,
            **base,
            "test_id": "CANARY-ISH-1",
            "accession_id": "S24-99901-A1",
            "report_date": "2024-05-09",
            "ish_her2_per_cell": "2.40",
            "ish_cep17_per_cell": "2.00",
            "ish_ratio": "1.20",
            "reported_result": "negative",
        },
        {
            **IHC_ROW,
            **base,
            "test_id": "CANARY-IHC-2",
            "accession_id": "S24-99902-A1",
            "report_date": "2024-05-06",
            "ihc_score": "0",
            "ihc_pct_stained": "0",
            "reported_result": "negative",
            "assay_kit": FORMULA_KIT,
        },
        {
            **ISH_ROW,
            **base,
            "test_id": "CANARY-ISH-2",
            "accession_id": "S24-99902-A1",
            "report_date": "2024-05-09",
            "ish_her2_per_cell": "2.40",
            "ish_cep17_per_cell": "2.00",
            "ish_ratio": "1.20",
            "reported_result": "negative",
        },
    ]


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """A messy 20k-row network plus the canary file, ingested once through the Dagster job."""
    root = tmp_path_factory.mktemp("audit")
    inbox = root / "inbox"
    generate(inbox, rows=20_000, seed=23, messy=True)
    with (inbox / "ZZ_canary.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(contract.NAMES), restval="")
        writer.writeheader()
        writer.writerows(_canary_rows())
    (root / "her2qa.toml").write_text("# this deployment configures nothing\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HER2QA_PHI_KEY", TEST_KEY)
        mp.setenv("HER2QA_CONFIG", str(root / "her2qa.toml"))
        mp.setenv("HER2QA_HOME", str(root / "var"))
        result = execute(default_paths(inbox, root / "her2.duckdb", root / "site"))
    assert result.success
    return root


@pytest.fixture(autouse=True)
def _site_configuration(network, monkeypatch):
    """Every build of this module reads the deployment's (empty) site configuration, never a
    her2qa.toml lying in the working directory."""
    monkeypatch.setenv("HER2QA_CONFIG", str(network / "her2qa.toml"))


@pytest.fixture(scope="module")
def pack(network):
    """The all-laboratories pack of the period."""
    summary = build_audit_pack(
        network / "her2.duckdb",
        FROM,
        TO,
        out_dir=network / "pack",
        site_config=config.SiteConfig(),
    )
    return summary


@pytest.fixture(scope="module")
def lab_pack(network):
    """NORTH's pack of the period, made through the command line."""
    out = network / "pack_north"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HER2QA_CONFIG", str(network / "her2qa.toml"))
        code = cli.main(
            [
                "audit",
                "--from",
                FROM.isoformat(),
                "--to",
                TO.isoformat(),
                "--lab",
                LAB,
                "--out",
                str(out),
                "--warehouse",
                str(network / "her2.duckdb"),
            ]
        )
    assert code == 0
    return out


def _metrics(folder: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((folder / "metrics.csv").read_text(encoding="utf-8"))))


def _figure(rows, section, metric, lab="ALL", stratum="all") -> dict:
    found = [
        r
        for r in rows
        if (r["section"], r["metric"], r["lab_id"], r["stratum"]) == (section, metric, lab, stratum)
    ]
    assert len(found) == 1, (section, metric, lab, stratum)
    return found[0]


def _ro(network: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(network / "her2.duckdb"), read_only=True)


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


# --- the folder -----------------------------------------------------------------------------


def test_the_pack_has_every_file_and_restricted_cases(pack):
    out = pack.out_dir
    for name in ("report.html", "report.pdf", "metrics.csv", "lineage.json", "generated.json"):
        assert (out / name).stat().st_size > 0, name
    cases = out / "cases"
    assert stat.S_IMODE(cases.stat().st_mode) == 0o700
    names = sorted(p.name for p in cases.iterdir())
    assert names == sorted(
        [
            "ihc_ish_discordance.csv",
            "lab_vs_reference_discordance.csv",
            "observer_disagreements.csv",
            "positivity_signals.csv",
            "proficiency_results.csv",
            "retest_candidates.csv",
            "validation_cases.csv",
        ]
    )
    for path in cases.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert pack.case_rows["ihc_ish_discordance.csv"] > 0
    assert pack.case_rows["retest_candidates.csv"] > 0


def test_case_lists_neutralise_formulas_and_carry_the_canary_case(pack):
    rows = list(csv.DictReader((pack.out_dir / "cases" / "ihc_ish_discordance.csv").open()))
    canary = [r for r in rows if r["accession_id"] == "S24-99901-A1"]
    assert len(canary) == 1
    assert canary[0]["discordance_type"] == "ihc3_ish_group5"
    assert canary[0]["ihc_pathologist_id"] == "'" + FORMULA_READER  # neutralised
    assert canary[0]["ihc_assay_kit"] == XSS  # text, harmless in a spreadsheet
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value
    assert {"action_taken", "reviewed_by"} <= set(rows[0])


# --- metrics.csv ----------------------------------------------------------------------------


def test_every_metrics_row_has_n_ci_and_source(pack):
    rows = _metrics(pack.out_dir)
    assert [*rows[0]] == list(metrics.COLUMNS)
    keys = [(r["section"], r["metric"], r["lab_id"], r["stratum"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert {r["section"] for r in rows} == set(metrics.SECTIONS)
    for r in rows:
        assert re.fullmatch(r"\d+", r["n"]), r
        assert r["ci_method"] and r["source_rule"] and r["label"], r
        if r["unit"] == "proportion" and int(r["n"]) > 0:
            assert r["ci_method"] == "Wilson score 95%", r
            assert float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"]), r
        if r["unit"] == "count":
            assert r["ci_method"] == "not applicable (count)"
        if r["target_kind"]:
            assert r["target_label"] and r["target_source"], r
        assert "CAP requirement" not in r["target_label"]  # §QA-WORDING


def test_concordance_ppa_npa_kappa_equal_independent_sql_and_statsmodels(network, pack):
    rows = _metrics(pack.out_dir)
    con = _ro(network)
    for comparison in ("ihc_vs_ish", "lab_vs_reference"):
        pairs = con.execute(
            "SELECT lab_id, first_value, second_value FROM marts.agreement_pairs "
            "WHERE comparison = ? AND pair_date BETWEEN ? AND ?",
            [comparison, FROM, TO],
        ).fetchall()
        a = sum(1 for _, f, s in pairs if (f, s) == ("positive", "positive"))
        b = sum(1 for _, f, s in pairs if (f, s) == ("positive", "negative"))
        c = sum(1 for _, f, s in pairs if (f, s) == ("negative", "positive"))
        d = sum(1 for _, f, s in pairs if (f, s) == ("negative", "negative"))
        n = a + b + c + d
        opa = _figure(rows, comparison, "overall_agreement")
        assert (int(opa["numerator"]), int(opa["n"])) == (a + d, n)
        assert float(opa["value"]) == pytest.approx((a + d) / n, abs=1e-6)
        low, high = proportion_confint(a + d, n, alpha=0.05, method="wilson")
        assert float(opa["ci_low"]) == pytest.approx(low, abs=1e-6)
        assert float(opa["ci_high"]) == pytest.approx(high, abs=1e-6)
        assert float(_figure(rows, comparison, "ppa")["value"]) == pytest.approx(
            a / (a + c), abs=1e-6
        )
        assert float(_figure(rows, comparison, "npa")["value"]) == pytest.approx(
            d / (b + d), abs=1e-6
        )
        p_o, p_e = (a + d) / n, ((a + b) * (a + c) + (c + d) * (b + d)) / n**2
        kappa = (p_o - p_e) / (1 - p_e)
        assert float(_figure(rows, comparison, "kappa")["value"]) == pytest.approx(kappa, abs=1e-6)
        assert not opa["target_kind"] and not opa["verdict"]  # overall: shown, not judged
        for category in ("ppa", "npa"):  # the lab target is per category (§QA-WORDING)
            row = _figure(rows, comparison, category)
            assert row["target_kind"] == "lab target" and float(row["target_low"]) == 0.95
            assert row["target_label"].startswith("lab target (ASCO/CAP 2007 criterion)")
            assert row["finding"] == f"lab_target_{comparison}" and row["verdict"]
        for lab in {p[0] for p in pairs}:
            k = sum(1 for p in pairs if p[0] == lab and p[1] == p[2])
            m = sum(1 for p in pairs if p[0] == lab)
            row = _figure(rows, comparison, "overall_agreement", lab)
            assert (int(row["numerator"]), int(row["n"])) == (k, m)


def test_positivity_and_volumes_equal_independent_sql(network, pack):
    rows = _metrics(pack.out_dir)
    con = _ro(network)
    cohort = (
        "FROM marts.specimen_her2 WHERE coalesce(specimen_date, last_report_date) BETWEEN $f AND $t"
    )
    (specimens,) = con.execute("SELECT count(*) " + cohort, {"f": FROM, "t": TO}).fetchone()
    # the positive rate counts each patient's first primary of the cohort (as benchmarks do)
    positive, decided = con.execute(
        "SELECT count_if(final_status = 'positive'), count(*) FROM ("
        "  SELECT * " + cohort + " AND specimen_role = 'primary' "
        "  QUALIFY row_number() OVER (PARTITION BY patient_key "
        "      ORDER BY collection_date, lab_id, accession_id) = 1"
        ") WHERE final_status IN ('positive', 'negative')",
        {"f": FROM, "t": TO},
    ).fetchone()
    assert int(_figure(rows, "volumes", "specimens")["value"]) == specimens
    rate = _figure(rows, "positivity", "positive_rate")
    assert (int(rate["numerator"]), int(rate["n"])) == (positive, decided)
    assert float(rate["value"]) == pytest.approx(positive / decided, abs=1e-6)
    band = con.execute(
        "SELECT low, high FROM marts.reference_bands WHERE band_id = 'positivity_dk_departments'"
    ).fetchone()
    assert (float(rate["target_low"]), float(rate["target_high"])) == pytest.approx(band)
    assert rate["target_label"].startswith("published benchmark band (context, not a limit)")
    (results,) = con.execute(
        "SELECT count(*) FROM staging.her2_results WHERE report_date BETWEEN ? AND ?", [FROM, TO]
    ).fetchone()
    assert int(_figure(rows, "volumes", "results")["value"]) == results


def test_validation_counts_and_concordance_equal_independent_sql(network, pack):
    rows = _metrics(pack.out_dir)
    con = _ro(network)
    cases = con.execute(
        """
        SELECT v.lab_id, v.assay_kit, v.ihc_score, s.final_status
        FROM staging.her2_results AS v
        LEFT JOIN marts.specimen_her2 AS s USING (lab_id, accession_id)
        WHERE v.test_purpose = 'validation' AND v.report_date BETWEEN ? AND ?
        """,
        [FROM, TO],
    ).fetchall()
    assert cases, "the generator plants a validation study in June 2024"
    (lab, kit) = {(c[0], c[1]) for c in cases}.pop()
    call = {"3+": "positive", "2+": "equivocal", "0": "negative", "1+": "negative"}
    positives = sum(1 for c in cases if c[3] == "positive")
    negatives = sum(1 for c in cases if c[3] == "negative")
    agree = sum(1 for c in cases if c[3] in ("positive", "negative") and call[c[2]] == c[3])
    stratum = f"IHC {kit}"
    pos = _figure(rows, "validation", "positive_cases", lab, stratum)
    assert int(pos["value"]) == positives
    assert (pos["target_kind"], pos["target_low"]) == ("requirement", "20")
    assert pos["verdict"] == ("ok" if positives >= 20 else "look")
    assert "FDA-approved" in pos["target_label"]
    assert int(_figure(rows, "validation", "negative_cases", lab, stratum)["value"]) == negatives
    conc = _figure(rows, "validation", "concordance", lab, stratum)
    assert (int(conc["numerator"]), int(conc["n"])) == (agree, positives + negatives)


def test_an_ldt_kit_needs_40_plus_40(network):
    with compute.open_warehouse(network / "her2.duckdb") as con:
        kit = con.execute(
            "SELECT any_value(assay_kit), any_value(lab_id) FROM wh.staging.her2_results "
            "WHERE test_purpose = 'validation'"
        ).fetchone()
        site = config.SiteConfig(labs={kit[1]: config.LabConfig(ldt_kits=(kit[0],))})
        data = compute.compute(con, Period(FROM, TO), None, site)
    pos = next(
        r
        for r in metrics.scoped(data.metrics, None)
        if (r["section"], r["metric"]) == ("validation", "positive_cases")
    )
    assert pos["target_low"] == 40 and pos["verdict"] == "look" and pos["value"] < 40
    assert "laboratory-developed" in pos["target_label"]
    assert "below" in pos["verdict_message"]


def test_a_lab_target_set_in_the_configuration_is_used_for_that_lab(network):
    site = config.SiteConfig(labs={LAB: config.LabConfig(concordance_target_pct=90.0)})
    with compute.open_warehouse(network / "her2.duckdb") as con:
        everyone = compute.compute(con, Period(FROM, TO), None, site)
        north = compute.compute(con, Period(FROM, TO), LAB, site)
    for data, lab in ((everyone, None), (north, LAB)):
        rows = {
            (r["section"], r["metric"], r["lab_id"]): r
            for r in metrics.scoped(data.metrics, lab)
            if r["stratum"] == "all"
        }
        findings = {(f["finding"], f["lab_id"], f["period"]): f for f in data.findings}
        for section in ("ihc_vs_ish", "lab_vs_reference"):
            row = rows[(section, "ppa", LAB)]
            assert row["target_low"] == pytest.approx(0.90)
            assert "set by the laboratory in her2qa.toml" in row["target_label"]
            finding = findings[(f"lab_target_{section}", LAB, "ALL")]
            assert "90%" in finding["threshold"]  # the finding judged against the lab's target
            assert row["verdict"] == finding["verdict"]
    south = {
        (r["metric"], r["lab_id"]): r
        for r in metrics.scoped(everyone.metrics, None)
        if r["section"] == "ihc_vs_ish" and r["stratum"] == "all"
    }
    assert south[("npa", "SOUTH")]["target_low"] == pytest.approx(0.95)
    assert south[("npa", "ALL")]["target_low"] == pytest.approx(0.95)


def test_proficiency_is_graded_against_the_key_else_the_consensus_of_the_labs(network, pack):
    """Where the provider's key (expected_result) is given the answer is graded against it (an
    IHC score key on the score); where not, against a strict majority of >= 3 labs' calls."""
    rows = _metrics(pack.out_dir)
    con = _ro(network)
    answers = con.execute(
        """
        SELECT lab_id, accession_id, ihc_score, report_date, expected_result
        FROM staging.her2_results WHERE test_purpose = 'proficiency'
        """
    ).fetchall()
    assert any(a[4] for a in answers) and not all(a[4] for a in answers)
    call = {"3+": "positive", "2+": "equivocal", "0": "negative", "1+": "negative"}
    by_challenge: dict[str, list[str]] = {}
    for _, challenge, score, _, _ in answers:
        by_challenge.setdefault(challenge, []).append(call[score])
    consensus = {}
    for challenge, calls in by_challenge.items():
        best = max(set(calls), key=calls.count)
        if len(calls) >= 3 and 2 * calls.count(best) > len(calls):
            consensus[challenge] = best

    def correct(answer: tuple) -> bool | None:
        _, challenge, score, _, key = answer
        if key:
            return score == key
        return None if challenge not in consensus else call[score] == consensus[challenge]

    labs = {a[0] for a in answers if FROM <= a[3] <= TO}
    assert labs, "the generator plants a PT event in March 2024"
    for lab in labs:
        mine = [correct(a) for a in answers if a[0] == lab and FROM <= a[3] <= TO]
        graded = [c for c in mine if c is not None]
        row = _figure(rows, "proficiency", "correct_rate", lab)
        assert (int(row["numerator"]), int(row["n"])) == (sum(graded), len(graded))
        assert row["target_kind"] == "requirement" and float(row["target_low"]) == 0.9
        assert row["verdict"] == ("ok" if sum(graded) / len(graded) >= 0.9 else "look")


def test_each_pt_event_carries_its_finding(network, pack):
    """An event wholly signed out in the period: its period finding is the warehouse's."""
    rows = [r for r in _metrics(pack.out_dir) if r["metric"] == "event_correct_rate"]
    assert rows
    con = _ro(network)
    for r in rows:
        verdict, message = con.execute(
            "SELECT verdict, message FROM marts.findings WHERE finding = 'proficiency_event' "
            "AND lab_id = ? AND subgroup = ?",
            [r["lab_id"], r["stratum"]],
        ).fetchone()
        assert (r["finding"], r["verdict"], r["verdict_message"]) == (
            "proficiency_event",
            verdict,
            message,
        )


def test_the_whole_history_equals_the_warehouse_marts(network):
    """The period figures are the marts' SQL re-run: over all dates they are the marts."""
    with compute.open_warehouse(network / "her2.duckdb") as con:
        data = compute.compute(
            con, Period(date(1990, 1, 1), date(2100, 12, 31)), None, config.SiteConfig()
        )
    rows = {
        (r["section"], r["metric"], r["lab_id"], r["stratum"]): r
        for r in metrics.scoped(data.metrics, None)
    }
    con = _ro(network)
    for comparison, n_pairs, n_agree, kappa in con.execute(
        "SELECT comparison, n_pairs, n_agree, kappa FROM marts.agreement "
        "WHERE lab_id = 'ALL' AND period = 'ALL' AND comparison <> 'primary_vs_metastasis'"
    ).fetchall():
        row = rows[(comparison, "overall_agreement", "ALL", "all")]
        assert (row["numerator"], row["n"]) == (n_agree, n_pairs)
        assert rows[(comparison, "kappa", "ALL", "all")]["value"] == pytest.approx(kappa)
    for score, n_with_ish, n_ratio, rate in con.execute(
        "SELECT ihc_score, n_with_ish, n_ratio_amplified, ratio_amplified_rate "
        "FROM marts.amplification_by_ihc_score WHERE lab_id = 'ALL'"
    ).fetchall():
        row = rows[("amplification", "ratio_amplified_rate", "ALL", score)]
        assert (row["numerator"], row["n"]) == (n_ratio, n_with_ish)
        assert row["value"] == pytest.approx(rate)
    agree, audited, completed, equivocal, met3 = con.execute(
        "SELECT sum(n_specimens_agree), sum(n_specimens_audited), sum(n_equivocal_completed), "
        "sum(n_equivocal), sum(n_rate3_met) FROM marts.cap11_rates WHERE lab_id = 'ALL'"
    ).fetchone()
    assert (
        rows[("cap11", "rate3", "ALL", "all")]["numerator"],
        rows[("cap11", "rate3", "ALL", "all")]["n"],
    ) == (met3, audited)
    assert (
        rows[("cap11", "rate1", "ALL", "all")]["numerator"],
        rows[("cap11", "rate1", "ALL", "all")]["n"],
    ) == (agree, audited)
    assert (
        rows[("cap11", "rate2", "ALL", "all")]["numerator"],
        rows[("cap11", "rate2", "ALL", "all")]["n"],
    ) == (completed, equivocal)
    loss, gain, disc = con.execute(
        "SELECT loss_rate, gain_rate, discordance_rate FROM marts.primary_metastasis_summary "
        "WHERE lab_id = 'ALL'"
    ).fetchone()
    assert rows[("primary_vs_metastasis", "loss_rate", "ALL", "all")]["value"] == pytest.approx(
        loss
    )
    assert rows[("primary_vs_metastasis", "gain_rate", "ALL", "all")]["value"] == pytest.approx(
        gain
    )
    assert rows[("primary_vs_metastasis", "discordance_rate", "ALL", "all")][
        "value"
    ] == pytest.approx(disc)
    share_low, share_ihc0 = con.execute(
        "SELECT share_low, share_ihc0 FROM marts.her2_low_distribution "
        "WHERE lab_id = 'ALL' AND specimen_role = 'primary' AND quarter = 'ALL'"
    ).fetchone()
    assert rows[("her2_low", "share_low", "ALL", "primary")]["value"] == pytest.approx(share_low)
    assert rows[("her2_low", "share_ihc0", "ALL", "primary")]["value"] == pytest.approx(share_ihc0)
    (discordant,) = con.execute(
        "SELECT count_if(discordance_type <> 'ish_group_2_4') FROM marts.ihc_ish_discordance"
    ).fetchone()
    assert rows[("discordance", "ihc_ish_discordant", "ALL", "all")]["value"] == discordant
    (retest,) = con.execute("SELECT count(*) FROM marts.retest_candidates").fetchone()
    assert rows[("primary_vs_metastasis", "retest_candidates", "ALL", "all")]["value"] == retest
    # The same findings SQL on the whole history gives the warehouse's own verdicts.
    period = {
        (f["finding"], f["lab_id"], f["subgroup"]): f
        for f in data.findings
        if f["made_for"] == "period" and f["period"] == "ALL"
    }
    assert {code for code, _, _ in period} >= {
        "lab_target_ihc_vs_ish",
        "lab_target_lab_vs_reference",
        "her2_low_published_range",
    }
    for finding, lab, subgroup, verdict, figure, n in con.execute(
        "SELECT finding, lab_id, subgroup, verdict, figure, n FROM marts.findings "
        "WHERE period = 'ALL' AND list_contains(?, finding)",
        [sorted({code for code, _, _ in period})],
    ).fetchall():
        mine = period[(finding, lab, subgroup)]
        assert (mine["verdict"], mine["n"]) == (verdict, n), (finding, lab)
        assert mine["figure"] == pytest.approx(figure), (finding, lab)


def test_every_judged_row_carries_the_verdict_of_its_period_finding(network, pack):
    """Each verdict in metrics.csv is the verdict (and sentence) of the marts.findings row it
    names, computed by findings.sql for the same period, about the very figure of the row."""
    with compute.open_warehouse(network / "her2.duckdb") as con:
        data = compute.compute(con, Period(FROM, TO), None, config.SiteConfig())
    findings = {  # metrics.csv neutralises a stratum that could run as a formula
        (f["finding"], f["lab_id"], f["period"], neutralise(f["subgroup"])): f
        for f in data.findings
    }
    rows = _metrics(pack.out_dir)
    judged = [r for r in rows if r["verdict"]]
    assert {r["verdict"] for r in judged} <= {"ok", "look", "info", "too_few"}
    by_finding = [r for r in judged if r["finding"]]
    assert {r["section"] for r in by_finding} >= {
        "ihc_vs_ish",
        "lab_vs_reference",
        "positivity",
        "her2_low",
        "primary_vs_metastasis",
    }
    categories = {
        (r["section"], r["lab_id"], r["metric"]): float(r["value"])
        for r in rows
        if r["metric"] in ("ppa", "npa")
        and r["section"] in ("ihc_vs_ish", "lab_vs_reference")
        and r["value"]
    }
    for r in by_finding:
        by_stratum = (
            "amplification_published_range",
            "proficiency_event",
            "positivity_pathologist",
        )
        subgroup = r["stratum"] if r["finding"] in by_stratum else "ALL"
        f = findings[(r["finding"], r["lab_id"], r["finding_period"], subgroup)]
        assert (r["verdict"], r["verdict_message"]) == (f["verdict"], f["message"]), r
        if r["finding"].startswith("lab_target_"):  # judged: the lower of PPA and NPA
            lowest = min(
                v
                for (section, lab, _), v in categories.items()
                if (section, lab) == (r["section"], r["lab_id"])
            )
            assert f["figure"] == pytest.approx(100 * lowest, abs=1e-4), r
        else:
            assert f["figure"] == pytest.approx(100 * float(r["value"]), abs=1e-4), r
            assert f["n"] == int(r["n"]), r
    # No period finding the pack shows is left without its figure.
    for f in data.findings:
        if f["finding"] in ("lab_target_ihc_vs_ish", "her2_low_published_range"):
            assert any(
                (r["finding"], r["lab_id"]) == (f["finding"], f["lab_id"]) for r in by_finding
            ), f
    # Validation and proficiency are judged in audit SQL against marts.reference_bands.
    assert {r["section"] for r in judged if not r["finding"]} <= {"validation", "proficiency"}


def test_counts_name_the_file_whose_rows_they_count(pack):
    """The headline's worklist count is the number of rows of the file it names; so are the
    positivity signal counts and the other worklist counts."""
    rows = _metrics(pack.out_dir)
    worklist = _figure(rows, "discordance", "ihc_ish_worklist")
    assert "cases/ihc_ish_discordance.csv" in worklist["label"]
    assert int(worklist["value"]) == pack.case_rows["ihc_ish_discordance.csv"]
    assert pack.headline["ihc_ish_worklist_cases"] == pack.case_rows["ihc_ish_discordance.csv"]
    cases = list(csv.DictReader((pack.out_dir / "cases" / "ihc_ish_discordance.csv").open()))
    # true discordances: every type but the ISH groups 2-4 (single-probe ones too, contract v2)
    assert int(_figure(rows, "discordance", "ihc_ish_discordant")["value"]) == sum(
        1 for c in cases if c["discordance_type"] != "ish_group_2_4"
    )
    signals = list(csv.DictReader((pack.out_dir / "cases" / "positivity_signals.csv").open()))
    for metric, level in (
        ("control_signals", "lab"),
        ("pathologist_control_signals", "pathologist"),
    ):
        row = _figure(rows, "positivity", metric)
        assert int(row["value"]) == sum(1 for s in signals if s["level"] == level), metric
    for metric, name in (
        ("lab_vs_reference_discordant", "lab_vs_reference_discordance.csv"),
        ("observer_score_differs", "observer_disagreements.csv"),
    ):
        row = _figure(rows, "discordance", metric)
        assert int(row["value"]) == pack.case_rows[name] and name in row["label"], metric
    assert "cases/ihc_ish_discordance.csv" in _pdf_text(pack.out_dir / "report.pdf")


# --- reproducibility and lineage -------------------------------------------------------------


def test_same_inputs_and_period_give_byte_identical_metrics_and_lineage(network, pack):
    again = build_audit_pack(
        network / "her2.duckdb",
        FROM.isoformat(),
        TO.isoformat(),
        out_dir=network / "pack_again",
        now=datetime(2031, 1, 1, 12, 0, 0, tzinfo=ZoneInfo("UTC")),
    )
    for name in ("metrics.csv", "lineage.json"):
        assert (again.out_dir / name).read_bytes() == (pack.out_dir / name).read_bytes(), name
    for case in (pack.out_dir / "cases").iterdir():
        assert (again.out_dir / "cases" / case.name).read_bytes() == case.read_bytes()
    first = json.loads((pack.out_dir / "generated.json").read_text())
    second = json.loads((again.out_dir / "generated.json").read_text())
    assert second["generated_at"] == "2031-01-01T12:00:00Z" != first["generated_at"]
    assert "2031-01-01T12:00:00Z" in (again.out_dir / "report.html").read_text()
    assert "generated_at" not in (pack.out_dir / "lineage.json").read_text()


def test_another_period_gives_other_figures(network, pack):
    other = build_audit_pack(
        network / "her2.duckdb", "2024-07-01", "2024-12-31", out_dir=network / "pack_h2"
    )
    for name in ("metrics.csv", "lineage.json"):
        assert (other.out_dir / name).read_bytes() != (pack.out_dir / name).read_bytes()
    assert json.loads((other.out_dir / "lineage.json").read_text())["audit_pack"]["period"] == {
        "from": "2024-07-01",
        "to": "2024-12-31",
    }


def test_lineage_records_inputs_quarantine_software_configuration_and_run(network, pack):
    record = json.loads((pack.out_dir / "lineage.json").read_text())
    con = _ro(network)
    files = con.execute(
        "SELECT file_name, sha256, rows_read, rows_quarantined FROM ops.ingested_files "
        "ORDER BY file_id"
    ).fetchall()
    assert [
        (f["file_name"], f["sha256"], f["rows_read"], f["rows_quarantined"])
        for f in record["input_files"]
    ] == files
    for f in record["input_files"]:
        data = (network / "inbox" / f["file_name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
    (quarantined,) = con.execute("SELECT count(*) FROM quarantine.rejected_rows").fetchone()
    assert record["audit_pack"]["quarantine"]["rows"] == quarantined
    assert sum(record["audit_pack"]["quarantine"]["by_reason_code"].values()) >= quarantined
    (run_id,) = con.execute(
        "SELECT staged_run_id FROM ops.ingested_files WHERE staged_run_id IS NOT NULL "
        "ORDER BY staged_at DESC LIMIT 1"
    ).fetchone()
    assert record["run_id"] == run_id
    assert record["configuration_sha256"] == config.SiteConfig().fingerprint()
    assert record["software"]["package"] == "her2qa"
    assert record["guideline_versions"] and record["audit_pack"]["guideline_versions_in_period"]
    assert (
        record["audit_pack"]["metrics_csv"]["sha256"]
        == hashlib.sha256((pack.out_dir / "metrics.csv").read_bytes()).hexdigest()
    )
    for name, info in record["audit_pack"]["case_files"].items():
        data = (pack.out_dir / "cases" / name).read_bytes()
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
    for name, digest in record["audit_pack"]["sql_sha256"].items():
        path = REPO / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, name
    assert record["audit_pack"]["validation_assay_classes"]["ldt_kits"] == {}


# --- one laboratory, the command line, Dagster -----------------------------------------------


def test_a_lab_pack_holds_only_that_lab(network, lab_pack):
    rows = _metrics(lab_pack)
    assert {r["lab_id"] for r in rows} == {LAB, "ALL"}
    assert all(r["metric"].startswith("warehouse_") for r in rows if r["lab_id"] == "ALL")
    with compute.open_warehouse(network / "her2.duckdb") as con:
        north = compute.compute(con, Period(FROM, TO), None, config.SiteConfig())
    pooled = {
        (r["section"], r["metric"], r["stratum"]): r for r in north.metrics if r["lab_id"] == LAB
    }
    for r in rows:
        if r["lab_id"] == LAB and (r["section"], r["metric"], r["stratum"]) in pooled:
            assert (
                metrics.fmt(pooled[(r["section"], r["metric"], r["stratum"])]["value"], r["unit"])
                == r["value"]
            ), r
    for path in (lab_pack / "cases").glob("*.csv"):
        for row in csv.DictReader(path.open()):
            assert row["lab_id"] == LAB, path.name
    assert "Laboratory NORTH" in _pdf_text(lab_pack / "report.pdf")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--from", "2024-02-30", "--to", "2024-03-31"],
            "--from '2024-02-30' is not a calendar date",
        ),
        (["--from", "2024-01-01", "--to", "31/03/2024"], "is not an ISO date"),
        (["--from", "2024-04-01", "--to", "2024-03-31"], "starts (2024-04-01) after it ends"),
        (
            ["--from", "2024-01-01", "--to", "2024-03-31", "--lab", "NOWHERE"],
            "unknown lab 'NOWHERE'",
        ),
        (
            ["--from", "2024-01-01", "--to", "2024-03-31", "--warehouse", "missing.duckdb"],
            "does not exist",
        ),
    ],
)
def test_cli_errors_are_one_line(network, tmp_path, capsys, argv, message):
    if "--warehouse" not in argv:
        argv = [*argv, "--warehouse", str(network / "her2.duckdb")]
    code = cli.main(["audit", *argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert err.count("\n") == 1 and err.startswith("her2qa: ") and message in err
    assert not (tmp_path / "out").exists()


def _audit_q1_2024(out: Path, warehouse_file: Path) -> int:
    """`her2qa audit` of the first quarter of 2024 into ``out``, as a user types it."""
    period = ["--from", "2024-01-01", "--to", "2024-03-31"]
    return cli.main(["audit", *period, "--out", str(out), "--warehouse", str(warehouse_file)])


def test_a_warehouse_without_marts_is_a_one_line_error(tmp_path, capsys):
    with warehouse.connect(tmp_path / "empty.duckdb") as con:
        warehouse.ensure_schema(con)
    code = _audit_q1_2024(out=tmp_path / "out", warehouse_file=tmp_path / "empty.duckdb")
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and err.count("\n") == 1
    assert "marts.specimen_her2" in err and "run `her2qa run` first" in err


def test_the_pack_refuses_a_folder_that_is_not_a_pack(network, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code = _audit_q1_2024(out=tmp_path, warehouse_file=network / "her2.duckdb")
    assert code == cli.EXIT_USAGE and "holds no earlier audit pack" in capsys.readouterr().err


def test_dagster_asset_writes_the_last_complete_quarter_with_its_run_id(network, tmp_path):
    paths = Her2qaPaths(
        inbox=str(network / "inbox"),
        warehouse_file=str(network / "her2.duckdb"),
        archive_dir=str(tmp_path / "archive"),
        site_dir=str(tmp_path / "site"),
    )
    result = dg.materialize(
        [audit_pack],
        resources={"paths": paths},
        run_config={"ops": {"audit_pack": {"config": {"as_of": "2024-07-01"}}}},
        raise_on_error=False,
    )
    assert result.success
    meta = result.asset_materializations_for_node("audit_pack")[0].metadata
    assert meta["period"].value == "2024-Q2"
    assert isinstance(meta["ihc_ish_concordance"].value, float)
    out = tmp_path / "audit" / "2024-04-01_2024-06-30"
    generated = json.loads((out / "generated.json").read_text())
    assert generated["pack_run_id"] == result.run_id
    lineage_text = (out / "lineage.json").read_text()
    assert result.run_id not in lineage_text  # the pack's own run id is kept apart
    direct = build_audit_pack(
        network / "her2.duckdb", "2024-04-01", "2024-06-30", out_dir=tmp_path / "direct"
    )
    assert (direct.out_dir / "lineage.json").read_text() == lineage_text
    assert (direct.out_dir / "metrics.csv").read_bytes() == (out / "metrics.csv").read_bytes()


def test_the_schedule_asks_for_the_quarter_that_has_just_ended():
    schedule = quarterly_audit_schedule("Europe/Berlin")
    assert schedule.cron_schedule == "0 3 1 1,4,7,10 *"
    assert schedule.execution_timezone == "Europe/Berlin"
    tick = datetime(2025, 4, 1, 3, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.run_config["ops"]["audit_pack"]["config"]["as_of"] == "2025-04-01"
    assert request.tags["her2qa/audit_period"] == "2025-01-01_2025-03-31"
    job = defs.resolve_job_def("quarterly_audit_job")
    assert [n.name for n in job.graph.node_defs] == ["audit_pack"]
    spec = defs.resolve_assets_def(AUDIT_PACK).specs_by_key[AUDIT_PACK]
    assert spec.group_name == "publish"
    assert {d.asset_key for d in spec.deps} >= {
        dg.AssetKey(["marts", "agreement"]),
        dg.AssetKey(["marts", "specimen_her2"]),
    }


# --- the report: HTML in a real browser (last: its session browser stays open), PDF text -------------------------------------------


def test_report_html_passes_the_real_browser_checks(pack, browser):
    report = open_page(browser, pack.out_dir / "report.html", screenshot_name="audit_report")
    page = report.page
    try:
        assert report.console_errors == [] and report.page_errors == []
        assert report.failed_requests == [] and report.external_requests == []
        assert report.dialogs == []
        assert page.evaluate("() => window.__xss") is None
        assert page.evaluate("() => document.scripts.length") == 0
        source = (pack.out_dir / "report.html").read_text(encoding="utf-8")
        assert "<script" not in source and "&lt;script&gt;window.__xss=1" in source
        for section in SECTIONS:
            assert page.locator(f"section#{section}").count() == 1, section
        assert XSS in report.text  # the canary kit name shows as text
        rows = _metrics(pack.out_dir)
        conc = _figure(rows, "ihc_vs_ish", "overall_agreement")
        assert f"{100 * float(conc['value']):.1f}%" in report.text
        assert "Sign-off" in report.text and "Corrective actions" in report.text
    finally:
        page.close()


def test_every_percentage_in_the_report_is_a_figure_of_metrics_csv(pack):
    """The report is rendered from metrics.csv: each 'NN.N%' it prints is a value, a CI bound
    or a target of some row (method prose uses whole percents from the guidelines)."""
    known = set()
    for r in _metrics(pack.out_dir):
        for column in ("value", "ci_low", "ci_high", "target_low", "target_high"):
            if r[column] and r["unit"] == "proportion":
                known.add(f"{100 * float(r[column]):.1f}%")
        known.update(re.findall(r"\d+\.\d%", r["target_label"]))  # published figures quoted
        known.update(re.findall(r"\d+\.\d%", r["verdict_message"]))  # the finding's sentence
    source = (pack.out_dir / "report.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", " ", source.split("</style>", 1)[1]))
    printed = set(re.findall(r"\d+\.\d%", text))
    assert printed and printed <= known, sorted(printed - known)


def test_report_pdf_carries_the_headline_figures_and_the_sign_off(pack):
    text = _pdf_text(pack.out_dir / "report.pdf")
    rows = _metrics(pack.out_dir)
    conc = _figure(rows, "ihc_vs_ish", "overall_agreement")
    assert f"{100 * float(conc['value']):.1f}%" in text
    assert f"{int(conc['numerator'])}/{int(conc['n'])}" in text
    pos = _figure(rows, "positivity", "positive_rate")
    assert f"{100 * float(pos['value']):.1f}%" in text
    for words in ("Sign-off", "Reviewed by", "Corrective actions", "Validation", "Proficiency testing",
                  "lab target (ASCO/CAP 2007 criterion)"):  # fmt: skip
        assert words in text, words


def test_no_phi_anywhere_in_the_pack(network, pack, lab_pack):
    """Names, MRNs and birth dates of the input files appear nowhere, cases/ included; the
    report, metrics and lineage carry no accession id or patient key either."""
    names, mrns, dobs = set(), set(), set()
    for path in sorted((network / "inbox").glob("*.csv")):
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "latin-1"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        try:
            reader = csv.reader(io.StringIO(text))
            header = [h.strip().lower() for h in next(reader)]
        except (csv.Error, StopIteration):
            continue
        index = {
            c: header.index(c)
            for c in ("patient_name", "patient_dob", "patient_mrn")
            if c in header
        }
        for row in reader:
            for column, bag in (
                ("patient_name", names),
                ("patient_dob", dobs),
                ("patient_mrn", mrns),
            ):
                i = index.get(column)
                if i is not None and i < len(row) and row[i].strip():
                    bag.add(row[i].strip())
    assert CANARY["name"] in names and CANARY["mrn"] in mrns and len(names) > 1000
    for folder in (pack.out_dir, lab_pack):
        files = [p for p in folder.rglob("*") if p.is_file()]
        texts = {
            p: _pdf_text(p) if p.suffix == ".pdf" else p.read_text(encoding="utf-8") for p in files
        }
        for path, text in texts.items():
            found_mrns = mrns & set(re.findall(r"MRN\d+|PT-\d\d[AB]-\d\d", text))
            found_dobs = dobs & set(re.findall(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", text))
            found_names = {n for n in names if n in text}
            assert not (found_mrns or found_dobs or found_names), (
                path,
                found_mrns,
                found_dobs,
                found_names,
            )
            assert (
                "patient_name" not in text
                and "patient_dob" not in text
                and "patient_mrn" not in text
            )
    keys = {
        k
        for (k,) in _ro(network)
        .execute("SELECT DISTINCT patient_key FROM staging.her2_results")
        .fetchall()
    }
    for name in ("report.html", "metrics.csv", "lineage.json", "generated.json"):
        text = (pack.out_dir / name).read_text(encoding="utf-8")
        assert not re.search(r"S2\d-\d{5}-[A-C]\d", text), name  # accession ids
        assert not keys & set(re.findall(r"[0-9a-f]{64}", text)), name
    assert not re.search(r"S2\d-\d{5}-[A-C]\d", _pdf_text(pack.out_dir / "report.pdf"))


# --- ANP.22970 annual review and the 0 vs 1+ boundary -----------------------------------------


def test_annual_review_kappa_at_0_vs_1plus_equals_statsmodels_on_the_periods_pairs(network, pack):
    """κ at the 0 vs 1+ boundary (clinical vs second read), its SE-based CI and the agreement
    of the pack equal statsmodels on the period's boundary pairs read independently."""
    rows = _metrics(pack.out_dir)
    con = _ro(network)
    pairs = con.execute(
        "SELECT first_score, second_score FROM marts.boundary_pairs "
        "WHERE comparison = 'second_read' AND on_0_vs_1plus AND pair_date BETWEEN ? AND ?",
        [FROM, TO],
    ).fetchall()
    table = [[0, 0], [0, 0]]
    for first, second in pairs:
        table[first == "0"][second == "0"] += 1  # row/col 0: 1+, 1: 0
    ref = cohens_kappa(table)
    k = _figure(rows, "annual_review", "kappa_0_vs_1plus", stratum="second_read")
    assert int(k["n"]) == len(pairs) > 0
    assert float(k["value"]) == pytest.approx(ref.kappa, abs=1e-6)
    assert float(k["ci_low"]) == pytest.approx(max(-1, ref.kappa_low), abs=1e-6)
    assert float(k["ci_high"]) == pytest.approx(min(1, ref.kappa_upp), abs=1e-6)
    a = _figure(rows, "annual_review", "agreement_0_vs_1plus", stratum="second_read")
    assert int(a["numerator"]) == table[0][0] + table[1][1]
    low, high = proportion_confint(table[0][0] + table[1][1], len(pairs), method="wilson")
    assert (float(a["ci_low"]), float(a["ci_high"])) == pytest.approx((low, high), abs=1e-6)


def test_annual_review_reads_the_period_findings_and_says_what_it_answers(network, pack):
    """Positive rate and HER2-low share carry the period findings' figures and verdicts; every
    reader in the period's funnel has a row with its finding's verdict; the report names
    ANP.22970, CAP 11 and ASCO/CAP §VALIDATION beside the sections they answer."""
    with compute.open_warehouse(network / "her2.duckdb") as con:
        data = compute.compute(con, Period(FROM, TO), None, config.SiteConfig())
    findings = {(f["finding"], f["lab_id"], neutralise(f["subgroup"])): f for f in data.findings}
    rows = _metrics(pack.out_dir)
    for metric, finding in (
        ("positive_rate", "positivity_published_range"),
        ("her2_low_share", "her2_low_published_range"),
    ):
        shown = [r for r in rows if (r["section"], r["metric"]) == ("annual_review", metric)]
        assert shown, metric
        for r in shown:
            f = findings[(finding, r["lab_id"], "ALL")]
            assert (r["verdict"], r["finding"]) == (f["verdict"], finding)
            assert float(r["value"]) == pytest.approx(f["figure"] / 100, abs=1e-6)
    readers = [r for r in rows if r["metric"] == "pathologist_positive_rate"]
    assert readers
    for r in readers:
        f = findings[("positivity_pathologist", r["lab_id"], r["stratum"])]
        assert r["verdict"] == f["verdict"] and int(r["n"]) == f["n"]
    report = (pack.out_dir / "report.html").read_text(encoding="utf-8")
    annual = re.search(r'<section id="annual_review">(.*?)</section>', report, re.S).group(1)
    assert "ANP.22970" in annual and "<svg" in annual and "Signature" in annual
    cap11 = re.search(r'<section id="cap11">(.*?)</section>', report, re.S).group(1)
    assert "CAP 11" in cap11 and "Rate 3, reported" in cap11
    for section in ("validation", "proficiency"):
        body = re.search(rf'<section id="{section}">(.*?)</section>', report, re.S).group(1)
        assert "§VALIDATION" in body, section
