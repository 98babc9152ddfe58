"""Wide exports (issue 13 §3): one row per case, IHC and ISH side by side, read through a
[[sources]] mapping into the same result rows as the contract's CSV."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pcsv
import pytest

from her2qa import config
from her2qa.generate import generate
from her2qa.ingest import extract
from her2qa.ingest.formats import read, wide
from tests.conftest import IHC_ROW, ISH_ROW
from tests.ingest import sources
from tests.ingest.test_excel import write_xlsx
from tests.ingest.test_hostile_input import (
    CANARY_DOB,
    CANARY_MRN,
    CANARY_NAME,
    assert_accounting,
    assert_no_phi,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "formats" / "wide-example.toml"

# A small wide CSV mapping of the kind an interface engineer writes (semicolons, codes).
MAPPING = """
[[sources]]
pattern = "cases*.csv"
layout = "wide"
delimiter = ";"
lab_id = "NORTH"
[sources.columns]
"Case" = "accession_id"
"Patient ID" = "patient_mrn"
"Name" = "patient_name"
"Born" = "patient_dob"
"Type" = "specimen_role"
"Collected" = "collection_date"
[[sources.assays]]
assay = "IHC"
columns = {"IHC no" = "test_id", "IHC date" = "report_date", "IHC" = "ihc_score", "IHC call" = "reported_result"}
[[sources.assays]]
assay = "ish"
[sources.assays.columns]
"ISH no" = "test_id"
"ISH date" = "report_date"
"HER2" = "ish_her2_per_cell"
"CEP17" = "ish_cep17_per_cell"
"Ratio" = "ish_ratio"
"Cells" = "ish_cells_counted"
"ISH call" = "reported_result"
[sources.values.specimen_role]
"P" = "primary"
"""
HEADER = "Case;Patient ID;Name;Born;Type;Collected;IHC no;IHC date;IHC;IHC call;"
HEADER += "ISH no;ISH date;HER2;CEP17;Ratio;Cells;ISH call;Comment;Patient phone\n"
PATIENT = f"{CANARY_MRN};{CANARY_NAME};{CANARY_DOB};P;2024-03-01"


def _case(case: str, ihc: str, ish: str, comment: str = "") -> str:
    return f"{case};{PATIENT};{ihc};{ish};{comment};555-0100\n"


IHC_BLOCK = "I-1;2024-03-04;2+;equivocal"
ISH_BLOCK = "S-1;2024-03-08;8.1;2.0;4.05;20;positive"
NO_IHC = ";;;"
NO_ISH = ";;;;;;"


def test_example_mapping_reads_the_generated_wide_network_like_its_csv(wh, tmp_path):
    """`her2qa generate --format wide` read with docs/formats/wide-example.toml stages the
    same results as the same network in CSV; names, MRNs and birth dates go nowhere."""
    wide_wh = sources.fresh(wh, "wide")
    generate(wh.inbox, rows=800, seed=3)
    generate(wide_wh.inbox, rows=800, seed=3, fmt="wide")
    site = config.load_site_config(EXAMPLE)
    sources.run(wh)
    progress: list[str] = []
    sources.run(wide_wh, site, progress)
    csv_rows, wide_rows = sources.staged_history(wh), sources.staged_history(wide_wh)
    assert len(csv_rows) > 700
    assert wide_rows == csv_rows
    counts = (
        "SELECT sum(rows_read), sum(rows_staged), sum(rows_quarantined) FROM ops.ingested_files"
    )
    assert wide_wh.one(counts) == wh.one(counts)
    assert wide_wh.one("SELECT count(*) FROM ops.ingested_files WHERE status <> 'ingested'") == 0
    assert_accounting(wide_wh)
    # fewer sheet rows than results: IHC and ISH of a case share a row
    cases = wide_wh.one("SELECT count(DISTINCT (file_id, extra->>'case_row')) FROM raw.her2_rows")
    assert cases < len(csv_rows)
    # the generated patients' identifiers appear in no table of the wide warehouse
    generated = pcsv.read_csv(next(wh.inbox.glob("*.csv"))).to_pydict()
    identifiers = {*generated["patient_mrn"][:40], *generated["patient_name"][:40]}
    sources.assert_absent(wide_wh, identifiers, "\n".join(progress))


def test_generated_wide_workbooks_are_deterministic(tmp_path):
    generate(tmp_path / "a", rows=200, seed=9, fmt="wide")
    generate(tmp_path / "b", rows=200, seed=9, fmt="wide")
    names = sorted(p.name for p in (tmp_path / "a").glob("*.xlsx"))
    assert names and all(
        (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names
    )


def test_wide_csv_counts_one_row_per_result_and_one_per_case_without_any(wh, tmp_path):
    body = HEADER
    body += _case("C1", IHC_BLOCK, ISH_BLOCK, "rush")  # two results
    body += _case("C2", IHC_BLOCK.replace("I-1", "I-2"), NO_ISH)  # IHC only
    body += _case("C3", NO_IHC, NO_ISH)  # no result: one row with its reason
    body += "C4;only;three\n"  # a record that does not line up: one row with its reason
    (wh.inbox / "cases.csv").write_text(body, encoding="utf-8")
    sources.run(wh, sources.site(tmp_path, MAPPING))
    assert sources.outcome(wh, "cases.csv") == ("ingested", None)
    rows = wh.query(
        "SELECT source_row, test_id, extra->>'case_row', extra->>'Comment', malformed "
        "FROM raw.her2_rows ORDER BY source_row"
    )
    assert [r[:4] for r in rows[:3]] == [
        (1, "I-1", "1", "rush"),
        (2, "S-1", "1", "rush"),
        (3, "I-2", "2", ""),
    ]
    assert rows[3][0] == 4 and "case row 3 has no value in any assay block" in rows[3][4]
    assert rows[4][0] == 5 and "fields" in rows[4][4] and "line 5" in rows[4][4]
    assert wh.one("SELECT rows_read FROM ops.ingested_files") == 5
    staged = wh.query(
        "SELECT test_id, lab_id, assay, specimen_role, ihc_score, ish_ratio "
        "FROM staging.her2_results ORDER BY test_id"
    )
    assert staged == [
        ("I-1", "NORTH", "IHC", "primary", "2+", None),
        ("I-2", "NORTH", "IHC", "primary", "2+", None),
        ("S-1", "NORTH", "ISH", "primary", None, 4.05),
    ]
    # the phone column (named like an identifier) is dropped by name, the comment kept
    assert wh.one("SELECT columns_extra FROM ops.ingested_files") == ["Comment", "case_row"]
    assert_no_phi(wh)
    assert_accounting(wh)


def test_wide_case_rows_stage_like_the_same_results_in_csv(wh, tmp_path):
    ref = sources.fresh(wh, "reference")
    ihc = {**IHC_ROW, "test_id": "I-1", "patient_mrn": CANARY_MRN, "patient_name": CANARY_NAME}
    ihc |= {"patient_dob": CANARY_DOB, "cold_ischemia_min": "", "fixation_hours": ""}
    ihc |= {"accession_id": "C1", "specimen_site": "", "assay_kit": "", "ihc_pct_stained": ""}
    ihc |= {"pathologist_id": "", "test_purpose": "", "result_version": ""}
    ish = {**ihc, **{k: ISH_ROW[k] for k in ISH_ROW if k.startswith("ish_")}}
    ish |= {"test_id": "S-1", "assay": "ISH", "ihc_score": "", "report_date": "2024-03-08"}
    ish |= {"reported_result": "positive", "ish_her2_per_cell": "8.1", "ish_cep17_per_cell": "2.0"}
    (ref.inbox / "long.csv").write_text(sources.csv_text([ihc, ish]), encoding="utf-8")
    sources.run(ref)
    (wh.inbox / "cases.csv").write_text(HEADER + _case("C1", IHC_BLOCK, ISH_BLOCK))
    sources.run(wh, sources.site(tmp_path, MAPPING))
    assert sources.staged(wh, "cases.csv") == sources.staged(ref, "long.csv")


def test_a_missing_mapped_header_rejects_the_file_with_its_name(wh, tmp_path):
    (wh.inbox / "cases.csv").write_text(HEADER.replace("IHC no", "IHC number"))
    (wh.inbox / "cases-dup.csv").write_text(HEADER.replace("Comment", "ihc"))
    sources.run(wh, sources.site(tmp_path, MAPPING))
    status, reason = sources.outcome(wh, "cases.csv")
    assert status == "rejected" and reason == (
        "missing_columns: the sheet has no column 'IHC no' (test_id)"
    )
    status, reason = sources.outcome(wh, "cases-dup.csv")
    assert status == "rejected" and reason == "duplicate_columns: column 'IHC' appears twice"


def _wide(extra: str, blocks: str | None = None) -> str:
    blocks = (
        '[[sources.assays]]\nassay = "IHC"\n'
        'columns = {"T" = "test_id", "D" = "report_date", "R" = "reported_result"}\n'
        if blocks is None
        else blocks
    )
    return (
        '[[sources]]\npattern = "w*"\nlayout = "wide"\n'
        'columns = {"A" = "accession_id", "M" = "patient_mrn", "S" = "specimen_role", '
        '"C" = "collection_date", "L" = "lab_id"}\n' + extra + blocks
    )


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        (_wide("", ""), "a wide source needs assays"),
        (
            _wide("", '[[sources.assays]]\nassay = "PCR"\ncolumns = {"T" = "test_id"}\n'),
            'assay must be "IHC" or "ISH"',
        ),
        (
            _wide("", '[[sources.assays]]\nassay = "IHC"\ncolumns = {"T" = "test_id"}\n'),
            "no column maps to report_date, reported_result",
        ),
        (
            _wide("", '[[sources.assays]]\nassay = "IHC"\ncolums = {"T" = "test_id"}\n'),
            "unknown key(s): colums",
        ),
        (
            _wide(
                "",
                '[[sources.assays]]\nassay = "IHC"\n'
                'columns = {"T" = "test_id", "D" = "report_date", "R" = "reported_result", '
                '"A2" = "accession_id"}\n',
            ),
            "accession_id is mapped for the case too",
        ),
        (
            _wide('[sources.values]\nassay = {"x" = "IHC"}\n'.replace("assay", "ihc_scor")),
            "'ihc_scor' is not a contract column",
        ),
        ('[[sources]]\npattern = "w*"\nlayout = "tall"\n', 'layout must be "long"'),
    ],
)
def test_mapping_mistakes_are_one_config_line(wh, tmp_path, toml, words):
    (wh.inbox / "w.csv").write_text("A,M\n1,2\n")
    with pytest.raises(config.ConfigError) as info:
        sources.run(wh, sources.site(tmp_path, toml))
    assert words in str(info.value) and "\n" not in str(info.value)
    assert "'w*'" in str(info.value)


def test_wide_mapping_reads_one_workbook_file_directly(tmp_path):
    """The adapter on its own: a generated wide workbook, the example mapping."""
    generate(tmp_path, rows=120, seed=4, fmt="wide")
    path = sorted(tmp_path.glob("*.xlsx"))[0]
    source = config.load_site_config(EXAMPLE).source_for(path.name)
    assert isinstance(wide.wide_mapping(source), wide.WideMapping)
    data = read(path, extract.check_bytes(path), source)
    table = data.table.to_pydict()
    assert data.reader == "wide" and table["source_row"] == list(range(1, data.table.num_rows + 1))
    assert set(table["assay"]) <= {"IHC", "ISH"} and set(table["specimen_role"]) <= {
        "primary",
        "metastasis",
    }
    assert all(v is None for v in table["malformed"])


def test_generate_layout_wide_is_format_wide(tmp_path, capsys):
    from her2qa import cli

    assert (
        cli.main(["generate", "--out", str(tmp_path / "a"), "--rows", "150", "--layout", "wide"])
        == 0
    )
    generate(tmp_path / "b", rows=150, seed=42, fmt="wide")
    names = sorted(p.name for p in (tmp_path / "a").glob("*.xlsx"))
    assert names and [(tmp_path / "a" / n).read_bytes() for n in names] == [
        (tmp_path / "b" / n).read_bytes() for n in names
    ]
    code = cli.main(
        ["generate", "--out", str(tmp_path / "c"), "--layout", "wide", "--format", "fhir"]
    )
    assert code != 0 and "--layout wide writes workbooks" in capsys.readouterr().err


def test_a_wide_file_elsewhere_than_configured_is_named_not_listed_as_missing(wh, tmp_path):
    body = HEADER + _case("C1", IHC_BLOCK, ISH_BLOCK)
    (wh.inbox / "cases-comma.csv").write_text(body.replace(";", ","))
    (wh.inbox / "cases-title.csv").write_text("HER2 cases\n" + body)
    sheet = [["HER2 cases"], [], [c for c in HEADER.strip().split(";")]]
    sheet += [_case("C1", IHC_BLOCK, ISH_BLOCK).strip().split(";")]
    write_xlsx(wh.inbox / "book.xlsx", {"S": sheet})
    toml = MAPPING + MAPPING.replace('pattern = "cases*.csv"', 'pattern = "book.xlsx"').split(
        "[sources.values"
    )[0].replace('delimiter = ";"\n', "")
    sources.run(wh, sources.site(tmp_path, toml))
    reasons = dict(wh.query("SELECT file_name, reason FROM ops.ingested_files"))
    assert reasons["cases-comma.csv"] == (
        'wrong_delimiter: comma-delimited: set `delimiter = ","` for this source'
    )
    assert reasons["cases-title.csv"] == (
        "wrong_header_row: the column headers are on line 2, not line 1: set `header_row = 2` "
        "for this source"
    )
    assert reasons["book.xlsx"].startswith("wrong_header_row: the column headers are on row 3")
