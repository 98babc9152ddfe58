"""Canonical simulated rows -> the contract's text columns (one pyarrow string array each).

Clean rendering: canonical vocabulary values, ISO dates, plain decimals (ISH
values with 2 decimals, fixation hours with 1), null for missing (written as an
empty field). Each lab's LIS habits from ``network.Lab`` decide which optional
columns it fills (``performing_lab``, ``result_version`` 1, ``test_purpose``
clinical) and how it writes a patient's name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from her2qa.generate import network as net
from her2qa.generate.patients import FIRST_NAMES, LAST_NAMES, MRN_DIGITS
from her2qa.generate.results import CLINICAL, Simulation
from schemas.contract import NAMES
from schemas.vocabulary import (
    ASSAYS,
    IHC_SCORES,
    REPORTED_RESULTS,
    SPECIMEN_ROLES,
    SPECIMEN_SITES,
    TEST_PURPOSES,
)

Columns = dict[str, pa.Array]


def text(choices: Sequence[str], idx: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """``choices[idx]`` as strings, null where not ``valid``."""
    mask = None if valid is None else ~np.asarray(valid, bool)
    indices = pa.array(np.asarray(idx, np.int64), mask=mask)
    return pc.take(pa.array(list(choices), pa.string()), indices)


def integer(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, np.int64), mask=~valid), pa.string())


def fixed(values: np.ndarray, decimals: int, valid: np.ndarray) -> pa.Array:
    """Non-negative integers in 10**-decimals units as plain decimals (``440`` -> ``4.40``)."""
    values = np.asarray(values, np.int64)
    scale = 10**decimals
    whole = integer(values // scale, valid)
    frac = pc.utf8_lpad(integer(values % scale, valid), decimals, padding="0")
    return pc.binary_join_element_wise(whole, frac, ".")


def iso_date(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, bool)
    return (
        pa.array(np.asarray(days, np.int32), pa.int32(), mask=mask)
        .cast(pa.date32())
        .cast(pa.string())
    )


def prefixed(prefix: str, number: np.ndarray, width: int, valid: np.ndarray) -> pa.Array:
    digits = pc.utf8_lpad(integer(number, valid), width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _spec_labels(sim: Simulation, used: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Accession and MRN text of the ``used`` specimens (sorted unique indices)."""
    spec, pats = sim.spec, sim.patients
    pt = spec["pt"][used]
    is_pt = pt >= 0
    # Accession (case-part-block): S24-01234-B2.
    yy = spec["year"][used] % 100
    case = pc.binary_join_element_wise(
        prefixed("S", yy, 2, ~is_pt), prefixed("", spec["acc_seq"][used], 5, ~is_pt), "-"
    )
    part_block = pc.binary_join_element_wise(
        text("ABC", spec["part"][used], ~is_pt), integer(spec["block"][used], ~is_pt), ""
    )
    accession = pc.binary_join_element_wise(case, part_block, "-")
    patient = spec["patient"][used]
    mrn = prefixed("MRN", pats["mrn"][np.maximum(patient, 0)], MRN_DIGITS, ~is_pt)
    # Proficiency-testing material: the same challenge id in every lab (PT-23A-01).
    event = np.maximum(pt, 0) // net.PT_CORES_PER_EVENT
    labels = text([label for label, _ in net.PT_EVENTS], event, is_pt)
    core = prefixed("", np.maximum(pt, 0) % net.PT_CORES_PER_EVENT + 1, 2, is_pt)
    pt_id = pc.binary_join_element_wise(labels, core, "-")
    accession = pc.if_else(pa.array(is_pt), pc.binary_join_element_wise("PT", pt_id, ""), accession)
    mrn = pc.if_else(pa.array(is_pt), pc.binary_join_element_wise("PT-", pt_id, ""), mrn)
    return accession, mrn


def render(sim: Simulation, order: np.ndarray) -> Columns:
    """The contract columns (``schemas.contract.NAMES``) of ``sim.rows`` taken in ``order``."""
    rows = {k: v[order] for k, v in sim.rows.items()}
    spec, pats = sim.spec, sim.patients
    s = rows["spec"]
    lab = spec["lab"][s]
    labs = net.LABS
    fills_perf = np.array([x.fills_performing_lab for x in labs])[lab]
    fills_v1 = np.array([x.fills_version_1 for x in labs])[lab]
    fills_clinical = np.array([x.fills_clinical for x in labs])[lab]
    last_first = np.array([x.name_last_first for x in labs])[lab]

    used, inverse = np.unique(s, return_inverse=True)
    accession, mrn = _spec_labels(sim, used)
    idx = pa.array(inverse.astype(np.int64))

    patient = spec["patient"][s]
    has_patient = patient >= 0
    p = np.maximum(patient, 0)
    first = text(FIRST_NAMES, pats["first"][p], has_patient)
    last = text(LAST_NAMES, pats["last"][p], has_patient)
    name = pc.if_else(
        pa.array(last_first),
        pc.binary_join_element_wise(last, first, ", "),
        pc.binary_join_element_wise(first, last, " "),
    )
    cold = spec["cold"][s]
    fix = spec["fix"][s]
    columns: Columns = {
        "lab_id": text(net.LAB_CODES, lab),
        "performing_lab": text(
            (*net.LAB_CODES, net.REFLAB),
            np.where(rows["ref"], len(labs), lab),
            rows["ref"] | fills_perf,
        ),
        "test_id": prefixed("T", rows["test_seq"], 8, np.ones(len(s), bool)),
        "result_version": integer(rows["version"], (rows["version"] > 1) | fills_v1),
        "accession_id": pc.take(accession, idx),
        "patient_mrn": pc.take(mrn, idx),
        "patient_name": name,
        "patient_dob": iso_date(pats["dob"][p], has_patient),
        "specimen_role": text(SPECIMEN_ROLES, spec["role"][s]),
        "specimen_site": text(SPECIMEN_SITES, spec["site"][s]),
        "collection_date": iso_date(spec["coll"][s]),
        "report_date": iso_date(rows["rep"]),
        "cold_ischemia_min": integer(cold, cold >= 0),
        "fixation_hours": fixed(fix, 1, fix >= 0),
        "assay": text(ASSAYS, rows["assay"]),
        "assay_kit": text(net.KITS, rows["kit"]),
        "ihc_score": text(IHC_SCORES, rows["score"], rows["score"] >= 0),
        "ihc_pct_stained": integer(rows["pct"], rows["pct"] >= 0),
        "ish_her2_per_cell": fixed(rows["her2"], 2, rows["her2"] >= 0),
        "ish_cep17_per_cell": fixed(rows["cep17"], 2, rows["cep17"] >= 0),
        "ish_ratio": fixed(rows["ratio"], 2, rows["ratio"] >= 0),
        "ish_cells_counted": integer(rows["cells"], rows["cells"] >= 0),
        "reported_result": text(REPORTED_RESULTS, rows["result"]),
        "pathologist_id": text(net.PATHOLOGISTS, rows["path"]),
        "test_purpose": text(
            TEST_PURPOSES, rows["purpose"], (rows["purpose"] != CLINICAL) | fills_clinical
        ),
    }
    # Contract v2: the provider's key on proficiency rows of events whose key is released.
    pt = spec["pt"][s]
    keys = np.asarray(sim.info.get("pt_keys", np.zeros(0, np.int64)), np.int64)
    key = np.where(pt >= 0, keys[np.clip(pt, 0, max(len(keys) - 1, 0))] if len(keys) else -1, -1)
    columns["expected_result"] = text(IHC_SCORES, np.maximum(key, 0), key >= 0)
    assert tuple(columns) == NAMES, "render must follow the contract's column order"
    return columns
