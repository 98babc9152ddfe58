"""Messy mode: what real LIS extracts look like, and what the contract must reject.

Three layers, applied to the clean rendering:

1. **Valid variation** (must normalise, nothing is lost): each lab's LIS
   spellings of enumerated fields (``3``, ``Score 3+``, ``0+``, ``POS``,
   ``Amplified`` on ISH rows, ``FISH``/``SISH``/``DDISH``,
   ``immunohistochemistry``, `` ihc ``, ``Primary``, ...), a sprinkle of mixed
   case, spaces around plain decimals, and per-file header variations (mixed
   case, surrounding spaces, shuffled order, UTF-8 BOM, CRLF line ends, an
   unknown ``lis_comment`` column, an optional PHI column absent). Every
   spelling used is checked against ``schemas.vocabulary.normalise``.
2. **Planted invalid rows**: a few % of rows are replaced by a row with exactly
   one intended defect (``PLANTS``), each kind several times, spread over the
   files; the manifest lists each with every (field, code) expected to apply.
3. **Bad files**: a byte-identical resend of an extract (duplicate), an empty
   file, a latin-1 file, a file missing required columns and gzip bytes named
   ``.csv`` (each rejected whole).

A planted row starts from the clean (canonical) rendering of its source row, so
no valid LIS spelling can interact with the planted defect.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from her2qa.generate import files as fl
from her2qa.generate import network as net
from her2qa.generate.render import Columns, iso_date
from her2qa.generate.results import CLINICAL, IHC, ISH, REFERENCE_LAB, SECOND_READ, Rows
from her2qa.generate.rules import INDETERMINATE, NONE, ratio_hundredths
from schemas.contract import BY_NAME, NAMES, REQUIRED
from schemas.vocabulary import ASSAYS, CANONICAL, normalise

# --- 1. valid LIS spellings -----------------------------------------------------------

# lab -> field -> (canonical, assay or None for any) -> spelling as the lab's LIS writes it
LAB_SPELLINGS: dict[str, dict[str, dict[tuple[str, str | None], str]]] = {
    "NORTH": {
        "reported_result": {("positive", "ISH"): "Amplified", ("negative", "ISH"): "Not amplified"},
        "specimen_role": {("primary", None): "Primary", ("metastasis", None): "Metastasis"},
        "test_purpose": {
            ("second_read", None): "Second Read",
            ("reference_lab", None): "Reference Lab",
            ("proficiency", None): "PT",
        },
        "assay": {("ISH", None): "DDISH"},
    },
    "SOUTH": {
        "ihc_score": {("0", None): "0", ("1+", None): "1", ("2+", None): "2", ("3+", None): "3"},
        "assay": {("IHC", None): "immunohistochemistry", ("ISH", None): "FISH"},
        "reported_result": {
            ("positive", None): "POS",
            ("negative", None): "NEG",
            ("equivocal", None): "Equivocal",
            ("indeterminate", None): "Indeterminate",
        },
    },
    "EAST": {
        "ihc_score": {
            ("0", None): "0+",
            ("1+", None): "Score 1+",
            ("2+", None): "Score 2+",
            ("3+", None): "Score 3+",
        },
        "assay": {("IHC", None): " ihc ", ("ISH", None): "SISH"},
        "reported_result": {("positive", "ISH"): "amplified", ("negative", "ISH"): "non-amplified"},
        "specimen_site": {("lymph_node", None): "lymph node"},
    },
    "WEST": {
        "reported_result": {
            ("positive", None): "POSITIVE",
            ("negative", None): "NEGATIVE",
            ("equivocal", None): "EQUIVOCAL",
            ("indeterminate", None): "INDETERMINATE",
        },
        "assay": {("ISH", None): "FISH"},
        "test_purpose": {
            ("second_read", None): "second read",
            ("reference_lab", None): "reference",
        },
    },
    "CITY": {
        "specimen_site": {("lymph_node", None): "Lymph node"},
        "specimen_role": {("primary", None): "PRIMARY", ("metastasis", None): "Metastatic"},
        "reported_result": {("positive", None): "Positive", ("negative", None): "Negative"},
    },
}
# Canonical code of each enumerated field, read from the canonical rows.
FIELD_CODES = {
    "ihc_score": "score",
    "assay": "assay",
    "reported_result": "result",
    "specimen_role": "role",
    "specimen_site": "site",
    "test_purpose": "purpose",
}
P_CASE = 0.02  # enumerated cells re-cased or padded with spaces
P_NUMBER_SPACES = 0.01  # plain decimals padded with spaces
P_COMMENT = 0.03
COMMENTS = (
    "see addendum",
    'recut, block "A2" used',
    "reviewed at MDT; no change",
    "HER2 repeat requested, see comment",
    "control OK",
)
LATIN1_NAMES = ("Müller, Zoë", "Núñez, Lucía", "Lefèvre, Chloé", "Dubois, Renée", "Weiß, Inès")


def spelling_table(field_name: str) -> np.ndarray:
    """(lab, assay, canonical code) -> spelling; every entry normalises back to its code."""
    canon = CANONICAL[field_name]
    table = np.empty((len(net.LABS), len(ASSAYS), len(canon)), dtype=object)
    for li, lab in enumerate(net.LABS):
        styles = LAB_SPELLINGS.get(lab.code, {}).get(field_name, {})
        for ai, assay in enumerate(ASSAYS):
            for ci, value in enumerate(canon):
                spelled = styles.get((value, assay), styles.get((value, None), value))
                if normalise(field_name, spelled, assay) != value:
                    raise ValueError(f"{lab.code} {field_name} {spelled!r} does not normalise")
                table[li, ai, ci] = spelled
    return table


def _spell(columns: Columns, rows: Rows, rng: np.random.Generator) -> None:
    n = len(rows["lab"])
    for field_name, code_name in FIELD_CODES.items():
        table = spelling_table(field_name)
        code = rows[code_name].astype(np.int64)
        flat = (rows["lab"].astype(np.int64) * len(ASSAYS) + rows["assay"]) * table.shape[2]
        valid = pc.is_valid(columns[field_name]).to_numpy(zero_copy_only=False) & (code >= 0)
        spelled = pc.take(
            pa.array(table.ravel().tolist(), pa.string()),
            pa.array(flat + np.maximum(code, 0), mask=~valid),
        )
        # A sprinkle of re-cased / space-padded values (still valid: matched case-insensitively).
        kind = np.where(rng.random(n) < P_CASE, rng.integers(1, 5, n), 0)
        spelled = pc.if_else(pa.array(kind == 1), pc.utf8_upper(spelled), spelled)
        spelled = pc.if_else(pa.array(kind == 2), pc.utf8_lower(spelled), spelled)
        spelled = pc.if_else(pa.array(kind == 3), pc.utf8_capitalize(spelled), spelled)
        padded = pc.binary_join_element_wise(" ", spelled, " ", "")
        columns[field_name] = pc.if_else(pa.array(kind == 4), padded, spelled)
    for name in NAMES:
        if BY_NAME[name].kind != "number":
            continue
        u = rng.random(n)
        values = columns[name]
        values = pc.if_else(
            pa.array(u < P_NUMBER_SPACES / 2), pc.binary_join_element_wise(" ", values, ""), values
        )
        values = pc.if_else(
            pa.array((u >= P_NUMBER_SPACES / 2) & (u < P_NUMBER_SPACES)),
            pc.binary_join_element_wise(values, "  ", ""),
            values,
        )
        columns[name] = values
    comment = rng.integers(0, len(COMMENTS), n)
    columns["lis_comment"] = pa.array(
        np.array(COMMENTS, dtype=object)[comment], pa.string(), mask=rng.random(n) >= P_COMMENT
    )


# --- 2. planted invalid rows ----------------------------------------------------------

Values = dict[str, list[str | None]]
Maker = Callable[["Context", np.ndarray], Values]


@dataclass(frozen=True)
class Plant:
    """One kind of invalid row: set ``field`` to ``value`` on rows of the ``where`` kind."""

    kind: str  # the validation code expected on ``field``
    field: str
    value: str | Maker | None
    where: str = "any"
    also: tuple[tuple[str, str], ...] = ()  # further (field, code) that necessarily apply
    blank: tuple[str, ...] = ()  # cells emptied so that the row keeps a single defect


@dataclass
class Context:
    rows: Rows  # canonical, file order
    clean: Columns  # clean rendering, file order
    columns: Columns  # the messy rendering being built (patched in place)
    rng: np.random.Generator


def _text(ctx: Context, name: str, idx: np.ndarray) -> list[str | None]:
    return pc.take(ctx.clean[name], pa.array(idx)).to_pylist()


def _signal_totals(ctx: Context, idx: np.ndarray) -> Values:
    """Signal totals typed into the per-cell fields: CEP17 > 10, ratio still consistent."""
    cells = ctx.rows["cells"][idx].astype(np.int64)
    her2 = ctx.rows["her2"][idx] * cells
    cep17 = ctx.rows["cep17"][idx] * cells
    ratio = ratio_hundredths(her2, cep17)
    return {
        "ish_her2_per_cell": [f"{h / 100:.2f}" for h in her2],
        "ish_cep17_per_cell": [f"{c / 100:.2f}" for c in cep17],
        "ish_ratio": [f"{r / 100:.2f}" for r in ratio],
    }


def _wrong_ratio(ctx: Context, idx: np.ndarray) -> Values:
    """A ratio 0.60-1.50 away from HER2/CEP17 (e.g. 2.90 reported with 8.10 / 2.00)."""
    ratio = ctx.rows["ratio"][idx] + ctx.rng.integers(60, 151, len(idx)) * np.where(
        ctx.rows["ratio"][idx] > 300, -1, 1
    )
    return {"ish_ratio": [f"{r / 100:.2f}" for r in ratio]}


def _before_collection(ctx: Context, idx: np.ndarray) -> Values:
    days = ctx.rows["coll"][idx] - ctx.rng.integers(1, 21, len(idx))
    return {"report_date": iso_date(days).to_pylist()}


def _future(name: str) -> Maker:
    def make(ctx: Context, idx: np.ndarray) -> Values:
        days = net.day(net.date(2099, 1, 1)) + ctx.rng.integers(0, 365, len(idx))
        return {name: iso_date(days).to_pylist()}

    return make


_ISH_PAIR = ("ish_cep17_per_cell", "ish_ratio")

PLANTS: tuple[Plant, ...] = (
    *(Plant("required_missing", name, None) for name in REQUIRED),
    Plant("required_missing", "ihc_score", None, "ihc"),
    Plant("required_missing", "ish_her2_per_cell", None, "ish_dual", blank=_ISH_PAIR),
    Plant("required_missing", "ish_cells_counted", None, "ish"),
    *(
        Plant("not_in_vocabulary", "ihc_score", v, "ihc")
        for v in ("1-2+", "0-1+", "3+ (outside)", "4+")
    ),
    Plant("not_in_vocabulary", "assay", "PCR"),
    Plant("not_in_vocabulary", "reported_result", "weakly positive"),
    Plant("not_in_vocabulary", "reported_result", "amplified", "ihc_positive"),
    Plant("not_in_vocabulary", "specimen_role", "unknown"),
    Plant("not_in_vocabulary", "test_purpose", "research"),
    Plant("not_a_number", "ish_ratio", ">6.0", "ish_dual"),
    Plant("not_a_number", "ish_her2_per_cell", "1.9 (CN 4.3)", "ish_dual"),
    Plant("not_a_number", "ish_cep17_per_cell", "polisomy", "ish_dual"),
    Plant("not_a_number", "cold_ischemia_min", "30 min"),
    Plant("not_a_number", "ihc_pct_stained", "<10%", "ihc"),
    Plant("not_an_integer", "ish_cells_counted", "20.5", "ish"),
    Plant("not_an_integer", "result_version", "two"),
    *(
        Plant("bad_date", name, v)
        for name in ("collection_date", "report_date")
        for v in ("yesterday", "11/03/2025")
    ),
    Plant("out_of_range", "cold_ischemia_min", "-5"),
    Plant("out_of_range", "fixation_hours", "-2.5"),
    Plant("out_of_range", "ish_her2_per_cell", "-1.50", "ish_dual", blank=_ISH_PAIR),
    Plant("out_of_range", "ihc_pct_stained", "130", "ihc"),
    Plant("out_of_range", "ish_cells_counted", "0", "ish"),
    Plant("out_of_range", "result_version", "0"),
    Plant("out_of_range", "ish_ratio", "0", "ish_dual", also=(("ish_ratio", "ratio_mismatch"),)),
    Plant("implausible_cep17", "ish_cep17_per_cell", _signal_totals, "ish_dual"),
    Plant("ratio_mismatch", "ish_ratio", _wrong_ratio, "ish_dual"),
    Plant("dual_probe_incomplete", "ish_ratio", None, "ish_dual"),
    Plant("dual_probe_incomplete", "ish_cep17_per_cell", None, "ish_dual"),
    Plant("report_before_collection", "report_date", _before_collection),
    Plant("date_in_future", "report_date", _future("report_date")),
    Plant(
        "date_in_future",
        "collection_date",
        _future("collection_date"),
        also=(("report_date", "report_before_collection"),),
    ),
)
CONFLICT = Plant("conflicting_version", "result_version", None)
PLANT_SHARE = 0.03  # of all rows, spread evenly over the kinds
P_CONFLICT_NEXT_FILE = 0.35


def _where(rows: Rows) -> dict[str, np.ndarray]:
    """Rows a defect may be planted on: simple determinate results, nothing another plant uses."""
    # Results with several rows (amended, re-sent) stay intact: their truth is simple.
    several = np.isin(rows["key"], rows["key"][(rows["version"] > 1) | rows["repeat"]])
    base = (
        np.isin(rows["purpose"], (CLINICAL, SECOND_READ, REFERENCE_LAB))
        & (rows["result"] != INDETERMINATE)
        & ~several
        & ~rows["disagree"]
        & ~rows["contra"]
        & ~rows["boundary"]
    )
    ihc = base & (rows["assay"] == IHC) & (rows["score"] >= 0)
    ish = base & (rows["assay"] == ISH) & (rows["cells"] != NONE)
    return {
        "any": base,
        "ihc": ihc,
        "ihc_positive": ihc & (rows["score"] == 3),
        "ish": ish,
        "ish_dual": ish & (rows["ratio"] != NONE),
    }


@dataclass
class Planted:
    row: int  # global index in file order
    source: int  # row whose clean values the planted row starts from
    plant: Plant
    value: str | None


def _pick(mask: np.ndarray, used: np.ndarray, perm: np.ndarray, k: int) -> np.ndarray:
    ok = mask[perm] & ~used[perm]
    return np.sort(perm[np.flatnonzero(ok)[:k]])


def _conflicts(
    where: np.ndarray, used: np.ndarray, perm: np.ndarray, k: int, lay: fl.Layout, rng
) -> list[tuple[int, int]]:
    """(source, target) pairs: target re-uses the source's key later in the same lab's files."""
    n = len(where)
    file_of = lay.file_of(np.arange(n))
    lab_of_file = np.array(lay.labs)
    pairs: list[tuple[int, int]] = []
    for i in perm[np.flatnonzero(where[perm] & ~used[perm])]:
        if len(pairs) >= k:
            break
        if used[i]:
            continue
        f = file_of[i]
        start = i + 1
        later = f + 1 < len(lay.names) and lab_of_file[f + 1] == lab_of_file[f]
        if later and rng.random() < P_CONFLICT_NEXT_FILE:
            start = int(lay.bounds[f + 1])
        for j in range(start, min(start + 50, n)):
            if lab_of_file[file_of[j]] != lab_of_file[f]:
                break
            if where[j] and not used[j]:
                used[i] = used[j] = True
                pairs.append((int(i), j))
                break
    return pairs


def _plant(ctx: Context, lay: fl.Layout, per_kind: int) -> list[Planted]:
    n = len(ctx.rows["lab"])
    where = _where(ctx.rows)
    used = np.zeros(n, bool)
    perm = ctx.rng.permutation(n)
    planted: list[Planted] = []
    patches: dict[str, tuple[list[int], list[str | None]]] = {}

    def patch(name: str, idx: np.ndarray, values: list[str | None]) -> None:
        store = patches.setdefault(name, ([], []))
        store[0].extend(int(i) for i in idx)
        store[1].extend(values)

    for plant in PLANTS:
        idx = _pick(where[plant.where], used, perm, per_kind)
        used[idx] = True
        if callable(plant.value):
            made = plant.value(ctx, idx)
        else:
            made = {plant.field: [plant.value] * len(idx)}
        for name, values in made.items():
            patch(name, idx, values)
        for name in plant.blank:
            patch(name, idx, [None] * len(idx))
        planted += [
            Planted(int(i), int(i), plant, v) for i, v in zip(idx, made[plant.field], strict=True)
        ]
    for source, target in _conflicts(where["any"], used, perm, per_kind, lay, ctx.rng):
        # Same lab_id + test_id + result_version as an earlier row, another report date.
        day = int(ctx.rows["rep"][source]) - 1
        (value,) = iso_date(np.array([day])).to_pylist()
        patch("report_date", np.array([target]), [value])
        planted.append(Planted(target, source, CONFLICT, value))
    _apply(ctx, planted, patches)
    return sorted(planted, key=lambda p: p.row)


def _apply(ctx: Context, planted: list[Planted], patches) -> None:
    """Planted rows: the clean values of their source row, then their planted cells."""
    n = len(ctx.rows["lab"])
    order = sorted(planted, key=lambda p: p.row)
    rows = np.array([p.row for p in order], np.int64)
    sources = pa.array(np.array([p.source for p in order], np.int64))
    mask = np.zeros(n, bool)
    mask[rows] = True
    for name in NAMES:
        base = pc.take(ctx.clean[name], sources)
        ctx.columns[name] = pc.replace_with_mask(ctx.columns[name], pa.array(mask), base)
    for name, (idx, values) in patches.items():
        idx_arr = np.array(idx, np.int64)
        sort = np.argsort(idx_arr, kind="stable")
        cell = np.zeros(n, bool)
        cell[idx_arr] = True
        replacement = pa.array([values[s] for s in sort], pa.string())
        ctx.columns[name] = pc.replace_with_mask(ctx.columns[name], pa.array(cell), replacement)


# --- header variations ----------------------------------------------------------------

VARIATIONS = (
    "bom",
    "header_case",
    "header_spaces",
    "shuffled_columns",
    "extra_column",
    "optional_column_absent",
    "crlf",
)
P_VARIATION = {
    "bom": 0.15,
    "header_case": 0.2,
    "header_spaces": 0.15,
    "shuffled_columns": 0.2,
    "extra_column": 0.25,
    "optional_column_absent": 0.1,
    "crlf": 0.1,
}
ABSENT_CANDIDATES = ("patient_dob", "patient_name")  # PHI: never matters downstream


def _extracts(lay: fl.Layout, rng: np.random.Generator) -> list[fl.Extract]:
    extracts = fl.plain_extracts(lay)
    n = len(extracts)
    chosen = {v: rng.random(n) < P_VARIATION[v] for v in VARIATIONS}
    first = rng.permutation(n)
    for i, v in enumerate(VARIATIONS if n else ()):  # every variation at least once
        chosen[v][first[i % n]] = True
    for f, ex in enumerate(extracts):
        fields = list(ex.fields)
        if chosen["optional_column_absent"][f]:
            drop = ABSENT_CANDIDATES[int(rng.integers(0, len(ABSENT_CANDIDATES)))]
            fields = [fv for fv in fields if fv[1] != drop]
            ex.variations.append(f"optional_column_absent:{drop}")
        if chosen["extra_column"][f]:
            fields.insert(int(rng.integers(0, len(fields) + 1)), ("lis_comment", "lis_comment"))
            ex.variations.append("extra_column:lis_comment")
        if chosen["shuffled_columns"][f]:
            fields = [fields[i] for i in rng.permutation(len(fields))]
            ex.variations.append("shuffled_columns")
        if chosen["header_case"][f]:
            style = int(rng.integers(0, 3))
            cased = [
                (h.upper() if style == 0 else h.title() if style == 1 else _mixed(h, rng), k)
                for h, k in fields
            ]
            fields = cased
            ex.variations.append("header_case")
        if chosen["header_spaces"][f]:
            pads = rng.integers(0, 3, len(fields))
            fields = [
                ((" " + h + " ") if p == 0 else (h + "  ") if p == 1 else (" " + h), k)
                for (h, k), p in zip(fields, pads, strict=True)
            ]
            ex.variations.append("header_spaces")
        if chosen["bom"][f]:
            ex.bom = True
            ex.variations.append("bom")
        if chosen["crlf"][f]:
            ex.eol = "\r\n"
            ex.variations.append("crlf")
        ex.fields = fields
    return extracts


def _mixed(name: str, rng: np.random.Generator) -> str:
    upper = rng.random(len(name)) < 0.5
    return "".join(c.upper() if u else c for c, u in zip(name, upper, strict=True))


# --- 3. bad files ---------------------------------------------------------------------


@dataclass
class BadFile:
    written: fl.Written
    status: str  # duplicate | rejected
    reason: str | None
    duplicate_of: str | None = None
    lab: str | None = None
    quarter: str | None = None


def bad_files(
    out_dir: Path,
    clean: Columns,
    lay: fl.Layout,
    written: list[fl.Written],
    rng: np.random.Generator,
) -> list[BadFile]:
    """File-level cases, each its own file next to the extracts."""
    n_files = len(written)
    pick = rng.permutation(n_files)
    out: list[BadFile] = []

    def stem(k: int) -> tuple[str, int]:
        f = int(pick[k % n_files])
        return written[f].name.removesuffix(".csv"), f

    name, f = stem(0)
    original = out_dir / written[f].name
    out.append(
        BadFile(
            fl.write_file(
                out_dir / f"{name}_resend.csv", original.read_bytes(), written[f].data_rows
            ),
            "duplicate",
            None,
            duplicate_of=written[f].name,
            lab=lay.labs[f],
            quarter=lay.quarters[f],
        )
    )
    rows = min(5, len(clean["lab_id"]))
    start = int(rng.integers(0, len(clean["lab_id"]) - rows + 1))
    sample = {k: fl.quote(v.slice(start, rows)) for k, v in clean.items()}

    def body(names: tuple[str, ...], override: dict[str, pa.Array] | None = None) -> bytes:
        cells = [(override or {}).get(c, sample[c]) for c in names]
        return fl.csv_bytes(names, cells)

    name, f = stem(1)
    out.append(BadFile(fl.write_file(out_dir / f"{name}_empty.csv", b"", 0), "rejected", "empty"))
    name, f = stem(2)
    latin = fl.quote(pa.array([LATIN1_NAMES[i % len(LATIN1_NAMES)] for i in range(rows)]))
    data = body(NAMES, {"patient_name": latin}).decode("utf-8").encode("latin-1")
    out.append(
        BadFile(fl.write_file(out_dir / f"{name}_latin1.csv", data, rows), "rejected", "not_utf8")
    )
    name, f = stem(3)
    missing = tuple(c for c in NAMES if c not in ("assay", "reported_result", "collection_date"))
    out.append(
        BadFile(
            fl.write_file(out_dir / f"{name}_partial.csv", body(missing), rows),
            "rejected",
            "missing_columns",
        )
    )
    name, f = stem(4)
    gz = gzip.compress(body(NAMES), compresslevel=6, mtime=0)
    out.append(
        BadFile(fl.write_file(out_dir / f"{name}_archive.csv", gz, 0), "rejected", "not_csv")
    )
    return out


# --- entry point ----------------------------------------------------------------------


@dataclass
class Messy:
    columns: Columns
    extracts: list[fl.Extract]
    planted: list[Planted] = field(default_factory=list)


def apply(
    clean: Columns, rows: Rows, lay: fl.Layout, target_rows: int, rng: np.random.Generator
) -> Messy:
    """Spellings, planted invalid rows and header variations over the clean rendering."""
    columns = dict(clean)
    _spell(columns, rows, rng)
    ctx = Context(rows=rows, clean=clean, columns=columns, rng=rng)
    # Each kind at least 3 times (once in a tiny extract), a few % of the rows in all.
    at_least = 3 if target_rows >= 2_000 else 1
    per_kind = max(at_least, round(PLANT_SHARE * target_rows / (len(PLANTS) + 1)))
    planted = _plant(ctx, lay, per_kind)
    return Messy(columns=columns, extracts=_extracts(lay, rng), planted=planted)
