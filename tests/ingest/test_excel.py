"""Excel workbooks (issue 13 §2): .xlsx, .xls and .ods through python-calamine onto the
contract, typed cells as the contract's text, the configured sheet and header row, a
workbook under another name, and identifiers that never reach the warehouse."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import xlsxwriter

from her2qa.config import SourceConfig
from her2qa.generate import generate
from her2qa.ingest import extract
from her2qa.ingest.formats import excel
from schemas import contract
from tests.conftest import IHC_ROW, ISH_ROW
from tests.ingest import sources
from tests.ingest.test_hostile_input import (
    CANARY_DOB,
    CANARY_MRN,
    CANARY_NAME,
    assert_accounting,
    assert_no_phi,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PHI = {"patient_mrn": CANARY_MRN, "patient_name": CANARY_NAME, "patient_dob": CANARY_DOB}
# The rows of fixtures/her2_results.xls (fixtures/make_xls.py wrote them).
XLS_ROWS = [
    {c: v for c, v in {**IHC_ROW, **PHI, "test_id": "X-IHC-1"}.items()},
    {c: v for c, v in {**ISH_ROW, **PHI, "test_id": "X-ISH-1"}.items()},
]
Cell = str | float | int | bool | dt.date | dt.datetime | None


def write_xlsx(path: Path, sheets: dict[str, list[list[Cell]]]) -> Path:
    """A workbook of typed cells, a sheet per entry (None: an empty cell)."""
    book = xlsxwriter.Workbook(str(path))
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        ws = book.add_worksheet(name)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, dt.date):
                    ws.write_datetime(i, j, value, date_format)
                else:
                    ws.write(i, j, value)
    book.close()
    return path


def typed(row: dict, header: list[str]) -> list[Cell]:
    """A contract row as a lab's export types it: numbers and dates as such."""
    out: list[Cell] = []
    for name in header:
        value = row.get(name, "")
        kind = contract.BY_NAME[name].kind if name in contract.BY_NAME else "text"
        if value == "":
            out.append(None)
        elif kind == "date":
            out.append(dt.date.fromisoformat(value))
        elif kind in ("number", "integer"):
            out.append(float(value))
        else:
            out.append(value)
    return out


def ods_bytes(rows: list[list[Cell]], sheet: str = "HER2") -> bytes:
    """A minimal OpenDocument spreadsheet (ODF 1.2: mimetype first and stored, manifest,
    content.xml) with typed cells: what LibreOffice writes, less styles and settings."""
    cells_xml = []
    for row in rows:
        cells = []
        for value in row:
            if value is None:
                cells.append("<table:table-cell/>")
            elif isinstance(value, dt.date):
                cells.append(
                    f'<table:table-cell office:value-type="date" office:date-value='
                    f'"{value.isoformat()}"><text:p>{value.isoformat()}</text:p></table:table-cell>'
                )
            elif isinstance(value, float):
                cells.append(
                    f'<table:table-cell office:value-type="float" office:value="{value!r}">'
                    f"<text:p>{value!r}</text:p></table:table-cell>"
                )
            else:
                cells.append(
                    '<table:table-cell office:value-type="string">'
                    f"<text:p>{escape(str(value))}</text:p></table:table-cell>"
                )
        cells_xml.append(f"<table:table-row>{''.join(cells)}</table:table-row>")
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="{sheet}">'
        f"{''.join(cells_xml)}</table:table></office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:version="1.2" manifest:media-type='
        '"application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.spreadsheet",
            compress_type=zipfile.ZIP_STORED,
        )
        z.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _csv_baseline(wh, rows: list[dict]) -> list[tuple]:
    ref = sources.fresh(wh, "reference")
    (ref.inbox / "same.csv").write_text(sources.csv_text(rows), encoding="utf-8")
    sources.run(ref)
    return sources.staged(ref, "same.csv")


def _source(**raw: object) -> SourceConfig:
    return SourceConfig(pattern="*", raw={"pattern": "*", **raw})


def _cells(path: Path, source: SourceConfig) -> list[dict]:
    """Every column of a sheet as the adapter converts it (headers as output names)."""
    sheet = excel.open_sheet(path, source)
    selected = [(name, i, excel.kind_of(name)) for i, name in enumerate(sheet.names)]
    return sheet.text_table(selected, excel.decimal(source)).to_pylist()


def test_generated_xlsx_network_stages_exactly_like_its_csv(wh):
    """The same synthetic network as CSV and as workbooks of typed cells: the same staged
    results, the same quarantine, every file accounted for."""
    xlsx_wh = sources.fresh(wh, "xlsx")
    generate(wh.inbox, rows=700, seed=11)
    generate(xlsx_wh.inbox, rows=700, seed=11, fmt="xlsx")
    assert sorted(p.suffix for p in xlsx_wh.inbox.glob("*_*"))[0] == ".xlsx"
    sources.run(wh)
    sources.run(xlsx_wh)
    csv_rows, xlsx_rows = sources.staged_history(wh), sources.staged_history(xlsx_wh)
    assert len(csv_rows) > 600
    assert xlsx_rows == csv_rows
    current = "SELECT lab_id, test_id, result_version FROM staging.her2_results ORDER BY ALL"
    assert xlsx_wh.query(current) == wh.query(current)
    counts = (
        "SELECT sum(rows_read), sum(rows_staged), sum(rows_quarantined) FROM ops.ingested_files"
    )
    assert xlsx_wh.one(counts) == wh.one(counts)
    assert_accounting(xlsx_wh)


def test_typed_cells_become_the_contracts_text(tmp_path):
    header = ["lab_id", "test_id", "accession_id", "collection_date", "report_date"]
    header += ["ish_ratio", "ish_cells_counted", "fixation_hours", "result_version", "note"]
    row: list[Cell] = [
        "NORTH",
        12345.0,  # a test id typed as a number keeps its digits
        "S1",
        dt.datetime(2024, 3, 1, 10, 30),  # a date-time in a date column: its day
        dt.date(2024, 3, 4),
        0.1 + 0.2 + 3.75,  # binary noise from a formula: 15 significant digits
        20.0,
        1e-7,
        1.0,
        True,
    ]
    path = write_xlsx(tmp_path / "t.xlsx", {"S": [header, row, [None] * 10, ["NORTH", "T2"]]})
    got = _cells(path, _source())
    assert got[0]["test_id"] == "12345"
    assert got[0]["collection_date"] == "2024-03-01" and got[0]["report_date"] == "2024-03-04"
    assert got[0]["ish_ratio"] == "4.05" and got[0]["ish_cells_counted"] == "20"
    assert got[0]["fixation_hours"] == "0.0000001" and got[0]["result_version"] == "1"
    assert got[0]["note"] == "TRUE"
    # the blank sheet row is no data row; source_row N is sheet row header_row + N
    assert [r["source_row"] for r in got] == [1, 3]
    assert got[1]["report_date"] == ""


def test_a_date_serial_without_date_format_is_never_guessed(wh):
    row = typed(IHC_ROW, list(contract.NAMES))
    row[contract.NAMES.index("collection_date")] = 45352.0  # 2024-03-01 as a bare number
    write_xlsx(wh.inbox / "serial.xlsx", {"S": [list(contract.NAMES), row]})
    sources.run(wh)
    codes = wh.one("SELECT reason_codes FROM quarantine.rejected_rows")
    raw = wh.one("SELECT collection_date FROM raw.her2_rows")
    assert raw == "45352" and codes


def test_workbook_renamed_csv_is_read_as_a_workbook(wh):
    baseline = _csv_baseline(wh, [IHC_ROW, ISH_ROW])
    rows = [list(contract.NAMES), typed(IHC_ROW, contract.NAMES), typed(ISH_ROW, contract.NAMES)]
    write_xlsx(wh.inbox / "export.csv", {"Sheet1": rows})
    sources.run(wh)
    assert sources.outcome(wh, "export.csv") == ("ingested", None)
    assert sources.staged(wh, "export.csv") == baseline
    archived = wh.one("SELECT archive_path FROM ops.ingested_files")
    assert Path(archived).read_bytes() == (wh.inbox / "export.csv").read_bytes()


def test_workbook_configured_as_csv_is_named_a_workbook(wh, tmp_path):
    write_xlsx(wh.inbox / "export.csv", {"S": [list(contract.NAMES)]})
    sources.run(wh, sources.site(tmp_path, '[[sources]]\npattern = "*.csv"\nformat = "csv"\n'))
    status, reason = sources.outcome(wh, "export.csv")
    assert status == "rejected" and "this is an Excel workbook" in reason


def test_unreadable_workbooks_say_what_they_are(wh, tmp_path):
    good = write_xlsx(tmp_path / "g.xlsx", {"S": [list(contract.NAMES)]}).read_bytes()
    (wh.inbox / "cut.xlsx").write_bytes(good[: len(good) // 2])
    docs = io.BytesIO()
    with zipfile.ZipFile(docs, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    (wh.inbox / "bundle.xlsx").write_bytes(docs.getvalue())
    (wh.inbox / "text.xlsx").write_text(sources.csv_text([IHC_ROW]), encoding="utf-8")
    site = sources.site(tmp_path, '[[sources]]\npattern = "text.xlsx"\nformat = "excel"\n')
    sources.run(wh, site)
    got = dict(wh.query("SELECT file_name, reason FROM ops.ingested_files"))
    assert got["cut.xlsx"].startswith("unreadable_workbook: this is an Excel workbook")
    assert got["bundle.xlsx"].startswith("not_workbook: this is a zip archive")
    assert got["text.xlsx"].startswith("not_workbook: this is not a workbook")


def test_sheet_and_header_row_come_from_the_source(wh, tmp_path):
    baseline = _csv_baseline(wh, [IHC_ROW, ISH_ROW])
    body = [typed(IHC_ROW, contract.NAMES), [None], typed(ISH_ROW, contract.NAMES)]
    sheet = [["HER2 export"], [None], list(contract.NAMES), *body]
    for name in "abc":  # the same sheets, other bytes (not duplicates of each other)
        write_xlsx(wh.inbox / f"{name}.xlsx", {"Summary": [[name]], "HER2": sheet})
    write_xlsx(wh.inbox / "d.xlsx", {"HER2": sheet})
    site = sources.site(
        tmp_path,
        '[[sources]]\npattern = "a.xlsx"\nsheet = "her2"\nheader_row = 3\n'
        '[[sources]]\npattern = "b.xlsx"\nsheet = "Results"\n'
        '[[sources]]\npattern = "c.xlsx"\nsheet = 1\nheader_row = 3\n',
    )
    sources.run(wh, site)
    assert sources.outcome(wh, "a.xlsx") == ("ingested", None)
    assert sources.staged(wh, "a.xlsx") == baseline
    rows = wh.query(
        "SELECT source_row FROM raw.her2_rows JOIN ops.ingested_files USING (file_id)"
        " WHERE file_name = 'a.xlsx' ORDER BY 1"
    )
    assert rows == [(1,), (3,)]  # sheet rows 4 and 6 below the header on row 3
    status, reason = sources.outcome(wh, "b.xlsx")
    assert status == "rejected" and "no sheet named 'Results'" in reason and "2 sheet" in reason
    assert sources.outcome(wh, "c.xlsx")[0] == "ingested"
    status, reason = sources.outcome(wh, "d.xlsx")
    assert status == "rejected" and "header_row = 3" in reason


def test_phi_columns_of_a_workbook_never_reach_the_warehouse(wh):
    header = [*contract.NAMES, "MRN", "Patient Name", "DOB", "Medical Record #", "Ref"]
    rows = [header]
    for i, base in enumerate([IHC_ROW, ISH_ROW]):
        row = {**base, **PHI, "test_id": f"P{i}"}
        cells = typed(row, contract.NAMES)
        cells += [CANARY_MRN, CANARY_NAME, dt.date.fromisoformat(CANARY_DOB), CANARY_MRN]
        cells.append(CANARY_MRN)  # an innocent name, an identifier's value: dropped by value
        rows.append(cells)
    write_xlsx(wh.inbox / "phi.xlsx", {"S": rows})
    progress: list[str] = []
    sources.run(wh, progress=progress)
    assert wh.one("SELECT count(*) FROM staging.her2_results") == 2
    assert wh.one("SELECT columns_dropped FROM ops.ingested_files") == 5
    assert_no_phi(wh, "\n".join(progress))
    assert_accounting(wh)


def test_legacy_xls_reads_like_its_csv(wh):
    """fixtures/her2_results.xls: BIFF8 written by xlwt (fixtures/make_xls.py)."""
    baseline = _csv_baseline(wh, XLS_ROWS)
    shutil.copy(FIXTURES / "her2_results.xls", wh.inbox / "legacy.xls")
    assert (wh.inbox / "legacy.xls").read_bytes()[:8] == extract.OLE2_SIGNATURE
    sources.run(wh)
    assert sources.outcome(wh, "legacy.xls") == ("ingested", None)
    assert sources.staged(wh, "legacy.xls") == baseline
    assert wh.one("SELECT columns_dropped FROM ops.ingested_files") == 1  # Medical Record #
    assert_no_phi(wh)


def test_opendocument_spreadsheet_reads_like_its_csv(wh):
    rows = [{**IHC_ROW, **PHI}, {**ISH_ROW, **PHI}]
    baseline = _csv_baseline(wh, rows)
    sheet = [list(contract.NAMES), *(typed(r, contract.NAMES) for r in rows)]
    (wh.inbox / "calc.ods").write_bytes(ods_bytes(sheet))
    sources.run(wh)
    assert sources.outcome(wh, "calc.ods") == ("ingested", None)
    assert sources.staged(wh, "calc.ods") == baseline
    assert_no_phi(wh)


def test_decimal_comma_in_text_cells_only(tmp_path):
    header = ["lab_id", "ish_ratio", "ish_her2_per_cell", "fixation_hours"]
    path = write_xlsx(tmp_path / "d.xlsx", {"S": [header, ["N", "2,15", 4.3, "1.5"]]})
    got = _cells(path, _source(decimal=","))[0]
    assert got["ish_ratio"] == "2.15" and got["ish_her2_per_cell"] == "4.3"
    assert "fixation_hours" in got["malformed"]
    plain = _cells(path, _source())[0]
    assert plain["ish_ratio"] == "2,15" and plain["malformed"] is None


@pytest.mark.parametrize(
    ("raw", "words"),
    [({"sheet": 1.5}, "sheet must be a name"), ({"header_row": "2"}, "header_row must be")],
)
def test_sheet_mistakes_are_one_config_line(tmp_path, raw, words):
    from her2qa.config import ConfigError

    path = write_xlsx(tmp_path / "e.xlsx", {"S": [list(contract.NAMES)]})
    with pytest.raises(ConfigError, match=words):
        excel.read(path, _source(**raw))
