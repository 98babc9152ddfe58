"""HL7 v2.x ORU^R01 onto the contract (issue 13 §5; docs/formats/hl7v2.md).

Every file is ingested through the same pipeline as a CSV (inbox -> raw -> staging); a row
is one HER2 result, or one item without one (with its reason): rows_read = staged +
quarantined per file, and no patient identifier of PID reaches any table."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

import warehouse
from her2qa import config, staging
from her2qa.generate import generate
from her2qa.generate.formats import hl7v2 as writer
from her2qa.ingest import extract, formats, inbox
from her2qa.ingest.formats import hl7v2
from her2qa.ingest.formats.hl7v2 import text
from schemas import contract
from tests.conftest import SHARED, Warehouse

HL7_DIR = SHARED / "data" / "hl7v2"
NAACCR = HL7_DIR / "naaccr-volV-2.3.1_ORU_R01_breast-pathology-narrative_no-HER2.hl7"

MRN, FAMILY, GIVEN, DOB = "MRN-SECRET-77", "Quuxley", "Zebulon", "19310203"


# --- building messages ------------------------------------------------------------------------


def msh(control: str = "1", facility: str = "NORTH", kind: str = "ORU^R01^ORU_R01") -> str:
    return f"MSH|^~\\&|LIS|{facility}|||20240304||{kind}|{control}|P|2.5.1"


def pid(mrn: str = MRN) -> str:
    return f"PID|1||{mrn}^^^NORTH^MR||{FAMILY}^{GIVEN}||{DOB}"


def obr(filler: str, status: str = "F", reader: str = "NORTH-P01") -> str:
    # OBR-3 filler order, OBR-7 collection, OBR-22 report, OBR-25 status, OBR-32 reader
    return f"OBR|1||{filler}^NORTH|HER2^HER2^L|||20240301|||||||||||||||20240304|||{status}|||||||{reader}"


def obx(
    n: int,
    vt: str,
    ident: str,
    value: str,
    unit: str = "",
    status: str = "F",
    *,
    sub: str = "",
    method: str = "",
) -> str:
    line = f"OBX|{n}|{vt}|{ident}|{sub}|{value}|{unit}|||||{status}"
    return line + (f"||||||{method}" if method else "")


def spm(accession: str) -> str:
    return f"SPM|1|^{accession}||TISS^Tissue^HL70487"


def local(n: int, column: str, value: str, vt: str = "ST", unit: str = "") -> str:
    return obx(n, vt, f"{column}^^99HER2QA", value, unit)


def ihc_message(
    filler: str = "T-IHC-1",
    score: str = "LA11842-4^2+^LN",
    call: str = "equivocal",
    status: str = "F",
    control: str = "1",
) -> list[str]:
    return [
        msh(control),
        pid(),
        obr(filler, status),
        obx(1, "CWE", "85319-2^HER2 IHC^LN", score, status=status),
        obx(2, "ST", "48676-1^HER2 interpretation^LN", call, status=status, method="IHC^^99HER2QA"),
        local(3, "specimen_role", "primary"),
        local(4, "assay_kit", "4B5"),
        spm("S24-0001-A1"),
    ]


def ish_message(filler: str = "T-ISH-1", control: str = "2") -> list[str]:
    u = "{signals}/{nucleus}^^UCUM"
    return [
        msh(control),
        pid(),
        obr(filler),
        obx(1, "NM", "74860-8^^LN", "8.10", u),
        obx(2, "NM", "74861-6^^LN", "2.00", u),
        obx(3, "NM", "49683-6^^LN", "4.05", "{ratio}^^UCUM"),
        obx(4, "NM", "62361-1^^LN", "20", "{cells}^^UCUM"),
        obx(5, "CWE", "85318-4^^LN", "LA6576-8^Positive^LN"),
        local(6, "specimen_role", "primary"),
        spm("S24-0001-A1"),
    ]


def hl7(*messages: list[str], sep: str = "\r") -> bytes:
    return (sep.join(seg for m in messages for seg in m) + sep).encode()


def write(wh: Warehouse, name: str, data: bytes) -> Path:
    path = wh.inbox / name
    path.write_bytes(data)
    return path


def run(wh: Warehouse, site: config.SiteConfig | None = None) -> staging.StageSummary:
    """Ingest and stage in-process, with the site's [[sources]] (Warehouse.run has none)."""
    site = site or config.SiteConfig()
    with warehouse.connect(wh.path) as con:
        warehouse.ensure_schema(con)
        inbox.ingest_inbox(con, wh.inbox, wh.root / "var" / "archive", wh.key, "t", site=site)
        return staging.stage_pending(con, site)


def read(path: Path, **raw: object) -> extract.Extract:
    source = config.SourceConfig(pattern="*", format="hl7v2", raw={"pattern": "*", **raw})
    return hl7v2.read(path, source)


def reasons(wh: Warehouse) -> list[str]:
    return [
        r
        for (rs,) in wh.query(
            "SELECT reasons FROM quarantine.rejected_rows ORDER BY file_id, source_row"
        )
        for r in rs
    ]


def accounted(wh: Warehouse) -> list[tuple]:
    rows = wh.query(
        "SELECT file_name, status, rows_read, rows_staged, rows_quarantined "
        "FROM ops.ingested_files ORDER BY file_id"
    )
    for name, status, read_, staged, quarantined in rows:
        assert status == "ingested", (name, status)
        assert read_ == staged + quarantined, name
    return rows


# --- the real fixtures ------------------------------------------------------------------------


def test_naaccr_sample_is_one_row_with_its_reason(wh):
    """The NAACCR Volume V breast pathology ORU (narrative only, LF-separated, v2.3.1): its
    one OBR carries no HER2 observation: one row, quarantined with the reason."""
    ex = read(NAACCR)
    assert ex.table.num_rows == 1
    why = ex.table.column("malformed")[0].as_py()
    assert why.startswith("message 1, OBR 1: no HER2 observation among its 14 OBX (LOINC ")
    for code in ("22633-2", "22634-0", "22635-7", "22636-5", "22637-3", "22638-1"):
        assert code in why
    assert all(ex.table.column(c).null_count == 1 for c in contract.NAMES)


def test_every_shared_hl7_file_is_accounted(wh):
    files = sorted(HL7_DIR.iterdir())
    assert files, "no HL7 v2 fixtures"
    for path in files:
        shutil.copy(path, wh.inbox / path.name)
    run(wh)
    rows = accounted(wh)
    assert len(rows) == len(files)
    assert sum(r[2] for r in rows) == wh.one("SELECT count(*) FROM raw.her2_rows")
    assert all(reasons(wh))
    assert wh.one("SELECT count(*) FROM quarantine.rejected_rows") == sum(r[4] for r in rows)


# --- results, framing and line endings --------------------------------------------------------


def test_ihc_and_ish_results_are_staged(wh):
    write(wh, "results.hl7", hl7(ihc_message(), ish_message()))
    summary = run(wh)
    assert (summary.rows_read, summary.rows_staged) == (2, 2), reasons(wh)
    got = wh.query(
        "SELECT lab_id, test_id, result_version, accession_id, assay, assay_kit, ihc_score, "
        "ish_ratio, ish_cells_counted, reported_result, specimen_role, collection_date::VARCHAR, "
        "report_date::VARCHAR, pathologist_id FROM staging.her2_results ORDER BY test_id"
    )
    assert got == [
        (
            "NORTH",
            "T-IHC-1",
            1,
            "S24-0001-A1",
            "IHC",
            "4B5",
            "2+",
            None,
            None,
            "equivocal",
            "primary",
            "2024-03-01",
            "2024-03-04",
            "NORTH-P01",
        ),
        (
            "NORTH",
            "T-ISH-1",
            1,
            "S24-0001-A1",
            "ISH",
            None,
            None,
            4.05,
            20,
            "positive",
            "primary",
            "2024-03-01",
            "2024-03-04",
            "NORTH-P01",
        ),
    ]
    accounted(wh)


@pytest.mark.parametrize(
    "variant",
    ["cr", "lf", "crlf", "mllp", "batch", "mllp_batch"],
)
def test_framing_and_line_endings_read_the_same(tmp_path, variant):
    messages = [ihc_message(), ish_message()]
    plain = read(_write(tmp_path / "plain.hl7", hl7(*messages))).table
    if variant in ("cr", "lf", "crlf"):
        data = hl7(*messages, sep={"cr": "\r", "lf": "\n", "crlf": "\r\n"}[variant])
    elif variant == "mllp":
        data = b"".join(b"\x0b" + hl7(m) + b"\x1c\r" for m in messages)
    else:
        body = [
            "FHS|^~\\&|LIS|NORTH",
            "BHS|^~\\&|LIS|NORTH",
            *[s for m in messages for s in m],
            "BTS|2",
            "FTS|1",
        ]
        data = ("\r".join(body) + "\r").encode()
        if variant == "mllp_batch":
            data = b"\x0b" + data + b"\x1c\r"
    got = read(_write(tmp_path / f"{variant}.hl7", data)).table
    assert got.equals(plain)
    assert got.column("malformed").null_count == 2


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_recognised_by_its_bytes(tmp_path):
    for data in (
        hl7(ihc_message()),
        b"\x0b" + hl7(ihc_message()) + b"\x1c\r",
        b"FHS|^~\\&|X\rBHS|^~\\&|X\r",
    ):
        assert formats.recognise(data[:512]) == "hl7v2"


def test_other_delimiters_declared_in_msh(tmp_path):
    """Encoding characters come from MSH-1 and MSH-2, not assumed."""
    swapped = [s.replace("|", "#").replace("^", "@") for s in ihc_message()]
    swapped[0] = swapped[0].replace("MSH#@~\\&#", "MSH#@~\\&#", 1)
    got = read(_write(tmp_path / "other.hl7", hl7(swapped))).table
    plain = read(_write(tmp_path / "plain.hl7", hl7(ihc_message()))).table
    assert got.equals(plain)


def test_batch_trailer_count_and_truncation_are_rows(wh):
    body = [
        "FHS|^~\\&|LIS",
        "BHS|^~\\&|LIS",
        *ihc_message(),
        "BTS|3",
        "BHS|^~\\&|LIS",
        *ish_message(),
    ]
    write(wh, "batch.hl7", ("\r".join(body) + "\r").encode())
    run(wh)
    assert accounted(wh)[0][2:] == (4, 2, 2)
    got = reasons(wh)
    assert "batch trailer BTS-1 counts 3 message(s); the batch holds 1" in got
    assert "batch header BHS has no trailer BTS: the file may be truncated" in got


# --- what is quarantined, and why ------------------------------------------------------------


def test_misfit_value_type_unit_and_answer_are_quarantined(wh):
    ratio_as_text = ish_message("T-ISH-2")
    ratio_as_text[5] = obx(3, "ST", "49683-6^^LN", "greater than 1.8")
    per_cent = ish_message("T-ISH-3", control="3")
    per_cent[3] = obx(1, "NM", "74860-8^^LN", "8.10", "%^^UCUM")
    score_as_presence = ish_message("T-ISH-4", control="4")
    score_as_presence[7] = obx(5, "CWE", "85318-4^^LN", "LA11843-2^3+^LN")
    write(wh, "misfit.hl7", hl7(ratio_as_text, per_cent, score_as_presence))
    run(wh)
    assert accounted(wh)[0][2:] == (3, 0, 3)
    got = reasons(wh)
    assert got[0] == (
        "message 1, OBR 1 (ISH result): OBX 3: value type ST does not fit 49683-6 (ish_ratio "
        "needs NM or SN)"
    )
    assert got[1] == (
        "message 2, OBR 1 (ISH result): OBX 1: unit % does not fit 74860-8 (ish_her2_per_cell: "
        "none, 1 or an annotation such as {ratio})"
    )
    assert got[2] == (
        "message 3, OBR 1 (ISH result): OBX 5: answer LA11843-2 is a ihc_score answer, not one "
        "for 85318-4"
    )


def test_misfit_never_quotes_a_patient_value(tmp_path):
    """A unit or a message type that equals a patient's identifier is not named."""
    bad = ish_message()
    bad[3] = obx(1, "NM", "74860-8^^LN", "8.10", f"{GIVEN}^^UCUM")
    adt = [msh("9", kind=f"{MRN}"), pid(), obr("T-X")]
    ex = read(_write(tmp_path / "phi.hl7", hl7(bad, adt)))
    why = ex.table.column("malformed").to_pylist()
    assert "unit given does not fit 74860-8" in why[0]
    assert why[1] == "message 2 is another message type, not a result message (ORU^R01): not read"
    assert not any(s in w for w in why for s in (MRN, GIVEN, FAMILY, DOB))


def test_statuses_and_corrections(wh):
    write(wh, "1.hl7", hl7(ihc_message("T-1"), ihc_message("T-2", status="P", control="2")))
    run(wh)
    assert reasons(wh) == [
        "message 2, OBR 1 (IHC result): result status P (preliminary): only final (F) and "
        "corrected (C) results are read"
    ]
    # a correction (C) of T-1: version 2 supersedes version 1, which stays in the history
    write(
        wh, "2.hl7", hl7(ihc_message("T-1", score="LA11843-2^3+^LN", call="positive", status="C"))
    )
    run(wh)
    assert wh.query(
        "SELECT result_version, ihc_score, reported_result FROM "
        "staging.her2_results WHERE test_id = 'T-1'"
    ) == [(2, "3+", "positive")]
    assert wh.one("SELECT count(*) FROM staging.her2_results_history WHERE test_id = 'T-1'") == 2
    accounted(wh)


def test_messages_that_cannot_be_read_are_rows(wh):
    garbage = [*ihc_message("T-5", control="3")]
    garbage.insert(4, "this line is free text, not a segment")
    items = [
        [msh("1", kind="ADT^A08"), pid()],
        [msh("2"), pid()],
        garbage,
        [msh("4"), pid(), obr("T-6"), obx(1, "TX", "22637-3^final diagnosis^LN", "carcinoma")],
    ]
    write(wh, "odd.hl7", b"stray text\r" + hl7(*items))
    # a file that does not start with a header segment is read as HL7 v2 when its source
    # says so (else its first bytes make it a CSV)
    source = config.SourceConfig(pattern="*.hl7", format="hl7v2", raw={"pattern": "*.hl7"})
    run(wh, config.SiteConfig(sources=(source,)))
    assert accounted(wh)[0][2:] == (5, 0, 5)
    assert reasons(wh) == [
        "1 line(s) before the first MSH are not part of a message",
        "message 1 is ADT^A08, not a result message (ORU^R01): not read",
        "message 2 has no OBR: no result in it: not read",
        "message 3 has a line that is not an HL7 segment (line 5 of the message: a line "
        "break inside a value?): not read",
        "message 4, OBR 1: no HER2 observation among its 1 OBX (LOINC 22637-3)",
    ]


def test_one_obr_with_ihc_and_ish_results(tmp_path):
    """Two results of one OBR: test_id gets -IHC / -ISH; a call belongs to the result whose
    method (OBX-17) or OBX-4 sub-id it shares; else it is ambiguous, never guessed."""
    u = "{signals}/{nucleus}^^UCUM"
    both = [
        msh(),
        pid(),
        obr("S24-7"),
        obx(1, "CWE", "85319-2^^LN", "LA11843-2^3+^LN", sub="1"),
        obx(2, "ST", "48676-1^^LN", "positive", sub="1"),
        obx(3, "NM", "74860-8^^LN", "8.0", u, sub="2"),
        obx(4, "NM", "74861-6^^LN", "2.0", u, sub="2"),
        obx(5, "NM", "49683-6^^LN", "4.0", "{ratio}^^UCUM", sub="2"),
        obx(6, "NM", "62361-1^^LN", "20", sub="2"),
        obx(7, "ST", "48676-1^^LN", "amplified", method="FISH^^L"),
        local(8, "specimen_role", "metastasis"),
        spm("S24-7-B1"),
    ]
    table = read(_write(tmp_path / "both.hl7", hl7(both))).table.to_pylist()
    assert [
        (r["test_id"], r["assay"], r["reported_result"], r["specimen_role"], r["malformed"])
        for r in table
    ] == [
        ("S24-7-IHC", "IHC", "positive", "metastasis", None),
        ("S24-7-ISH", "ISH", "amplified", "metastasis", None),
    ]
    ambiguous = [s for s in both if not s.startswith("OBX|7|")]
    ambiguous[4] = obx(2, "ST", "48676-1^^LN", "positive")  # no sub-id, no method
    rows = read(_write(tmp_path / "ambiguous.hl7", hl7(ambiguous))).table.to_pylist()
    assert len(rows) == 2
    for row in rows:
        assert "OBX 2 (48676-1, reported_result) could belong to either" in row["malformed"]


def test_conflicting_values_are_quarantined(tmp_path):
    two_scores = ihc_message()
    two_scores.insert(4, obx(9, "CWE", "18474-7^^LN", "LA11841-6^1+^LN"))
    why = read(_write(tmp_path / "c.hl7", hl7(two_scores))).table.column("malformed")[0].as_py()
    assert why == ("message 1, OBR 1 (IHC result): OBX 1 and OBX 2 give different ihc_score values")
    agreeing = ish_message()
    agreeing.insert(8, obx(9, "ST", "48676-1^^LN", "positive"))  # "Positive" by LA6576-8 too
    assert (
        read(_write(tmp_path / "a.hl7", hl7(agreeing))).table.column("malformed")[0].as_py() is None
    )


def test_source_lab_id_when_msh4_is_empty(tmp_path):
    message = ihc_message()
    message[0] = msh(facility="")
    ex = read(_write(tmp_path / "x.hl7", hl7(message)), lab_id="SOUTH")
    assert ex.table.column("lab_id").to_pylist() == [None]  # SourceConfig.lab_id, not raw
    source = config.SourceConfig(pattern="*", format="hl7v2", lab_id="SOUTH")
    assert hl7v2.read(tmp_path / "x.hl7", source).table.column("lab_id").to_pylist() == ["SOUTH"]


def test_escape_sequences_are_decoded(tmp_path):
    message = ihc_message()
    message[6] = local(4, "assay_kit", "HER2 \\T\\ CEP17 \\F\\ kit \\X41\\\\E\\")
    ex = read(_write(tmp_path / "e.hl7", hl7(message)))
    assert ex.table.column("assay_kit").to_pylist() == ["HER2 & CEP17 | kit A\\"]
    d = text.Delimiters("|", "^", "~", "\\", "&")
    assert text.unescape("a\\S\\b\\R\\c\\.br\\d\\H\\e\\N\\", d) == "a^b~c\nde"
    assert text.unescape("open \\F", d) == "open \\F"


# --- the code map ([[sources]] codes) ---------------------------------------------------------

# Made-up codes standing for a synoptic template's items (CAP's codes are licensed).
CODES = {
    "X-HER2-IHC": "ihc_score",
    "X-IHC-NEG-1": ["ihc_score=1+", "reported_result=negative"],
    "X-CLONE": "assay_kit",
    "X-PRIMARY": "specimen_role=primary",
    "X-COLD": "cold_ischemia_min",
}


def test_code_map_reads_synoptic_items(tmp_path):
    synoptic = [
        msh(),
        pid(),
        obr("T-SYN"),
        obx(1, "CWE", "X-HER2-IHC^HER2 by IHC^XCAP", "X-IHC-NEG-1^Negative (Score 1+)^XCAP"),
        obx(2, "ST", "X-CLONE^Antibody clone^XCAP", "4B5"),
        obx(3, "CWE", "X-SPECIMEN^Specimen^XCAP", "X-PRIMARY^Primary tumour^XCAP"),
        obx(4, "NM", "X-COLD^Cold ischemia^XCAP", "30", "min^^UCUM"),
        spm("S24-9-A1"),
    ]
    row = read(_write(tmp_path / "s.hl7", hl7(synoptic)), codes=CODES).table.to_pylist()[0]
    assert row["malformed"] is None
    assert (
        row["assay"],
        row["ihc_score"],
        row["reported_result"],
        row["assay_kit"],
        row["specimen_role"],
        row["cold_ischemia_min"],
    ) == ("IHC", "1+", "negative", "4B5", "primary", "30")
    # without the map the same message has no HER2 observation
    plain = read(tmp_path / "s.hl7").table.column("malformed")[0].as_py()
    assert "no HER2 observation among its 4 OBX" in plain


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ("ihc_score", "must be a table"),
        ({"X": "patient_mrn"}, "maps to 'patient_mrn', which an observation cannot give"),
        ({"X": "ihc_score=4+"}, "'4+' is not a ihc_score value"),
        ({"X": ["ihc_score", "assay_kit"]}, "each must be column=value"),
        ({"X": "fixation_hours=long"}, "'long' is not a fixation_hours value"),
    ],
)
def test_code_map_errors_are_one_line(tmp_path, codes, message):
    path = _write(tmp_path / "x.hl7", hl7(ihc_message()))
    with pytest.raises(config.ConfigError) as err:
        read(path, codes=codes)
    assert message in str(err.value) and "\n" not in str(err.value)


# --- files that are not HL7 v2 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (b"lab_id,test_id\nNORTH,T1\n", "not_hl7"),
        (b"MSH|^^^^|X\r", "not_hl7"),
        (b"MSH|^~\\&|X|Y\rPID|1||\x00\r", "not_hl7"),
        (b"MSH|^~\\&|X|Y\rPID|1||\xff\xfe\r", "not_utf8"),
    ],
)
def test_file_level_rejections(tmp_path, data, kind):
    with pytest.raises(extract.FileRejected) as err:
        read(_write(tmp_path / "x.hl7", data))
    assert err.value.kind == kind


def test_latin1_declared_in_msh18(tmp_path):
    message = ihc_message()
    message[0] = message[0] + "||||||8859/1"
    message[6] = local(4, "assay_kit", "Klon-\xe9")
    data = ("\r".join(message) + "\r").encode("latin-1")
    assert read(_write(tmp_path / "l.hl7", data)).table.column("assay_kit").to_pylist() == [
        "Klon-\xe9"
    ]


# --- PHI --------------------------------------------------------------------------------------


def test_phi_never_enters_the_warehouse(wh):
    misfit = ish_message("T-ISH-9", control="3")
    misfit[5] = obx(3, "ST", "49683-6^^LN", "greater than 1.8")
    write(
        wh,
        "phi.hl7",
        hl7(
            ihc_message(),
            misfit,
            [msh("4"), pid(), obr("T-N"), obx(1, "TX", "22636-5^^LN", "history")],
        ),
    )
    shutil.copy(NAACCR, wh.inbox / NAACCR.name)
    run(wh)
    accounted(wh)
    assert wh.one("SELECT count(*) FROM staging.her2_results") == 1
    secrets = (
        MRN,
        FAMILY,
        GIVEN,
        DOB,
        "1931-02-03",
        "McMuffin",
        "Candy",
        "123456789",
        "19570706",
        "1957-07-06",
    )
    tables = wh.query("SELECT table_schema, table_name FROM information_schema.tables")
    assert len(tables) >= 6
    for schema, table in tables:
        body = " ".join(
            str(v) for row in wh.query(f'SELECT * FROM "{schema}"."{table}"') for v in row
        )
        for secret in secrets:
            assert secret not in body, (schema, table, secret)
    raw = json.loads(wh.one("SELECT raw FROM quarantine.rejected_rows LIMIT 1"))
    assert "patient_mrn" not in raw and "patient_name" not in raw


def test_a_value_equal_to_the_mrn_is_refused(wh):
    """The raw layer refuses a value equal to a patient identifier of the file (here an
    accession that is the MRN): the adapter puts PID-3/5/7 in the PHI columns for that."""
    message = ihc_message()
    message[-1] = spm(MRN)
    write(wh, "leak.hl7", hl7(message))
    run(wh)
    assert wh.one("SELECT count(*) FROM staging.her2_results") == 0
    assert "equals a patient identifier" in reasons(wh)[0]
    assert MRN not in json.dumps(wh.query("SELECT * FROM quarantine.rejected_rows"), default=str)


# --- generator: valid messages, the same network as CSV ---------------------------------------


def _contract_table(path: Path) -> pa.Table:
    """A generated CSV as the writer receives it: the contract's columns as text."""
    types = {n: pa.string() for n in contract.NAMES}
    table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types))
    return pa.table({n: table.column(n) for n in contract.NAMES})


def test_writer_messages_are_valid_hl7_v251(tmp_path):
    generate(tmp_path, rows=300, seed=3)
    table = _contract_table(sorted(tmp_path.glob("*.csv"))[0])
    data = writer.to_bytes(table).decode()
    segments = [s for s in data.split("\r") if s]
    assert segments[:2] == ["FHS|^~\\&|HER2QA", "BHS|^~\\&|HER2QA"]
    assert segments[-2:] == [f"BTS|{table.num_rows}", "FTS|1"]
    starts = [i for i, s in enumerate(segments) if s.startswith("MSH")] + [len(segments) - 2]
    for a, b in itertools.pairwise(starts):
        message = parse_message(
            "\r".join(segments[a:b]), find_groups=True, validation_level=VALIDATION_LEVEL.STRICT
        )
        message.validate()  # raises on a missing required field or a misplaced segment
        assert message.name == "ORU_R01"


def test_generated_network_arrives_the_same_as_hl7v2_and_csv(tmp_path, key, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = {}
    for fmt in ("csv", "hl7v2"):
        root = tmp_path / fmt
        generate(root / "inbox", rows=900, seed=11, fmt=fmt)
        wh = Warehouse(root, key)
        run(wh)
        accounted(wh)
        results[fmt] = {
            table: wh.query(
                f"SELECT * EXCLUDE (file_id, source_file, source_row) FROM staging.{table} "
                "ORDER BY lab_id, test_id, result_version"
            )
            for table in ("her2_results", "her2_results_history")
        }
        results[fmt]["quarantined"] = wh.query(
            "SELECT source_row, reason_codes FROM quarantine.rejected_rows ORDER BY ALL"
        )
    assert results["csv"]["her2_results"], "nothing staged"
    assert results["hl7v2"] == results["csv"]


def test_runs_of_messages_read_the_same_as_the_whole_file(tmp_path, monkeypatch):
    """Large files are read a run of messages at a time (in threads): the rows, their order
    and the message numbers in reasons do not depend on where the runs are cut."""
    misfit = ish_message("T-ISH-2", control="3")
    misfit[5] = obx(3, "ST", "49683-6^^LN", "greater than 1.8")
    body = [
        "FHS|^~\\&|LIS",
        "BHS|^~\\&|LIS",
        *ihc_message(),
        *ish_message(),
        *misfit,
        msh("4", kind="ADT^A08"),
        *ihc_message("T-IHC-5", control="5"),
        "BTS|9",
        "FTS|1",
    ]
    path = _write(tmp_path / "runs.hl7", ("\r".join(body) + "\r").encode())
    whole = read(path).table
    monkeypatch.setattr(hl7v2, "_MIN_RUN_BYTES", 64)
    monkeypatch.setattr(hl7v2, "_RUN_BYTES", 200)
    assert len(text.chunks(path.read_bytes(), 13, "|", 200)) > 3
    assert read(path).table.equals(whole)
    why = whole.column("malformed").to_pylist()
    assert why[2].startswith("message 3, OBR 1 (ISH result): OBX 3: value type ST")
    assert why[3] == "message 4 is ADT^A08, not a result message (ORU^R01): not read"
    assert why[5] == "batch trailer BTS-1 counts 9 message(s); the batch holds 5"
