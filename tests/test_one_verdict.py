"""One verdict, made once (spec/warehouse.md, marts.findings): on a generated network run
through the real Dagster job, every output that shows a verdict shows the one of its row of
marts.findings — the site's badges, the Dagster WARN checks, the run's printed summary and
the audit pack's marks. None of them can disagree with another."""

from __future__ import annotations

import csv
import re
from html.parser import HTMLParser

import dagster as dg
import duckdb
import pytest

from dashboards.audit_pack import build_audit_pack
from her2qa import runner
from her2qa.generate import generate
from pipelines.defs.resources import default_paths
from warehouse import catalog

# The site's badge statuses are the findings' verdicts (dashboards/site/readings.py STATUS).
STATUS = {"ok": "ok", "look": "look", "info": "info", "small": "too_few"}
# Judged against the clock of the run that made them: not comparable with a pack made later.
CLOCKED = {"data_freshness"}


class _Readings(HTMLParser):
    """Every element carrying a finding's key: its badge status and its text."""

    VOID = frozenset({"br", "img", "hr", "meta", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[tuple[str, str, str, str], str]] = []
        self.text: dict[tuple[str, str, str, str], str] = {}
        self._open: list[tuple[tuple[str, str, str, str], int]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        a = dict(attrs)
        self._depth += 1
        if "data-finding" in a:
            key = (a["data-finding"], a["data-lab"], a["data-period"], a["data-subgroup"])
            self._open.append((key, self._depth))
            self.text.setdefault(key, "")
        cls = a.get("class") or ""
        badge = re.search(r"\bbadge-(\w+)\b", cls)
        if badge and self._open:
            self.found.append((self._open[-1][0], badge.group(1)))

    def handle_data(self, data: str) -> None:
        if self._open:
            self.text[self._open[-1][0]] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if self._open and self._open[-1][1] == self._depth:
            self._open.pop()
        self._depth -= 1


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 20k-row messy network through her2qa_job (Dagster, in process), and its outputs."""
    root = tmp_path_factory.mktemp("one_verdict")
    mp = pytest.MonkeyPatch()
    for name, value in {
        "HER2QA_HOME": root / "var",
        "HER2QA_PHI_KEY": "test-key-0123456789abcdef-not-for-production",
        "HER2QA_RESTRICTED": root / "restricted",
    }.items():
        mp.setenv(name, str(value))
    mp.delenv("HER2QA_CONFIG", raising=False)
    generate(root / "inbox", rows=20_000, seed=3, messy=True)
    paths = default_paths(root / "inbox", root / "her2.duckdb", root / "site")
    result = runner.execute(paths, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    summary = runner._summary(paths)
    with duckdb.connect(paths.warehouse_file, read_only=True) as con:
        cur = con.execute("SELECT * FROM marts.findings")
        names = [d[0] for d in cur.description]
        findings = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        (first, last) = con.execute(
            "SELECT min(collection_date), max(report_date) FROM staging.her2_results"
        ).fetchone()
    pack = build_audit_pack(paths.warehouse_file, first, last, out_dir=root / "audit")
    yield {
        "root": root,
        "result": result,
        "summary": summary,
        "findings": findings,
        "pack": pack,
    }
    mp.undo()


def _by_key(findings: list[dict]) -> dict[tuple[str, str, str, str], dict]:
    return {(f["finding"], f["lab_id"], f["period"], f["subgroup"]): f for f in findings}


def test_every_site_badge_is_the_verdict_of_its_finding(run):
    rows = _by_key(run["findings"])
    shown = 0
    for page in sorted((run["root"] / "site").glob("*.html")):
        parser = _Readings()
        parser.feed(page.read_text("utf-8"))
        for key, status in parser.found:
            if key in rows:  # an exact row (summaries name 'labs' or a window: worst-of rows)
                assert STATUS[status] == rows[key]["verdict"], (page.name, key)
                shown += 1
    assert shown > 20  # the scan read real badges


def test_every_warn_check_reports_the_look_rows_of_its_finding(run):
    evaluations = {e.check_name: e for e in run["result"].get_asset_check_evaluations()}
    for code in catalog.FINDINGS:
        look = [f for f in run["findings"] if f["finding"] == code and f["verdict"] == "look"]
        check = evaluations[code]
        assert check.severity == dg.AssetCheckSeverity.WARN
        assert check.passed == (not look), code
        labs = sorted({f["lab_id"] for f in look if f["lab_id"] != "ALL"})
        assert check.metadata["labs_to_look_at"].value == (", ".join(labs) or "none"), code
    assert any(not e.passed for e in evaluations.values())  # the network plants findings


def test_the_run_summary_lists_exactly_the_look_findings(run):
    expected = sorted(
        f"  {f['lab_id']}: {f['title']}: {f['message']}"
        for f in run["findings"]
        if f["verdict"] == "look"
        and (f["period"] == "ALL" or ".." in f["period"])
        and f["subgroup"] == "ALL"
    )
    printed = sorted(line for line in run["summary"].splitlines() if line.startswith("  "))
    assert printed == expected and printed


def test_the_audit_pack_marks_are_the_findings_verdicts(run):
    rows = _by_key(run["findings"])
    with (run["pack"].out_dir / "metrics.csv").open(encoding="utf-8") as fh:
        judged = [r for r in csv.DictReader(fh) if r["verdict"]]
    compared = 0
    for r in judged:
        if r["finding"] in CLOCKED or r["finding_period"] != "ALL":
            continue
        matches = [
            f
            for (code, lab, period, _), f in rows.items()
            if (code, lab, period) == (r["finding"], r["lab_id"], "ALL")
            and f["message"] == r["verdict_message"]
        ]
        assert matches, (r["section"], r["metric"], r["lab_id"])
        assert {f["verdict"] for f in matches} == {r["verdict"]}
        compared += 1
    assert compared > 10


def test_outputs_name_every_lab_below_its_target(run):
    """The contradiction the issue found: the overview said "in control" at 95.3% while the
    check warned of two labs under target. Now the site, the check and the summary all name
    the same labs."""
    look = sorted(
        f["lab_id"]
        for f in run["findings"]
        if f["finding"] == "lab_target_ihc_vs_ish"
        and f["period"] == "ALL"
        and f["verdict"] == "look"
        and f["lab_id"] != "ALL"
    )
    assert look
    index = (run["root"] / "site" / "index.html").read_text("utf-8")
    for lab in look:
        assert f"{lab}: IHC vs ISH:" in run["summary"]
        assert lab in index
    check = {e.check_name: e for e in run["result"].get_asset_check_evaluations()}
    named = check["lab_target_ihc_vs_ish"].metadata["labs_to_look_at"].value.split(", ")
    assert set(look) <= set(named)  # the check also names labs below target in a quarter


# --- wording (her2-domain.md §QA-WORDING): "in / out of control" for control limits only,
# "meets / below the lab target" for targets, "within / outside the published range" for bands
_CONTROL = re.compile(r"\b(in|out of) control\b", re.I)
_TARGET = re.compile(r"\b(meets|below) the lab target\b", re.I)
_RANGE = re.compile(r"\b(within|outside) the published range\b", re.I)
_KIND_WORDS = {"control": _CONTROL, "target": _TARGET, "range": _RANGE}


class _Text(HTMLParser):
    """Visible text, one chunk per block element (so sentences do not run into each other)."""

    BLOCKS = frozenset({"p", "div", "li", "td", "th", "h1", "h2", "h3", "h4", "span", "summary"})

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = [""]
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag in self.BLOCKS:
            self.chunks.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        if tag in self.BLOCKS:
            self.chunks.append("")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks[-1] += data


def _sentences(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    text = [" ".join(c.split()) for c in parser.chunks]
    return [s for c in text if c for s in re.split(r"(?<=[.;:])\s+", c) if s]


def _documents(run) -> dict[str, str]:
    docs = {p.name: p.read_text("utf-8") for p in (run["root"] / "site").glob("*.html")}
    docs["audit report.html"] = (run["pack"].out_dir / "report.html").read_text("utf-8")
    return docs


def test_each_kind_of_verdict_keeps_its_own_words_on_every_page_and_in_the_pack(run):
    checked = 0
    for name, html in _documents(run).items():
        for sentence in _sentences(html):
            kinds = {k for k, words in _KIND_WORDS.items() if words.search(sentence)}
            assert len(kinds) <= 1, (name, sentence)  # one sentence, one kind of verdict
            if _CONTROL.search(sentence):  # control words only beside control limits
                assert not re.search(
                    r"lab target|published (range|band)|benchmark", sentence, re.I
                ), (
                    name,
                    sentence,
                )
            if _TARGET.search(sentence) or _RANGE.search(sentence):
                checked += 1
            # never "CAP requirement" for a target (saying it is NOT one is the right wording)
            assert not re.search(r"(?<!not a )CAP requirement", sentence), (name, sentence)
    assert checked > 10


def test_every_badge_uses_the_words_of_its_finding_kind(run):
    from dashboards.report.formatting import finding_kind

    judged = 0
    for page in sorted((run["root"] / "site").glob("*.html")):
        parser = _Readings()
        parser.feed(page.read_text("utf-8"))
        for key, status in parser.found:
            kind, text = finding_kind(key[0]), parser.text[key]
            # a verdict of one kind never wears another kind's words (findings of no such kind,
            # e.g. a validation set judged on case counts and the lab target, may cite either)
            for other_kind, words in _KIND_WORDS.items():
                if kind in _KIND_WORDS and other_kind != kind:
                    assert not words.search(text), (page.name, key, text)
            if kind in _KIND_WORDS and status in ("ok", "look"):
                assert _KIND_WORDS[kind].search(text), (page.name, key, text)
                judged += 1
    assert judged > 10
