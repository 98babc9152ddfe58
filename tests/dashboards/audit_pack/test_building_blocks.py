"""Audit pack building blocks (dashboards/audit_pack): period arithmetic, where verdicts come from,
stable number formatting, the LDT setting, the targets' wording. Fast, no warehouse."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

import warehouse
from dashboards.audit_pack import compute, metrics, render
from dashboards.audit_pack.period import (
    Period,
    PeriodError,
    default_out_dir,
    last_complete_quarter,
    parse_date,
    quarter_of,
)
from her2qa import config
from warehouse import build, catalog


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


def test_every_verdict_the_pack_shows_is_a_finding_of_the_catalog():
    """audit/verdicts.sql maps figures to finding codes of marts.findings only; the report has
    a word for every verdict of the contract; the pack has no judging code of its own."""
    text = warehouse.sql("audit/verdicts")
    codes = set(re.findall(r"'([a-z0-9_]+)', '(?:ALL|2\+)',\s*'(?:ALL|window|stratum)'\)", text))
    assert codes and codes <= set(catalog.FINDINGS), codes - set(catalog.FINDINGS)
    assert set(render.VERDICT_WORDS) == set(catalog.VERDICTS) == set(render.VERDICT_CLASSES)
    assert not hasattr(metrics, "versus_target")
    for name in compute.all_sql_files():
        assert "audit_targets" not in warehouse.sql(name), name  # thresholds: reference_bands


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


def test_ldt_kits_come_from_the_one_configuration_and_its_hash(tmp_path, monkeypatch):
    toml = tmp_path / "her2qa.toml"
    toml.write_text(
        '[labs.WEST]\nldt_kits = ["In-house X", " 4B5 "]\n[labs.EAST]\ndate_format = "%d/%m/%Y"\n',
        encoding="utf-8",
    )
    site = config.load_site_config(toml)
    assert site.ldt_kits == {"WEST": ("4B5", "In-house X")}
    assert ("ldt_kit", "WEST", "In-house X") in site.lab_setting_rows()
    without_kits = {"WEST": config.LabConfig(), "EAST": config.LabConfig(date_format="%d/%m/%Y")}
    assert site.labs["EAST"] == without_kits["EAST"]
    assert site.fingerprint() != config.SiteConfig(labs=without_kits).fingerprint()
    assert not (Path(compute.__file__).with_name("settings.py")).exists()  # no second reader
    toml.write_text('[labs.WEST]\nldt_kits = "4B5"\n', encoding="utf-8")
    with pytest.raises(config.ConfigError, match="ldt_kits"):
        config.load_site_config(toml)


def _bands(site: config.SiteConfig, labs: tuple[str, ...] = ("NORTH", "SOUTH")) -> dict:
    """audit_bands (audit/metrics_table.sql) over reference_bands.sql run with ``site``."""
    con = duckdb.connect()
    build.define_macros(con)
    build.load_settings(con, site)
    con.execute("ATTACH ':memory:' AS period_findings")
    con.execute("CREATE SCHEMA period_findings.marts")
    con.execute("USE period_findings")
    warehouse.run(con, "marts/reference_bands", build.settings_params(site))
    con.execute("USE memory")
    con.execute("ATTACH ':memory:' AS wh")
    con.execute("CREATE SCHEMA wh.staging")
    con.execute("CREATE TABLE wh.staging.her2_results (lab_id VARCHAR)")
    con.executemany("INSERT INTO wh.staging.her2_results VALUES (?)", [(lab,) for lab in labs])
    warehouse.run(con, "audit/metrics_table")
    return {
        (r[0], r[1]): r[2:]
        for r in con.execute(
            "SELECT band_id, lab_id, low, label, source FROM audit_bands"
        ).fetchall()
    }


def test_targets_come_from_reference_bands_with_their_real_source():
    bands = _bands(config.SiteConfig())
    # her2-domain.md §VALIDATION: 20 + 20 (FDA-approved), 40 + 40 (LDT), ≥ 90% PT, ≥ 2 events.
    assert bands[("validation_cases_fda", "NORTH")][0] == 20
    assert bands[("validation_cases_ldt", "NORTH")][0] == 40
    assert bands[("pt_correct", "ALL")][0] == pytest.approx(0.90)
    assert bands[("pt_events_per_year", "SOUTH")][0] == 2
    low, label, source = bands[("lab_target_concordance", "ALL")]
    assert low == pytest.approx(0.95) and label.startswith("lab target (ASCO/CAP 2007 criterion)")
    for band in ("validation_cases_fda", "pt_correct", "lab_target_concordance"):
        _, label, source = bands[(band, "ALL")]
        assert "CAP requirement" not in label  # §QA-WORDING
        assert "her2-domain.md §" in source


def test_every_sql_file_of_a_pack_exists_and_takes_values_only_as_parameters():
    for name in compute.all_sql_files():
        text = warehouse.sql(name)
        assert text.strip(), name
        if name.startswith("audit/"):
            # no str.format placeholder ({lab}); DuckDB struct literals ({'key': ...}) are fine
            assert not re.search(r"\{\s*\w*\s*\}", text), name


def test_concordance_target_is_the_labs_own_from_the_site_configuration():
    site = config.SiteConfig(labs={"NORTH": config.LabConfig(concordance_target_pct=90.0)})
    bands = _bands(site)
    low, label, source = bands[("lab_target_concordance", "NORTH")]
    assert low == pytest.approx(0.90)
    assert "set by the laboratory" in label and "her2qa.toml" in source
    for other in ("SOUTH", "ALL"):
        low, label, _ = bands[("lab_target_concordance", other)]
        assert low == pytest.approx(0.95)
        assert label == "lab target (ASCO/CAP 2007 criterion)"


def test_the_annual_review_reruns_the_boundary_mart_on_the_periods_pairs():
    """ANP.22970's interobserver summary: marts/boundary_agreement.sql re-run unchanged on the
    period's pairs; the section runs after the findings it reads and before the verdicts."""
    stages = {s.catalog: s for s in compute.STAGES}
    assert "marts/boundary_agreement" in stages["period_pairs"].marts
    assert "marts/positivity_pathologists" in stages["period_specimens"].marts
    order = list(compute.SECTIONS)
    assert order.index("findings") < order.index("annual_review") < order.index("verdicts")
    assert metrics.SECTIONS[-1] == "annual_review"
    assert "marts.boundary_pairs" in compute.WAREHOUSE_TABLES


def test_every_section_of_the_report_says_what_it_answers():
    """Each section of the pack names the checklist item or guideline it answers (lineage and
    the sign-off excepted): ANP.22970, CAP 11, ASCO/CAP §VALIDATION."""
    template = (render.TEMPLATES / "report.html.j2").read_text(encoding="utf-8")
    sections = re.findall(
        r'<section id="([^"{]+|\{\{ section \}\})">(.*?)</section>', template, re.S
    )
    assert len(sections) >= 16
    for name, body in sections:
        if name in ("lineage", "signoff"):
            continue
        assert "answers(" in body, name
    answered = {name: body for name, body in sections}
    assert (
        "ANP.22970" in answered["annual_review"] and "ANP.22970" in answered["observer_vs_observer"]
    )
    assert '"CAP 11"' in answered["cap11"] and "rate 3 is the reported rate" in answered["cap11"]
    assert "§VALIDATION" in answered["validation"] and "§VALIDATION" in answered["proficiency"]
