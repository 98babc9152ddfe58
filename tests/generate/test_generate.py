"""The synthetic generator (`her2qa generate`), checked on the files it writes.

The contract checks below re-read every CSV from disk and re-state the rules of
spec/lis-extract.md independently of the generator, so a generator bug (an
invalid "clean" row, a planted row with a second defect, a spelling outside the
vocabulary) fails here.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from her2qa.generate import generate
from her2qa.generate.messy import VARIATIONS
from schemas.contract import BY_NAME, NAMES, REQUIRED, header_key
from schemas.vocabulary import CANONICAL, normalise

CALIBRATION_ROWS = 50_000
MESSY_ROWS = 20_000
LAST_DAY = pd.Timestamp("2025-12-31")
FIRST_DAY = pd.Timestamp("2023-01-01")

PLAIN = r"[+-]?(\d+(\.\d*)?|\.\d+)"
WHOLE = r"[+-]?\d+(\.0*)?"
ISO = r"\d{4}-\d{2}-\d{2}"

PLANTED_KINDS = {
    ("required_missing", f)
    for f in (
        *REQUIRED,
        "ihc_score",
        "ish_her2_per_cell",
        "ish_cells_counted",
    )
} | {
    ("not_in_vocabulary", "ihc_score"),
    ("not_in_vocabulary", "assay"),
    ("not_in_vocabulary", "reported_result"),
    ("not_in_vocabulary", "specimen_role"),
    ("not_in_vocabulary", "test_purpose"),
    ("not_a_number", "ish_ratio"),
    ("not_a_number", "ish_her2_per_cell"),
    ("not_a_number", "ish_cep17_per_cell"),
    ("not_a_number", "cold_ischemia_min"),
    ("not_a_number", "ihc_pct_stained"),
    ("not_an_integer", "ish_cells_counted"),
    ("not_an_integer", "result_version"),
    ("bad_date", "collection_date"),
    ("bad_date", "report_date"),
    ("out_of_range", "cold_ischemia_min"),
    ("out_of_range", "fixation_hours"),
    ("out_of_range", "ish_her2_per_cell"),
    ("out_of_range", "ihc_pct_stained"),
    ("out_of_range", "ish_cells_counted"),
    ("out_of_range", "result_version"),
    ("out_of_range", "ish_ratio"),
    ("implausible_cep17", "ish_cep17_per_cell"),
    ("ratio_mismatch", "ish_ratio"),
    ("dual_probe_incomplete", "ish_ratio"),
    ("dual_probe_incomplete", "ish_cep17_per_cell"),
    ("report_before_collection", "report_date"),
    ("date_in_future", "report_date"),
    ("date_in_future", "collection_date"),
    ("conflicting_version", "result_version"),
}


# --- reading the files back -------------------------------------------------------------


def read_extract(path: Path) -> pd.DataFrame:
    """One extract as text, header matched the contract's way; absent optional columns empty."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    df.columns = [header_key(c) for c in df.columns]
    for name in NAMES:
        if name not in df:
            df[name] = ""
    df["file"] = path.name
    df["row"] = np.arange(1, len(df) + 1)
    return df


def read_ingested(out: Path, manifest: dict) -> pd.DataFrame:
    """Every file expected to be ingested, in arrival (name) order."""
    names = [f["name"] for f in manifest["files"] if f["expected_status"] == "ingested"]
    assert names == sorted(names)
    return pd.concat([read_extract(out / n) for n in names], ignore_index=True)


def group_of(df: pd.DataFrame) -> pd.Series:
    """2018 dual-probe group from the reported values (§ISH-GROUPS); 0 when not dual-probe."""
    ratio = pd.to_numeric(df["ish_ratio"], errors="coerce")
    her2 = pd.to_numeric(df["ish_her2_per_cell"], errors="coerce")
    group = np.select(
        [ratio.isna() | her2.isna(), (ratio >= 2) & (her2 >= 4), ratio >= 2, her2 >= 6, her2 >= 4],
        [0, 1, 2, 3, 4],
        5,
    )
    return pd.Series(group, index=df.index)


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Messy text as the contract reads it: enumerations normalised, cells trimmed."""
    df = df.copy()
    for name in NAMES:
        df[name] = df[name].str.strip()
    assay = [normalise("assay", v) or "" for v in df["assay"]]
    for field in CANONICAL:
        cache: dict = {}
        df[field] = [
            cache.setdefault((v, a), normalise(field, v, a) or "") if v else ""
            for v, a in zip(df[field], assay, strict=True)
        ]
    return df


def current(df: pd.DataFrame) -> pd.DataFrame:
    """Distinct results at their highest version (identical repeats counted once)."""
    df = df.drop_duplicates(subset=[c for c in NAMES if c not in ("patient_name", "patient_dob")])
    version = pd.to_numeric(df["result_version"].replace("", "1"))
    latest = version == version.groupby([df["lab_id"], df["test_id"]]).transform("max")
    return df[latest]


def specimens(df: pd.DataFrame) -> pd.DataFrame:
    """Per clinical specimen: its IHC score, dual-probe ISH group and final status."""
    cur = current(df)
    clin = cur[cur["test_purpose"].isin(["", "clinical"])].copy()
    clin["group"] = group_of(clin)
    key = ["lab_id", "accession_id"]
    ihc = clin[(clin["assay"] == "IHC") & (clin["ihc_score"] != "")].set_index(key)["ihc_score"]
    ish = clin[(clin["assay"] == "ISH") & (clin["group"] > 0)].set_index(key)["group"]
    spec = clin.groupby(key)[["specimen_role", "collection_date", "patient_mrn"]].first()
    spec["score"] = ihc.groupby(level=[0, 1]).last().reindex(spec.index).fillna("")
    spec["group"] = ish.groupby(level=[0, 1]).last().reindex(spec.index).fillna(0).astype(int)
    s, g = spec["score"], spec["group"]
    dual_status = np.select(
        [
            s == "3+",
            g == 1,
            g.isin([2, 4]) & (s != ""),
            (g == 3) & (s == "2+"),
            (g == 3) & (s != ""),
            g.isin([2, 3, 4]),
            g == 5,
            s.isin(["0", "1+"]),
            s == "2+",
        ],
        [
            "positive",
            "positive",
            "negative",
            "positive",
            "negative",
            "equivocal",
            "negative",
            "negative",
            "equivocal",
        ],
        "indeterminate",
    )
    # single-probe ISH decides where the specimen has no usable dual-probe result
    # (spec/warehouse.md v2, §ISH-SINGLE): >= 6.0 positive, < 4.0 negative, else equivocal
    sp = (
        clin[
            (clin["assay"] == "ISH")
            & (clin["group"] == 0)
            & (clin["ish_her2_per_cell"] != "")
            & (clin["reported_result"] != "indeterminate")
        ]
        .set_index(key)["ish_her2_per_cell"]
        .astype(float)
    )
    h = sp.groupby(level=[0, 1]).last().reindex(spec.index).where(g == 0)
    single_status = np.select(
        [(s == "3+") | (h >= 6), (h < 4) | s.isin(["0", "1+"])],
        ["positive", "negative"],
        "equivocal",
    )
    spec["status"] = np.where(h.notna(), single_status, dual_status)
    return spec


def _objects(values: pd.Series) -> np.ndarray:
    """Values comparable in a tuple: missing ones as None (NaN never equals NaN)."""
    return values.astype(object).where(values.notna(), None).to_numpy()


def contract_reasons(df: pd.DataFrame) -> dict[tuple[str, int], list[tuple[str, str]]]:
    """Every (field, code) the contract rejects each row for, re-stated from the spec."""
    t = {c: df[c].str.strip() for c in NAMES}
    blank = {c: (t[c] == "").to_numpy() for c in NAMES}
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)

    def flag(mask, field: str, code: str) -> None:
        for i in np.flatnonzero(np.asarray(mask, bool)):
            found[int(i)].append((field, code))

    for f in REQUIRED:
        flag(blank[f], f, "required_missing")
    assay = [normalise("assay", v) if v else None for v in t["assay"]]
    canon = {}
    for f in CANONICAL:
        cache: dict = {}
        canon[f] = np.array(
            [
                cache.setdefault((v, a), normalise(f, v, a)) if v else None
                for v, a in zip(t[f], assay, strict=True)
            ],
            dtype=object,
        )
        flag(~blank[f] & (canon[f] == None), f, "not_in_vocabulary")  # noqa: E711
    num = {}
    for c in NAMES:
        kind = BY_NAME[c].kind
        if kind in ("number", "integer"):
            pattern = PLAIN if kind == "number" else WHOLE
            num[c] = pd.to_numeric(t[c].where(t[c].str.fullmatch(pattern)), errors="coerce")
            code = "not_a_number" if kind == "number" else "not_an_integer"
            flag(~blank[c] & num[c].isna().to_numpy(), c, code)
    day = {}
    for c in ("collection_date", "report_date"):
        day[c] = pd.to_datetime(
            t[c].where(t[c].str.fullmatch(ISO)), format="%Y-%m-%d", errors="coerce"
        )
        flag(~blank[c] & day[c].isna().to_numpy(), c, "bad_date")
    flag(num["result_version"] < 1, "result_version", "out_of_range")
    for c in ("cold_ischemia_min", "fixation_hours", "ish_her2_per_cell"):
        flag(num[c] < 0, c, "out_of_range")
    flag(
        (num["ihc_pct_stained"] < 0) | (num["ihc_pct_stained"] > 100),
        "ihc_pct_stained",
        "out_of_range",
    )
    flag(num["ish_cep17_per_cell"] <= 0, "ish_cep17_per_cell", "out_of_range")
    flag(num["ish_ratio"] <= 0, "ish_ratio", "out_of_range")
    flag(num["ish_cells_counted"] < 1, "ish_cells_counted", "out_of_range")
    flag(num["ish_cep17_per_cell"] > 10, "ish_cep17_per_cell", "implausible_cep17")
    arrival = pd.Timestamp(date.today())
    flag(day["collection_date"] > arrival, "collection_date", "date_in_future")
    flag(day["report_date"] > arrival, "report_date", "date_in_future")
    flag(day["report_date"] < day["collection_date"], "report_date", "report_before_collection")
    ish = canon["assay"] == "ISH"
    ihc = canon["assay"] == "IHC"
    flag(
        ish & blank["ish_ratio"] & ~blank["ish_cep17_per_cell"],
        "ish_ratio",
        "dual_probe_incomplete",
    )
    flag(
        ish & ~blank["ish_ratio"] & blank["ish_cep17_per_cell"],
        "ish_cep17_per_cell",
        "dual_probe_incomplete",
    )
    h, c, r = num["ish_her2_per_cell"], num["ish_cep17_per_cell"], num["ish_ratio"]
    flag((c > 0) & (r - h / c).abs().gt(0.05 + 1e-9), "ish_ratio", "ratio_mismatch")
    determinate = canon["reported_result"] != "indeterminate"
    flag(ihc & determinate & blank["ihc_score"], "ihc_score", "required_missing")
    flag(ish & determinate & blank["ish_her2_per_cell"], "ish_her2_per_cell", "required_missing")
    flag(ish & determinate & blank["ish_cells_counted"], "ish_cells_counted", "required_missing")
    # Same lab_id + test_id + result_version, other values: first arrival wins (PHI aside).
    content = pd.DataFrame(
        {
            **{f: canon[f] for f in CANONICAL},
            **{k: _objects(v) for k, v in num.items()},
            **{k: _objects(v) for k, v in day.items()},
            **{k: t[k].to_numpy() for k in ("accession_id", "patient_mrn", "assay_kit")},
            "performing_lab": t["performing_lab"].where(~blank["performing_lab"], t["lab_id"]),
            "pathologist_id": t["pathologist_id"],
        }
    )
    seen: dict = {}
    version = num["result_version"].fillna(1).to_numpy()
    for i, values in enumerate(content.itertuples(index=False)):
        if i in found:
            continue
        key = (t["lab_id"].iat[i], t["test_id"].iat[i], version[i])
        if seen.setdefault(key, values) != values:
            found[i].append(("result_version", "conflicting_version"))
    files, rows = df["file"].to_numpy(), df["row"].to_numpy()
    return {(files[i], int(rows[i])): sorted(v) for i, v in found.items()}


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, dict, pd.DataFrame]:
    out = tmp_path_factory.mktemp("clean")
    manifest = generate(out, rows=CALIBRATION_ROWS, seed=11)
    return out, manifest, read_ingested(out, manifest)


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> tuple[Path, dict, pd.DataFrame]:
    out = tmp_path_factory.mktemp("messy")
    manifest = generate(out, rows=MESSY_ROWS, seed=5, messy=True)
    return out, manifest, read_ingested(out, manifest)


# --- determinism and size ---------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("messy_mode", [False, True])
def test_same_seed_same_bytes_other_seed_differs(tmp_path, messy_mode):
    a = generate(tmp_path / "a", rows=4_000, seed=3, messy=messy_mode)
    b = generate(tmp_path / "b", rows=4_000, seed=3, messy=messy_mode)
    c = generate(tmp_path / "c", rows=4_000, seed=4, messy=messy_mode)
    assert a == b
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert "manifest.json" in _tree(tmp_path / "a")
    assert _tree(tmp_path / "a") != _tree(tmp_path / "c")
    assert a["files"] != c["files"]


@pytest.mark.parametrize("rows", [1, 250, 4_321])
def test_exactly_the_requested_rows(tmp_path, rows):
    manifest = generate(tmp_path, rows=rows, seed=9)
    written = 0
    for path in tmp_path.glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as fh:
            written += sum(1 for _ in csv.reader(fh)) - 1
    assert written == rows
    assert sum(f["data_rows"] for f in manifest["files"]) == rows
    assert manifest["rows"] == rows


def test_a_second_run_replaces_the_first(tmp_path):
    generate(tmp_path, rows=3_000, seed=1, messy=True)
    manifest = generate(tmp_path, rows=500, seed=1)
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [f["name"] for f in manifest["files"]]


# --- clean mode: the contract -----------------------------------------------------------


def test_clean_files_parse_with_the_contract_header(clean):
    out, manifest, _ = clean
    assert [f["name"] for f in manifest["files"]] == sorted(p.name for p in out.glob("*.csv"))
    for path in out.glob("*.csv"):
        assert re.fullmatch(r"(NORTH|SOUTH|EAST|WEST|CITY)_20(23|24|25)Q[1-4]\.csv", path.name)
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh, strict=True))
        assert tuple(rows[0]) == NAMES
        assert all(len(r) == len(NAMES) for r in rows[1:])
    assert all(f["expected_status"] == "ingested" for f in manifest["files"])
    assert manifest["planted_rows"] == []


def test_clean_rows_all_pass_the_contract(clean):
    _, _, df = clean
    assert contract_reasons(df) == {}


def test_ratio_agrees_with_means_and_two_decimals(clean):
    _, _, df = clean
    dual = df[df["ish_ratio"] != ""]
    for c in ("ish_her2_per_cell", "ish_cep17_per_cell", "ish_ratio"):
        assert dual[c].str.fullmatch(r"\d+\.\d\d").all()
    h, c, r = (
        pd.to_numeric(dual[k]) for k in ("ish_her2_per_cell", "ish_cep17_per_cell", "ish_ratio")
    )
    assert ((r - h / c).abs() <= 0.05 + 1e-9).all()
    # round(her2 / cep17, 2) of the rounded means (half up), in hundredths
    hc, cc = (h * 100).round().astype(int), (c * 100).round().astype(int)
    assert ((r * 100).round().astype(int) == (200 * hc + cc) // (2 * cc)).all()
    assert (c <= 10).all()
    ish = df[df["assay"] == "ISH"]
    single = ish[(ish["ish_her2_per_cell"] != "") & (ish["ish_ratio"] == "")]
    assert 0.01 < len(single) / len(ish) < 0.12
    cells = pd.to_numeric(ish["ish_cells_counted"].replace("", np.nan)).dropna()
    assert cells.between(20, 60).mean() > 0.9


def test_no_date_outside_the_calendar(clean):
    _, _, df = clean
    coll = pd.to_datetime(df["collection_date"])
    rep = pd.to_datetime(df["report_date"])
    assert coll.min() >= FIRST_DAY and rep.max() <= LAST_DAY
    assert (rep >= coll).all()
    clinical = df[df["test_purpose"].isin(["", "clinical"]) & (df["result_version"] != "2")]
    delay = (
        pd.to_datetime(clinical["report_date"]) - pd.to_datetime(clinical["collection_date"])
    ).dt.days
    assert delay.between(2, 14).all()
    ihc = clinical[clinical["assay"] == "IHC"]
    ish = clinical[clinical["assay"] == "ISH"]
    assert delay[ish.index].mean() > delay[ihc.index].mean() + 2


# --- clean mode: calibration (her2-domain.md §BENCH, §ISH-GROUPS) ------------------------


def test_ihc_mix_and_amplification_by_score(clean):
    _, _, df = clean
    spec = specimens(df)
    primary = spec[
        (spec["specimen_role"] == "primary") & ~spec.index.get_level_values(1).str.startswith("PT")
    ]
    mix = primary["score"][primary["score"] != ""].value_counts(normalize=True)
    for score, share in {"0": 0.36, "1+": 0.355, "2+": 0.12, "3+": 0.165}.items():
        assert abs(mix[score] - share) < 0.025, (score, mix[score])
    both = spec[(spec["score"] != "") & (spec["group"] > 0)]
    amplified = both["group"].isin([1, 2]).groupby(both["score"]).mean()
    expected = {"0": (0.0, 0.05), "1+": (0.02, 0.09), "2+": (0.24, 0.36), "3+": (0.86, 0.97)}
    for score, (low, high) in expected.items():
        assert low <= amplified[score] <= high, (score, amplified[score])
    # ISH on every 2+ (reflex) and on a minority of the others (confirmatory).
    primaries_ish = primary["group"] > 0
    assert primaries_ish[primary["score"] == "2+"].mean() > 0.95
    for score in ("0", "1+", "3+"):
        assert 0.08 < primaries_ish[primary["score"] == score].mean() < 0.22


def test_every_ish_group_and_exact_boundaries(clean):
    _, manifest, df = clean
    ish = df[(df["assay"] == "ISH") & (df["ish_ratio"] != "")]
    share = group_of(ish).value_counts(normalize=True)
    assert set(share.index) == {1, 2, 3, 4, 5}
    assert 0.02 <= share[[2, 3, 4]].sum() <= 0.10
    assert (ish["ish_ratio"] == "2.00").any()
    assert (ish["ish_her2_per_cell"] == "4.00").any()
    assert (ish["ish_her2_per_cell"] == "6.00").any()
    assert manifest["planted"]["ish"]["boundary_values"] >= 10


def test_reported_result_follows_asco_cap_except_listed_disagreements(clean):
    _, manifest, df = clean
    listed = {(d["file"], d["row"]) for d in manifest["interpretation_disagreements"]}
    spec = specimens(df)
    reading = pd.Series("indeterminate", index=df.index)
    ihc = (df["assay"] == "IHC") & (df["ihc_score"] != "")
    reading[ihc] = df.loc[ihc, "ihc_score"].map(
        {"0": "negative", "1+": "negative", "2+": "equivocal", "3+": "positive"}
    )
    group = group_of(df)
    concurrent = pd.Series(
        spec["score"].reindex(pd.MultiIndex.from_frame(df[["lab_id", "accession_id"]])).to_numpy(),
        index=df.index,
    )
    # A reference-laboratory ISH row is read with the reference laboratory's own IHC.
    ref_ihc = df[(df["test_purpose"] == "reference_lab") & (df["assay"] == "IHC")]
    ref_score = ref_ihc.set_index(["lab_id", "accession_id"])["ihc_score"]
    is_ref = df["test_purpose"] == "reference_lab"
    concurrent[is_ref] = ref_score.reindex(
        pd.MultiIndex.from_frame(df.loc[is_ref, ["lab_id", "accession_id"]])
    ).to_numpy()
    positive = (
        (group == 1)
        | ((group == 2) & (concurrent == "3+"))
        | ((group == 3) & concurrent.isin(["2+", "3+"]))
        | ((group == 4) & (concurrent == "3+"))
    )
    dual = group > 0
    reading[dual] = np.where(positive[dual], "positive", "negative")
    single = (df["assay"] == "ISH") & (group == 0) & (df["ish_her2_per_cell"] != "")
    her2 = pd.to_numeric(df.loc[single, "ish_her2_per_cell"])
    reading[single] = np.where(her2 >= 6, "positive", np.where(her2 < 4, "negative", "equivocal"))
    differs = df["reported_result"] != reading
    where = set(zip(df.loc[differs, "file"], df.loc[differs, "row"], strict=True))
    assert where == listed
    clinical = df["test_purpose"].isin(["", "clinical"]).sum()
    assert 0.005 < len(listed) / clinical < 0.015
    assert {d["algorithm"] for d in manifest["interpretation_disagreements"]} >= {
        "positive",
        "negative",
        "equivocal",
    }


def test_positivity_band_and_one_lab_above_it(clean):
    _, manifest, df = clean
    spec = specimens(df)
    primary = spec[spec["specimen_role"] == "primary"]
    rate = (primary["status"] == "positive").mean()
    assert 0.15 <= rate <= 0.23
    by_lab = (primary["status"] == "positive").groupby(level=0).mean()
    assert by_lab.max() - by_lab.min() > 0.01  # a bit different per lab
    outlier = manifest["network"]["outlier"]
    coll = pd.to_datetime(primary["collection_date"])
    window = (primary.index.get_level_values(0) == outlier["lab_id"]) & coll.between(
        outlier["collection_from"], outlier["collection_to"]
    )
    outlier_rate = (primary["status"][window] == "positive").mean()
    assert outlier_rate > 0.22 and outlier_rate > rate + 0.03
    planted = manifest["planted"]["positivity"]
    assert planted["primary_specimens"] == len(primary)
    assert planted["positive"] == (primary["status"] == "positive").sum()


def test_purposes(clean):
    _, manifest, df = clean
    purpose = df["test_purpose"].replace("", "clinical")
    clinical_ihc = df[(purpose == "clinical") & (df["assay"] == "IHC") & (df["ihc_score"] != "")]
    second = df[purpose == "second_read"]
    assert 0.06 < len(second) / len(clinical_ihc) < 0.10
    pairs = second.merge(clinical_ihc, on=["lab_id", "accession_id"], suffixes=("", "_first"))
    assert (pairs["pathologist_id"] != pairs["pathologist_id_first"]).all()
    assert (pairs["pathologist_id"].str[:4] == pairs["pathologist_id_first"].str[:4]).all()
    disagree = pairs[pairs["ihc_score"] != pairs["ihc_score_first"]]
    kinds = disagree.apply(lambda r: frozenset((r["ihc_score"], r["ihc_score_first"])), axis=1)
    counts = kinds.value_counts()
    assert counts.index[0] == frozenset({"0", "1+"})
    assert counts.get(frozenset({"1+", "2+"}), 0) > counts.get(frozenset({"0", "3+"}), 0)
    ref = df[purpose == "reference_lab"]
    assert (ref["performing_lab"] == "REFLAB").all()
    assert (df.loc[purpose != "reference_lab", "performing_lab"] != "REFLAB").all()
    spec = specimens(df)
    ref_specimens = ref.groupby(["lab_id", "accession_id"]).size()
    assert 0.02 < len(ref_specimens) / len(spec) < 0.045
    assert ref_specimens.index.isin(spec.index).all()  # same accession as the owner lab
    agree = manifest["planted"]["reference_lab"]
    assert 0.90 < agree["agree"] / agree["pairs"] < 0.99
    validation = df[purpose == "validation"]
    assert len(validation) == 40 and validation["lab_id"].nunique() == 1
    assert manifest["planted"]["validation"]["positive_cases"] == 20
    assert manifest["planted"]["validation"]["negative_cases"] == 20
    proficiency = df[purpose == "proficiency"]
    assert proficiency["lab_id"].nunique() == 5 and len(proficiency) >= 50


def test_proficiency_keys_for_most_events_and_only_on_proficiency_rows(clean):
    """Contract v2 expected_result: the provider's key on PT rows of every event but the
    pending one(s), the same key for a challenge in every lab, never on another row; the
    manifest's ground truth counts the answers equal to it."""
    _, manifest, df = clean
    df = canonical(df)
    pt = df["test_purpose"] == "proficiency"
    assert (df.loc[~pt, "expected_result"] == "").all()
    event = df.loc[pt, "accession_id"].str.slice(2, 5)
    keyed = df.loc[pt, "expected_result"] != ""
    truth = manifest["planted"]["proficiency"]
    assert sorted(event[keyed].unique()) == truth["keyed_events"]
    assert sorted(event[~keyed].unique()) == truth["key_pending_events"] == ["25B"]
    assert set(df.loc[pt & (df["expected_result"] != ""), "expected_result"]) <= {
        "0",
        "1+",
        "2+",
        "3+",
    }
    per_challenge = df[pt & (df["expected_result"] != "")].groupby("accession_id")
    assert (per_challenge["expected_result"].nunique() == 1).all()
    rows = df[pt & (df["expected_result"] != "")]
    assert len(rows) == truth["keyed_rows"]
    assert (rows["ihc_score"] == rows["expected_result"]).sum() == truth["keyed_correct"]
    assert 0.8 < truth["keyed_correct"] / truth["keyed_rows"] < 1


def test_metastases_link_patients_across_labs(clean):
    _, manifest, df = clean
    spec = specimens(df).reset_index()
    spec = spec[~spec["accession_id"].str.startswith("PT")]
    met = spec[spec["specimen_role"] == "metastasis"]
    prim = spec[spec["specimen_role"] == "primary"]
    assert 0.04 < met["patient_mrn"].nunique() / spec["patient_mrn"].nunique() < 0.08
    sites = df.loc[df["specimen_role"] == "metastasis", "specimen_site"].unique()
    assert set(sites) <= {"lymph_node", "liver", "lung", "bone", "brain", "skin", "pleura"}
    assert len(set(sites)) == 7
    pairs = met.merge(prim, on="patient_mrn", suffixes=("_met", "_prim"))
    gap = (
        pd.to_datetime(pairs["collection_date_met"]) - pd.to_datetime(pairs["collection_date_prim"])
    ).dt.days
    assert gap.between(180, 31 * 30).all()
    assert (pairs["lab_id_met"] != pairs["lab_id_prim"]).mean() > 0.1
    decided = pairs[
        pairs["status_met"].isin(["positive", "negative"])
        & pairs["status_prim"].isin(["positive", "negative"])
    ]
    pos, neg = (
        decided[decided["status_prim"] == "positive"],
        decided[decided["status_prim"] == "negative"],
    )
    loss = (pos["status_met"] == "negative").mean()
    gain = (neg["status_met"] == "positive").mean()
    assert 0.10 < loss < 0.32 and 0.05 < gain < 0.16
    low_to_zero = (neg["score_prim"].isin(["1+", "2+"]) & (neg["score_met"] == "0")).sum()
    assert low_to_zero > 0
    assert (met["group"] == 0).sum() > 0 and ((met["score"] == "2+") & (met["group"] == 0)).any()
    planted = manifest["planted"]["metastases"]
    assert planted["pairs"] == len(pairs)
    assert planted["loss"] == (pos["status_met"] == "negative").sum()
    assert planted["gain"] == (neg["status_met"] == "positive").sum()
    # MRNs are unique to a patient across the network: one name and birth date per MRN.
    people = df[df["patient_mrn"].str.startswith("MRN")]
    assert people.groupby("patient_mrn")[["patient_dob"]].nunique().max().item() == 1


def test_amendments_and_repeats(clean):
    _, manifest, df = clean
    key = ["lab_id", "test_id"]
    v2 = df[df["result_version"] == "2"]
    assert 0.005 < len(v2) / len(df) < 0.015
    v1 = df[df["result_version"] != "2"].drop_duplicates(subset=key)
    pairs = v2.merge(v1, on=key, suffixes=("", "_v1"))
    assert len(pairs) == len(v2)
    assert (pairs["file"] > pairs["file_v1"]).all()  # a later file of the same lab
    assert (pd.to_datetime(pairs["report_date"]) > pd.to_datetime(pairs["report_date_v1"])).all()
    values = ["ihc_score", "ish_her2_per_cell", "ish_cep17_per_cell", "ish_ratio"]
    changed = pd.concat([pairs[v] != pairs[v + "_v1"] for v in values], axis=1).any(axis=1)
    assert changed.all()
    assert (pairs["reported_result"] != pairs["reported_result_v1"]).any()
    repeated = df[df.duplicated(subset=list(NAMES), keep=False)]
    assert len(repeated) == 2 * manifest["planted"]["repeats"] > 0
    assert (repeated.groupby(key)["file"].nunique() == 2).all()
    assert manifest["planted"]["amendments"] == len(v2)


def test_preanalytic_percentages_and_phi(clean):
    _, manifest, df = clean
    clinical = df[df["test_purpose"].isin(["", "clinical"])].drop_duplicates(
        ["lab_id", "accession_id"]
    )
    cold = pd.to_numeric(clinical["cold_ischemia_min"].replace("", np.nan))
    fix = pd.to_numeric(clinical["fixation_hours"].replace("", np.nan))
    assert 0.01 < cold.isna().mean() < 0.1 and 0.01 < fix.isna().mean() < 0.1
    assert 0.86 < (cold.dropna() <= 60).mean() < 0.94
    assert 0.89 < fix.dropna().between(6, 72).mean() < 0.96
    ihc = df[(df["assay"] == "IHC") & (df["ihc_score"] != "")]
    pct = pd.to_numeric(ihc["ihc_pct_stained"].replace("", np.nan))
    assert pct.notna().mean() > 0.75
    zero, one = pct[ihc["ihc_score"] == "0"].dropna(), pct[ihc["ihc_score"] == "1+"].dropna()
    assert ((zero == 0).mean() > 0.3) and (zero.between(1, 10).mean() > 0.3)
    contradictory = (zero > 10).sum() + (one <= 10).sum()
    assert contradictory == len(manifest["contradictory_pct"]) > 0
    assert contradictory / len(ihc) < 0.01
    patients = df[df["patient_mrn"].str.startswith("MRN")]
    assert patients["patient_mrn"].str.fullmatch(r"MRN\d{8}").all()
    assert (patients["patient_name"] != "").all()
    dob = pd.to_datetime(patients["patient_dob"], format="%Y-%m-%d")
    age = (pd.to_datetime(patients["collection_date"]) - dob).dt.days / 365.25
    assert age.between(20, 100).all()
    assert patients["patient_name"].str.contains(",").any()  # "Last, First": quoted in the CSV
    assert patients["patient_name"].str.contains(r"[^\x00-\x7f]").any()


# --- messy mode -------------------------------------------------------------------------


def test_messy_every_planted_kind_at_least_three_times(messy):
    _, manifest, _ = messy
    planted = defaultdict(int)
    for p in manifest["planted_rows"]:
        planted[(p["kind"], p["field"])] += 1
    assert PLANTED_KINDS <= set(planted)
    assert min(planted[k] for k in PLANTED_KINDS) >= 3
    values = {(p["field"], p["value"]) for p in manifest["planted_rows"]}
    for value in ("1-2+", "0-1+", "3+ (outside)", "4+"):
        assert ("ihc_score", value) in values
    assert 0.01 < len(manifest["planted_rows"]) / manifest["rows"] < 0.06
    conflicts = [p for p in manifest["planted_rows"] if p["kind"] == "conflicting_version"]
    for p in conflicts:  # the first arrival: earlier in the same file, or in an earlier one
        first = p["conflicts_with"]
        assert first["file"].split("_")[0] == p["file"].split("_")[0]
        assert (first["file"], first["row"]) < (p["file"], p["row"])
    same_file = [p for p in conflicts if p["conflicts_with"]["file"] == p["file"]]
    assert 0 < len(same_file) < len(conflicts)
    assert len({p["file"] for p in manifest["planted_rows"]}) > 30  # spread over files


def test_messy_planted_rows_are_exactly_what_the_contract_rejects(messy):
    _, manifest, df = messy
    expected = {
        (p["file"], p["row"]): sorted(tuple(e) for e in p["expected"])
        for p in manifest["planted_rows"]
    }
    assert contract_reasons(df) == expected
    # One intended defect per row; only these two defects necessarily bring a second code.
    several = {tuple(v) for v in expected.values() if len(v) > 1}
    assert several == {
        (("ish_ratio", "out_of_range"), ("ish_ratio", "ratio_mismatch")),
        (("collection_date", "date_in_future"), ("report_date", "report_before_collection")),
    }


def test_messy_ground_truth_matches_the_valid_rows(messy):
    _, manifest, df = messy
    planted = {(p["file"], p["row"]) for p in manifest["planted_rows"]}
    keep = [(f, r) not in planted for f, r in zip(df["file"], df["row"], strict=True)]
    valid = canonical(df[keep])
    truth = manifest["planted"]
    spec = specimens(valid)
    primary = spec[spec["specimen_role"] == "primary"]
    statuses = primary["status"].value_counts()
    for status in ("positive", "negative", "equivocal", "indeterminate"):
        assert truth["positivity"][status] == statuses.get(status, 0), status
    cur = current(valid)
    clinical_ihc = cur[cur["test_purpose"].isin(["", "clinical"]) & (cur["assay"] == "IHC")]
    scores = clinical_ihc["ihc_score"].value_counts()
    assert truth["ihc_scores"] == {k: int(scores.get(k, 0)) for k in ("0", "1+", "2+", "3+")}
    assert truth["patients"] == valid["patient_mrn"].nunique()
    assert truth["specimens"] == len(valid.groupby(["lab_id", "accession_id"]))
    assert truth["amendments"] == (valid["result_version"] == "2").sum()


def test_messy_uses_valid_lis_spellings_and_header_variations(messy):
    out, manifest, df = messy
    for field, spelling in [
        ("ihc_score", "3"),
        ("ihc_score", "Score 3+"),
        ("ihc_score", "0+"),
        ("reported_result", "POS"),
        ("reported_result", "NEG"),
        ("reported_result", "Amplified"),
        ("reported_result", "Not amplified"),
        ("assay", "FISH"),
        ("assay", "SISH"),
        ("assay", "DDISH"),
        ("assay", "immunohistochemistry"),
        ("assay", " ihc "),
        ("specimen_role", "Primary"),
    ]:
        assert (df[field] == spelling).any(), (field, spelling)
    amplified = df["reported_result"].str.strip().str.lower().isin(["amplified", "not amplified"])
    planted = {(p["file"], p["row"]) for p in manifest["planted_rows"]}
    valid_amplified = df[
        amplified & ~pd.Series(list(zip(df["file"], df["row"], strict=True))).isin(planted)
    ]
    assert (
        len(valid_amplified) > 0
        and (valid_amplified["assay"].str.strip().str.upper() != "IHC").all()
    )
    variations = {v.split(":")[0] for f in manifest["files"] for v in f["variations"]}
    assert variations == set(VARIATIONS)  # every header variation is planted
    headers = {}
    for f in manifest["files"]:
        if f["expected_status"] == "ingested":
            raw = (out / f["name"]).read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf") == ("bom" in f["variations"])
            assert (b"\r\n" in raw) == ("crlf" in f["variations"])
            headers[f["name"]] = next(csv.reader([raw.decode("utf-8-sig").splitlines()[0]]))
    normalised = {name: [header_key(h) for h in cells] for name, cells in headers.items()}
    assert any(cells != [h.strip() for h in cells] for cells in headers.values())  # spaces
    assert any(cells != [h.lower() for h in cells] for cells in headers.values())  # case
    assert any(n != list(NAMES) and sorted(n) == sorted(NAMES) for n in normalised.values())
    assert any("lis_comment" in n for n in normalised.values())
    assert all(set(REQUIRED) <= set(n) for n in normalised.values())
    assert any(not set(NAMES) <= set(n) for n in normalised.values())


def test_messy_manifest_counts_add_up(messy):
    out, manifest, df = messy
    files = manifest["files"]
    for f in files:
        assert f["expected_rows_read"] == f["expected_rows_staged"] + f["expected_rows_quarantined"]
        assert hashlib.sha256((out / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    ingested = [f for f in files if f["expected_status"] == "ingested"]
    assert sum(f["data_rows"] for f in ingested) == MESSY_ROWS == len(df)
    assert all(f["expected_rows_read"] == f["data_rows"] for f in ingested)
    assert sum(f["expected_rows_quarantined"] for f in files) == len(manifest["planted_rows"])
    per_file = df.groupby("file").size()
    assert all(per_file[f["name"]] == f["data_rows"] for f in ingested)
    on_disk = sorted(p.name for p in out.iterdir())
    assert on_disk == sorted([f["name"] for f in files] + ["manifest.json"])
    assert json.loads((out / "manifest.json").read_text("utf-8")) == manifest


def test_messy_file_level_cases(messy):
    out, manifest, _ = messy
    by_status = defaultdict(list)
    for f in manifest["files"]:
        by_status[f["expected_status"], f["expected_reason"]].append(f)
    (duplicate,) = by_status["duplicate", None]
    original = next(f for f in manifest["files"] if f["name"] == duplicate["duplicate_of"])
    assert original["sha256"] == duplicate["sha256"] and original["name"] < duplicate["name"]
    assert (out / duplicate["name"]).read_bytes() == (out / original["name"]).read_bytes()
    assert duplicate["expected_rows_read"] == 0
    (empty,) = by_status["rejected", "empty"]
    assert (out / empty["name"]).stat().st_size == 0
    (latin1,) = by_status["rejected", "not_utf8"]
    raw = (out / latin1["name"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "ü" in raw.decode("latin-1") or "é" in raw.decode("latin-1")
    (partial,) = by_status["rejected", "missing_columns"]
    header = (out / partial["name"]).read_text("utf-8").splitlines()[0].split(",")
    assert set(REQUIRED) - set(header)
    (not_csv,) = by_status["rejected", "not_csv"]
    assert (out / not_csv["name"]).read_bytes()[:2] == b"\x1f\x8b"
    gzip.decompress((out / not_csv["name"]).read_bytes())  # really gzip
    for f in (empty, latin1, partial, not_csv):
        assert f["name"].endswith(".csv")
        assert f["expected_rows_read"] == f["expected_rows_staged"] == 0
