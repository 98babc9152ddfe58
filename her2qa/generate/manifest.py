"""The ground-truth manifest (``manifest.json``) written beside the synthetic extract.

The pipeline ingests ``*.csv`` only; the manifest says what the generator
planted so that tests and demos can check the pipeline against it. JSON with
sorted keys, two runs with the same seed give the same bytes. Format
(``"format": "her2qa-synthetic-manifest/1"``):

``seed``, ``rows`` (data rows over the lab extracts; the bad files of messy
mode come on top), ``messy``, ``calendar`` {``start``, ``end``}, ``network``
(labs, reference lab, pathologists per lab, kits, the positivity outlier).

``files``: one entry per file, sorted by name, which is also the arrival order
the expectations assume (a lab's quarters sort chronologically; a resend sorts
after its original)::

    {name, sha256, size, data_rows, lab_id, quarter, variations,
     expected_status,            # "ingested" | "duplicate" | "rejected"
     expected_reason,            # rejected: "empty" | "not_utf8" | "missing_columns" | "not_csv"
     duplicate_of,               # duplicate: the name of the first file with that SHA-256
     expected_rows_read,         # data_rows when ingested, else 0
     expected_rows_staged,       # valid rows, identical repeats included
     expected_rows_quarantined}  # planted invalid rows
    # always: expected_rows_read = expected_rows_staged + expected_rows_quarantined

``planted_rows``: every planted invalid row, sorted by file and row::

    {file, row (1-based among the file's data rows), kind (the code planted),
     field, value (raw text written, null = empty), expected: [[field, code], ...],
     conflicts_with: {file, row} of the earlier row a conflicting_version repeats, else null}

``expected`` lists every (field, code) the validation must emit for that row:
usually one pair; ``ish_ratio`` 0 also contradicts its means
(``ratio_mismatch``) and a collection date in 2099 also puts the report before
it. Cross-field codes name the field they are about: ``ratio_mismatch`` ->
``ish_ratio``, ``implausible_cep17`` -> ``ish_cep17_per_cell``,
``dual_probe_incomplete`` -> the empty member, ``report_before_collection`` ->
``report_date``, ``conflicting_version`` -> ``result_version`` (the later row
is the rejected one). A value that is not a number is only ``not_a_number``:
the cell is present, so dual-probe completeness is judged on presence.

``interpretation_disagreements`` (rows whose ``reported_result`` differs from
the ASCO/CAP 2018 reading of the row) and ``contradictory_pct`` (IHC 0 over
10%, IHC 1+ at 10% or less): valid rows, findings for the audit::

    {file, row, lab_id, test_id, result_version, algorithm, reported}
    {file, row, lab_id, test_id, ihc_score, ihc_pct_stained}

``planted``: counts over the rows expected to be staged (valid rows; an
identical repeat counts once; "current" = highest valid ``result_version`` of
a ``lab_id`` + ``test_id``), computed the way ``spec/warehouse.md`` defines
them (a specimen's final status per §FINAL-STATUS from its usable current
clinical results):

- ``patients``: distinct ``patient_mrn`` (a proficiency-testing material
  carries one id shared by every lab); ``specimens``: distinct lab + accession;
- ``results`` {assay: {purpose: n}}: current results;
- ``ihc_scores``, ``ihc_indeterminate``: current clinical IHC results;
- ``ish`` {``groups`` 1-5 of current clinical dual-probe ISH, ``single_probe``,
  ``indeterminate``, ``boundary_values``};
- ``amplified_by_ihc`` {score: {ish, amplified}}: specimens with a usable
  clinical IHC score and dual-probe ISH; amplified = ratio >= 2.0;
- ``contract_v2`` {``single_probe_specimens`` (clinical specimens whose status uses a
  single-probe ISH: no usable dual-probe one), ``status_changed_by_single_probe`` (their
  final status differs from the version 1 reading, dual-probe only),
  ``negative_unspecified`` (negative without an IHC score)};
  every status below counts single-probe ISH (spec/warehouse.md v2, §ISH-SINGLE);
- ``positivity``: final status of clinical primary specimens (totals,
  ``by_lab``, ``outlier`` lab-period);
- ``ihc_vs_ish``, ``second_reads``, ``reference_lab``: {pairs, agree} as in
  ``marts.agreement`` (``ihc_vs_ish`` also ``single_probe_pairs``);
- ``metastases`` {patients, specimens, pairs, cross_lab, concordant, gain,
  loss, not_comparable, ihc_only, her2_low_to_zero, zero_to_her2_low}, as in
  ``marts.primary_metastasis_pairs``;
- ``amendments``, ``repeats``, ``interpretation_disagreements``,
  ``contradictory_pct``: row counts;
- ``preanalytic``: clinical specimens with the time documented and within
  60 min / 6-72 h;
- ``validation``, ``proficiency``: the validation study and the PT events;
  ``proficiency`` also holds the provider's keys (contract v2 ``expected_result``):
  ``keyed_events`` (labels of the events with a key), ``key_pending_events``,
  ``keyed_rows`` and ``keyed_correct`` (PT rows with a key, and those whose IHC score
  equals it), ``keyed_correct_by_lab_event`` {lab: {event: [correct, challenges]}}.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from her2qa.generate import network as net
from her2qa.generate.files import Extract, Layout, Written
from her2qa.generate.messy import BadFile, Planted
from her2qa.generate.results import (
    CLINICAL,
    IHC,
    ISH,
    METASTASIS,
    PRIMARY,
    PROFICIENCY,
    REFERENCE_LAB,
    SECOND_READ,
    VALIDATION,
    Rows,
    Simulation,
)
from her2qa.generate.rules import (
    NEGATIVE,
    NONE,
    POSITIVE,
    final_status,
    final_status_single,
    ish_group,
)
from schemas.vocabulary import ASSAYS, IHC_SCORES, REPORTED_RESULTS, TEST_PURPOSES

FORMAT = "her2qa-synthetic-manifest/1"


def _where(lay: Layout, g: np.ndarray) -> tuple[list[str], list[int]]:
    f = lay.file_of(g)
    return [lay.names[i] for i in f], (g - lay.bounds[f] + 1).tolist()


def _test_id(seq: int) -> str:
    return f"T{seq:08d}"


def _latest(df: pd.DataFrame) -> pd.DataFrame:
    """Per specimen, the result with the latest report date (ties: greatest test id)."""
    return df.sort_values(["rep", "test_seq"], kind="stable").drop_duplicates("spec", keep="last")


def _status(cur: pd.DataFrame, purpose: int, n_spec: int, *, single_probe: bool = True):
    """Final status of every specimen with a result of ``purpose`` (§FINAL-STATUS).

    Contract v2: a single-probe ISH counts where the specimen has no usable dual-probe one
    (§ISH-SINGLE); ``single_probe=False`` gives the version 1 reading (dual-probe only).
    Returns specs, status, score, group (dual-probe), single (selected single-probe HER2/cell
    in hundredths, NONE where none)."""
    p = cur[cur["purpose"] == purpose]
    ihc = _latest(p[(p["assay"] == IHC) & (p["score"] >= 0)])
    ish = _latest(p[(p["assay"] == ISH) & (p["group"] > 0)])
    score = np.full(n_spec, NONE, np.int64)
    group = np.zeros(n_spec, np.int64)
    single = np.full(n_spec, NONE, np.int64)
    score[ihc["spec"].to_numpy()] = ihc["score"].to_numpy()
    group[ish["spec"].to_numpy()] = ish["group"].to_numpy()
    if single_probe:
        sp = _latest(p[(p["assay"] == ISH) & p["single"]])
        single[sp["spec"].to_numpy()] = sp["her2"].to_numpy()
        single[group > 0] = NONE  # a usable dual-probe result wins
    specs = np.flatnonzero(np.bincount(p["spec"].to_numpy(), minlength=n_spec))
    status = np.full(n_spec, NONE, np.int64)
    status[specs] = np.where(
        single[specs] != NONE,
        final_status_single(score[specs], single[specs]),
        final_status(score[specs], group[specs]),
    )
    return specs, status, score, group, single


def _counts(values: np.ndarray, labels: tuple[str, ...]) -> dict[str, int]:
    return {label: int((values == i).sum()) for i, label in enumerate(labels)}


def summary(sim: Simulation, r: Rows, valid: np.ndarray) -> dict:
    spec = sim.spec
    n_spec = len(spec["lab"])
    keep = valid & ~r["repeat"]
    df = pd.DataFrame(
        {
            name: r[name][keep]
            for name in ("spec", "key", "assay", "purpose", "version", "rep", "test_seq", "score")
        }
    )
    df["group"] = ish_group(r["ratio"][keep], r["her2"][keep])
    df["single"] = (r["ratio"][keep] == NONE) & (r["her2"][keep] != NONE)
    df["her2"] = r["her2"][keep]
    df["boundary"] = r["boundary"][keep]
    cur = df[df["version"] == df.groupby("key")["version"].transform("max")]

    results = {
        a: {
            p: int(((cur["assay"] == ai) & (cur["purpose"] == pi)).sum())
            for pi, p in enumerate(TEST_PURPOSES)
        }
        for ai, a in enumerate(ASSAYS)
    }
    clin = cur[cur["purpose"] == CLINICAL]
    clin_ihc = clin[clin["assay"] == IHC]
    clin_ish = clin[clin["assay"] == ISH]
    specs, status, score, group, single = _status(cur, CLINICAL, n_spec)
    _, status_v1, _, _, _ = _status(cur, CLINICAL, n_spec, single_probe=False)
    is_pt = spec["pt"] >= 0

    # Positivity of clinical primary specimens (the published bands are for primaries).
    prim = specs[(spec["role"][specs] == PRIMARY) & ~is_pt[specs]]
    outlier_lab = net.LAB_CODES.index(net.OUTLIER.lab)
    coll = spec["coll"][prim]
    in_window = (
        (spec["lab"][prim] == outlier_lab)
        & (coll >= net.day(net.OUTLIER.start))
        & (coll <= net.day(net.OUTLIER.end))
    )
    positivity = {
        "primary_specimens": len(prim),
        **_counts(status[prim], REPORTED_RESULTS),
        "by_lab": {
            code: {
                "specimens": int((spec["lab"][prim] == li).sum()),
                "positive": int(((spec["lab"][prim] == li) & (status[prim] == POSITIVE)).sum()),
            }
            for li, code in enumerate(net.LAB_CODES)
        },
        "outlier": {
            "lab_id": net.OUTLIER.lab,
            "collection_from": net.OUTLIER.start.isoformat(),
            "collection_to": net.OUTLIER.end.isoformat(),
            "specimens": int(in_window.sum()),
            "positive": int((in_window & (status[prim] == POSITIVE)).sum()),
        },
    }
    both = specs[(score[specs] >= 0) & (group[specs] > 0)]
    amplified_by_ihc = {
        label: {
            "ish": int((score[both] == i).sum()),
            "amplified": int(((score[both] == i) & np.isin(group[both], (1, 2))).sum()),
        }
        for i, label in enumerate(IHC_SCORES)
    }
    # ihc_vs_ish (contract v2): dual-probe group 1/5, or single-probe >= 6.0 / < 4.0
    ish_positive = (group == 1) | (single >= 600)
    ish_decided = np.isin(group, (1, 5)) | (single >= 600) | ((single != NONE) & (single < 400))
    pairs = specs[np.isin(score[specs], (0, 1, 3)) & ish_decided[specs]]
    ihc_vs_ish = {
        "pairs": len(pairs),
        "agree": int(((score[pairs] == 3) == ish_positive[pairs]).sum()),
        "single_probe_pairs": int((single[pairs] != NONE).sum()),
    }
    second = _latest(
        cur[(cur["purpose"] == SECOND_READ) & (cur["assay"] == IHC) & (cur["score"] >= 0)]
    )
    s2 = second["spec"].to_numpy()
    s2 = s2[score[s2] >= 0]
    second_score = np.full(n_spec, NONE, np.int64)
    second_score[second["spec"].to_numpy()] = second["score"].to_numpy()
    ref_specs, ref_status, _, _, _ = _status(cur, REFERENCE_LAB, n_spec)
    decided = (POSITIVE, NEGATIVE)
    ref_pairs = ref_specs[
        np.isin(status[ref_specs], decided) & np.isin(ref_status[ref_specs], decided)
    ]

    mets = _metastases(sim, specs, status, score, clin_ish)

    val = valid & (r["purpose"] == VALIDATION)
    val_specs = r["spec"][val]
    lab = net.LABS[net.LAB_CODES.index(net.VALIDATION_LAB)]
    clinical_specs = specs[~is_pt[specs]]
    cold = spec["cold"][clinical_specs]
    fix = spec["fix"][clinical_specs]
    # Distinct patient_mrn values: patients, plus one per proficiency-testing material.
    valid_specs = r["spec"][valid]
    patients = spec["patient"][valid_specs]
    materials = np.unique(spec["pt"][valid_specs][spec["pt"][valid_specs] >= 0])
    pt_keys = _pt_keys(sim, r, valid & (r["purpose"] == PROFICIENCY))
    return {
        "patients": int(np.count_nonzero(np.bincount(patients[patients >= 0]))) + len(materials),
        "specimens": int(np.count_nonzero(np.bincount(r["spec"][valid]))),
        "results": results,
        "ihc_scores": _counts(clin_ihc["score"].to_numpy(), IHC_SCORES),
        "ihc_indeterminate": int((clin_ihc["score"] < 0).sum()),
        "ish": {
            "groups": {str(g): int((clin_ish["group"] == g).sum()) for g in range(1, 6)},
            "single_probe": int(clin_ish["single"].sum()),
            "indeterminate": int(((clin_ish["group"] == 0) & ~clin_ish["single"]).sum()),
            "boundary_values": int(cur["boundary"].sum()),
        },
        "amplified_by_ihc": amplified_by_ihc,
        "contract_v2": {
            "single_probe_specimens": int((single[clinical_specs] != NONE).sum()),
            "status_changed_by_single_probe": int(
                (status[clinical_specs] != status_v1[clinical_specs]).sum()
            ),
            "negative_unspecified": int(
                ((status[clinical_specs] == NEGATIVE) & (score[clinical_specs] == NONE)).sum()
            ),
        },
        "positivity": positivity,
        "ihc_vs_ish": ihc_vs_ish,
        "second_reads": {
            "pairs": len(s2),
            "agree": int((second_score[s2] == score[s2]).sum()),
        },
        "reference_lab": {
            "specimens": len(ref_specs),
            "pairs": len(ref_pairs),
            "agree": int((status[ref_pairs] == ref_status[ref_pairs]).sum()),
        },
        "metastases": mets,
        "amendments": int((valid & (r["version"] > 1) & ~r["repeat"]).sum()),
        "repeats": int((valid & r["repeat"]).sum()),
        "interpretation_disagreements": int((valid & r["disagree"]).sum()),
        "contradictory_pct": int((valid & r["contra"]).sum()),
        "preanalytic": {
            "specimens": len(clinical_specs),
            "cold_documented": int((cold >= 0).sum()),
            "cold_within_60_min": int(((cold >= 0) & (cold <= 60)).sum()),
            "fixation_documented": int((fix >= 0).sum()),
            "fixation_6_to_72_h": int(((fix >= 60) & (fix <= 720)).sum()),
        },
        "validation": {
            "lab_id": lab.code,
            "assay_kit": lab.new_ihc_kit[0] if lab.new_ihc_kit else None,
            "cases": int(val.sum()),
            "positive_cases": int((score[val_specs] == 3).sum()),
            "negative_cases": int(np.isin(score[val_specs], (0, 1)).sum()),
        },
        "proficiency": {
            "events": len(net.PT_EVENTS),
            "cores_per_event": int(sim.info["pt_cores_per_event"]),
            "materials": len(materials),
            "rows": int((valid & (r["purpose"] == PROFICIENCY)).sum()),
            **pt_keys,
        },
    }


def _metastases(sim: Simulation, specs, status, score, clin_ish: pd.DataFrame) -> dict:
    """Primary/metastasis pairs as ``marts.primary_metastasis_pairs`` defines them."""
    spec = sim.spec
    patient = spec["patient"][specs]
    role = spec["role"][specs]
    lab_text = np.array(net.LAB_CODES)[spec["lab"][specs]]
    prim = specs[(role == PRIMARY) & (patient >= 0)]
    # Earliest collection; ties: smallest lab_id, then accession (fixed-width: year, number).
    order = np.lexsort(
        (
            spec["block"][prim],
            spec["part"][prim],
            spec["acc_seq"][prim],
            spec["year"][prim],
            lab_text[(role == PRIMARY) & (patient >= 0)],
            spec["coll"][prim],
            spec["patient"][prim],
        )
    )
    prim = prim[order]
    first = np.unique(spec["patient"][prim], return_index=True)[1]
    primary_of = np.full(len(sim.patients["mrn"]), NONE, np.int64)
    primary_of[spec["patient"][prim[first]]] = prim[first]
    met = specs[role == METASTASIS]
    met_p = met[primary_of[spec["patient"][met]] >= 0]
    prim_p = primary_of[spec["patient"][met_p]]
    ps, ms = status[prim_p], status[met_p]
    decided = np.isin(ps, (POSITIVE, NEGATIVE)) & np.isin(ms, (POSITIVE, NEGATIVE))
    both_negative = (ps == NEGATIVE) & (ms == NEGATIVE)
    with_ish = np.isin(met, clin_ish["spec"].to_numpy())
    return {
        "patients": len(np.unique(spec["patient"][met])),
        "specimens": len(met),
        "pairs": len(met_p),
        "cross_lab": int((spec["lab"][met_p] != spec["lab"][prim_p]).sum()),
        "concordant": int((decided & (ps == ms)).sum()),
        "gain": int((decided & (ps == NEGATIVE) & (ms == POSITIVE)).sum()),
        "loss": int((decided & (ps == POSITIVE) & (ms == NEGATIVE)).sum()),
        "not_comparable": int((~decided).sum()),
        "ihc_only": int((~with_ish).sum()),
        "her2_low_to_zero": int(
            (both_negative & np.isin(score[prim_p], (1, 2)) & (score[met_p] == 0)).sum()
        ),
        "zero_to_her2_low": int(
            (both_negative & (score[prim_p] == 0) & np.isin(score[met_p], (1, 2))).sum()
        ),
    }


def _network() -> dict:
    return {
        "labs": list(net.LAB_CODES),
        "reference_lab": net.REFLAB,
        "pathologists": {
            code: [p for p in net.PATHOLOGISTS if p.startswith(code + "-")]
            for code in (*net.LAB_CODES, net.REFLAB)
        },
        "kits": {
            lab.code: {
                "ihc": [lab.ihc_kit] + ([lab.new_ihc_kit[0]] if lab.new_ihc_kit else []),
                "ish": [lab.ish_kit] + (["INFORM HER2 DNA"] if lab.single_probe else []),
            }
            for lab in net.LABS
        },
        "outlier": {
            "lab_id": net.OUTLIER.lab,
            "collection_from": net.OUTLIER.start.isoformat(),
            "collection_to": net.OUTLIER.end.isoformat(),
        },
    }


def build(
    *,
    seed: int,
    rows: int,
    messy: bool,
    sim: Simulation,
    r: Rows,
    lay: Layout,
    extracts: list[Extract],
    written: list[Written],
    planted: list[Planted],
    bad: list[BadFile],
) -> dict:
    """The manifest dict (see the module docstring); ``r`` are the canonical rows in file order."""
    n = len(r["spec"])
    valid = np.ones(n, bool)
    planted_at = np.array([p.row for p in planted], np.int64)
    valid[planted_at] = False
    quarantined = np.bincount(lay.file_of(planted_at), minlength=len(lay.names))
    files = []
    for f, (ex, w) in enumerate(zip(extracts, written, strict=True)):
        q = int(quarantined[f])
        files.append(
            {
                "name": w.name,
                "sha256": w.sha256,
                "size": w.size,
                "data_rows": w.data_rows,
                "lab_id": ex.lab,
                "quarter": ex.quarter,
                "variations": ex.variations,
                "expected_status": "ingested",
                "expected_reason": None,
                "duplicate_of": None,
                "expected_rows_read": w.data_rows,
                "expected_rows_staged": w.data_rows - q,
                "expected_rows_quarantined": q,
            }
        )
    for b in bad:
        files.append(
            {
                "name": b.written.name,
                "sha256": b.written.sha256,
                "size": b.written.size,
                "data_rows": b.written.data_rows,
                "lab_id": b.lab,
                "quarter": b.quarter,
                "variations": [],
                "expected_status": b.status,
                "expected_reason": b.reason,
                "duplicate_of": b.duplicate_of,
                "expected_rows_read": 0,
                "expected_rows_staged": 0,
                "expected_rows_quarantined": 0,
            }
        )
    files.sort(key=lambda x: x["name"])

    names, lines = _where(lay, planted_at)
    source_names, source_lines = _where(lay, np.array([p.source for p in planted], np.int64))
    planted_rows = [
        {
            "file": name,
            "row": line,
            "kind": p.plant.kind,
            "field": p.plant.field,
            "value": p.value,
            "expected": [[p.plant.field, p.plant.kind], *map(list, p.plant.also)],
            "conflicts_with": (
                {"file": source_name, "row": source_line} if p.source != p.row else None
            ),
        }
        for p, name, line, source_name, source_line in zip(
            planted, names, lines, source_names, source_lines, strict=True
        )
    ]
    lab_text = np.array(net.LAB_CODES)[sim.spec["lab"][r["spec"]]]

    def findings(mask: np.ndarray, extra) -> list[dict]:
        g = np.flatnonzero(mask & valid)
        fnames, flines = _where(lay, g)
        return [
            {
                "file": fname,
                "row": line,
                "lab_id": str(lab_text[i]),
                "test_id": _test_id(int(r["test_seq"][i])),
                **extra(i),
            }
            for i, fname, line in zip(g.tolist(), fnames, flines, strict=True)
        ]

    disagreements = findings(
        r["disagree"],
        lambda i: {
            "result_version": int(r["version"][i]),
            "algorithm": REPORTED_RESULTS[r["algo"][i]],
            "reported": REPORTED_RESULTS[r["result"][i]],
        },
    )
    contradictory = findings(
        r["contra"],
        lambda i: {"ihc_score": IHC_SCORES[r["score"][i]], "ihc_pct_stained": int(r["pct"][i])},
    )
    return {
        "format": FORMAT,
        "seed": seed,
        "rows": rows,
        "messy": messy,
        "calendar": {"start": net.START.isoformat(), "end": net.END.isoformat()},
        "network": _network(),
        "files": files,
        "planted_rows": planted_rows,
        "interpretation_disagreements": disagreements,
        "contradictory_pct": contradictory,
        "planted": summary(sim, r, valid),
    }


def _pt_keys(sim: Simulation, r: Rows, pt_rows: np.ndarray) -> dict:
    """Ground truth of the PT keys: which events have one, and each lab's correct answers
    (IHC score equal to the key) per keyed event, over the rows ``pt_rows`` of ``r``."""
    spec = sim.spec
    keys = np.asarray(sim.info.get("pt_keys", np.zeros(0, np.int64)), np.int64)
    core = spec["pt"][r["spec"][pt_rows]]
    key = keys[core] if len(keys) else np.full(len(core), -1)
    keyed = key >= 0
    correct = keyed & (r["score"][pt_rows] == key)
    event = core // net.PT_CORES_PER_EVENT
    lab = spec["lab"][r["spec"][pt_rows]]
    by_lab: dict[str, dict[str, list[int]]] = {}
    for li, code in enumerate(net.LAB_CODES):
        for e, (label, _) in enumerate(net.PT_EVENTS):
            sel = keyed & (lab == li) & (event == e)
            if sel.any():
                by_lab.setdefault(code, {})[label] = [int(correct[sel].sum()), int(sel.sum())]
    used = {int(e) for e in np.unique(event[keyed])}
    return {
        "keyed_events": [label for e, (label, _) in enumerate(net.PT_EVENTS) if e in used],
        "key_pending_events": sorted(net.PT_KEY_PENDING),
        "keyed_rows": int(keyed.sum()),
        "keyed_correct": int(correct.sum()),
        "keyed_correct_by_lab_event": by_lab,
    }
