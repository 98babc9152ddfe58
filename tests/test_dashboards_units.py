"""The dashboard's pieces without a warehouse or a browser: escaping into figures and into the
page's JSON, the readings' rules, the page-size check, the restricted folder check."""

from __future__ import annotations

import json
import os
from pathlib import Path

import plotly.graph_objects as go
import pytest

from dashboards.site import checks as site_checks
from dashboards.site import figures, layout, readings
from dashboards.site.data import Band
from pipelines.assets.publish import site_pages_small_and_offline
from pipelines.defs.resources import Her2qaPaths

CANARY = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def test_every_figure_string_is_escaped_once():
    fig = figures.new_figure(f"Kit {CANARY}", subtitle="a & b")
    fig.add_trace(go.Scatter(x=[CANARY], y=[1], name=CANARY, hovertext=[f"{CANARY}\nsecond line"]))
    fig.add_trace(
        go.Sankey(
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
        fig.add_trace(go.Scatter(x=[1], y=[i], name=f"a fairly long legend entry number {i}"))
    spec = figures.to_spec(fig)
    assert spec["layout"]["margin"]["b"] > figures.AXIS_ROOM_PX + 2 * figures.LEGEND_ROW_PX
    assert spec["layout"]["height"] > 400


@pytest.mark.parametrize(
    ("pct", "low", "high", "n", "status"),
    [
        (97.0, 95.5, 98.0, 500, "ok"),
        (94.0, 92.0, 95.5, 500, "look"),  # under the target, the interval touching it
        (80.0, 70.0, 88.0, 500, "look"),  # clearly under
        (96.0, 80.0, 99.0, 12, "small"),  # too few to tell
        (60.0, 30.0, 85.0, 10, "look"),  # few, but even the upper bound is under
    ],
)
def test_concordance_reading(pct, low, high, n, status):
    r = readings.concordance(
        topic="IHC vs ISH",
        n=n,
        pct_agree=pct,
        ci_low=low,
        ci_high=high,
        target=95.0,
        target_label="lab target (ASCO/CAP 2007 criterion): 95%",
        href="x.html",
    )
    assert r.status == status
    assert "lab target (ASCO/CAP 2007 criterion)" in r.text and f"n = {n}" in r.text


def test_band_reading_is_context_not_a_limit():
    band = Band(
        "positivity_dk_departments",
        "her2_positive_rate",
        None,
        "primary",
        0.14,
        0.118,
        0.172,
        "proportion",
        "department range",
        "Denmark",
        "Denmark, BCR-DK-2023",
        "published benchmark band (context, not a limit)",
    )

    def read(k, n, rate, lo, hi):
        return readings.versus_band(
            topic="t",
            what="primaries",
            k=k,
            n=n,
            rate=rate,
            ci_low=lo,
            ci_high=hi,
            band=band,
            href="",
        )

    assert read(200, 1000, 0.20, 0.176, 0.226).status == "look"  # whole CI above the band
    assert read(150, 1000, 0.15, 0.129, 0.173).status == "ok"
    assert read(3, 10, 0.30, 0.11, 0.60).status == "small"
    text = read(200, 1000, 0.20, 0.176, 0.226).text
    assert "context, not a limit" in text and "BCR-DK-2023" in text


def test_kappa_words_follow_landis_and_koch():
    assert [readings.kappa_words(k) for k in (-0.1, 0.1, 0.3, 0.5, 0.7, 0.9, None)] == [
        "poor",
        "slight",
        "fair",
        "moderate",
        "substantial",
        "almost perfect",
        "undefined",
    ]


def test_small_n_rule():
    assert figures.is_small(29) and not figures.is_small(30)
    assert figures.is_small(100, 0.40, 0.65)  # 25 points wide
    assert not figures.is_small(100, 0.80, 0.95)


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
    """What pipelines/definitions.py gets: the site asset in group 'publish' downstream of the
    marts, so her2qa_job and rebuild_job (groups staging, marts, publish) both build it."""
    import dagster as dg

    from pipelines.assets.publish import PUBLISH_ASSETS, PUBLISH_CHECKS, SITE
    from pipelines.definitions import ASSETS, CHECKS
    from pipelines.defs.jobs import her2qa_job, rebuild_job
    from pipelines.defs.resources import default_paths

    defs = dg.Definitions(
        assets=list(dict.fromkeys([*ASSETS, *PUBLISH_ASSETS])),
        asset_checks=list(dict.fromkeys([*CHECKS, *PUBLISH_CHECKS])),
        jobs=[her2qa_job, rebuild_job],
        resources={"paths": default_paths(tmp_path, tmp_path / "w.duckdb", tmp_path / "s")},
    )
    graph = defs.resolve_asset_graph()
    node = graph.get(SITE)
    assert node.group_name == "publish"
    assert dg.AssetKey(["marts", "positivity_monthly"]) in node.parent_keys
    for job in ("her2qa_job", "rebuild_job"):
        assert SITE in defs.resolve_job_def(job).asset_layer.selected_asset_keys
    assert {c.name for c in PUBLISH_CHECKS for c in c.check_specs} == {
        "site_pages_small_and_offline",
        "site_carries_no_case_identifiers",
    }


def test_a_labs_own_target_is_labelled_as_its_own():
    from datetime import UTC, datetime

    from dashboards.site.data import NETWORK, Context
    from dashboards.site.layout import View
    from her2qa.config import LabConfig, SiteConfig

    site = SiteConfig(labs={"NORTH": LabConfig(concordance_target_pct=90.0)})
    north, south = View("lab-1", "NORTH", "NORTH"), View("lab-2", "SOUTH", "SOUTH")
    ctx = Context(None, site, "run", datetime.now(UTC), [NETWORK, north, south], {})  # type: ignore[arg-type]
    assert ctx.target(north) == 90.0 and ctx.target(south) == 95.0
    assert ctx.target_label(south) == "lab target (ASCO/CAP 2007 criterion): 95%"
    assert ctx.target_label(NETWORK) == "lab target (ASCO/CAP 2007 criterion): 95%"
    own = ctx.target_label(north)
    assert own.startswith("lab target: 90% (set by the laboratory") and "2007" in own
