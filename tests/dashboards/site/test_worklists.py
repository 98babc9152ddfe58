"""The case worklists on the site: each restricted CSV (owner-only, formulas neutralised, no
patient_key or PHI) and its count on its page, which equals the CSV's rows for the network and
for every laboratory. The warehouse is the fixture of tests/warehouse/test_worklists.py plus a
laboratory whose accession ids are spreadsheet formulas."""

from __future__ import annotations

import csv
import re
import stat
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboards.site import worklists
from dashboards.site.build import build_site
from tests.browser import open_page
from tests.marts_fixtures import build, ihc, single_probe_ish
from tests.warehouse.test_worklists import SITE, _rows

FORMULA = '=HYPERLINK("http://evil.example/","open me")'
# the five lists: CSV -> the page that counts it
PAGES = {
    "ihc_pct_contradictions.csv": "readers.html",
    "ihc_ish_discordance.csv": "ihc-ish.html",
    "open_equivocal_cases.csv": "data-quality.html",
    "ish_counting.csv": "ihc-ish.html",
    "ihc0_metastatic_retest.csv": "metastasis.html",
}
COUNT = re.compile(r"data-worklist='([^']+)' data-lab='([^']+)'>([^<]+)<")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    canary = {"lab_id": "FORM", "patient_key": "PATIENT-KEY-FORM-0001"}
    rows = [
        *_rows(),
        ihc("0", ihc_pct_stained=40.0, accession_id=FORMULA, **canary),
        ihc("2+", accession_id="+SUM(A1)", test_id="-2+3", **canary),
        ihc("3+", accession_id="@B2", **canary),
        single_probe_ish(2.0, accession_id="@B2", **canary),
    ]
    con = build(root / "w.duckdb", rows, SITE)
    summary = build_site(
        con,
        root / "site",
        SITE,
        None,
        restricted_dir=root / "restricted",
        generated_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    keys = {
        r[0]
        for r in con.execute("SELECT DISTINCT patient_key FROM staging.her2_results").fetchall()
    }
    yield summary, keys, con
    con.close()


def _csv(folder: Path, name: str) -> list[dict]:
    with (folder / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _page_counts(site_dir: Path, page: str, name: str) -> dict[str, int]:
    html = (site_dir / page).read_text("utf-8")
    return {lab: int(n.replace(",", "")) for file, lab, n in COUNT.findall(html) if file == name}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_count_equals_csv_rows(site, name):
    summary, _, _ = site
    rows = _csv(summary.restricted_dir, name)
    counts = _page_counts(summary.site_dir, PAGES[name], name)
    assert counts["ALL"] == len(rows) == summary.worklists[name]
    assert len(rows) > 0, name  # the fixture puts cases on every list
    per_lab = Counter(r["lab_id"] for r in rows)
    shown = {lab: n for lab, n in counts.items() if lab != "ALL"}
    assert shown == {lab: per_lab.get(lab, 0) for lab in shown}  # every lab view, 0 included
    assert set(per_lab) <= set(shown)  # every lab on the list has its view


@pytest.mark.parametrize("name", sorted(PAGES))
def test_csv_rows_link_specimen_rule_and_source(site, name):
    summary, _, _ = site
    rows = _csv(summary.restricted_dir, name)
    for r in rows:
        assert r["lab_id"] and r["accession_id"] and r["rule"] and r["reason"], r
        assert "her2-domain.md §" in r["source"], r


def test_restricted_files_owner_only_neutralised_and_without_patient_keys(site):
    summary, keys, _ = site
    folder = summary.restricted_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    listed = [*(w.file for w in worklists.LISTS), worklists.MANIFEST]
    assert sorted(p.name for p in folder.iterdir()) == sorted(listed)
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        text = path.read_text("utf-8")
        assert not [k for k in keys if k in text], path.name
        if path.name == worklists.MANIFEST:  # what each list was written from: no case data
            continue
        header = text.splitlines()[0].split(",")
        assert "patient_key" not in header and "patient_mrn" not in header, path.name
        assert not [k for k in keys if k in text], path.name
        for row in _csv(folder, path.name):
            for value in row.values():
                assert not value.startswith(("=", "+", "@", "\t", "\r")), (path.name, value)
                assert not (value.startswith("-") and not re.fullmatch(r"-?[\d.]+", value))
    cells = [r["accession_id"] for r in _csv(folder, "ihc_pct_contradictions.csv")]
    assert "'" + FORMULA in cells
    open_cases = _csv(folder, "open_equivocal_cases.csv")
    assert "'+SUM(A1)" in [r["accession_id"] for r in open_cases]
    assert "'-2+3" in [r["ihc_test_id"] for r in open_cases]
    assert "'@B2" in [r["accession_id"] for r in _csv(folder, "ihc_ish_discordance.csv")]


def test_open_equivocal_csv_is_oldest_first(site):
    summary, _, _ = site
    days = [int(r["days_open"]) for r in _csv(summary.restricted_dir, "open_equivocal_cases.csv")]
    assert days == sorted(days, reverse=True) and days[0] > days[-1]


def test_no_case_on_any_page(site):
    summary, keys, con = site
    from dashboards.site import checks as site_checks

    assert site_checks.identifier_leaks(con, summary.site_dir) == []
    for page in set(PAGES.values()):
        html = (summary.site_dir / page).read_text("utf-8")
        assert FORMULA not in html and "HYPERLINK" not in html
        assert not [k for k in keys if k in html]


def test_counts_show_in_chromium(browser, site):
    summary, _, _ = site
    rows = len(_csv(summary.restricted_dir, "open_equivocal_cases.csv"))
    report = open_page(
        browser, summary.site_dir / "data-quality.html", settle_selector="body[data-rendered]"
    )
    try:
        shown = report.page.evaluate(
            "[...document.querySelectorAll(\"[data-worklist='open_equivocal_cases.csv']\")]"
            ".filter(e => e.offsetParent !== null).map(e => e.textContent)"
        )
        assert shown == [str(rows)]
        assert report.page_errors == [] and report.console_errors == []
    finally:
        report.page.close()


def test_lists_written_side_by_side_are_the_bytes_of_one_at_a_time(site, tmp_path):
    """write_all writes as many lists at once as DuckDB has threads: every file must be the
    bytes the lists give written one after another (one thread), rows and counts alike."""
    _, _, con = site
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    try:
        con.execute("SET threads = 1")
        one = worklists.write_all(con, tmp_path / "one")
        con.execute("SET threads = 4")
        side_by_side = worklists.write_all(con, tmp_path / "four")
    finally:
        con.execute(f"SET threads = {int(threads)}")
    assert one == side_by_side and sum(one.values()) > 0
    for w in worklists.LISTS:
        assert (tmp_path / "four" / w.file).read_bytes() == (tmp_path / "one" / w.file).read_bytes()


def test_a_list_is_written_again_only_when_what_it_comes_from_changed(site, tmp_path):
    """Same warehouse state, same query, file as written: the file is left as it is (a run
    with no new file). A file changed by hand, or a build that changed the marts, and it is
    written again, with the bytes a first writing gives."""
    _, _, con = site
    folder, fresh = tmp_path / "lists", tmp_path / "fresh"
    first = worklists.write_all(con, folder)
    worklists.write_all(con, fresh)
    inodes = {w.file: (folder / w.file).stat().st_ino for w in worklists.LISTS}
    assert worklists.write_all(con, folder) == first
    assert {w.file: (folder / w.file).stat().st_ino for w in worklists.LISTS} == inodes

    tampered = worklists.LISTS[0].file
    (folder / tampered).write_text("edited by hand\n", encoding="utf-8")
    assert worklists.write_all(con, folder) == first
    assert (folder / tampered).read_bytes() == (fresh / tampered).read_bytes()
    assert (folder / worklists.LISTS[1].file).stat().st_ino == inodes[worklists.LISTS[1].file]

    (before,) = con.execute("SELECT changed_at FROM ops.mart_state").fetchone()
    try:  # as a build that recomputed the marts leaves it
        con.execute("UPDATE ops.mart_state SET changed_at = changed_at + INTERVAL 1 SECOND")
        assert worklists.write_all(con, folder) == first
    finally:
        con.execute("UPDATE ops.mart_state SET changed_at = $t", {"t": before})
    for w in worklists.LISTS:
        assert (folder / w.file).stat().st_ino != inodes[w.file], w.file
        assert (folder / w.file).read_bytes() == (fresh / w.file).read_bytes()
    assert stat.S_IMODE((folder / worklists.MANIFEST).stat().st_mode) == 0o600
