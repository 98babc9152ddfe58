"""The dashboard site (dashboards/), built by the Dagster `site` asset from the warehouse of
the same run, opened page by page in real headless Chromium (tests/browser.py).

Two sites, each built once per module: a generated messy 5-lab network (20k rows) with an
extra laboratory whose lab code, kit, reader and file name are an XSS canary and whose
accession is a spreadsheet formula; and the real TCGA-BRCA cohort (36 tissue-source sites,
small n everywhere). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import dagster as dg
import duckdb
import pytest

import warehouse
from dashboards.site import checks as site_checks
from dashboards.site import worklists
from dashboards.site.build import FOOTER_FILES, PLOTLY_JS, build_site
from dashboards.site.pages import data_quality
from dashboards.site.readings import STATUS, worst
from her2qa.generate import generate
from her2qa.runner import execute
from pipelines.defs.resources import Her2qaPaths
from pipelines.defs.site import SITE
from tests.browser import ARTIFACTS, open_page
from tests.conftest import IHC_ROW, ISH_ROW, SHARED, TEST_KEY, write_extract
from tests.dashboards.site.test_plotly_spec import draw_with_go_figure

CANARY = "<img src=x onerror=alert(1)><script>alert(2)</script>"
CANARY_FILE = "<img src=x onerror=alert(3)>.csv"
FORMULA = '=HYPERLINK("http://evil.example/","open me")'
TCGA = SHARED / "data" / "real" / "tcga-brca" / "extract.csv"
PAGES = (
    "index.html",
    "concordance.html",
    "ihc-ish.html",
    "metastasis.html",
    "positivity.html",
    "her2-low.html",
    "readers.html",
    "preanalytic.html",
    "proficiency.html",
    "data-quality.html",
    "sources.html",
)
TARGET_LABEL = "lab target (ASCO/CAP 2007 criterion)"

# Draw every view of the page (the lab selector's choices), or the network and the labs
# named, and report what each drew.
ALL_VIEWS_JS = """
async (labels) => {
  const out = [];
  const options = [...document.querySelectorAll('#lab-select option')];
  const keys = labels === null ? window.her2qa.views : options
    .filter((o, i) => i === 0 || labels.includes(o.textContent)).map(o => o.value);
  for (const key of keys) {
    await window.her2qa.show(key);
    const divs = [...document.querySelectorAll('.plotly-graph-div')];
    const shown = divs.filter(d => !d.hidden);
    out.push({
      key,
      shown: shown.length,
      drawn: shown.filter(d => d.querySelector('.main-svg') && d.data && d.data.length).length,
      empty: divs.length - shown.length,
      label: document.getElementById('view-label').textContent,
      svgText: !document.getElementById('view-label').textContent.includes('onerror') ? '' :
        shown.map(d => [...d.querySelectorAll('.main-svg text')]
                          .map(t => t.textContent).join(' ')).join(' '),
      images: document.querySelectorAll('img').length,
      scripts: [...document.scripts].map(s => s.getAttribute('src') || s.type),
    });
  }
  await window.her2qa.show(window.her2qa.views[0]);
  return out;
}
"""


@dataclass
class Built:
    root: Path
    paths: Her2qaPaths
    result: dg.ExecuteInProcessResult

    @property
    def site(self) -> Path:
        return Path(self.paths.site_dir)

    @property
    def restricted(self) -> Path:
        return Path(self.paths.restricted_dir)

    def query(self, sql: str) -> list[tuple]:
        with warehouse.connect(Path(self.paths.warehouse_file), read_only=True) as con:
            return con.execute(sql).fetchall()


def _canary_rows() -> list[dict]:
    """A sixth laboratory whose lab code, kits and reader are the canary; one IHC 3+ /
    ISH group 5 discordant specimen whose accession is a spreadsheet formula."""
    base = {
        "lab_id": CANARY,
        "assay_kit": CANARY,
        "pathologist_id": CANARY,
        "collection_date": "2024-05-02",
        "report_date": "2024-05-06",
    }
    rows = []
    for i in range(12):
        accession = FORMULA if i == 0 else f"CAN24-{i:04d}"
        mrn = f"MRNCANARY{i:04d}"
        rows.append(
            {
                **IHC_ROW,
                **base,
                "test_id": f"CAN-IHC-{i}",
                "accession_id": accession,
                "patient_mrn": mrn,
                "ihc_score": "3+" if i < 4 else "1+",
                "ihc_pct_stained": "80" if i < 4 else "40",
                "reported_result": "positive" if i < 4 else "negative",
            }
        )
        if i < 6:  # dual-probe ISH: group 5 on the first (IHC 3+: discordant), group 1 else
            amplified = i != 0
            rows.append(
                {
                    **ISH_ROW,
                    **base,
                    "test_id": f"CAN-ISH-{i}",
                    "accession_id": accession,
                    "patient_mrn": mrn,
                    "ish_her2_per_cell": "8.10" if amplified else "2.40",
                    "ish_cep17_per_cell": "2.00",
                    "ish_ratio": "4.05" if amplified else "1.20",
                    "reported_result": "positive" if amplified else "negative",
                }
            )
    return rows


def _paths(root: Path) -> Her2qaPaths:
    return Her2qaPaths(
        inbox=str(root / "inbox"),
        warehouse_file=str(root / "her2.duckdb"),
        archive_dir=str(root / "var" / "archive"),
        site_dir=str(root / "out" / "site"),
        restricted=str(root / "var" / "restricted"),
    )


def _materialise(root: Path) -> Built:
    """The nightly job (every asset but the quarterly audit pack: ingest to site, with the
    checks), in one in-process Dagster run."""
    paths = _paths(root)
    return Built(root, paths, execute(paths, job_name="her2qa_job"))


@contextlib.contextmanager
def _deployment(root: Path) -> Iterator[None]:
    """The environment of a deployment under ``root`` (key, state folder, no site TOML),
    for a module fixture (monkeypatch is per test)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HER2QA_PHI_KEY", TEST_KEY)
        mp.setenv("HER2QA_HOME", str(root / "var"))
        mp.delenv("HER2QA_CONFIG", raising=False)
        mp.chdir(root)
        yield


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("network")
    with _deployment(root):
        generate(root / "inbox", rows=20_000, seed=11, messy=True)
        write_extract(root / "inbox" / CANARY_FILE, _canary_rows())
        return _materialise(root)


@pytest.fixture(scope="module")
def tcga(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("tcga")
    with _deployment(root):
        (root / "inbox").mkdir()
        (root / "inbox" / "tcga-brca.csv").write_bytes(TCGA.read_bytes())
        return _materialise(root)


def _text(path: Path) -> str:
    return path.read_text("utf-8")


# --- the run and the files -------------------------------------------------------------


@pytest.mark.parametrize("which", ["network", "tcga"])
def test_site_asset_materialises_with_its_checks(which, request):
    built: Built = request.getfixturevalue(which)
    assert built.result.success
    [event] = [e for e in built.result.get_asset_materialization_events() if e.asset_key == SITE]
    meta = event.materialization.metadata
    assert meta["pages"].value == len(PAGES)
    assert 0 < meta["largest_page_kb"].value <= 1000
    assert meta["worklist_rows"].value > 0
    checks = {e.check_name: e.passed for e in built.result.get_asset_check_evaluations()}
    assert checks["site_pages_small_and_offline"]
    assert checks["site_carries_no_case_identifiers"]


def test_pages_ship_plotly_once_and_nothing_from_the_network(network):
    site = network.site
    assert sorted(p.name for p in site.glob("*.html")) == sorted(PAGES)
    assert [p.name for p in site.rglob("*.js") if "plotly" in p.name] == [PLOTLY_JS]
    assert (site / PLOTLY_JS).stat().st_size > 3_000_000
    for name in PAGES:
        html = _text(site / name)
        assert html.count(f'<script src="{PLOTLY_JS}"></script>') == 1, name
        assert "plotly.js v" not in html, name  # the bundle's banner: never inlined in a page
        assert "cdn.plot.ly" not in html and "mathjax" not in html.lower(), name
        assert "topojson" not in html.lower(), name
        assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html), name
        csp = unescape(html)
        assert "Content-Security-Policy" in csp and "connect-src 'none'" in csp, name
        assert (site / name).stat().st_size <= site_checks.MAX_PAGE_BYTES
    assert site_checks.external_references(site) == {}


def test_pages_draw_what_go_figure_draws(network, tmp_path, monkeypatch):
    """Every figure of every view, drawn as plain dicts (dashboards/site/plotly_spec.py) and
    drawn with go.Figure (validated by plotly.py on every assignment): the same page bytes."""
    generated = datetime(2025, 1, 1, tzinfo=UTC)

    def pages() -> dict[str, bytes]:
        with warehouse.connect(Path(network.paths.warehouse_file), read_only=True) as con:
            summary = build_site(
                con,
                tmp_path / "site",
                network.paths.load_site_config(),
                "run",
                restricted_dir=tmp_path / "restricted",
                generated_at=generated,
            )
        return {name: (tmp_path / "site" / name).read_bytes() for name in summary.pages}

    drawn = pages()
    with monkeypatch.context() as m:
        draw_with_go_figure(m)
        by_go_figure = pages()
    assert list(drawn) == list(by_go_figure) == list(PAGES)
    for name in PAGES:
        assert drawn[name] == by_go_figure[name], name
    assert sum(html.count(b'"type":"scatter"') for html in drawn.values()) > 100


def test_data_quality_shows_the_latest_files_and_counts_every_one(network, tmp_path, monkeypatch):
    """The data-quality page shows the LATEST_FILES latest files (a nightly network adds a
    file per lab per night: the page must not grow with the years); its summary still counts
    every file, and site.json lists every one."""
    monkeypatch.setattr(data_quality, "LATEST_FILES", 7)
    with warehouse.connect(Path(network.paths.warehouse_file), read_only=True) as con:
        build_site(
            con,
            tmp_path / "site",
            network.paths.load_site_config(),
            "run",
            restricted_dir=tmp_path / "restricted",
        )
    files = network.query("SELECT file_id, file_name, sha256 FROM ops.ingested_files ORDER BY 1")
    assert len(files) > 60
    html = _text(tmp_path / "site" / "data-quality.html")
    table = html[html.index('id="files"') : html.index('<footer class="footer">')]
    shown = [f"<td>{name}</td>" in table for _, name, _ in files]
    assert shown == [False] * (len(files) - 7) + [True] * 7  # the latest 7, nothing older
    assert f"the 7 latest of {len(files)} files" in html
    assert f"{len(files)} files: " in html  # the summary counts every file
    listed = json.loads((tmp_path / "site" / "site.json").read_text())["lineage"]["input_files"]
    assert len(listed) == len(files)
    # the per-file figure's bars: the latest 7 files' names, in arrival order
    latest = [f"{i}. {name}" for i, name, _ in files[-7:]]
    oldest = f"{files[0][0]}. {files[0][1]}"
    assert all(json.dumps(n)[1:-1] in html for n in latest) and json.dumps(oldest)[1:-1] not in html


def test_nav_links_resolve_to_files(network):
    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.hrefs: list[str] = []
            self.srcs: list[str] = []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if a.get("href"):
                self.hrefs.append(a["href"])
            if a.get("src"):
                self.srcs.append(a["src"])

    for name in PAGES:
        parser = Links()
        parser.feed(_text(network.site / name))
        nav = [h for h in parser.hrefs if not h.startswith("#")]
        assert {f"{p}" for p in PAGES} <= set(nav), name  # the nav bar links every page
        for ref in nav + parser.srcs:
            target = unquote(urlparse(ref).path)
            assert (network.site / target).is_file(), (name, ref)


def test_footer_names_the_run_and_the_files(network):
    run_id = network.result.run_id
    files = network.query("SELECT sha256 FROM ops.ingested_files ORDER BY file_id")
    assert len(files) > 60 > FOOTER_FILES
    for name in PAGES:
        html = _text(network.site / name)
        footer = html[html.index('<footer class="footer">') :]
        assert run_id in footer and "Generated at" in footer, name
        assert f"From {len(files)} input files: the {FOOTER_FILES} latest below" in footer
        for n, (sha,) in enumerate(files):  # the latest in the footer, every one in site.json
            if sha:  # an entry never read has no hash
                assert (sha[:12] in footer) == (n >= len(files) - FOOTER_FILES), (name, n)
    listed = json.loads((network.site / "site.json").read_text())["lineage"]["input_files"]
    assert [f["sha256"] for f in listed] == [sha for (sha,) in files]


def test_thresholds_name_their_source(network):
    pages = {name: _text(network.site / name) for name in PAGES}
    for name, html in pages.items():
        assert "CAP requirement" not in html, name
    for name in ("index.html", "concordance.html", "sources.html"):
        assert TARGET_LABEL in pages[name], name
    assert "published benchmark band (context, not a limit)" in pages["positivity.html"]
    assert "BCR-DK-2023" in pages["positivity.html"]  # the band's source
    assert "SCHRIJVER-2018" in pages["metastasis.html"]
    assert "no checklist requirement number confirmed" in pages["positivity.html"]


def test_worklists_are_restricted_and_formulas_neutralised(network):
    folder = network.restricted
    assert not (network.site / "restricted").exists()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = sorted(p.name for p in folder.iterdir() if p.name != worklists.MANIFEST)
    assert names == [
        "ihc0_metastatic_retest.csv",
        "ihc_ish_discordance.csv",
        "ihc_pct_contradictions.csv",
        "interpretation_disagreements.csv",
        "ish_counting.csv",
        "metastasis_retest_candidates.csv",
        "open_equivocal_cases.csv",
    ]
    for name in names:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    with (folder / "ihc_ish_discordance.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert "patient_key" not in rows[0]
    cells = [r["accession_id"] for r in rows if r["lab_id"] == CANARY]
    assert "'" + FORMULA in cells  # the IHC 3+ / group 5 canary case, neutralised
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]
    assert site_checks.restricted_problems(folder) == []


def test_no_patient_or_case_identifier_on_any_page(network):
    with warehouse.connect(Path(network.paths.warehouse_file), read_only=True) as con:
        assert site_checks.identifier_leaks(con, network.site) == []
    phi = set()
    for extract in Path(network.paths.inbox).glob("*.csv"):
        try:
            with extract.open(encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    for column in ("patient_mrn", "patient_name", "MRN", "Patient Name"):
                        if row.get(column) and len(row[column]) > 5:
                            phi.add(row[column])
        except (UnicodeDecodeError, csv.Error):
            continue  # the messy generator's unreadable files
    assert len(phi) > 1000
    keys = {k for (k,) in network.query("SELECT DISTINCT patient_key FROM raw.her2_rows") if k}
    text = "\n".join(_text(network.site / n) for n in PAGES)
    text += (network.site / "site.json").read_text("utf-8")
    words = re.findall(r"\w+", text)
    pairs = set(itertools.pairwise(words))
    mrns = {v for v in phi if not re.search(r"[\s,]", v)}
    names = [re.findall(r"\w+", v) for v in phi - mrns]
    assert not mrns & set(words)
    assert not [n for n in names if len(n) > 1 and tuple(n[:2]) in pairs]
    hexes = set(re.findall(r"[0-9a-f]{16,}", text))
    assert not {k[:16] for k in keys} & {h[:16] for h in hexes}


def test_identifier_check_finds_a_planted_key_and_accession(network, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    key, accession = network.query(
        "SELECT patient_key, accession_id FROM marts.specimen_her2 "
        "WHERE lab_id = 'NORTH' ORDER BY accession_id LIMIT 1"
    )[0]
    [(test_id,)] = network.query(
        "SELECT test_id FROM staging.her2_results WHERE regexp_matches(test_id, '[A-Za-z]') "
        "AND regexp_matches(test_id, '[0-9]') ORDER BY test_id LIMIT 1"
    )
    (site / "a.html").write_text(f"<p>{key[:20]}</p>", "utf-8")
    (site / "b.html").write_text(f"<p>case {accession}.</p>", "utf-8")
    (site / "c.html").write_text(f"<p>test {test_id}</p>", "utf-8")
    with warehouse.connect(Path(network.paths.warehouse_file), read_only=True) as con:
        leaks = site_checks.identifier_leaks(con, site)
    assert [(p, k) for p, k, _ in leaks] == [
        ("a.html", "patient_key"),
        ("b.html", "accession_id"),
        ("c.html", "test_id"),
    ]


def test_identifier_fingerprints_are_those_of_every_raw_row(network):
    """Ingest writes one fingerprint row per raw row, equal to the macro's over the raw layer
    (a file's rows fingerprinted under another file_id, or missed, fails)."""
    with warehouse.connect(Path(network.paths.warehouse_file), read_only=True) as con:
        warehouse.run(con, "macros/identifiers")
        assert warehouse.fingerprints_cover_raw(con)
        differ = con.execute(
            "SELECT count(*) FROM ((SELECT * FROM ops.identifier_fingerprints "
            "EXCEPT ALL SELECT * FROM identifier_fingerprints()) UNION ALL "
            "(SELECT * FROM identifier_fingerprints() "
            "EXCEPT ALL SELECT * FROM ops.identifier_fingerprints))"
        ).fetchone()[0]
        rows = con.execute("SELECT count(*) FROM ops.identifier_fingerprints").fetchone()[0]
    assert differ == 0
    assert rows > 10_000


def test_identifier_fingerprint_is_md5_whatever_the_duckdb_release():
    """Stored fingerprints outlive a DuckDB upgrade: the macro is MD5's first 8 bytes
    (little-endian), computed here by Python's hashlib."""
    values = ["N-2024-000123", "T0001", "0123456789ab", "é accented"]
    with duckdb.connect() as con:
        warehouse.ensure_schema(con)  # defines the macros
        got = [
            con.execute("SELECT identifier_fingerprint($v)", {"v": v}).fetchone()[0] for v in values
        ]
    want = [int.from_bytes(hashlib.md5(v.encode()).digest()[:8], "little") for v in values]
    assert got == want


def test_identifier_check_without_full_fingerprints_reads_the_raw_rows(network, tmp_path):
    """A warehouse whose fingerprints do not cover its raw rows (older than the table) is
    checked on its raw rows, and the writer's next connection fills them again."""
    copy = tmp_path / "her2.duckdb"
    shutil.copyfile(network.paths.warehouse_file, copy)
    accession = network.query(
        "SELECT accession_id FROM marts.specimen_her2 WHERE lab_id = 'NORTH' "
        "ORDER BY accession_id LIMIT 1"
    )[0][0]
    site = tmp_path / "site"
    site.mkdir()
    (site / "b.html").write_text(f"<p>case {accession}.</p>", "utf-8")
    with warehouse.connect(copy) as con:  # without ensure_schema: nothing refills yet
        con.execute("DELETE FROM ops.identifier_fingerprints WHERE accession_id IS NOT NULL")
    with warehouse.connect(copy, read_only=True) as con:
        assert not warehouse.fingerprints_cover_raw(con)
        assert [k for _, k, _ in site_checks.identifier_leaks(con, site)] == ["accession_id"]
    with warehouse.connect(copy) as con:
        warehouse.ensure_schema(con)
        assert warehouse.fingerprints_cover_raw(con)
        assert [k for _, k, _ in site_checks.identifier_leaks(con, site)] == ["accession_id"]
        # fingerprints by another function (an older release's): the counts agree, and the
        # oldest file's rows tell; the next writer connection fingerprints them anew
        con.execute("UPDATE ops.identifier_fingerprints SET accession_id = accession_id // 2")
        assert not warehouse.fingerprints_cover_raw(con)
        assert [k for _, k, _ in site_checks.identifier_leaks(con, site)] == ["accession_id"]
        warehouse.ensure_schema(con)
        assert warehouse.fingerprints_cover_raw(con)


def test_a_first_run_without_results_still_publishes(tmp_path, monkeypatch):
    monkeypatch.setenv("HER2QA_PHI_KEY", TEST_KEY)
    monkeypatch.setenv("HER2QA_HOME", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inbox").mkdir()
    built = _materialise(tmp_path)
    assert built.result.success
    assert sorted(p.name for p in built.site.glob("*.html")) == sorted(PAGES)
    html = _text(built.site / "index.html")
    assert "No data yet." in html and "no clinical specimen in the warehouse yet" in html
    assert '"figures":{"volume":{"all":null}}' in html  # drawn as 'no data', not as a figure


# --- the pages show the findings' verdicts, and make none --------------------------------

READING = re.compile(
    r'<(?:p|div) class="(?:reading reading-|tile-reading")?(?P<status>[a-z]*)"?\s*'
    r'data-finding="(?P<finding>[^"]*)" data-lab="(?P<lab>[^"]*)" data-period="(?P<period>[^"]*)"'
    r' data-subgroup="(?P<subgroup>[^"]*)">'
    r'<span class="badge badge-(?P<badge>[a-z]+)"><span aria-hidden="true">[^<]*</span> '
    r"(?P<label>[^<]*)</span>"
)


def _findings(built: Built) -> list[dict]:
    cols = ("finding", "lab_id", "period", "subgroup", "verdict", "message")
    rows = built.query(f"SELECT {', '.join(cols)} FROM marts.findings")
    return [dict(zip(cols, r, strict=True)) for r in rows]


def _window(built: Built) -> str:
    [(window,)] = built.query("SELECT max(period) FROM marts.findings WHERE period LIKE '%..%'")
    return window


def _per_view(html: str, section: str) -> dict[str, str]:
    """The fragments of an html block of a section, by view key, as text."""
    body = re.search(rf'<section id="{section}">(.*?)</section>', html, re.S).group(1)
    parts = re.split(r'<div class="per-view" data-view="([^"]+)"[^>]*>', body)
    return {key: unescape(frag) for key, frag in zip(parts[1::2], parts[2::2], strict=True)}


def _views(html: str) -> dict[str, str]:
    """view key -> lab code (None: the network) from the lab selector."""
    options = re.findall(r'<option value="([^"]+)">([^<]*)</option>', html)
    return {key: (None if key == "all" else unescape(label)) for key, label in options}


def test_every_badge_is_its_findings_verdict(network):
    """Each badge naming a finding row shows that row's verdict; a summary over labs or the
    window's months shows the worst of its rows; 'in control' only for control limits."""
    findings = _findings(network)
    by_key = {(f["finding"], f["lab_id"], f["period"], f["subgroup"]): f for f in findings}
    window = _window(network)
    seen = 0
    for name in PAGES:
        for m in READING.finditer(_text(network.site / name)):
            lab, code, period = unescape(m["lab"]), m["finding"], m["period"]
            label = m["label"]
            if m["status"]:
                assert m["status"] == m["badge"], (name, m.group(0))
            key = (code, lab, period, unescape(m["subgroup"]))
            if key not in by_key:  # a summary: of the labs, or of the window's rows
                rows = [
                    f
                    for f in findings
                    if f["finding"] == code
                    and ((lab == "labs" and f["lab_id"] != "ALL") or f["lab_id"] == lab)
                    and (
                        f["period"] == period
                        or (
                            "-" in f["period"]
                            and len(f["period"]) == 7
                            and window.split("..")[0] <= f["period"] <= window.split("..")[1]
                        )
                    )
                ]
                assert rows, (name, key)
                expected = STATUS[worst(f["verdict"] for f in rows)]
            else:
                expected = STATUS[by_key[key]["verdict"]]
            assert m["badge"] == expected, (name, code, lab, period)
            if label in ("In control", "Out of control"):
                assert code.startswith("positivity_control"), (name, code)
            if "funnel" in label:
                assert code == "positivity_pathologist", (name, code)
            if "lab target" in label:
                assert code.startswith("lab_target_"), (name, code)
            seen += 1
    assert seen > 100


def test_where_to_look_lists_every_look_finding(network):
    """Each view's 'Where to look' carries the message of every look finding of period ALL
    (the network view: of every laboratory, and the pooled ones)."""
    html = _text(network.site / "index.html")
    where = _per_view(html, "where")
    findings = _findings(network)
    views = _views(html)
    assert len(views) == 7
    for key, lab in views.items():
        look = [
            f
            for f in findings
            if f["verdict"] == "look"
            and f["period"] == "ALL"
            and f["subgroup"] == "ALL"
            and (lab is None or f["lab_id"] == lab)
        ]
        if lab is None:
            assert len({f["lab_id"] for f in look}) >= 5, look
        for f in look:
            assert f["message"] in where[key], (key, f["finding"], f["lab_id"])


def test_overview_names_every_lab_below_the_ihc_ish_target(network):
    labs = sorted(
        lab
        for (lab,) in network.query(
            "SELECT lab_id FROM marts.findings WHERE finding = 'lab_target_ihc_vs_ish' "
            "AND period = 'ALL' AND verdict = 'look' AND lab_id <> 'ALL'"
        )
    )
    [(total,)] = network.query(
        "SELECT count(DISTINCT lab_id) FROM marts.findings "
        "WHERE finding = 'lab_target_ihc_vs_ish' AND period = 'ALL' AND lab_id <> 'ALL'"
    )
    assert labs  # the generated network plants labs under the target
    html = _text(network.site / "index.html")
    phrase = f"{len(labs)} of {total} laboratories below the lab target: {', '.join(labs)}"
    assert phrase in _per_view(html, "headline")["all"]  # the network tile
    assert phrase in _per_view(html, "where")["all"]


def test_positivity_badge_and_flagged_months_agree(network):
    """The p-chart badge is the worst positivity_control verdict of the window (the funnel
    badge: of positivity_pathologist), and every look row of the window is listed."""
    html = _text(network.site / "positivity.html")
    flags = _per_view(html, "flags")
    window = _window(network)
    start, end = window.split("..")
    findings = [
        f
        for f in _findings(network)
        if f["finding"] in ("positivity_control", "positivity_pathologist")
        and (f["period"] == window or (len(f["period"]) == 7 and start <= f["period"] <= end))
    ]
    for key, lab in _views(html).items():
        text = flags[key]
        badges = []
        for code in ("positivity_control", "positivity_pathologist"):
            rows = [f for f in findings if f["finding"] == code and lab in (None, f["lab_id"])]
            if not rows:
                continue
            m = re.search(rf'<p class="reading reading-(\w+)" data-finding="{code}"', text)
            assert m and m[1] == STATUS[worst(f["verdict"] for f in rows)], (key, code)
            badges.append(m[1])
            for f in rows:
                if f["verdict"] == "look":
                    assert f["message"] in text, (key, f)  # listed, under a 'look' badge
        if badges and set(badges) == {"ok"}:  # every badge in control: the table is empty
            assert "No month out of control in the last 12 months" in text, key
    assert "outside the control limits" in unescape(html) or "out of control" in unescape(html)


def test_freshness_has_one_definition(network):
    html = unescape(_text(network.site / "index.html"))
    [(message,)] = network.query(
        "SELECT message FROM marts.findings WHERE finding = 'data_freshness' AND lab_id = 'ALL'"
    )
    assert message in html
    for name in PAGES:
        assert "92 days" not in unescape(_text(network.site / name)), name


def _data_counts(html: str, kind: str) -> dict[tuple[str, str], str]:
    """(lab, key) -> the count shown in the spans data-{kind}='key' data-lab='lab'."""
    pattern = rf"<span data-{kind}='([^']*)' data-lab='([^']*)'>([^<]*)</span>"
    return {(unescape(lab), unescape(key)): v for key, lab, v in re.findall(pattern, html)}


def test_cap11_shows_rate3_finding_and_counts_equal_the_mart(network):
    html = _text(network.site / "preanalytic.html")
    section = _per_view(html, "cap11")
    views = _views(html)
    shown = _data_counts(html, "cap11")
    rows = network.query(
        "SELECT lab_id, sum(n_specimens_audited), sum(n_specimens_agree), sum(n_rate3_met), "
        "sum(n_equivocal), sum(n_equivocal_completed) FROM marts.cap11_rates GROUP BY lab_id"
    )
    cols = (
        "n_specimens_audited",
        "n_specimens_agree",
        "n_rate3_met",
        "n_equivocal",
        "n_equivocal_completed",
    )
    for lab, *values in rows:
        for col, value in zip(cols, values, strict=True):
            assert shown[(lab, col)] == f"{int(value):,}", (lab, col)
    messages = dict(
        network.query("SELECT lab_id, message FROM marts.findings WHERE finding = 'cap11_rate3'")
    )
    for key, lab in views.items():
        assert messages[lab or "ALL"] in section[key], key  # the finding's words are the reading
    assert "Rate 3 (reported)" in unescape(html)
    assert 'data-finding="cap11_rate3"' in html
    assert "n_ish_completed" not in html  # rate 2 is completed of equivocal, not reflex-only


def test_validation_and_proficiency_page_shows_each_finding_and_the_marts_counts(network):
    html = _text(network.site / "proficiency.html")
    verdicts = {
        (f["finding"], f["lab_id"], f["period"], f["subgroup"]): f["verdict"]
        for f in _findings(network)
        if f["finding"] in ("validation_set", "proficiency_event", "proficiency_events_per_year")
    }
    assert any(k[0] == "validation_set" for k in verdicts), "the generator plants a study"
    shown = {
        (unescape(m["finding"]), unescape(m["lab"]), m["period"], unescape(m["subgroup"])): m[
            "badge"
        ]
        for m in READING.finditer(html)
    }
    for key, verdict in verdicts.items():
        assert shown.get(key) == STATUS[verdict], key  # every row, with its own verdict
    counts = _data_counts(html, "validation")
    for lab, stratum, n_pos, n_neg in network.query(
        "SELECT lab_id, stratum, n_positive, n_negative FROM marts.validation_sets"
    ):
        assert counts[(lab, f"{stratum}|n_positive")] == f"{n_pos:,}"
        assert counts[(lab, f"{stratum}|n_negative")] == f"{n_neg:,}"
    pt = _data_counts(html, "pt")
    events = network.query(
        "SELECT lab_id, strftime(event_date, '%Y-%m-%d'), n_graded, n_correct, graded_by "
        "FROM marts.proficiency_events"
    )
    assert events
    for lab, day, graded, correct, _ in events:
        assert pt[(lab, f"{day}|n_graded")] == f"{graded:,}"
        assert pt[(lab, f"{day}|n_correct")] == f"{correct:,}"
    text = unescape(html)
    if any(e[4] in ("consensus", "mixed") for e in events):
        assert "the network's consensus (no key given; not the provider's grade)" in text or (
            "mixed: the provider's key where given, else the network's consensus" in text
        )
    if any(e[4] == "provider_key" for e in events):
        assert "the provider's key (key" in text


def test_sources_lists_every_reference_band(network):
    html = unescape(_text(network.site / "sources.html"))
    bands = network.query("SELECT band_id, lab_id, source FROM marts.reference_bands")
    assert len(bands) >= 20
    for band_id, _lab, source in bands:
        assert f"<code>{band_id}</code>" in html and source in html, band_id
    rows = re.search(r'<section id="bands">(.*?)</section>', html, re.S).group(1).count("<tr>")
    assert rows == len(bands) + 1  # the header and one row per band


# --- in the browser ----------------------------------------------------------------------


def _open_all_views(
    chromium, built: Built, name: str, shot: str, labs: list[str] | None = None
) -> list[dict]:
    report = open_page(
        chromium,
        built.site / name,
        screenshot_name=f"dashboards-{shot}-{name[:-5]}",
        settle_selector="body[data-rendered]",
    )
    page = report.page
    try:
        views = page.evaluate(ALL_VIEWS_JS, labs)
        page.wait_for_timeout(100)
        assert report.console_errors == [], (name, report.console_errors)
        assert report.page_errors == [], (name, report.page_errors)
        assert report.failed_requests == [], (name, report.failed_requests)
        assert report.external_requests == [], (name, report.external_requests)
        assert report.dialogs == [], (name, report.dialogs)
        assert "her2qa" in report.title
        for v in views:
            assert v["drawn"] == v["shown"], (name, v["key"], v["label"])
            # the XSS canary (a lab code, kit, reader, file name) is inert in every view
            assert v["images"] == 0, (name, v["key"])
            assert v["scripts"] == [PLOTLY_JS, "assets/site.js", "application/json"], v["key"]
            if "onerror" in v["label"] and v["shown"]:
                assert v["label"] == CANARY and "onerror=alert(1)" in v["svgText"], (name, v)
        return views
    finally:
        page.close()


@pytest.mark.parametrize("name", PAGES)
def test_every_page_and_view_renders_in_chromium(browser, network, name):
    views = _open_all_views(browser, network, name, "network", None)
    assert len(views) == 7  # the network and six laboratories, the canary's among them
    if name not in ("sources.html",):
        network_view = views[0]
        assert network_view["shown"] >= 1 and network_view["empty"] == 0, network_view
        # every figure slot draws for a real laboratory of the network
        assert all(v["empty"] == 0 for v in views[1:] if v["label"] == "NORTH"), views


@pytest.fixture(scope="module")
def tcga_labs(tcga: Built) -> list[str]:
    """The TCGA views drawn in the browser: the 6 largest sites and the 6 smallest (where the
    small-n edge cases are), of the 26 with a clinical specimen (every view of every page is
    drawn for the generated network)."""
    labs = [
        lab
        for (lab,) in tcga.query(
            "SELECT lab_id FROM marts.specimen_her2 GROUP BY lab_id ORDER BY count(*) DESC, lab_id"
        )
    ]
    return labs[:6] + labs[-6:]


@pytest.mark.parametrize("name", PAGES)
def test_tcga_pages_render_and_say_small_n(browser, tcga, tcga_labs, name):
    views = _open_all_views(browser, tcga, name, "tcga", tcga_labs)
    assert len(views) == 1 + len(tcga_labs)
    html = _text(tcga.site / name)
    assert "Small numbers." in html, name  # the banner of small views
    if name in ("concordance.html", "index.html"):
        assert "small n" in html.lower() or "Small n" in html, name


def test_xss_canary_shows_as_text(browser, network):
    """The canary lab is a view of every page (test_every_page_and_view_renders_in_chromium
    checks each one): here, its label, its figures' text and the page's scripts."""
    report = open_page(
        browser, network.site / "concordance.html", settle_selector="body[data-rendered]"
    )
    page = report.page
    try:
        key = page.evaluate(
            "[...document.querySelectorAll('#lab-select option')]"
            ".find(o => o.textContent.includes('onerror')).value"
        )
        page.select_option("#lab-select", key)
        page.wait_for_selector(f"body[data-rendered='{key}']")
        page.wait_for_timeout(200)
        page.screenshot(path=str(ARTIFACTS / "dashboards-network-canary-view.png"), full_page=True)
        assert page.inner_text("#view-label") == CANARY
        titles = page.evaluate("[...document.querySelectorAll('.gtitle')].map(t => t.textContent)")
        assert any(CANARY in t for t in titles), titles  # drawn as text, whole
        assert report.dialogs == [] and report.page_errors == [] and report.console_errors == []
    finally:
        page.close()
    html = _text(network.site / "data-quality.html")
    assert "&lt;img src=x onerror=alert(3)&gt;.csv" in html  # the file name, escaped
    assert CANARY not in html and "<img" not in html


def test_lab_choice_travels_between_pages(browser, network):
    report = open_page(browser, network.site / "index.html", settle_selector="body[data-rendered]")
    page = report.page
    try:
        page.select_option("#lab-select", label="NORTH")
        key = page.eval_on_selector("#lab-select", "s => s.value")
        page.wait_for_selector(f"body[data-rendered='{key}']")
        assert page.url.endswith("#lab=NORTH")
        page.click("nav a[href^='concordance.html']")
        page.wait_for_selector("body[data-rendered]")
        assert page.inner_text("#view-label") == "NORTH"
        assert page.eval_on_selector("#lab-select", "s => s.value") == key
        titles = page.evaluate("[...document.querySelectorAll('.gtitle')].map(t => t.textContent)")
        assert any("NORTH" in t for t in titles), titles
    finally:
        page.close()


def test_readers_boundary_section_shows_the_marts_figures_without_a_verdict(network):
    """The 0 / 1+ boundary section of the Inter-observer page: per view, the pairs and κ of
    marts.boundary_agreement (breakdown all), and its figures; plain figures, no badge."""
    html = _text(network.site / "readers.html")
    section = _per_view(html, "boundary")
    rows = network.query(
        "SELECT lab_id, n_pairs, kappa FROM marts.boundary_agreement "
        "WHERE comparison = 'second_read' AND boundary = '0_vs_1plus' AND breakdown = 'all'"
    )
    assert rows, "the network has second reads at 0 vs 1+"
    for key, lab in _views(html).items():
        mine = [r for r in rows if r[0] == (lab or "ALL")]
        if not mine:
            continue
        _, n_pairs, kappa = mine[0]
        assert f"{n_pairs:,}" in section[key], key
        assert f"{kappa:.2f}" in section[key], key
    body = re.search(r'<section id="boundary">(.*?)</section>', html, re.S).group(1)
    assert "data-finding" not in body  # no verdict: none of these figures has a finding
    for slot in ("boundary-agreement", "boundary-kappa", "ihc0-share"):
        assert slot in body, slot
