"""Audit pack building blocks (dashboards/audit_pack): period arithmetic, judging a figure against its
target, stable number formatting, the LDT setting, the targets' wording. Fast, no warehouse."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

import warehouse
from dashboards.audit_pack import compute, metrics, settings
from dashboards.audit_pack.period import (
    Period,
    PeriodError,
    default_out_dir,
    last_complete_quarter,
    parse_date,
    quarter_of,
)
from her2qa import config


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2025, 4, 1), (date(2025, 1, 1), date(2025, 3, 31))),
        (date(2025, 3, 31), (date(2024, 10, 1), date(2024, 12, 31))),
        (date(2025, 1, 1), (date(2024, 10, 1), date(2024, 12, 31))),
        (date(2024, 8, 15), (date(2024, 4, 1), date(2024, 6, 30))),
        (date(2024, 12, 31), (date(2024, 7, 1), date(2024, 9, 30))),
    ],
)
def test_last_complete_quarter_ends_before_the_run_date(as_of, expected):
    period = last_complete_quarter(as_of)
    assert (period.date_from, period.date_to) == expected
    assert period.date_to < as_of


def test_quarters_cover_the_year_without_gaps():
    days = set()
    for month in (1, 4, 7, 10):
        q = quarter_of(date(2024, month, 15))
        days |= {q.date_from.toordinal() + i for i in range((q.date_to - q.date_from).days + 1)}
    assert len(days) == 366  # 2024 is a leap year


@pytest.mark.parametrize(
    "text", ["2024-13-01", "2024-02-30", "01/02/2024", "yesterday", "", "2024-1-1"]
)
def test_dates_are_strict_iso(text):
    with pytest.raises(PeriodError):
        parse_date(text, "--from")


def test_a_period_cannot_end_before_it_starts():
    with pytest.raises(PeriodError, match="starts"):
        Period(date(2024, 3, 1), date(2024, 1, 1))
    assert Period(date(2024, 3, 1), date(2024, 3, 1)).label == "2024-03-01 to 2024-03-01"


def test_default_folder_names_the_period_and_a_safe_lab_code():
    p = Period(date(2024, 1, 1), date(2024, 3, 31))
    assert default_out_dir(p, None) == Path("build/audit/2024-01-01_2024-03-31")
    assert default_out_dir(p, "NORTH") == Path("build/audit/2024-01-01_2024-03-31_NORTH")
    assert default_out_dir(p, "../x y") == Path("build/audit/2024-01-01_2024-03-31_.._x_y")


def _row(**over):
    row = {
        "unit": "proportion",
        "value": 0.95,
        "ci_low": 0.9,
        "ci_high": 0.98,
        "target_kind": None,
        "target_low": None,
        "target_high": None,
    }
    row.update(over)
    return row


@pytest.mark.parametrize(
    ("over", "word"),
    [
        ({"target_kind": "lab target", "target_low": 0.95}, "meets"),  # 95.0% meets ≥ 95%
        ({"target_kind": "lab target", "target_low": 0.95, "value": 0.9499}, "below"),
        ({"target_kind": "requirement", "target_low": 20, "value": 20, "unit": "count"}, "meets"),
        ({"target_kind": "requirement", "target_low": 40, "value": 20, "unit": "count"}, "below"),
        (
            {"target_kind": "benchmark band", "target_low": 0.118, "target_high": 0.172},
            "above band",
        ),
        (
            {
                "target_kind": "benchmark band",
                "target_low": 0.118,
                "target_high": 0.172,
                "value": 0.14,
            },
            "within band",
        ),
        ({"target_kind": "benchmark band", "target_low": 0.97, "target_high": 0.99}, "below band"),
        (
            {"target_kind": "benchmark band", "target_low": 0.92, "target_high": 0.92},
            "CI includes figure",
        ),
        ({"target_kind": "benchmark band", "target_low": 0.5, "target_high": 0.5}, "above figure"),
        ({"target_kind": "control limits", "target_low": 0.96, "target_high": 0.99}, "below LCL"),
        ({"target_kind": "control limits", "target_low": 0.5, "target_high": 0.9}, "above UCL"),
        ({"target_kind": "limit (per specimen)", "target_high": 60}, ""),
        ({"target_kind": "lab target", "target_low": 0.95, "value": None}, "no data"),
        ({}, ""),
    ],
)
def test_versus_target_reads_each_kind_of_target(over, word):
    assert metrics.versus_target(_row(**over)) == word


def test_numbers_are_formatted_by_unit_without_noise():
    assert metrics.fmt(12.0, "count") == "12"
    assert metrics.fmt(0.1 + 0.2, "proportion") == "0.300000"
    assert metrics.fmt(-0.0, "proportion") == "0.000000"
    assert metrics.fmt(1e-9, "kappa") == "0.000000"
    assert metrics.fmt(6.0, "days") == "6.00"
    assert metrics.fmt(None, "proportion") == ""
    assert metrics.fmt_bound(20.0) == "20"
    assert metrics.fmt_bound(0.118) == "0.118000"


def test_metrics_csv_neutralises_formulas_in_text_cells():
    row = {c: None for c in metrics.COLUMNS} | {
        "section": "ihc_vs_ish",
        "metric": "overall_agreement_by_kit",
        "lab_id": "ALL",
        "stratum": '=HYPERLINK("http://x")',
        "label": "l",
        "unit": "proportion",
        "value": 0.5,
        "n": 2,
        "numerator": 1,
        "ci_method": "Wilson score 95%",
        "source_rule": "r",
    }
    text = metrics.to_csv([row]).decode()
    assert "'=HYPERLINK" in text
    assert text.endswith("\n") and "\r" not in text


def test_ldt_kits_come_from_the_site_toml(tmp_path, monkeypatch):
    toml = tmp_path / "her2qa.toml"
    toml.write_text(
        '[labs.WEST]\nldt_kits = ["In-house X", " 4B5 "]\n[labs.EAST]\ndate_format = "%d/%m/%Y"\n',
        encoding="utf-8",
    )
    assert settings.ldt_kits(toml) == {"WEST": ("4B5", "In-house X")}
    monkeypatch.setenv("HER2QA_CONFIG", str(toml))
    assert settings.ldt_kits() == {"WEST": ("4B5", "In-house X")}
    # The site configuration (and its hash) is not disturbed by the key.
    assert set(config.load_site_config(toml).labs) == {"WEST", "EAST"}
    toml.write_text('[labs.WEST]\nldt_kits = "4B5"\n', encoding="utf-8")
    with pytest.raises(config.ConfigError, match="ldt_kits"):
        settings.ldt_kits(toml)


def _targets() -> dict[str, tuple]:
    con = duckdb.connect()
    warehouse.run(con, "audit/metrics_table", {"concordance_default": 95.0})
    return {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT target_id, target_kind, target_low, target_label, target_source FROM audit_targets"
        ).fetchall()
    }


def test_targets_carry_their_real_source_and_the_shared_lab_target():
    targets = _targets()
    assert targets["validation_concordance"][1] == pytest.approx(0.95)
    assert targets["validation_concordance"][2].startswith("lab target (ASCO/CAP 2007 criterion)")
    # her2-domain.md §VALIDATION: 20 + 20 (FDA-approved), 40 + 40 (LDT), ≥ 90% PT, ≥ 2 events.
    assert targets["validation_cases_fda"][1] == 20
    assert targets["validation_cases_ldt"][1] == 40
    assert targets["pt_correct"][1] == pytest.approx(0.90)
    assert targets["pt_events_per_year"][1] == 2
    for kind, _, label, source in targets.values():
        assert kind in ("lab target", "requirement")
        assert "CAP requirement" not in label  # §QA-WORDING
        assert "her2-domain.md §" in source


def test_every_sql_file_of_a_pack_exists_and_takes_values_only_as_parameters():
    for name in compute.all_sql_files():
        text = warehouse.sql(name)
        assert text.strip(), name
        if name.startswith("audit/"):
            assert "{" not in text.replace("{'", "").replace("'}", ""), name  # no str.format


def test_concordance_target_is_the_labs_own_from_the_site_configuration():
    site = config.SiteConfig(labs={"NORTH": config.LabConfig(concordance_target_pct=90.0)})
    default = config.DEFAULT_CONCORDANCE_TARGET
    lab, target, label, source = compute._lab_target(site, "NORTH")
    assert (lab, target) == ("NORTH", pytest.approx(0.90))
    assert label.startswith(config.CONCORDANCE_TARGET_LABEL) and "90%" in label
    assert "concordance_target_pct" in source
    for other in ("SOUTH", "ALL"):
        _, target, label, _ = compute._lab_target(site, other)
        assert target == pytest.approx(default / 100)
        assert label.startswith("lab target (ASCO/CAP 2007 criterion): ≥ 95%")
