"""CSV dialects per [[sources]] entry (issue 13 §4): delimiter, encoding, decimal comma and
header row; a file that does not fit is rejected with what it looks like, never with a
misleading list of missing columns."""

from __future__ import annotations

import pytest

from her2qa import config
from her2qa.ingest import extract
from schemas import contract
from tests.conftest import IHC_ROW, ISH_ROW
from tests.ingest import sources
from tests.ingest.test_hostile_input import (
    CANARIES,
    CANARY_DOB,
    CANARY_MRN,
    assert_accounting,
    assert_no_phi,
)

NAME = "Zoë Ångström"  # not Latin-1-only: both é-like letters exist in Windows-1252
PATIENT = {"patient_mrn": CANARY_MRN, "patient_name": NAME, "patient_dob": CANARY_DOB}
ROWS = [{**IHC_ROW, **PATIENT, "pathologist_id": "NORTH-Pé"}, {**ISH_ROW, **PATIENT}]


def _reference(wh, tmp_path) -> list[tuple]:
    """The staged values of ROWS sent as the contract's CSV, in a warehouse of their own
    (the comparison baseline)."""
    ref = sources.fresh(wh, "reference")
    (ref.inbox / "contract.csv").write_text(sources.csv_text(ROWS), encoding="utf-8")
    sources.run(ref)
    return sources.staged(ref, "contract.csv")


def test_semicolon_file_is_named_as_such_and_read_when_configured(wh, tmp_path):
    baseline = _reference(wh, tmp_path)
    (wh.inbox / "eu.csv").write_text(sources.csv_text(ROWS, ";"), encoding="utf-8")
    sources.run(wh)
    status, reason = sources.outcome(wh, "eu.csv")
    assert status == "rejected"
    assert reason.startswith("wrong_delimiter: semicolon-delimited")
    assert 'delimiter = ";"' in reason and "missing" not in reason
    # The same bytes under a configured name: read, same staged values as the CSV's.
    (wh.inbox / "eu-2.csv").write_text(sources.csv_text(ROWS, ";"), encoding="utf-8")
    site = sources.site(tmp_path, '[[sources]]\npattern = "eu-*.csv"\ndelimiter = ";"\n')
    (wh.inbox / "eu-2.csv").write_bytes((wh.inbox / "eu-2.csv").read_bytes() + b"\n")
    sources.run(wh, site)
    assert sources.outcome(wh, "eu-2.csv") == ("ingested", None)
    assert sources.staged(wh, "eu-2.csv") == baseline
    assert_accounting(wh)


def test_tab_delimited_hint_and_read(wh, tmp_path):
    (wh.inbox / "tab.csv").write_text(sources.csv_text(ROWS, "\t"), encoding="utf-8")
    sources.run(wh)
    assert 'delimiter = "\\t"' in sources.outcome(wh, "tab.csv")[1]
    (wh.inbox / "tab.tsv").write_text(sources.csv_text(ROWS, "\t") + "\n", encoding="utf-8")
    sources.run(wh, sources.site(tmp_path, '[[sources]]\npattern = "*.tsv"\ndelimiter = "\\t"\n'))
    assert wh.one("SELECT rows_staged FROM ops.ingested_files WHERE file_name = 'tab.tsv'") == 2


@pytest.mark.parametrize("encoding", ["windows-1252", "latin-1"])
def test_single_byte_encodings_are_named_and_read_when_configured(wh, tmp_path, encoding):
    baseline = _reference(wh, tmp_path)
    codec = extract.ENCODINGS[encoding]
    rows = [{**r, "note": "réf. côté gauche"} for r in ROWS]
    body = sources.csv_text(rows, header=[*contract.NAMES, "note"])
    data = body.replace("\r\n", "\n").encode(codec)
    (wh.inbox / "legacy.csv").write_bytes(data)
    sources.run(wh)
    status, reason = sources.outcome(wh, "legacy.csv")
    assert status == "rejected" and reason.startswith("not_utf8")
    assert "Windows-1252/Latin-1" in reason and 'encoding = "windows-1252"' in reason
    (wh.inbox / "legacy-ok.csv").write_bytes(data + b"\n")  # other bytes: not a duplicate
    site = sources.site(
        tmp_path, f'[[sources]]\npattern = "legacy-ok.csv"\nencoding = "{encoding}"\n'
    )
    sources.run(wh, site)
    assert sources.outcome(wh, "legacy-ok.csv") == ("ingested", None)
    # the pathologist code with its "é" arrives decoded, as in the UTF-8 file
    assert sources.staged(wh, "legacy-ok.csv") == baseline
    sources.assert_absent(wh, [CANARY_MRN, CANARY_DOB, NAME, "Zoë", "Ångström"])
    assert wh.query("SELECT DISTINCT extra->>'note' FROM raw.her2_rows") == [("réf. côté gauche",)]
    assert_no_phi(wh)
    assert_accounting(wh)


def test_windows_1252_euro_sign_and_latin1_differ(wh, tmp_path):
    """0x80 is "€" in Windows-1252 and a control character in Latin-1: the configured one
    decides what an extra column holds."""
    row = {**IHC_ROW, "cost": "12 €"}
    body = sources.csv_text([row], header=[*IHC_ROW.keys(), "cost"]).encode("cp1252")
    (wh.inbox / "w.csv").write_bytes(body)
    sources.run(wh, sources.site(tmp_path, '[[sources]]\npattern = "w.csv"\nencoding = "cp1252"\n'))
    assert sources.outcome(wh, "w.csv") == ("ingested", None)
    assert wh.one("SELECT extra->>'cost' FROM raw.her2_rows") == "12 €"


def test_decimal_comma_only_when_configured_and_never_guessed(wh, tmp_path):
    rows = [
        {
            **ISH_ROW,
            "test_id": "A",
            "ish_her2_per_cell": "8,10",
            "ish_cep17_per_cell": "2,00",
            "ish_ratio": "4,05",
            "fixation_hours": "24",
        },
        {**ISH_ROW, "test_id": "B", "ish_her2_per_cell": "8.10"},  # a "." in a comma source
        {**IHC_ROW, "test_id": "C", "cold_ischemia_min": "1.440"},  # 1440 or 1.44?
    ]
    text = sources.csv_text(rows, ";")
    (wh.inbox / "plain.csv").write_text(text, encoding="utf-8")
    site = sources.site(
        tmp_path, '[[sources]]\npattern = "comma.csv"\ndelimiter = ";"\ndecimal = ","\n'
    )
    sources.run(wh, sources.site(tmp_path, '[[sources]]\npattern = "plain.csv"\ndelimiter = ";"\n'))
    (wh.inbox / "comma.csv").write_text(text + "\n", encoding="utf-8")
    sources.run(wh, site)
    # Unconfigured: "8,10" is not a number (quarantined, not read as 810 or 8.1).
    plain = dict(
        wh.query(
            "SELECT test_id, reason_codes FROM quarantine.rejected_rows "
            "WHERE source_file = 'plain.csv'"
        )
    )
    assert "A" in plain
    ratio = wh.one(
        "SELECT ish_ratio FROM staging.her2_results_history "
        "WHERE source_file = 'comma.csv' AND test_id = 'A'"
    )
    assert ratio == pytest.approx(4.05)
    reasons = dict(
        wh.query(
            "SELECT source_row, reasons FROM quarantine.rejected_rows "
            "WHERE source_file = 'comma.csv' ORDER BY source_row"
        )
    )
    assert set(reasons) == {2, 3}
    assert "ish_her2_per_cell" in " ".join(reasons[2]) and "not guessed" in " ".join(reasons[2])
    assert "cold_ischemia_min" in " ".join(reasons[3])
    assert_accounting(wh)


def test_header_row_below_a_preamble(wh, tmp_path):
    preamble = "HER2 export;generated 2024-05-01\n\n"
    body = preamble + sources.csv_text(ROWS, ";")
    (wh.inbox / "report.csv").write_text(body, encoding="utf-8")
    sources.run(wh)
    status, reason = sources.outcome(wh, "report.csv")
    assert status == "rejected" and reason.startswith("wrong_header_row")
    assert "header_row = 3" in reason and 'delimiter = ";"' in reason
    (wh.inbox / "report-2.csv").write_text(body + "\n", encoding="utf-8")
    site = sources.site(
        tmp_path, '[[sources]]\npattern = "report-*"\ndelimiter = ";"\nheader_row = 3\n'
    )
    sources.run(wh, site)
    assert wh.one(
        "SELECT list(source_row ORDER BY source_row) FROM staging.her2_results_history "
        "WHERE source_file = 'report-2.csv'"
    ) == [1, 2]


def test_malformed_record_names_its_physical_line_below_a_preamble(wh, tmp_path):
    body = "title\n" + sources.csv_text(ROWS, ";") + "NORTH;only;three\n"
    (wh.inbox / "p.csv").write_text(body, encoding="utf-8")
    sources.run(
        wh,
        sources.site(tmp_path, '[[sources]]\npattern = "p.csv"\ndelimiter = ";"\nheader_row = 2\n'),
    )
    reason = wh.one("SELECT malformed FROM raw.her2_rows WHERE source_row = 3")
    assert "line 5" in reason
    assert_accounting(wh)


def test_utf16_is_named(wh):
    (wh.inbox / "u16.csv").write_bytes(sources.csv_text(ROWS).encode("utf-16"))
    sources.run(wh)
    status, reason = sources.outcome(wh, "u16.csv")
    assert status == "rejected" and "UTF-16" in reason


def test_an_undefined_windows_1252_byte_is_a_reason_not_a_crash(wh, tmp_path):
    data = sources.csv_text([IHC_ROW]).encode().replace(b"Ada", b"A\x81a")
    (wh.inbox / "x.csv").write_bytes(data)
    sources.run(
        wh, sources.site(tmp_path, '[[sources]]\npattern = "x.csv"\nencoding = "windows-1252"\n')
    )
    status, reason = sources.outcome(wh, "x.csv")
    assert status == "rejected" and reason.startswith("bad_encoding") and "cp1252" in reason
    for canary in CANARIES:
        assert canary not in reason


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ('delimiter = ";;"', "delimiter must be one character"),
        ('encoding = "utf-16"', "not one of utf-8, windows-1252, latin-1"),
        ('decimal = ","', 'decimal = "," needs another delimiter'),
        ("header_row = 0", "header_row must be between 1"),
        ('values = {patient_mrn = {"a" = "b"}}', "patient identifier"),
        ('values = {ihc_score = {"3" = 3}}', "must be text"),
        ('columns = {"Accession No." = "accession"}', "not a contract column"),
        ('assays = [{assay = "IHC"}]', 'assays is for layout = "wide"'),
    ],
)
def test_dialect_mistakes_are_one_config_line(wh, tmp_path, entry, words):
    (wh.inbox / "a.csv").write_text(sources.csv_text(ROWS), encoding="utf-8")
    site = sources.site(tmp_path, f'[[sources]]\npattern = "a.csv"\n{entry}\n')
    with pytest.raises(config.ConfigError) as info:
        sources.run(wh, site)
    message = str(info.value)
    assert words in message and "\n" not in message and "'a.csv'" in message


def test_header_renames_value_maps_and_default_lab(wh, tmp_path):
    baseline = _reference(wh, tmp_path)
    renamed = {"accession_id": "Accession No.", "specimen_role": "Tumour"}
    header = [renamed.get(c, c) for c in contract.NAMES if c != "lab_id"]
    rows = [
        {renamed.get(k, k): ("P" if k == "specimen_role" else v) for k, v in r.items()}
        for r in ROWS
    ]
    (wh.inbox / "mapped.csv").write_text(sources.csv_text(rows, header=header), encoding="utf-8")
    site = sources.site(
        tmp_path,
        '[[sources]]\npattern = "mapped.csv"\nlab_id = "NORTH"\n'
        'columns = {"Accession No." = "accession_id", "tumour" = "specimen_role"}\n'
        'values = {specimen_role = {"p" = "primary"}}\n',
    )
    sources.run(wh, site)
    assert sources.staged(wh, "mapped.csv") == baseline


def _records(*records: str, end: str = "\n") -> bytes:
    header = ",".join(contract.NAMES)
    values = [IHC_ROW.get(c, "") for c in contract.NAMES]
    test_id = contract.NAMES.index("test_id")
    pathologist = contract.NAMES.index("pathologist_id")

    def line(i: int, reader: str) -> str:
        cells = [*values]
        cells[test_id], cells[pathologist] = f"T{i}", f'"{reader}"'
        return ",".join(cells)

    return (header + end + "".join(line(i, r) + end for i, r in enumerate(records))).encode()


def _last_two_on_one_line(body: bytes) -> bytes:
    above, last_but_one, last, _ = body.rsplit(b"\n", 3)
    return above + b"\n" + last_but_one + b"\r" + last + b"\n"


@pytest.mark.parametrize(
    ("body", "reader"),
    [
        (_records("NORTH-P01", "NORTH-P02"), "arrow"),
        (_records("NORTH-P01", "NORTH-P02", end="\r\n"), "arrow"),
        # a carriage return inside a value: one record per line, still read line by line
        (_records("NORTH-P01", "NORTH\rP02"), "python"),
        (_records("NORTH-P01", "NORTH\rP02", end="\r\n"), "python"),
        # a value over two lines made up for by two records on one line (a bare carriage
        # return between them, which the fast reader takes for a line end): as many records
        # as lines, and still read line by line
        (_last_two_on_one_line(_records("NORTH\nP01", "NORTH-P02", "NORTH-P03")), "python"),
    ],
)
def test_the_fast_reader_is_trusted_only_when_each_line_is_one_record(tmp_path, body, reader):
    path = tmp_path / "r.csv"
    path.write_bytes(body)
    assert extract.read(path).reader == reader


def test_carriage_returns_are_counted_across_the_chunks_they_are_read_in():
    checks = extract.ByteChecks()
    for chunk in (b"a\r", b"\nb\r", b"\rc\r\n", b"\n", b""):
        checks.feed(chunk)
    checks.finish()
    assert (checks.carriage_returns, checks.bare_carriage_returns) == (4, 2)
