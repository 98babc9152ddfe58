"""Proficiency testing graded once (marts.proficiency_results, marts.proficiency_events) and
judged once (marts.findings proficiency_event, proficiency_events_per_year): her2-domain.md
§VALIDATION (>= 90% correct per event, >= 2 events a year), contract v2 expected_result.

Worked example, event of 15 Mar 2024, challenges PT24A-01..05, five labs A..E:
  challenges 01-04 carry the provider's key (IHC scores 0, 1+, 2+, 3+);
  lab A answers 0, 1+, 2+, 3+  -> 4 of 4 by key; challenge 05 has no key: every lab answers
  3+ except E (2+), so the consensus (5 labs, 4 of 5 positive) is positive and A is correct
  -> A: 5 of 5 = 100%, ok.
  lab B answers 1+ to challenge 01 (key 0): wrong ON THE SCORE although the call (negative)
  agrees -> 4 of 5 = 80% < 90%, look.
  lab E: 4 of 4 by key, 05 wrong against the consensus -> 4 of 5, look.
Event of 15 Sep 2024 (lab A only, key 0 on one challenge, answered 0): 1 of 1.
So lab A has 2 events in 2024 (ok), lab B one (look: fewer than 2 in a finished year).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from statsmodels.stats.proportion import proportion_confint

from her2qa.config import SiteConfig
from her2qa.staging import refresh_current_results
from tests.marts_fixtures import ihc, open_warehouse, records, stage
from warehouse import build

KEYS = {"01": "0", "02": "1+", "03": "2+", "04": "3+", "05": None}
ANSWERS = {  # lab -> score per challenge
    "A": {"01": "0", "02": "1+", "03": "2+", "04": "3+", "05": "3+"},
    "B": {"01": "1+", "02": "1+", "03": "2+", "04": "3+", "05": "3+"},
    "C": {"01": "0", "02": "1+", "03": "2+", "04": "3+", "05": "3+"},
    "D": {"01": "0", "02": "1+", "03": "2+", "04": "3+", "05": "3+"},
    "E": {"01": "0", "02": "1+", "03": "2+", "04": "3+", "05": "2+"},
}


def _rows() -> tuple[list[dict], dict[tuple[str, str], str]]:
    rows, keys = [], {}
    for lab, answers in ANSWERS.items():
        for core, score in answers.items():
            test_id = f"{lab}-{core}"
            rows.append(
                ihc(score, lab_id=lab, test_id=test_id, accession_id=f"PT24A-{core}",
                    patient_key=f"PT-24A-{core}", test_purpose="proficiency",
                    collection_date=date(2024, 3, 15), report_date=date(2024, 3, 20))
            )  # fmt: skip
            if KEYS[core]:
                keys[(lab, test_id)] = KEYS[core]
    rows.append(
        ihc("0", lab_id="A", test_id="A-B01", accession_id="PT24B-01", patient_key="PT-24B-01",
            test_purpose="proficiency", collection_date=date(2024, 9, 15),
            report_date=date(2024, 9, 18))
    )  # fmt: skip
    keys[("A", "A-B01")] = "0"
    return rows, keys


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    path: Path = tmp_path_factory.mktemp("pt") / "her2.duckdb"
    connection = open_warehouse(path)
    rows, keys = _rows()
    stage(connection, rows)
    connection.executemany(
        "UPDATE staging.her2_results_history SET expected_result = ? "
        "WHERE lab_id = ? AND test_id = ?",
        [(key, lab, test_id) for (lab, test_id), key in keys.items()],
    )
    refresh_current_results(connection)
    build.build_marts(connection, SiteConfig(), as_of=datetime(2025, 6, 1))
    yield connection
    connection.close()


def test_each_answer_is_graded_against_the_key_else_the_consensus(con):
    got = {
        (r["lab_id"], r["challenge_id"]): r
        for r in records(con, "SELECT * FROM marts.proficiency_results")
    }
    assert len(got) == 26
    b01 = got[("B", "PT24A-01")]
    assert (b01["graded_by"], b01["graded_against"], b01["correct"]) == ("provider_key", "0", False)
    assert b01["answer_call"] == "negative"  # the call agrees; the score does not
    a05 = got[("A", "PT24A-05")]
    assert (a05["graded_by"], a05["graded_against"], a05["correct"]) == (
        "consensus",
        "positive",
        True,
    )
    assert (a05["n_labs_answered"], a05["n_consensus"]) == (5, 4)
    assert got[("E", "PT24A-05")]["correct"] is False


def test_consensus_needs_three_labs_a_labelled_her2qa_rule(con):
    (n,) = con.execute(
        "SELECT low FROM marts.reference_bands WHERE band_id = 'pt_consensus_min_labs'"
    ).fetchone()
    assert n == 3  # her2qa rule, labelled so
    (label,) = con.execute(
        "SELECT label FROM marts.reference_bands WHERE band_id = 'pt_consensus_min_labs'"
    ).fetchone()
    assert "not the provider's grade" in label


@pytest.mark.parametrize(
    ("lab", "n_correct", "n_graded", "graded_by"),
    [("A", 5, 5, "mixed"), ("B", 4, 5, "mixed"), ("E", 4, 5, "mixed")],
)
def test_events_count_correct_with_wilson_ci(con, lab, n_correct, n_graded, graded_by):
    (e,) = records(
        con,
        "SELECT * FROM marts.proficiency_events WHERE lab_id = ? AND event_date = ?",
        [lab, date(2024, 3, 15)],
    )
    assert (e["n_correct"], e["n_graded"], e["graded_by"]) == (n_correct, n_graded, graded_by)
    assert (e["n_by_key"], e["n_by_consensus"]) == (4, 1)
    assert e["pct_correct"] == pytest.approx(n_correct / n_graded)
    low, high = proportion_confint(n_correct, n_graded, method="wilson")
    assert (e["ci_low"], e["ci_high"]) == pytest.approx((low, high))


@pytest.mark.parametrize(("lab", "verdict"), [("A", "ok"), ("B", "look"), ("E", "look")])
def test_proficiency_event_finding_looks_under_90_percent(con, lab, verdict):
    (f,) = records(
        con,
        "SELECT * FROM marts.findings WHERE finding = 'proficiency_event' AND lab_id = ? "
        "AND subgroup = '2024-03-15'",
        [lab],
    )
    assert (f["verdict"], f["period"]) == (verdict, "2024-03")
    assert "ASCO/CAP 2018" in f["message"] and "90.0%" in f["threshold"]
    assert "provider's key where given, else the network's consensus" in f["message"]


def test_events_per_year_looks_under_two_in_a_finished_year(con):
    got = {
        r["lab_id"]: r
        for r in records(
            con, "SELECT * FROM marts.findings WHERE finding = 'proficiency_events_per_year'"
        )
    }
    assert (got["A"]["figure"], got["A"]["verdict"]) == (2, "ok")
    assert (got["B"]["figure"], got["B"]["verdict"]) == (1, "look")
    assert "below the ASCO/CAP 2018 requirement of at least 2 a year" in got["B"]["message"]
