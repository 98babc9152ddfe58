"""The ASCO/CAP engine (warehouse/sql/macros/asco_cap_rules.sql), through the marts.

One warehouse per module: a specimen per case, built once, then one test per case.
References: her2-domain.md §ISH-GROUPS, §ISH-RESOLVE, §FINAL-STATUS, §HER2-LOW,
§ISH-SINGLE, §ISH-2013, §IHC-2018; spec/warehouse.md (v2) "Statuses" and "Which results make
a specimen's status".
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from her2qa import config
from tests.marts_fixtures import build, ihc, ish, records, single_probe_ish, specimen

# Representative (ratio, HER2/cell) for each 2018 group.
GROUP = {1: (2.5, 5.0), 2: (2.2, 3.5), 3: (1.5, 6.5), 4: (1.6, 4.8), 5: (1.2, 2.4)}


def rows_for(acc: str, score: str | None, numbers: tuple[float, float] | None, **over):
    """A specimen's clinical rows: an IHC result (or an indeterminate one) and a dual ISH."""
    rows = [ihc(score, accession_id=acc, **over)]
    if numbers is not None:
        rows.append(ish(*numbers, accession_id=acc, **over))
    return rows


# --- §ISH-GROUPS: every boundary, inclusive on the >= side ------------------------------
BOUNDARIES = [
    (2.00, 4.00, 1),
    (1.99, 4.00, 4),
    (2.00, 3.99, 2),
    (1.99, 3.99, 5),
    (1.99, 5.99, 4),
    (1.99, 6.00, 3),
    (2.00, 6.00, 1),
    (2.00, 5.99, 1),
    (3.10, 12.4, 1),
    (0.90, 1.80, 5),
]

# --- §FINAL-STATUS / §ISH-RESOLVE: every ISH group × concurrent IHC, and no ISH ----------
# None as IHC: no usable IHC result (an indeterminate IHC row is present).
RESOLUTION = {
    # group: {IHC: final_status}
    1: {None: "positive", "0": "positive", "1+": "positive", "2+": "positive", "3+": "positive"},
    2: {None: "equivocal", "0": "negative", "1+": "negative", "2+": "negative", "3+": "positive"},
    3: {None: "equivocal", "0": "negative", "1+": "negative", "2+": "positive", "3+": "positive"},
    4: {None: "equivocal", "0": "negative", "1+": "negative", "2+": "negative", "3+": "positive"},
    5: {None: "negative", "0": "negative", "1+": "negative", "2+": "negative", "3+": "positive"},
    None: {
        None: "indeterminate",
        "0": "negative",
        "1+": "negative",
        "2+": "equivocal",
        "3+": "positive",
    },
}
RESOLUTION_CASES = [(g, s, want) for g, by in RESOLUTION.items() for s, want in by.items()]

# --- her2_category (spec/warehouse.md "Statuses", §HER2-LOW) -------------------------------
# (IHC score, ihc_pct_stained, ISH group or None, expected final_status, expected category)
CATEGORIES = [
    ("3+", 50.0, None, "positive", "positive"),
    ("2+", 40.0, None, "equivocal", "equivocal"),
    (None, None, None, "indeterminate", "indeterminate"),
    ("1+", 20.0, None, "negative", "low"),
    ("1+", 5.0, None, "negative", "low"),  # contradicting percentage: still the score's call
    ("2+", 40.0, 5, "negative", "low"),
    ("0", 0.5, None, "negative", "ultralow"),
    ("0", 5.0, None, "negative", "ultralow"),
    ("0", 10.0, None, "negative", "ultralow"),  # <= 10 inclusive
    ("0", 0.0, None, "negative", "null"),
    ("0", None, None, "negative", "zero_unspecified"),
    ("0", 10.5, None, "negative", "zero_unspecified"),  # > 10 contradicts the score
    ("0", 60.0, 5, "negative", "zero_unspecified"),
    (None, None, 5, "negative", "negative_unspecified"),  # a negative with no IHC score
    ("0", 0.0, 1, "positive", "positive"),
]

# --- §ISH-2013: the 2013 and 2007 rule sets, configured for lab OLD -------------------------
# OLD: 2007 until 2014-01-01 (exclusive), then 2013 until 2018-06-10 (exclusive), then 2018.
OLD_TOML = """
[labs.OLD]
guidelines = [
    {version = "2013", until = 2018-06-10},
    {version = "2007", until = "2014-01-01"},
]
"""
D2007, D2013, D2018 = date(2012, 5, 2), date(2016, 5, 2), date(2019, 5, 2)
# (report date, IHC, (ratio, HER2/cell) or None, expected version, status, 2018 ish_group)
HISTORICAL = [
    # 2013 dual-probe: ratio >= 2.0 (groups 1 and 2) or >= 6.0/cell (group 3) positive
    (D2013, None, (2.00, 3.00), "2013", "positive", 2),
    (D2013, None, (2.20, 3.50), "2013", "positive", 2),
    (D2013, "0", (2.20, 3.50), "2013", "positive", 2),  # 2018: negative
    (D2013, None, (1.99, 6.00), "2013", "positive", 3),
    (D2013, "1+", (1.50, 6.50), "2013", "positive", 3),  # 2018: negative
    # ratio < 2.0 and 4.0 to < 6.0/cell: equivocal, resolved by the IHC
    (D2013, None, (1.99, 4.00), "2013", "equivocal", 4),
    (D2013, None, (1.99, 5.99), "2013", "equivocal", 4),
    (D2013, "2+", (1.60, 4.80), "2013", "equivocal", 4),  # 2018: negative
    (D2013, "1+", (1.60, 4.80), "2013", "negative", 4),
    (D2013, "3+", (1.60, 4.80), "2013", "positive", 4),
    # ratio < 2.0 and < 4.0/cell: negative, whatever the IHC but 3+
    (D2013, None, (1.99, 3.99), "2013", "negative", 5),
    (D2013, "2+", (1.20, 2.40), "2013", "negative", 5),
    (D2013, "3+", (1.20, 2.40), "2013", "positive", 5),
    # IHC alone: 3+ positive, 2+ equivocal, 0/1+ negative
    (D2013, "3+", None, "2013", "positive", None),
    (D2013, "2+", None, "2013", "equivocal", None),
    (D2013, "1+", None, "2013", "negative", None),
    (D2013, "0", None, "2013", "negative", None),
    (D2013, None, None, "2013", "indeterminate", None),
    # 2007 FISH ratio: > 2.2 positive, 1.8-2.2 equivocal, < 1.8 negative
    (D2007, None, (2.21, 4.60), "2007", "positive", 1),
    (D2007, None, (2.20, 4.60), "2007", "equivocal", 1),  # 2018: positive
    (D2007, None, (2.00, 4.20), "2007", "equivocal", 1),
    (D2007, None, (1.80, 3.70), "2007", "equivocal", 5),
    (D2007, None, (1.79, 3.70), "2007", "negative", 5),
    (D2007, None, (1.50, 6.50), "2007", "negative", 3),  # copy number alone: not in 2007 dual
    (D2007, "2+", (2.00, 4.20), "2007", "equivocal", 1),
    (D2007, "1+", (2.00, 4.20), "2007", "negative", 1),
    (D2007, "3+", (1.20, 2.40), "2007", "positive", 5),
    (D2007, "2+", None, "2007", "equivocal", None),
    (D2007, "0", None, "2007", "negative", None),
    # after the configured periods: 2018 rules
    (D2018, None, (2.20, 3.50), "2018", "equivocal", 2),
    (D2018, "0", (2.20, 3.50), "2018", "negative", 2),
    (D2018, None, (2.20, 4.60), "2018", "positive", 1),
    # period edges: valid_from inclusive, until exclusive
    (date(2013, 12, 31), None, (2.10, 4.40), "2007", "equivocal", 1),
    (date(2014, 1, 1), None, (2.10, 4.40), "2013", "positive", 1),
    (date(2018, 6, 9), None, (2.20, 3.50), "2013", "positive", 2),
    (date(2018, 6, 10), None, (2.20, 3.50), "2018", "equivocal", 2),
]

# --- §ISH-SINGLE (contract v2): a single-probe ISH without a usable dual-probe one ----------
# (HER2/cell, IHC score or None, expected final status, expected single-probe call)
# 2018: >= 6.0 positive, < 4.0 negative, 4.0 to < 6.0 equivocal; IHC 3+ first; the
# equivocal band resolves to negative with IHC 0/1+, else stays equivocal.
SINGLE_2018 = [
    (6.00, None, "positive", "positive"),
    (5.99, None, "equivocal", "equivocal"),
    (4.00, None, "equivocal", "equivocal"),
    (3.99, None, "negative", "negative"),
    (8.21, "1+", "positive", "positive"),  # issue 10: EAST S23-02832-A2
    (6.00, "0", "positive", "positive"),
    (6.00, "2+", "positive", "positive"),
    (3.99, "2+", "negative", "negative"),
    (3.00, "3+", "positive", "negative"),  # IHC 3+ first (a discordance)
    (5.00, "0", "negative", "equivocal"),
    (5.00, "1+", "negative", "equivocal"),
    (5.00, "2+", "equivocal", "equivocal"),  # dual-probe ISH decides
    (5.00, "3+", "positive", "equivocal"),
]
# Under the lab's 2013 and 2007 rules (§ISH-2013 tables). 2013: the same bands. 2007: "> 6
# positive, 4-6 equivocal, < 4 negative" (no CEP17 probe): 6.00 is equivocal.
SINGLE_HISTORICAL = [
    ("2013", 6.00, None, "positive", "positive"),
    ("2013", 5.99, None, "equivocal", "equivocal"),
    ("2013", 4.00, "1+", "negative", "equivocal"),
    ("2013", 4.00, "2+", "equivocal", "equivocal"),
    ("2013", 3.99, None, "negative", "negative"),
    ("2013", 3.99, "3+", "positive", "negative"),
    ("2007", 6.01, None, "positive", "positive"),
    ("2007", 6.00, None, "equivocal", "equivocal"),
    ("2007", 6.00, "0", "negative", "equivocal"),
    ("2007", 6.00, "2+", "equivocal", "equivocal"),
    ("2007", 4.00, None, "equivocal", "equivocal"),
    ("2007", 3.99, None, "negative", "negative"),
    ("2007", 3.99, "2+", "negative", "negative"),
    ("2007", 3.00, "3+", "positive", "negative"),
]
VERSION_DAY = {"2007": date(2012, 5, 2), "2013": date(2016, 5, 2)}

# --- categories per the version the result was read under (§IHC-2018, §HER2-LOW) -----------
# (version, IHC, % stained, expected category): under 2007 a score 0 was "no staining".
CATEGORY_VERSIONS = [
    ("2007", "0", 0.0, "null"),
    ("2007", "0", 5.0, "zero_unspecified"),  # stained cells contradict a 2007 score 0
    ("2007", "1+", 5.0, "low"),  # 2007 1+: weak staining in any proportion
    ("2013", "0", 5.0, "ultralow"),
    ("2013", "0", 10.0, "ultralow"),
    ("2013", "0", 10.5, "zero_unspecified"),
    ("2013", "1+", 5.0, "low"),
]


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("rules")
    rows = []
    for i, (ratio, her2, _) in enumerate(BOUNDARIES):
        rows += rows_for(f"B{i}", None, (ratio, her2))
    for g, score, _ in RESOLUTION_CASES:
        rows += rows_for(f"R{g}-{score}", score, GROUP.get(g))
    for i, (score, pct, g, _, _) in enumerate(CATEGORIES):
        rows += rows_for(f"C{i}", score, GROUP.get(g), ihc_pct_stained=pct)
    for i, (day, score, numbers, _, _, _) in enumerate(HISTORICAL):
        rows += rows_for(f"H{i}", score, numbers, lab_id="OLD", report_date=day)
        # the same results at a lab without configured guidelines: always 2018
        rows += rows_for(f"H{i}", score, numbers, lab_id="NEW", report_date=day)
    for i, (her2, score, _, _) in enumerate(SINGLE_2018):
        rows.append(single_probe_ish(her2, accession_id=f"S{i}"))
        rows.append(ihc(score, accession_id=f"S{i}"))
    for i, (version, her2, score, _, _) in enumerate(SINGLE_HISTORICAL):
        day = VERSION_DAY[version]
        rows.append(single_probe_ish(her2, accession_id=f"SH{i}", lab_id="OLD", report_date=day))
        rows.append(ihc(score, accession_id=f"SH{i}", lab_id="OLD", report_date=day))
    for i, (version, score, pct, _) in enumerate(CATEGORY_VERSIONS):
        day = VERSION_DAY[version]
        rows.append(
            ihc(score, accession_id=f"CV{i}", lab_id="OLD", report_date=day, ihc_pct_stained=pct)
        )
    (root / "her2qa.toml").write_text(OLD_TOML, encoding="utf-8")
    site = config.load_site_config(root / "her2qa.toml")
    connection = build(root / "her2.duckdb", rows, site)
    yield connection
    connection.close()


@pytest.mark.parametrize(("ratio", "her2", "group"), BOUNDARIES)
def test_ish_group_boundaries(con, ratio, her2, group):
    i = BOUNDARIES.index((ratio, her2, group))
    assert specimen(con, "NORTH", f"B{i}")["ish_group"] == group


@pytest.mark.parametrize(("group", "score", "status"), RESOLUTION_CASES)
def test_final_status_resolution(con, group, score, status):
    row = specimen(con, "NORTH", f"R{group}-{score}")
    assert row["ish_group"] == group
    assert row["ihc_score"] == score
    assert row["final_status"] == status
    assert row["guideline_version"] == "2018"


@pytest.mark.parametrize(("score", "pct", "group", "status", "category"), CATEGORIES)
def test_her2_category(con, score, pct, group, status, category):
    i = CATEGORIES.index((score, pct, group, status, category))
    row = specimen(con, "NORTH", f"C{i}")
    assert (row["final_status"], row["her2_category"]) == (status, category)


@pytest.mark.parametrize(
    ("day", "score", "numbers", "version", "status", "group"),
    HISTORICAL,
    ids=[f"{v}-{d}-{s}-{n}" for d, s, n, v, _, _ in HISTORICAL],
)
def test_configured_rule_sets(con, day, score, numbers, version, status, group):
    i = HISTORICAL.index((day, score, numbers, version, status, group))
    old = specimen(con, "OLD", f"H{i}")
    assert old["guideline_version"] == version
    assert old["final_status"] == status
    assert old["ish_group"] == group  # always the 2018 grouping of the numbers
    new = specimen(con, "NEW", f"H{i}")
    assert new["guideline_version"] == "2018"
    assert new["final_status"] == RESOLUTION[group][score]


@pytest.mark.parametrize(("her2", "score", "status", "call"), SINGLE_2018)
def test_single_probe_ish_2018(con, her2, score, status, call):
    i = SINGLE_2018.index((her2, score, status, call))
    row = specimen(con, "NORTH", f"S{i}")
    assert (row["ish_probe"], row["ish_group"], row["ish_ratio"]) == ("single", None, None)
    assert row["ish_her2_per_cell"] == her2
    assert row["ihc_score"] == score
    assert (row["ish_single_call"], row["final_status"]) == (call, status)
    assert row["guideline_version"] == "2018"


@pytest.mark.parametrize(("version", "her2", "score", "status", "call"), SINGLE_HISTORICAL)
def test_single_probe_ish_under_2013_and_2007(con, version, her2, score, status, call):
    i = SINGLE_HISTORICAL.index((version, her2, score, status, call))
    row = specimen(con, "OLD", f"SH{i}")
    assert (row["guideline_version"], row["ish_probe"], row["ish_group"]) == (
        version,
        "single",
        None,
    )
    assert (row["ish_single_call"], row["final_status"]) == (call, status)


def test_single_probe_negative_without_ihc_is_negative_unspecified(con):
    row = specimen(con, "NORTH", f"S{SINGLE_2018.index((3.99, None, 'negative', 'negative'))}")
    assert row["her2_category"] == "negative_unspecified"
    positive = specimen(con, "NORTH", "S0")
    assert positive["her2_category"] == "positive"


@pytest.mark.parametrize(("version", "score", "pct", "category"), CATEGORY_VERSIONS)
def test_categories_follow_the_version_read_under(con, version, score, pct, category):
    i = CATEGORY_VERSIONS.index((version, score, pct, category))
    row = specimen(con, "OLD", f"CV{i}")
    assert (row["guideline_version"], row["her2_category"]) == (version, category)


def test_guideline_periods_are_the_configuration(con):
    assert records(con, "SELECT * FROM marts.guideline_periods ORDER BY valid_until") == [
        {
            "lab_id": "OLD",
            "guideline_version": "2007",
            "valid_from": None,
            "valid_until": date(2014, 1, 1),
        },
        {
            "lab_id": "OLD",
            "guideline_version": "2013",
            "valid_from": date(2014, 1, 1),
            "valid_until": date(2018, 6, 10),
        },
    ]


def test_version_follows_the_specimen_date(tmp_path):
    """The specimen's date is the latest report_date of its selected results."""
    site = config.SiteConfig(
        labs={
            "OLD": config.LabConfig(
                guidelines=(config.GuidelinePeriod("2013", None, date(2018, 6, 10)),)
            )
        }
    )
    rows = [
        ihc("0", lab_id="OLD", accession_id="X", report_date=date(2018, 6, 1)),
        ish(2.2, 3.5, lab_id="OLD", accession_id="X", report_date=date(2018, 6, 12)),
        ihc("0", lab_id="OLD", accession_id="Y", report_date=date(2018, 6, 1)),
        ish(2.2, 3.5, lab_id="OLD", accession_id="Y", report_date=date(2018, 6, 2)),
    ]
    con = build(tmp_path / "w.duckdb", rows, site)
    x, y = specimen(con, "OLD", "X"), specimen(con, "OLD", "Y")
    assert (x["specimen_date"], x["guideline_version"], x["final_status"]) == (
        date(2018, 6, 12),
        "2018",
        "negative",
    )
    assert (y["specimen_date"], y["guideline_version"], y["final_status"]) == (
        date(2018, 6, 2),
        "2013",
        "positive",
    )


# --- the TOML configuration ------------------------------------------------------------------
def _load(tmp_path: Path, text: str) -> config.SiteConfig:
    path = tmp_path / "her2qa.toml"
    path.write_text(text, encoding="utf-8")
    return config.load_site_config(path)


def test_guideline_toml_chains_periods_by_until(tmp_path):
    site = _load(tmp_path, OLD_TOML)
    assert site.labs["OLD"].guidelines == (
        config.GuidelinePeriod("2007", None, date(2014, 1, 1)),
        config.GuidelinePeriod("2013", date(2014, 1, 1), date(2018, 6, 10)),
    )


def test_guideline_toml_without_guidelines_keeps_the_fingerprint(tmp_path):
    site = _load(tmp_path, '[labs.NORTH]\ndate_format = "%d/%m/%Y"\n')
    assert site.labs["NORTH"].guidelines == ()
    old_style = config.SiteConfig(labs={"NORTH": config.LabConfig(date_format="%d/%m/%Y")})
    assert site.fingerprint() == old_style.fingerprint()
    assert _load(tmp_path, OLD_TOML).fingerprint() != site.fingerprint()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('guidelines = [{version = "2010"}]', "is not one of"),
        ('guidelines = [{version = "2013", until = "June 2018"}]', "is not a date"),
        ('guidelines = [{version = "2013", colour = "red"}]', "unknown key"),
        (
            'guidelines = [{version = "2013", from = 2015-01-01, until = 2014-01-01}]',
            "is not before",
        ),
        (
            'guidelines = [{version = "2013", from = 2013-06-01, until = 2018-01-01}, '
            '{version = "2007", until = 2014-01-01}]',
            "overlap",
        ),
        ('guidelines = [{version = "2013"}, {version = "2007"}]', "overlap"),
        ('guidelines = "2013"', "must be a list"),
    ],
)
def test_guideline_toml_errors(tmp_path, body, message):
    with pytest.raises(config.ConfigError, match=message):
        _load(tmp_path, f"[labs.OLD]\n{body}\n")
