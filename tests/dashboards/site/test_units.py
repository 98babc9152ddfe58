"""The dashboard's pieces without a warehouse or a browser: escaping into figures and into the
page's JSON, readings made from findings (never a verdict of their own), the small-n rule and
lab targets from reference bands, the page-size check, the restricted folder check."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import duckdb
import pytest

from dashboards.report import formatting as fmt
from dashboards.site import build as site_build
from dashboards.site import checks as site_checks
from dashboards.site import figures, layout, readings
from dashboards.site.data import Band, Finding, Findings, SmallN, rows
from dashboards.site.data import sql as report_sql
from her2qa import restricted
from pipelines.defs.resources import Her2qaPaths
from pipelines.defs.site import site_pages_small_and_offline
from warehouse.build import define_macros

CANARY = "<img src=x onerror=alert(1)><script>alert(2)</script>"
FORMULA_TEXT = '=HYPERLINK("http://evil.example/","open me")'


def test_every_figure_string_is_escaped_once():
    fig = figures.new_figure(f"Kit {CANARY}", subtitle="a & b")
    fig.add_trace(
        figures.Scatter(x=[CANARY], y=[1], name=CANARY, hovertext=[f"{CANARY}\nsecond line"])
    )
    fig.add_trace(
        figures.Sankey(
            link={
                "source": [0],
                "target": [1],
                "value": [1],
                "customdata": [CANARY],
                "hovertemplate": "%{customdata}<extra></extra>",
            }
        )
    )
    spec = figures.to_spec(fig)
    text = json.dumps(spec)
    assert "<img" not in text and "<script" not in text
    assert (
        spec["layout"]["title"]["text"]
        == "Kit &lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;"
    )
    assert spec["layout"]["title"]["subtitle"]["text"] == "a &amp; b"
    assert spec["data"][0]["hovertext"][0].endswith("&lt;/script&gt;<br>second line")
    # the one tag a hover template keeps: hide the trace box
    assert spec["data"][1]["link"]["hovertemplate"] == "%{customdata}<extra></extra>"
    assert "template" not in spec["layout"]  # the page sends one template for all


def test_plotly_js_is_the_bundle_plotly_py_ships():
    from plotly.offline import get_plotlyjs

    assert site_build.plotly_js_bytes() == get_plotlyjs().encode("utf-8")


def test_page_json_cannot_close_its_script_element():
    text = figures.script_json({"a": "</script><script>alert(1)</script>", "b": "x & y\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><script>alert(1)</script>", "b": "x & y\u2028"}


def test_html_fragments_escape_their_text():
    html = layout.table(["lab", "n"], [[CANARY, 3]], numeric=[1], caption=CANARY)
    assert "<img" not in html and html.count("&lt;img") == 2
    reading = layout.reading(layout.Reading("look", CANARY, CANARY, "concordance.html"))
    assert "<script" not in reading and "Look here" in reading


def test_legend_gets_room_below_the_axis():
    fig = figures.new_figure("t", height=400)
    for i in range(12):
        fig.add_trace(figures.Scatter(x=[1], y=[i], name=f"a fairly long legend entry number {i}"))
    spec = figures.to_spec(fig)
    assert spec["layout"]["margin"]["b"] > figures.AXIS_ROOM_PX + 2 * figures.LEGEND_ROW_PX
    assert spec["layout"]["height"] > 400


def _finding(code: str, verdict: str, lab: str = "ALL", period: str = "ALL", **kw) -> Finding:
    row = {
        "finding": code,
        "lab_id": lab,
        "period": period,
        "subgroup": "ALL",
        "verdict": verdict,
        "figure": 90.0,
        "n": 100,
        "ci_low": 80.0,
        "ci_high": 95.0,
        "threshold": "lab target (ASCO/CAP 2007 criterion): 95% for each category",
        "source": "JOP-2007",
        "message": f"{code} {lab} {period}: the finding's own sentence.",
        "topic": "concordance",
        "title": "IHC vs ISH",
    }
    return Finding(**{**row, **kw})


@pytest.mark.parametrize(
    ("code", "verdict", "status", "label"),
    [
        ("lab_target_ihc_vs_ish", "ok", "ok", "Meets the lab target"),
        ("lab_target_ihc_vs_ish", "look", "look", "Below the lab target"),
        ("lab_target_lab_vs_reference", "too_few", "small", "Small n"),
        ("positivity_control", "ok", "ok", "In control"),
        ("positivity_control", "look", "look", "Out of control"),
        ("positivity_pathologist", "look", "look", "Outside the funnel limits"),
        ("her2_low_published_range", "ok", "ok", "Within the published range"),
        ("positivity_published_range", "look", "look", "Outside the published range"),
        ("observer_agreement", "info", "info", "For information"),
        ("quarantine_rate", "look", "look", "Look here"),
    ],
)
def test_a_reading_is_its_findings_verdict_and_message(code, verdict, status, label):
    """No rule of the site decides: the status is the verdict, the words are the message and
    the badge says it in the words of §QA-WORDING for the finding's kind."""
    f = _finding(code, verdict)
    r = readings.reading(f)
    assert (r.status, r.text, r.label) == (status, f.message, label)
    assert (r.finding, r.lab, r.period) == (code, "ALL", "ALL")
    html = layout.reading(r)
    assert f"badge-{status}" in html and label in html and 'data-finding="' + code in html


def test_only_control_limits_say_in_control():
    for code in ("lab_target_ihc_vs_ish", "her2_low_published_range", "data_freshness"):
        assert "control" not in fmt.verdict_label(code, "ok").lower()
        assert "control" not in fmt.verdict_label(code, "look").lower()
    assert layout.STATUS_LABEL["ok"] != "In control"


def test_network_summary_names_the_labs_and_takes_the_worst():
    rows = [
        _finding("lab_target_ihc_vs_ish", v, lab, figure=figure)
        for lab, v, figure in (
            ("CITY", "look", 89.9),
            ("EAST", "look", 81.1),
            ("NORTH", "ok", 96.0),
            ("WEST", "too_few", 70.0),
        )
    ]
    findings = Findings(rows)
    r = readings.labs_summary(
        findings,
        "lab_target_ihc_vs_ish",
        readings.lab_verdicts(findings, "lab_target_ihc_vs_ish"),
        topic="",
    )
    assert r is not None and r.status == "look" and r.label == "Below the lab target"
    assert r.text.startswith("2 of 4 laboratories below the lab target: CITY, EAST")
    assert "too few to judge: WEST" in r.text
    assert "furthest below: EAST (81.1%)" in r.text  # the worst lab, never hidden
    ok = Findings([_finding("lab_target_ihc_vs_ish", "ok", lab) for lab in ("A", "B")])
    r = readings.labs_summary(
        ok, "lab_target_ihc_vs_ish", readings.lab_verdicts(ok, "lab_target_ihc_vs_ish"), topic=""
    )
    assert r is not None and r.status == "ok" and r.text.startswith("none of 2 laboratories")


def test_window_summary_is_never_better_than_a_month_it_covers():
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    rows = [_finding("positivity_control", "ok", "EAST", m, topic="positivity") for m in months]
    rows.append(_finding("positivity_control", "look", "EAST", "2024-08", topic="positivity"))
    rows.append(_finding("positivity_published_range", "ok", "EAST", "2025-01..2025-12"))
    findings = Findings(rows)
    assert findings.window == "2025-01..2025-12"
    r = readings.months_summary(findings, "positivity_control", "EAST", topic="p-chart")
    assert (
        r is not None and r.status == "ok" and "12 month(s) in control" in r.text
    )  # 2024-08: before
    rows[5] = _finding("positivity_control", "look", "EAST", months[5], topic="positivity")
    r = readings.months_summary(Findings(rows), "positivity_control", "EAST", topic="p-chart")
    assert r is not None and r.status == "look" and r.label == "Out of control"
    assert months[5] in r.text and r.href == "positivity.html#flags"
    assert readings.worst(["ok", "info", "too_few"]) == "too_few"
    assert readings.worst(["ok", "look", "too_few"]) == "look"


def test_kappa_words_follow_landis_and_koch():
    """The site shows the SQL macro's words (warehouse/sql/macros/formatting.sql)."""
    con = duckdb.connect()
    define_macros(con)
    words = [
        con.execute("SELECT kappa_words($k)", {"k": k}).fetchone()[0]
        for k in (-0.1, 0.1, 0.3, 0.5, 0.7, 0.9, None)
    ]
    assert words == [
        "poor",
        "slight",
        "fair",
        "moderate",
        "substantial",
        "almost perfect",
        "undefined",
    ]


def _band(band_id: str, lab: str, value: float, role: str = "rule", label: str = "") -> Band:
    return Band(band_id, lab, "m", None, role, value, value, None, "x", "kind", "pop", "src", label)


def test_small_n_rule_comes_from_the_reference_bands():
    small = SmallN(30, 0.20)
    assert small(29) and not small(30)
    assert small(100, 0.40, 0.65)  # 25 points wide
    assert not small(100, 0.80, 0.95)


def test_page_size_check_blocks_a_page_over_one_megabyte(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>fine</p>", "utf-8")
    (site / "big.html").write_bytes(b"x" * (site_checks.MAX_PAGE_BYTES + 1))
    (site / "plotly.min.js").write_bytes(b"x" * (site_checks.MAX_PAGE_BYTES * 5))  # not a page
    paths = Her2qaPaths(
        inbox=str(tmp_path),
        warehouse_file=str(tmp_path / "w.duckdb"),
        archive_dir=str(tmp_path),
        site_dir=str(site),
    )
    result = site_pages_small_and_offline(paths=paths)
    assert not result.passed and "big.html" in result.description
    (site / "big.html").unlink()
    (site / "cdn.html").write_text('<script src="https://cdn.plot.ly/x.js"></script>', "utf-8")
    result = site_pages_small_and_offline(paths=paths)
    assert not result.passed and "cdn.html links to the network" in result.description
    (site / "cdn.html").unlink()
    assert site_pages_small_and_offline(paths=paths).passed


def test_an_unchanged_site_file_is_not_rewritten(tmp_path):
    # plotly.min.js and the assets keep their mtime from build to build: the browser's cached
    # copy (and a web server's Last-Modified / ETag) stays valid
    target = tmp_path / "plotly.min.js"
    site_build._write(target, b"plotly")
    os.utime(target, (1_000_000_000, 1_000_000_000))
    site_build._write(target, b"plotly")
    assert target.stat().st_mtime == 1_000_000_000 and target.read_bytes() == b"plotly"
    site_build._write(target, b"plotly 2")
    assert target.read_bytes() == b"plotly 2" and target.stat().st_mtime > 1_000_000_000
    assert [p.name for p in tmp_path.iterdir()] == ["plotly.min.js"]  # no .part left


def test_duckdb_writes_a_worklist_byte_for_byte_as_the_python_writer(tmp_path):
    # worklists are written by DuckDB (restricted.copy_csv) for speed: the same bytes as
    # restricted.write_csv, hostile text neutralised, owner-only
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (k INTEGER, s VARCHAR, b BOOLEAN, d DOUBLE, f FLOAT, g TINYINT, "
        "n BIGINT, day DATE)"
    )
    texts = [FORMULA_TEXT, "+1", "-x", "@a", "\tt", "\rr", "a,b", 'q"q', "l\nm", "#", " x ", ""]
    texts += [None, "é\u2028", "'=x", "=\u0301"]
    numbers = [0.1, -0.0, 1e-05, 1e16, float("nan"), float("inf"), 2.0, 5e-324, None]
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                k,
                texts[k % len(texts)],
                [True, False, None][k % 3],
                numbers[k % len(numbers)],
                numbers[k % len(numbers)],
                k % 200 - 100,
                -(2**62) + k,
                None if k % 4 else "2024-02-29",
            )
            for k in range(64)
        ],
    )
    columns = [(name, kind) for name, kind, *_ in con.execute("DESCRIBE t").fetchall()]
    cells = ", ".join(f'{restricted.csv_cell(n, k, "t")} AS "{n}"' for n, k in columns)
    copied = restricted.copy_csv(con, f"SELECT {cells} FROM t ORDER BY k", tmp_path / "a.csv")
    rows = con.execute("SELECT * FROM t ORDER BY k").fetchall()
    written = restricted.write_csv(tmp_path / "b.csv", [n for n, _ in columns], rows)
    assert copied == written == 64
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    with (tmp_path / "a.csv").open(encoding="utf-8", newline="") as fh:
        cells = [r["s"] for r in csv.DictReader(fh)]
    assert cells[:6] == ["'" + FORMULA_TEXT, "'+1", "'-x", "'@a", "'\tt", "'\rr"]
    assert os.stat(tmp_path / "a.csv").st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]
    assert restricted.csv_cell("at", "TIMESTAMP", "t") is None  # no spelling: Python writes it


def test_restricted_folder_check(tmp_path):
    folder = tmp_path / "restricted"
    folder.mkdir(mode=0o755)
    (folder / "a.csv").write_text("x\n")
    os.chmod(folder, 0o755)
    os.chmod(folder / "a.csv", 0o644)
    assert len(site_checks.restricted_problems(folder)) == 2
    os.chmod(folder, 0o700)
    os.chmod(folder / "a.csv", 0o600)
    assert site_checks.restricted_problems(folder) == []
    assert site_checks.restricted_problems(Path(tmp_path / "missing")) != []


def test_publish_assets_wire_into_the_definitions(tmp_path):
    """What pipelines/definitions.py builds: the site asset in group 'publish' downstream of
    the marts and findings, so her2qa_job and rebuild_job both build it, with its two checks."""
    import dagster as dg

    from pipelines.definitions import build_defs
    from pipelines.defs.resources import default_paths
    from pipelines.defs.site import SITE

    defs = build_defs(default_paths(tmp_path, tmp_path / "w.duckdb", tmp_path / "s"))
    graph = defs.resolve_asset_graph()
    node = graph.get(SITE)
    assert node.group_name == "publish"
    assert dg.AssetKey(["marts", "positivity_monthly"]) in node.parent_keys
    assert dg.AssetKey(["marts", "findings"]) in node.parent_keys
    for job in ("her2qa_job", "rebuild_job"):
        assert SITE in defs.resolve_job_def(job).asset_layer.selected_asset_keys
    checks = {key.name for key in graph.asset_check_keys if key.asset_key == SITE}
    assert checks == {"site_pages_small_and_offline", "site_carries_no_case_identifiers"}


def test_a_labs_own_target_is_labelled_as_its_own():
    from datetime import UTC, datetime

    from dashboards.site.data import NETWORK, Context
    from dashboards.site.layout import View
    from her2qa.config import SiteConfig

    default = "lab target (ASCO/CAP 2007 criterion)"
    own = "lab target, set by the laboratory in her2qa.toml (the ASCO/CAP 2007 criterion is 95%)"
    bands = {
        ("lab_target_concordance", "ALL"): _band(
            "lab_target_concordance", "ALL", 0.95, "target", default
        ),
        ("lab_target_concordance", "NORTH"): _band(
            "lab_target_concordance", "NORTH", 0.90, "target", own
        ),
    }
    north, south = View("lab-1", "NORTH", "NORTH"), View("lab-2", "SOUTH", "SOUTH")
    ctx = Context(
        None,  # type: ignore[arg-type]
        SiteConfig(),
        "run",
        datetime.now(UTC),
        [NETWORK, north, south],
        bands,
        Findings([]),
    )
    assert ctx.target(north) == pytest.approx(90.0) and ctx.target(south) == pytest.approx(95.0)
    assert ctx.target_label(south) == "lab target (ASCO/CAP 2007 criterion): 95%"
    assert ctx.target_label(NETWORK) == "lab target (ASCO/CAP 2007 criterion): 95%"
    assert ctx.target_label(north).startswith("lab target, set by the laboratory")
    assert ctx.target_label(north).endswith(": 90%")


def test_quarantine_counts_each_lab_code_as_written_trimmed():
    # the raw rows are counted per lab_id as written, then trimmed: ' CITY ' and 'CITY' are one
    # lab, an empty or missing code is '(no lab id)', and 'ALL' is the files' own accounting
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw; CREATE SCHEMA quarantine; CREATE SCHEMA ops")
    con.execute("CREATE TABLE raw.her2_rows (file_id BIGINT, lab_id VARCHAR)")
    con.execute("CREATE TABLE quarantine.rejected_rows (file_id BIGINT, lab_id VARCHAR)")
    con.execute(
        "CREATE TABLE ops.ingested_files (file_id BIGINT, file_name VARCHAR, status VARCHAR, "
        "arrival_date DATE, rows_read BIGINT, rows_quarantined BIGINT)"
    )
    read = [(1, "CITY"), (1, " CITY "), (1, "CITY"), (2, "CITY"), (1, "EAST"), (2, ""), (2, "  ")]
    read += [(1, None), (2, "EAST ")]
    rejected = [(1, " CITY"), (2, None), (2, "EAST")]
    con.executemany("INSERT INTO raw.her2_rows VALUES (?, ?)", read)
    con.executemany("INSERT INTO quarantine.rejected_rows VALUES (?, ?)", rejected)
    con.execute(
        "INSERT INTO ops.ingested_files VALUES (1, 'a.csv', 'ingested', '2026-01-01', 5, 1), "
        "(2, 'b.csv', 'ingested', '2026-01-02', 4, 2)"
    )
    by_lab = {
        r["lab_id"]: (r["rows_read"], r["rows_quarantined"])
        for r in rows(con, report_sql("quarantine_by_lab"))
    }
    assert by_lab == {"ALL": (9, 3), "CITY": (4, 1), "EAST": (2, 1), "(no lab id)": (3, 1)}
    by_file = {
        (r["lab_id"], r["file_id"]): (r["rows_read"], r["rows_quarantined"])
        for r in rows(con, report_sql("quarantine_by_file"), {"first_file_id": 1})
    }
    assert by_file == {
        ("ALL", 1): (5, 1),
        ("ALL", 2): (4, 2),
        ("CITY", 1): (3, 1),
        ("CITY", 2): (1, 0),
        ("EAST", 1): (1, 0),
        ("EAST", 2): (1, 1),
        ("(no lab id)", 1): (1, 0),
        ("(no lab id)", 2): (2, 1),
    }
    latest = rows(con, report_sql("quarantine_by_file"), {"first_file_id": 2})  # file 2 on
    assert {r["file_id"] for r in latest} == {2} and len(latest) == 4  # ALL, CITY, EAST, none
