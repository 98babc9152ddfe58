"""Draws of single measurements: category choices, readers, percentages, ISH counts.

Vectorised helpers the simulation (``results``) composes; each returns arrays of
canonical codes (ISH values in hundredths, ``NONE`` = empty). Calibration of the
dual-probe groups follows her2-domain.md §ISH-GROUPS: groups 2-4 a few % of ISH,
enriched among IHC 2+; values are drawn clear of the exact 2.0 / 4.0 / 6.0
boundaries (those are planted on purpose by ``results``), the ratio is
round(HER2 / CEP17, 2) of the rounded means.
"""

from __future__ import annotations

import numpy as np

from her2qa.generate import network as net
from her2qa.generate.rules import NO_GROUP, NO_SCORE, NONE, ish_group, ratio_hundredths

P_ISH_INDETERMINATE = 0.015
P_SINGLE_PROBE = 0.40  # of a single-probe lab's confirmatory ISH
P_GROUP2_OF_AMPLIFIED = 0.05
P_GROUP3_NOT_AMPLIFIED = {True: 0.03, False: 0.007}  # key: IHC 2+
P_GROUP4_NOT_AMPLIFIED = {True: 0.09, False: 0.03}


def categorical(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of the probability matrix ``p`` (n, k)."""
    p = np.atleast_2d(p)
    cdf = np.cumsum(p, axis=1)
    cdf[:, -1] = 1.0
    return (rng.random(len(p))[:, None] > cdf).sum(axis=1).astype(np.int8)


def pathologist(lab: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A reader of ``lab`` (skewed: some readers sign out more than others)."""
    u = rng.random(len(lab)) ** 1.3
    return (net.PATH_OFFSET[lab] + (u * net.PATH_COUNT[lab]).astype(np.int64)).astype(np.int16)


def other_pathologist(path: np.ndarray, lab: np.ndarray, rng) -> np.ndarray:
    count = net.PATH_COUNT[lab]
    local = path - net.PATH_OFFSET[lab]
    shift = 1 + (rng.random(len(path)) * (count - 1)).astype(np.int64)
    return (net.PATH_OFFSET[lab] + (local + shift) % count).astype(np.int16)


def pct_stained(score: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``ihc_pct_stained`` consistent with the score (§HER2-LOW: 0 is 0 or 1-10, 1+ is >10)."""
    n = len(score)
    u = rng.random(n)
    zero = np.where(rng.random(n) < 0.55, 0, 1 + (u * 10).astype(np.int64))  # null / ultralow
    pct = np.select(
        [score == 0, score == 1, score == 2, score == 3],
        [zero, 11 + (50 * u**1.5).astype(np.int64), 20 + (81 * u**0.7), 50 + (51 * u**0.6)],
        NONE,
    )
    return np.minimum(pct, 100).astype(np.int16)


def cells_counted(n: int, rng: np.random.Generator) -> np.ndarray:
    """Nuclei counted: mostly 20-60 (20 and 40 are favourite stopping points)."""
    u = rng.random(n)
    cells = np.where(u < 0.30, 20, np.where(u < 0.50, 40, rng.integers(20, 61, n)))
    v = rng.random(n)
    cells = np.where(v < 0.02, rng.integers(61, 121, n), cells)
    cells = np.where(v > 0.995, rng.integers(10, 20, n), cells)  # protocol deviation, valid
    return cells.astype(np.int16)


def ish_groups(score: np.ndarray, amp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dual-probe group from the latent amplification (groups 2-4 a few %, enriched at 2+)."""
    u = rng.random(len(score))
    two = score == 2
    p3 = np.where(two, P_GROUP3_NOT_AMPLIFIED[True], P_GROUP3_NOT_AMPLIFIED[False])
    p4 = np.where(two, P_GROUP4_NOT_AMPLIFIED[True], P_GROUP4_NOT_AMPLIFIED[False])
    group = np.where(amp, np.where(u < P_GROUP2_OF_AMPLIFIED, 2, 1), 5)
    group = np.where(~amp & (u < p3), 3, group)
    group = np.where(~amp & (u >= p3) & (u < p3 + p4), 4, group)
    # Without an IHC score groups 2-4 could not be resolved: keep those specimens clear-cut.
    group = np.where(score == NO_SCORE, np.where(amp, 1, 5), group)
    return group.astype(np.int8)


def _propose(group: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Candidate (HER2/cell, CEP17/cell) for each target group, before rounding."""
    m = len(group)
    u1, u2 = rng.random(m), rng.random(m)
    n1, n2 = rng.standard_normal(m), rng.standard_normal(m)
    cep_normal = np.clip(np.exp(np.log(2.0) + 0.2 * n1), 1.3, 3.6)
    ratio1 = np.minimum(2.05 + np.exp(np.log(2.2) + 0.55 * n2), 11.0)
    ratio5 = np.clip(np.exp(np.log(1.15) + 0.18 * n2), 0.6, 1.95)
    her2 = np.select(
        [group == 1, group == 2, group == 3, group == 4],
        [np.maximum(ratio1 * cep_normal, 4.05), 2.3 + 1.6 * u1, 6.05 + 3.5 * u1, 4.03 + 1.94 * u1],
        ratio5 * cep_normal,
    )
    ratio = np.select(
        [group == 2, group == 3, group == 4], [2.03 + 0.9 * u2, 1.25 + 0.7 * u2, 1.15 + 0.8 * u2], 0
    )
    cep17 = np.where(np.isin(group, (2, 3, 4)), her2 / np.where(ratio > 0, ratio, 1), cep_normal)
    return her2, cep17


def dual_values(
    group: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rounded (her2, cep17, ratio) in hundredths landing in ``group``, clear of boundaries.

    ratio = round(her2 / cep17, 2) from the rounded means, as a lab reports it.
    Rows with group 0 get NONE.
    """
    n = len(group)
    her2 = np.full(n, NONE, np.int32)
    cep17 = np.full(n, NONE, np.int32)
    ratio = np.full(n, NONE, np.int32)
    todo = np.flatnonzero(group > 0)
    for _ in range(100):
        if todo.size == 0:
            break
        h, c = _propose(group[todo], rng)
        hc = np.rint(h * 100).astype(np.int64)
        cc = np.rint(c * 100).astype(np.int64)
        rc = ratio_hundredths(hc, cc)
        ok = (
            (ish_group(rc, hc) == group[todo])
            & (np.abs(rc - 200) >= 2)
            & (np.abs(hc - 400) >= 2)
            & (np.abs(hc - 600) >= 2)
            & (cc >= 100)
            & (cc <= 1000)
        )
        done = todo[ok]
        her2[done], cep17[done], ratio[done] = hc[ok], cc[ok], rc[ok]
        todo = todo[~ok]
    if todo.size:
        raise RuntimeError("could not draw ISH values for every group")  # pragma: no cover
    return her2, cep17, ratio


def ish_results(
    score: np.ndarray,
    amp: np.ndarray,
    group: np.ndarray,
    single_lab: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """ISH results for specimens that get ISH: dual-probe values, single-probe, failures."""
    n = len(score)
    ind = rng.random(n) < P_ISH_INDETERMINATE
    single = (
        single_lab
        & np.isin(score, (0, 1, 3))
        & (rng.random(n) < P_SINGLE_PROBE)
        & ~ind
        & ~np.isin(group, (2, 3, 4))
    )
    dual_group = np.where(single | ind, NO_GROUP, group).astype(np.int8)
    her2, cep17, ratio = dual_values(dual_group, rng)
    her2_single = np.where(
        amp,
        np.rint((6.05 + 8 * rng.random(n)) * 100),
        np.rint(np.clip(np.exp(np.log(2.2) + 0.2 * rng.standard_normal(n)), 1.2, 3.9) * 100),
    ).astype(np.int32)
    her2 = np.where(single, her2_single, her2)
    cells = np.where(ind, NONE, cells_counted(n, rng)).astype(np.int16)
    return {
        "single": single,
        "ind": ind,
        "group": dual_group,
        "her2": her2,
        "cep17": cep17,
        "ratio": ratio,
        "cells": cells,
    }


def preanalytic(lab: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cold ischaemia (min; ~90% <= 60) and fixation (tenths of hours; ~93% in 6-72)."""
    n = len(lab)
    late = rng.random(n) < net.LAB_COLD_LATE[lab]
    usual = np.clip(np.rint(np.exp(np.log(22.0) + 0.55 * rng.standard_normal(n))), 2, 60)
    cold = np.where(late, rng.integers(61, 301, n), usual)
    cold = np.where(rng.random(n) < 0.05, NONE, cold).astype(np.int32)
    u = rng.random(n)
    usual_fix = np.clip(np.rint(np.exp(np.log(24.0) + 0.5 * rng.standard_normal(n)) * 10), 60, 720)
    fix = np.where(
        u < 0.03, rng.integers(20, 60, n), np.where(u < 0.07, rng.integers(721, 1400, n), usual_fix)
    )
    fix = np.where(rng.random(n) < 0.04, NONE, fix).astype(np.int32)
    return cold, fix
