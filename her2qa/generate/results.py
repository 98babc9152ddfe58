"""The clean clinical simulation: specimens, their HER2 results and the exact row count.

Everything is vectorised over numpy arrays; values are canonical codes
(``schemas.vocabulary`` indices, integer dates, ISH numbers in hundredths), and
``render`` turns them into contract text. The simulation, per specimen:

- a lab, a collection day, pre-analytic times and an IHC score drawn from the
  lab's mix (her2-domain.md §BENCH 6.2; one lab-period above the band);
- a latent amplification by IHC score (0: 2%, 1+: 5%, 2+: 30%, 3+: 92%);
  reflex ISH on every 2+ (and on an indeterminate IHC), confirmatory ISH on
  ~15% of 0/1+/3+; a dual-probe group consistent with the amplification
  (groups 2-4 a few % of ISH, §ISH-GROUPS), a few single-probe rows and a few
  exact boundary values;
- extra results: blinded second reads, reference-laboratory retests,
  validation and proficiency-testing rows; later metastases (loss/gain,
  HER2-low transitions, sometimes at another lab); amendments (version 2 in a
  later quarter), exact repeats (re-sent in the next quarter's extract),
  deliberate interpretation disagreements and contradictory percentages.

Specimens are units: whole specimens (with all their rows) are taken in a
random order until exactly ``rows`` rows are reached, so every proportion stays
unbiased whatever the size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from her2qa.generate import network as net
from her2qa.generate import patients as people
from her2qa.generate import values as draw
from her2qa.generate.rules import (
    EQUIVOCAL,
    INDETERMINATE,
    NEGATIVE,
    NO_GROUP,
    NO_SCORE,
    NONE,
    POSITIVE,
    final_status,
    ihc_reading,
    ish_group,
    ish_reading,
    single_probe_reading,
)
from schemas.vocabulary import ASSAYS, SPECIMEN_ROLES, SPECIMEN_SITES, TEST_PURPOSES

IHC = ASSAYS.index("IHC")
ISH = ASSAYS.index("ISH")
PRIMARY = SPECIMEN_ROLES.index("primary")
METASTASIS = SPECIMEN_ROLES.index("metastasis")
CLINICAL, SECOND_READ, REFERENCE_LAB, VALIDATION, PROFICIENCY = (
    TEST_PURPOSES.index(p)
    for p in ("clinical", "second_read", "reference_lab", "validation", "proficiency")
)

# --- calibration (her2-domain.md §BENCH, §ISH-GROUPS, §PREANALYTIC) -------------------
P_IHC_INDETERMINATE = 0.004
AMPLIFIED_BY_SCORE = np.array([0.02, 0.05, 0.30, 0.92, 0.20])  # last: no IHC score
P_CONFIRMATORY_ISH = 0.15
P_BOUNDARY = 0.004  # of dual-probe ISH rows get an exact boundary value
# Exact boundary values (her2, cep17, ratio in hundredths), by the group each lands in:
# ratio exactly 2.00, HER2/cell exactly 4.00 and 6.00 (§ISH-GROUPS boundary semantics).
BOUNDARY_VALUES: dict[int, tuple[tuple[int, int, int], ...]] = {
    1: ((440, 220, 200), (400, 160, 250), (400, 200, 200)),
    2: ((380, 190, 200), (300, 150, 200)),
    3: ((600, 375, 160), (600, 316, 190)),
    4: ((400, 250, 160), (599, 316, 190)),
    5: ((398, 200, 199), (350, 250, 140)),
}

P_SECOND_READ = 0.08
# Second blinded read: mostly 0 vs 1+, some 1+ vs 2+, very rare otherwise (§BENCH 6.5).
SECOND_READ_SCORES = np.array(
    [
        [0.845, 0.150, 0.004, 0.001],
        [0.120, 0.830, 0.048, 0.002],
        [0.004, 0.110, 0.856, 0.030],
        [0.001, 0.004, 0.030, 0.965],
    ]
)
P_REFERENCE = 0.03
REFERENCE_2PLUS_WEIGHT = 3.0
REFERENCE_SCORES = np.array(
    [
        [0.93, 0.06, 0.01, 0.00],
        [0.08, 0.86, 0.06, 0.00],
        [0.01, 0.07, 0.88, 0.04],
        [0.00, 0.01, 0.03, 0.96],
    ]
)
P_REFERENCE_AMP_FLIP = 0.05

P_METASTASIS = 0.06
MET_MIN_DAYS, MET_MAX_DAYS = 183, 913  # 6-30 months after the primary
P_MET_OTHER_LAB = 0.25
P_LOSS, P_GAIN = 0.20, 0.10  # §BENCH 6.4 (Schrijver 2018)
MET_SITES = ("lymph_node", "liver", "lung", "bone", "brain", "skin", "pleura")
MET_SITE_P = np.array([0.30, 0.20, 0.15, 0.15, 0.08, 0.06, 0.06])
# IHC score of a HER2-negative metastasis (0, 1+, 2+) by the primary's score (0..3, none).
MET_NEGATIVE_SCORE = np.array(
    [
        [0.62, 0.30, 0.08],
        [0.28, 0.57, 0.15],
        [0.12, 0.45, 0.43],
        [0.25, 0.45, 0.30],
        [0.40, 0.45, 0.15],
    ]
)
P_MET_2PLUS_NO_ISH = 0.20  # metastases with IHC only although 2+ (little tissue)
P_MET_CONFIRMATORY_ISH = 0.10

P_AMENDED = 0.01
P_REPEAT = 0.002
P_DISAGREE = 0.01
P_CONTRADICTORY_PCT = 0.005

CLINICAL_MAX_DELAY = 14  # report at most 14 days after collection
REFERENCE_MAX_DELAY = 45
ROWS_PER_SPECIMEN_GUESS = 1.30  # deliberately low: the pool is then large enough

FIELDS: dict[str, tuple[type, int | bool]] = {
    "spec": (np.int64, 0),
    "key": (np.int64, 0),
    "assay": (np.int8, IHC),
    "purpose": (np.int8, CLINICAL),
    "version": (np.int8, 1),
    "rep": (np.int64, 0),
    "score": (np.int8, NO_SCORE),
    "pct": (np.int16, NONE),
    "her2": (np.int32, NONE),
    "cep17": (np.int32, NONE),
    "ratio": (np.int32, NONE),
    "cells": (np.int16, NONE),
    "result": (np.int8, INDETERMINATE),
    "algo": (np.int8, INDETERMINATE),  # the ASCO/CAP reading of the row
    "kit": (np.int8, 0),
    "path": (np.int16, 0),
    "ref": (np.bool_, False),  # performed by the reference laboratory
    "repeat": (np.bool_, False),  # identical re-sent row
    "disagree": (np.bool_, False),  # reported_result differs from the reading
    "contra": (np.bool_, False),  # ihc_pct_stained contradicts the score
    "boundary": (np.bool_, False),  # exact ISH boundary value
}

Rows = dict[str, np.ndarray]


def make_rows(n: int, **values: np.ndarray | int | bool) -> Rows:
    """``n`` rows, each field from ``values`` (array or scalar) or its default."""
    out = {}
    for name, (dtype, default) in FIELDS.items():
        value = values.pop(name, default)
        out[name] = np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()
    if values:
        raise TypeError(f"unknown row fields: {sorted(values)}")
    return out


def concat(parts: list[Rows]) -> Rows:
    return {name: np.concatenate([p[name] for p in parts]) for name in FIELDS}


def take(rows: Rows, idx: np.ndarray) -> Rows:
    return {name: values[idx] for name, values in rows.items()}


@dataclass
class Simulation:
    """The canonical result of the clean simulation (``rows`` has exactly the requested count)."""

    rows: Rows
    spec: dict[str, np.ndarray]  # per specimen (index = rows["spec"])
    patients: dict[str, np.ndarray]  # per patient (index = spec["patient"], -1 for PT material)
    info: dict[str, object] = field(default_factory=dict)


# --- specimens ------------------------------------------------------------------------


def _clinical_attributes(spec: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Readers, kits, delays, pre-analytics and the percentage for specimens with a score."""
    lab, score = spec["lab"], spec["score"]
    n = len(lab)
    spec["cold"], spec["fix"] = draw.preanalytic(lab, rng)
    spec["path_ihc"] = draw.pathologist(lab, rng)
    spec["path_ish"] = draw.pathologist(lab, rng)
    spec["d_ihc"] = rng.integers(2, 10, n)
    spec["d_ish"] = np.minimum(spec["d_ihc"] + rng.integers(2, 6, n), CLINICAL_MAX_DELAY)
    pct = draw.pct_stained(score, rng)
    spec["pct"] = np.where(rng.random(n) >= 0.08, pct, NONE).astype(np.int16)
    spec["part"] = rng.integers(0, 3, n)
    spec["block"] = rng.integers(1, 5, n)


def _finish(spec: dict[str, np.ndarray], do_ish: np.ndarray, rng) -> None:
    """Attach ISH results (for ``do_ish``) and the specimen's final status."""
    n = len(do_ish)
    j = np.flatnonzero(do_ish)
    ish = draw.ish_results(
        spec["score"][j],
        spec["amp"][j],
        spec["group"][j],
        net.LAB_SINGLE_PROBE[spec["lab"][j]],
        rng,
    )
    spec["ish"] = do_ish
    for name, values in ish.items():
        full = np.full(n, NONE if values.dtype != np.bool_ else False, dtype=values.dtype)
        full[j] = values
        spec["ish_" + name] = full
    spec["ish_group"][~do_ish] = NO_GROUP
    spec["final"] = final_status(spec["score"], spec["ish_group"])


def _primaries(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    lab = rng.choice(len(net.LABS), size=n, p=net.LAB_WEIGHTS).astype(np.int8)
    last = net.END_DAY - CLINICAL_MAX_DELAY
    coll = net.START_DAY + rng.integers(0, last - net.START_DAY + 1, n)
    mix = net.LAB_SCORE_MIX[lab]
    outlier = (
        (lab == net.LAB_CODES.index(net.OUTLIER.lab))
        & (coll >= net.day(net.OUTLIER.start))
        & (coll <= net.day(net.OUTLIER.end))
    )
    mix[outlier] = net.OUTLIER.score_mix
    score = draw.categorical(mix, rng)
    score[rng.random(n) < P_IHC_INDETERMINATE] = NO_SCORE
    amp = rng.random(n) < AMPLIFIED_BY_SCORE[score]
    spec = {
        "lab": lab,
        "coll": coll.astype(np.int64),
        "role": np.full(n, PRIMARY, np.int8),
        "site": np.full(n, SPECIMEN_SITES.index("breast"), np.int8),
        "score": score,
        "amp": amp,
        "group": draw.ish_groups(score, amp, rng),
        "patient": np.arange(n, dtype=np.int64),
        "pt": np.full(n, NONE, np.int32),
    }
    _clinical_attributes(spec, rng)
    do_ish = (score == 2) | (score == NO_SCORE) | (rng.random(n) < P_CONFIRMATORY_ISH)
    _finish(spec, do_ish, rng)
    return spec


def _metastases(prim: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """~6% of patients get a metastasis 6-30 months later (loss ~20%, gain ~10%)."""
    n_prim = len(prim["lab"])
    latest = net.END_DAY - CLINICAL_MAX_DELAY
    eligible = prim["coll"] <= latest - MET_MIN_DAYS
    p = min(1.0, P_METASTASIS * n_prim / max(int(eligible.sum()), 1))
    pick = np.flatnonzero(eligible & (rng.random(n_prim) < p))
    m = len(pick)
    hi = np.minimum(MET_MAX_DAYS, latest - prim["coll"][pick])
    coll = prim["coll"][pick] + MET_MIN_DAYS + (rng.random(m) * (hi - MET_MIN_DAYS + 1)).astype(int)
    lab = prim["lab"][pick].copy()
    other = rng.random(m) < P_MET_OTHER_LAB
    lab[other] = (lab[other] + rng.integers(1, len(net.LABS), int(other.sum()))) % len(net.LABS)
    site = np.array([SPECIMEN_SITES.index(s) for s in MET_SITES], np.int8)[
        draw.categorical(np.broadcast_to(MET_SITE_P, (m, len(MET_SITES))), rng)
    ]
    prim_final = prim["final"][pick]
    u = rng.random(m)
    positive = np.where(
        prim_final == POSITIVE,
        u >= P_LOSS,
        np.where(prim_final == NEGATIVE, u < P_GAIN, u < 0.2),
    )
    prim_score = prim["score"][pick]
    negative_score = draw.categorical(MET_NEGATIVE_SCORE[prim_score], rng)  # -1 picks last row
    score = np.where(positive, np.where(rng.random(m) < 0.78, 3, 2), negative_score).astype(np.int8)
    amp = positive & ((score == 2) | (rng.random(m) < AMPLIFIED_BY_SCORE[3]))
    v = rng.random(m)
    group = np.where(amp, 1, np.where(v < np.where(score == 2, 0.15, 0.05), 4, 5)).astype(np.int8)
    spec = {
        "lab": lab,
        "coll": coll.astype(np.int64),
        "role": np.full(m, METASTASIS, np.int8),
        "site": site,
        "score": score,
        "amp": amp,
        "group": group,
        "patient": prim["patient"][pick],
        "pt": np.full(m, NONE, np.int32),
    }
    _clinical_attributes(spec, rng)
    w = rng.random(m)
    do_ish = np.where(score == 2, w >= P_MET_2PLUS_NO_ISH, w < P_MET_CONFIRMATORY_ISH)
    _finish(spec, do_ish, rng)
    return spec


def _merge(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


# --- rows -----------------------------------------------------------------------------


def _ish_rows(spec_idx, ish: dict[str, np.ndarray], ihc_score, rep, kit, path, **extra) -> Rows:
    """Rows for ISH results; ``ish`` fields aligned with ``spec_idx``."""
    group = ish["group"]
    result = np.where(
        ish["ind"],
        INDETERMINATE,
        np.where(ish["single"], single_probe_reading(ish["her2"]), ish_reading(group, ihc_score)),
    )
    return make_rows(
        len(spec_idx),
        spec=spec_idx,
        assay=ISH,
        rep=rep,
        her2=ish["her2"],
        cep17=ish["cep17"],
        ratio=ish["ratio"],
        cells=ish["cells"],
        result=result,
        algo=result,
        kit=kit,
        path=path,
        **extra,
    )


def _ihc_rows(spec_idx, score, pct, rep, kit, path, **extra) -> Rows:
    result = ihc_reading(score)
    return make_rows(
        len(spec_idx),
        spec=spec_idx,
        assay=IHC,
        rep=rep,
        score=score,
        pct=np.where(score == NO_SCORE, NONE, pct),
        result=result,
        algo=result,
        kit=kit,
        path=path,
        **extra,
    )


def _clinical_rows(spec: dict[str, np.ndarray]) -> list[Rows]:
    n = len(spec["lab"])
    idx = np.arange(n)
    lab, coll = spec["lab"], spec["coll"]
    ihc = _ihc_rows(
        idx,
        spec["score"],
        spec["pct"],
        coll + spec["d_ihc"],
        net.ihc_kit(lab, coll),
        spec["path_ihc"],
    )
    j = np.flatnonzero(spec["ish"])
    ish = {k: spec["ish_" + k][j] for k in ("single", "ind", "group", "her2", "cep17", "ratio")}
    ish["cells"] = spec["ish_cells"][j]
    kit = np.where(ish["single"], net.SINGLE_PROBE_KIT, net.LAB_ISH_KIT[lab[j]])
    ish_rows = _ish_rows(
        j, ish, spec["score"][j], coll[j] + spec["d_ish"][j], kit, spec["path_ish"][j]
    )
    return [ihc, ish_rows]


def _second_reads(spec: dict[str, np.ndarray], rng: np.random.Generator) -> Rows:
    score = spec["score"]
    pick = np.flatnonzero((score != NO_SCORE) & (rng.random(len(score)) < P_SECOND_READ))
    lab = spec["lab"][pick]
    second = draw.categorical(SECOND_READ_SCORES[score[pick]], rng)
    coll = spec["coll"][pick]
    return _ihc_rows(
        pick,
        second,
        draw.pct_stained(second, rng),
        coll + spec["d_ihc"][pick] + rng.integers(0, 4, len(pick)),
        net.ihc_kit(lab, coll),
        draw.other_pathologist(spec["path_ihc"][pick], lab, rng),
        purpose=SECOND_READ,
    )


def _reference_rows(spec: dict[str, np.ndarray], rng: np.random.Generator) -> list[Rows]:
    """~3% of specimens retested by the reference laboratory (IHC, and ISH when needed)."""
    score = spec["score"]
    n = len(score)
    weight = np.where(score == 2, REFERENCE_2PLUS_WEIGHT, 1.0)
    eligible = (spec["coll"] <= net.END_DAY - REFERENCE_MAX_DELAY) & (spec["pt"] == NONE)
    p = P_REFERENCE * weight / max(float(weight[eligible].mean()) if eligible.any() else 1.0, 1e-9)
    pick = np.flatnonzero(eligible & (rng.random(n) < p))
    m = len(pick)
    clinical_score = score[pick]
    amp = spec["amp"][pick] ^ (rng.random(m) < P_REFERENCE_AMP_FLIP)
    ref_score = draw.categorical(REFERENCE_SCORES[np.maximum(clinical_score, 0)], rng)
    ref_score = np.where(clinical_score == NO_SCORE, np.where(amp, 3, 1), ref_score).astype(np.int8)
    coll = spec["coll"][pick]
    rep_ihc = coll + rng.integers(15, 33, m)
    ref_path = draw.pathologist(np.full(m, net.REFLAB_INDEX), rng)
    ihc = _ihc_rows(
        pick,
        ref_score,
        draw.pct_stained(ref_score, rng),
        rep_ihc,
        net.KITS.index(net.REFLAB_IHC_KIT),
        ref_path,
        purpose=REFERENCE_LAB,
        ref=True,
    )
    do_ish = (ref_score == 2) | (spec["ish_group"][pick] != NO_GROUP)
    k = np.flatnonzero(do_ish)
    ish = draw.ish_results(
        ref_score[k],
        amp[k],
        draw.ish_groups(ref_score[k], amp[k], rng),
        np.zeros(len(k), bool),
        rng,
    )
    ish_rows = _ish_rows(
        pick[k],
        ish,
        ref_score[k],
        rep_ihc[k] + rng.integers(2, 8, len(k)),
        net.KITS.index(net.REFLAB_ISH_KIT),
        ref_path[k],
        purpose=REFERENCE_LAB,
        ref=True,
    )
    return [ihc, ish_rows]


def _plant_boundaries(rows: Rows, rng: np.random.Generator) -> None:
    """Give a few dual-probe ISH rows exact boundary values of their own group."""
    group = ish_group(rows["ratio"], rows["her2"])
    n_values = sum(len(v) for v in BOUNDARY_VALUES.values())
    per_value = max(1, round(P_BOUNDARY * int((group > 0).sum()) / n_values))
    for g, values in BOUNDARY_VALUES.items():
        for her2, cep17, ratio in values:
            cand = np.flatnonzero((group == g) & ~rows["boundary"])
            k = min(len(cand), per_value)
            pick = rng.choice(cand, size=k, replace=False) if k else cand[:0]
            rows["her2"][pick], rows["cep17"][pick], rows["ratio"][pick] = her2, cep17, ratio
            rows["boundary"][pick] = True


def _disagreements(rows: Rows, rng: np.random.Generator) -> None:
    """~1% of clinical results reported against the algorithm (a finding for the audit)."""
    determinate = np.isin(rows["algo"], (POSITIVE, NEGATIVE, EQUIVOCAL))
    dual = rows["ratio"] != NONE
    usable = (rows["assay"] == IHC) | dual
    pick = np.flatnonzero(
        (rows["purpose"] == CLINICAL)
        & determinate
        & usable
        & (rng.random(len(determinate)) < P_DISAGREE)
    )
    algo = rows["algo"][pick]
    near = np.array([EQUIVOCAL, EQUIVOCAL, NEGATIVE])[algo]  # positive/negative -> equivocal
    far = np.array([NEGATIVE, POSITIVE, POSITIVE])[algo]
    alt = np.where(rng.random(len(pick)) < 0.25, far, near)
    # The classic legacy error: a group 2 (ratio >= 2.0, < 4 signals) called positive.
    group2 = ish_group(rows["ratio"][pick], rows["her2"][pick]) == 2
    alt = np.where(group2 & (algo == NEGATIVE), POSITIVE, alt)
    rows["result"][pick] = alt
    rows["disagree"][pick] = True


def _contradictory_pct(rows: Rows, rng: np.random.Generator) -> None:
    """A few IHC 0 over 10% / IHC 1+ at 10% or less: valid rows, a finding."""
    score = rows["score"]
    pick = np.flatnonzero(
        (rows["purpose"] == CLINICAL)
        & np.isin(score, (0, 1))
        & (rows["pct"] != NONE)
        & ~rows["disagree"]
        & (rng.random(len(score)) < P_CONTRADICTORY_PCT)
    )
    zero = score[pick] == 0
    rows["pct"][pick] = np.where(
        zero, rng.integers(11, 36, len(pick)), rng.integers(1, 11, len(pick))
    )
    rows["contra"][pick] = True


def _amendments(rows: Rows, spec: dict[str, np.ndarray], rng: np.random.Generator) -> Rows:
    """~1% of clinical results get a version 2 (changed score/values) in a later quarter."""
    q = net.quarter(rows["rep"])
    spec_group = spec["ish_group"][rows["spec"]]
    ihc = rows["assay"] == IHC
    cand = (
        (rows["purpose"] == CLINICAL)
        & (rows["algo"] != INDETERMINATE)
        & ~rows["disagree"]
        & ~rows["contra"]
        & ~rows["boundary"]
        & (q < net.N_QUARTERS - 1)
        & ~(ihc & np.isin(spec_group, (2, 3, 4)))
    )
    pick = np.flatnonzero(cand & (rng.random(len(q)) < P_AMENDED))
    # Never amend both results of one specimen: the ISH reading depends on the IHC score.
    ihc_specs = rows["spec"][pick[ihc[pick]]]
    pick = pick[ihc[pick] | ~np.isin(rows["spec"][pick], ihc_specs)]
    v2 = take(rows, pick)
    m = len(pick)
    v2["version"][:] = 2
    v2["rep"] = net.quarter_start(q[pick] + 1) + rng.integers(0, 46, m)
    is_ihc = v2["assay"] == IHC
    # IHC: the score moves one step (0 -> 1+, 3+ -> 2+, otherwise up or down).
    step = np.where(rng.random(m) < 0.5, -1, 1)
    new_score = np.clip(v2["score"] + step, 0, 3)
    new_score = np.where(new_score == v2["score"], v2["score"] - step, new_score).astype(np.int8)
    v2["score"] = np.where(is_ihc, new_score, v2["score"])
    new_pct = draw.pct_stained(new_score, rng)
    v2["pct"] = np.where(is_ihc & (v2["pct"] != NONE), new_pct, v2["pct"])
    # Dual-probe ISH: a recount, half of them landing in a neighbouring group.
    dual = ~is_ihc & (v2["ratio"] != NONE)
    old_group = ish_group(v2["ratio"], v2["her2"])
    neighbour = np.array([0, 2, 1, 4, 5, 4], np.int8)[old_group]
    concurrent = spec["score"][v2["spec"]]
    move = (rng.random(m) < 0.5) & (concurrent != NO_SCORE)
    new_group = np.where(move, neighbour, old_group).astype(np.int8)
    h, c, r = draw.dual_values(np.where(dual, new_group, NO_GROUP).astype(np.int8), rng)
    v2["her2"] = np.where(dual, h, v2["her2"])
    v2["cep17"] = np.where(dual, c, v2["cep17"])
    v2["ratio"] = np.where(dual, r, v2["ratio"])
    # Single-probe: a recount on the same side of the cut-offs.
    single = ~is_ihc & ~dual
    v2["her2"] = np.where(
        single,
        np.where(v2["her2"] >= 600, v2["her2"] + 35, np.maximum(v2["her2"] - 25, 120)),
        v2["her2"],
    )
    v2["cells"] = np.where(is_ihc, NONE, np.maximum(v2["cells"], 20))
    result = np.where(
        is_ihc,
        ihc_reading(v2["score"]),
        np.where(
            dual,
            ish_reading(ish_group(v2["ratio"], v2["her2"]), concurrent),
            single_probe_reading(v2["her2"]),
        ),
    )
    v2["result"] = v2["algo"] = result.astype(np.int8)
    return v2


def _repeats(rows: Rows, rng: np.random.Generator) -> Rows:
    """A few identical rows re-sent in the next quarter's extract of the same lab."""
    q = net.quarter(rows["rep"])
    amended = np.isin(rows["key"], rows["key"][rows["version"] > 1])
    cand = (
        (rows["purpose"] == CLINICAL)
        & ~amended
        & ~rows["disagree"]
        & ~rows["contra"]
        & (q < net.N_QUARTERS - 1)
    )
    pick = np.flatnonzero(cand & (rng.random(len(q)) < P_REPEAT))
    copy = take(rows, pick)
    copy["repeat"][:] = True
    return copy


def _validation(spec, rows: Rows, rng: np.random.Generator) -> tuple[np.ndarray, Rows]:
    """20 positive (IHC 3+) + 20 negative (IHC 0/1+) archival cases re-stained on the new kit."""
    lab_index = net.LAB_CODES.index(net.VALIDATION_LAB)
    lab = net.LABS[lab_index]
    assert lab.new_ihc_kit is not None
    new_kit, since = lab.new_ihc_kit
    run_start = net.day(since) - 28
    clinical_ihc = rows["spec"][(rows["purpose"] == CLINICAL) & (rows["assay"] == IHC)]
    amended = rows["spec"][rows["version"] > 1]
    ok = np.zeros(len(spec["lab"]), bool)
    ok[clinical_ihc] = True
    ok[amended] = False
    ok &= (spec["lab"] == lab_index) & (spec["role"] == PRIMARY) & (spec["coll"] < run_start - 30)
    chosen = []
    for scores in ((3,), (0, 1)):
        cand = np.flatnonzero(ok & np.isin(spec["score"], scores))
        k = min(len(cand), net.VALIDATION_CASES_EACH)
        chosen.append(np.sort(rng.choice(cand, size=k, replace=False)))
    pick = np.concatenate(chosen)
    m = len(pick)
    score = spec["score"][pick]
    shifted = rng.random(m) < 0.05
    score = np.where(shifted & (score == 0), 1, np.where(shifted & (score == 1), 0, score))
    score = score.astype(np.int8)
    val = _ihc_rows(
        pick,
        score,
        draw.pct_stained(score, rng),
        run_start + rng.integers(0, 25, m),
        net.KITS.index(new_kit),
        draw.pathologist(np.full(m, lab_index), rng),
        purpose=VALIDATION,
    )
    return pick, val


def _proficiency(first_spec: int, rng: np.random.Generator, cores: int):
    """PT challenges: every lab scores the same cores, twice a year (one row per lab x core).

    Also the provider's key per core id (event * PT_CORES_PER_EVENT + core): the true score,
    or -1 where the provider has not released it yet (``network.PT_KEY_PENDING`` events) or
    the core is not used; contract v2 ``expected_result``."""
    labs, events, core_ids, targets = [], [], [], []
    keys = np.full(len(net.PT_EVENTS) * net.PT_CORES_PER_EVENT, NONE, np.int64)
    for e, (label, when) in enumerate(net.PT_EVENTS):
        target = rng.permutation(np.array([0, 1, 2, 3, int(rng.integers(0, 4))]))[:cores]
        if label not in net.PT_KEY_PENDING:
            keys[e * net.PT_CORES_PER_EVENT + np.arange(cores)] = target
        for lab in range(len(net.LABS)):
            labs.append(np.full(cores, lab))
            events.append(np.full(cores, net.day(when)))
            core_ids.append(e * net.PT_CORES_PER_EVENT + np.arange(cores))
            targets.append(target)
    lab = np.concatenate(labs).astype(np.int8) if labs else np.zeros(0, np.int8)
    n = len(lab)
    coll = np.concatenate(events).astype(np.int64) if labs else np.zeros(0, np.int64)
    target = np.concatenate(targets) if labs else np.zeros(0, np.int64)
    off = rng.random(n) < 0.10
    score = np.clip(target + np.where(rng.random(n) < 0.5, -1, 1) * off, 0, 3).astype(np.int8)
    spec = {
        "lab": lab,
        "coll": coll,
        "role": np.full(n, PRIMARY, np.int8),
        "site": np.full(n, SPECIMEN_SITES.index("breast"), np.int8),
        "patient": np.full(n, NONE, np.int64),
        "pt": (np.concatenate(core_ids) if labs else np.zeros(0)).astype(np.int32),
        "cold": np.full(n, NONE, np.int32),
        "fix": np.full(n, NONE, np.int32),
        "part": np.zeros(n, np.int64),
        "block": np.ones(n, np.int64),
    }
    rows = _ihc_rows(
        first_spec + np.arange(n),
        score,
        draw.pct_stained(score, rng),
        coll + rng.integers(3, 11, n),
        net.ihc_kit(lab, coll),
        draw.pathologist(lab.astype(np.int64), rng),
        purpose=PROFICIENCY,
    )
    return spec, rows, keys


def _pool(n_primary: int, rng: np.random.Generator, extras: bool, pt_cores: int):
    prim = _primaries(n_primary, rng)
    spec = _merge(prim, _metastases(prim, rng))
    parts = _clinical_rows(spec)
    parts.append(_second_reads(spec, rng))
    parts.extend(_reference_rows(spec, rng))
    rows = concat(parts)
    rows["key"] = np.arange(len(rows["spec"]), dtype=np.int64)
    # A lab documents ihc_pct_stained only from its pct_from date (the reference lab always).
    lab = spec["lab"][rows["spec"]]
    undocumented = ~rows["ref"] & (spec["coll"][rows["spec"]] < net.LAB_PCT_FROM[lab])
    rows["pct"][undocumented] = NONE
    _plant_boundaries(rows, rng)
    _disagreements(rows, rng)
    _contradictory_pct(rows, rng)
    rows = concat([rows, _amendments(rows, spec, rng)])
    rows = concat([rows, _repeats(rows, rng)])
    forced = np.zeros(0, np.int64)
    if extras:
        forced, val = _validation(spec, rows, rng)
        val["key"] = rows["key"].max() + 1 + np.arange(len(val["spec"]))
        rows = concat([rows, val])
    pt_spec, pt_rows, pt_keys = _proficiency(len(spec["lab"]), rng, pt_cores)
    pt_rows["key"] = rows["key"].max(initial=-1) + 1 + np.arange(len(pt_rows["spec"]))
    forced = np.concatenate([forced, pt_rows["spec"]])
    for name in list(spec):
        if name not in pt_spec:
            fill = False if spec[name].dtype == np.bool_ else NONE
            fill = NO_GROUP if name == "ish_group" else fill
            pt_spec[name] = np.full(len(pt_spec["lab"]), fill, spec[name].dtype)
    spec = _merge(spec, {k: pt_spec[k].astype(spec[k].dtype) for k in spec})
    rows = concat([rows, pt_rows])
    return spec, rows, forced, pt_keys


def _select(rows: Rows, n_spec: int, forced: np.ndarray, target: int, rng) -> np.ndarray | None:
    """Whole specimens in random order (forced ones first) adding up to exactly ``target`` rows."""
    counts = np.bincount(rows["spec"], minlength=n_spec)
    is_forced = np.zeros(n_spec, bool)
    is_forced[forced] = True
    rest = np.flatnonzero((counts > 0) & ~is_forced)
    order = np.concatenate([forced, rng.permutation(rest)])
    cum = np.cumsum(counts[order])
    k = int(np.searchsorted(cum, target, side="right"))
    remainder = target - (int(cum[k - 1]) if k else 0)
    tail = order[k:]
    ones = tail[counts[tail] == 1][:remainder]
    if len(ones) < remainder:
        return None
    return np.concatenate([order[:k], ones])


def simulate(target: int, rng: np.random.Generator) -> Simulation:
    """Exactly ``target`` canonical rows (clean), with specimens and patients."""
    extras = target >= 5_000  # room for the validation study and full PT events
    pt_cores = net.PT_CORES_PER_EVENT if extras else min(net.PT_CORES_PER_EVENT, target // 2_000)
    n_primary = int(target / ROWS_PER_SPECIMEN_GUESS / (1 + P_METASTASIS) * 1.08) + 60
    while True:
        spec, rows, forced, pt_keys = _pool(n_primary, rng, extras, pt_cores)
        chosen = _select(rows, len(spec["lab"]), forced, target, rng)
        if chosen is not None:
            break
        n_primary = int(n_primary * 1.3) + 60  # pragma: no cover (pool too small)
    keep = np.zeros(len(spec["lab"]), bool)
    keep[chosen] = True
    rows = take(rows, np.flatnonzero(keep[rows["spec"]]))
    spec["selected"] = keep
    patient = spec["patient"]
    first_day = np.full(n_primary, net.END_DAY, np.int64)
    mask = patient >= 0
    np.minimum.at(first_day, patient[mask], spec["coll"][mask])
    pats = people.draw(n_primary, first_day, rng)
    _number(rows, spec)
    info = {
        "validation_specimens": int((rows["purpose"] == VALIDATION).sum()),
        "pt_cores_per_event": int(pt_cores),
        "pt_keys": pt_keys,  # per PT core id: the provider's key (IHC score code), -1 none
    }
    return Simulation(rows=rows, spec=spec, patients=pats, info=info)


def _number(rows: Rows, spec: dict[str, np.ndarray]) -> None:
    """LIS numbers: test ids per lab in sign-out order, accessions per lab and year."""
    lab = spec["lab"][rows["spec"]]
    keys, first = np.unique(rows["key"], return_index=True)
    first_rep = np.full(len(keys), np.iinfo(np.int64).max)
    np.minimum.at(first_rep, np.searchsorted(keys, rows["key"]), rows["rep"])
    key_lab = lab[first]
    order = np.lexsort((keys, first_rep, key_lab))
    seq = np.empty(len(keys), np.int64)
    sorted_lab = key_lab[order]
    starts = np.searchsorted(sorted_lab, sorted_lab, side="left")
    seq[order] = np.arange(len(keys)) - starts
    rows["test_seq"] = 100_001 + seq[np.searchsorted(keys, rows["key"])]
    # Accessions: sequential per (lab, collection year) over the selected specimens.
    n = len(spec["lab"])
    year = spec["coll"].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    sel = np.flatnonzero(spec["selected"] & (spec["pt"] == NONE))
    order = sel[np.lexsort((sel, spec["coll"][sel], year[sel], spec["lab"][sel]))]
    group_key = spec["lab"][order].astype(np.int64) * 10_000 + year[order]
    starts = np.searchsorted(group_key, group_key, side="left")
    acc = np.full(n, NONE, np.int64)
    acc[order] = np.arange(len(order)) - starts + 1
    spec["acc_seq"] = acc
    spec["year"] = year
