"""The simulated laboratory network: labs, pathologists, assay kits and the calendar.

Static data only (no randomness): five laboratories that own accessions and one
reference laboratory that only ever appears as ``performing_lab``. Each lab has
its own IHC score mix (positivity a bit different per lab, calibrated on
her2-domain.md §BENCH 6.2), its own kits and its own LIS habits (which optional
columns it fills). One lab (``OUTLIER``) runs clearly above the published
positivity band for a few months so that monitoring has something to flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

# The fixed calendar of the synthetic extract (never depends on today's date).
START = date(2023, 1, 1)
END = date(2025, 12, 31)


def day(d: date) -> int:
    """Days since 1970-01-01, the generator's integer date."""
    return int(np.datetime64(d, "D").astype(np.int64))


START_DAY = day(START)
END_DAY = day(END)

IHC_KITS: tuple[str, ...] = ("4B5", "HercepTest", "SP3", "CB11")
# INFORM HER2 DNA is Ventana's single-probe (HER2 only) silver ISH probe.
ISH_KITS: tuple[str, ...] = (
    "PathVysion",
    "INFORM HER2 Dual ISH",
    "HER2 IQFISH pharmDx",
    "INFORM HER2 DNA",
)
KITS: tuple[str, ...] = IHC_KITS + ISH_KITS
SINGLE_PROBE_KIT = KITS.index("INFORM HER2 DNA")


@dataclass(frozen=True)
class Lab:
    code: str
    weight: float  # share of the network's specimens
    pathologists: int
    score_mix: tuple[float, float, float, float]  # P(IHC 0, 1+, 2+, 3+) of clinical primaries
    ihc_kit: str
    ish_kit: str
    single_probe: bool = False  # does part of its confirmatory ISH with a single-probe kit
    new_ihc_kit: tuple[str, date] | None = None  # kit switch (validated just before)
    cold_late: float = 0.10  # share of documented cold ischaemia over 60 min
    pct_from: date = START  # first collection date with ihc_pct_stained documented
    fills_performing_lab: bool = False  # writes its own code in performing_lab
    fills_version_1: bool = True  # writes "1" in result_version (else leaves it empty)
    fills_clinical: bool = True  # writes "clinical" in test_purpose (else leaves it empty)
    name_last_first: bool = False  # patient_name as "Last, First" (needs CSV quoting)


LABS: tuple[Lab, ...] = (
    Lab(
        "NORTH",
        0.24,
        6,
        (0.41, 0.32, 0.12, 0.15),
        "4B5",
        "INFORM HER2 Dual ISH",
        fills_performing_lab=True,
        name_last_first=True,
    ),
    Lab(
        "SOUTH",
        0.18,
        5,
        (0.30, 0.40, 0.12, 0.18),
        "HercepTest",
        "PathVysion",
        cold_late=0.14,
        fills_version_1=False,
    ),
    Lab(
        "EAST",
        0.26,
        8,
        (0.37, 0.35, 0.115, 0.165),
        "SP3",
        "HER2 IQFISH pharmDx",
        single_probe=True,
        cold_late=0.07,
        fills_performing_lab=True,
    ),
    Lab(
        "WEST",
        0.12,
        4,
        (0.37, 0.365, 0.125, 0.14),
        "HercepTest",
        "PathVysion",
        new_ihc_kit=("4B5", date(2024, 7, 1)),
        cold_late=0.12,
        fills_clinical=False,
        name_last_first=True,
    ),
    Lab(
        "CITY",
        0.20,
        7,
        (0.35, 0.36, 0.12, 0.17),
        "CB11",
        "HER2 IQFISH pharmDx",
        pct_from=date(2024, 1, 1),
        fills_version_1=False,
    ),
)

LAB_CODES: tuple[str, ...] = tuple(lab.code for lab in LABS)
REFLAB = "REFLAB"
REFLAB_PATHOLOGISTS = 4
REFLAB_IHC_KIT = "4B5"
REFLAB_ISH_KIT = "PathVysion"


@dataclass(frozen=True)
class Outlier:
    """A lab-period whose positivity is clearly above the published band (~24%)."""

    lab: str
    start: date
    end: date
    score_mix: tuple[float, float, float, float]


OUTLIER = Outlier("CITY", date(2024, 4, 1), date(2024, 8, 31), (0.32, 0.34, 0.13, 0.21))

# Validation study: the lab's 20 positive + 20 negative cases, run on the new kit
# in the month before the switch (her2-domain.md §VALIDATION, 20 + 20).
VALIDATION_LAB = "WEST"
VALIDATION_CASES_EACH = 20

# Proficiency testing: two events a year (§VALIDATION: ≥2 testing events per year).
PT_EVENTS: tuple[tuple[str, date], ...] = tuple(
    (f"{y % 100:02d}{half}", date(y, 3 if half == "A" else 9, 15))
    for y in (2023, 2024, 2025)
    for half in ("A", "B")
)
PT_CORES_PER_EVENT = 5
# Events whose key (contract v2 expected_result) the provider has not released yet: the last
# one, so the extract has keyed events and one graded by consensus only.
PT_KEY_PENDING: frozenset[str] = frozenset({PT_EVENTS[-1][0]})


def _pathologists() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    codes: list[str] = []
    offsets: list[int] = []
    for code, n in [(lab.code, lab.pathologists) for lab in LABS] + [(REFLAB, REFLAB_PATHOLOGISTS)]:
        offsets.append(len(codes))
        codes.extend(f"{code}-P{i:02d}" for i in range(1, n + 1))
    counts = np.array([lab.pathologists for lab in LABS] + [REFLAB_PATHOLOGISTS])
    return tuple(codes), np.array(offsets), counts


# Every reader of the network; a lab's readers are PATH_OFFSET[lab] + 0..PATH_COUNT[lab]-1,
# the reference laboratory is the last "lab" index (len(LABS)).
PATHOLOGISTS, PATH_OFFSET, PATH_COUNT = _pathologists()
REFLAB_INDEX = len(LABS)

# Per-lab arrays for vectorised lookups.
LAB_WEIGHTS = np.array([lab.weight for lab in LABS]) / sum(lab.weight for lab in LABS)
LAB_SCORE_MIX = np.array([lab.score_mix for lab in LABS])
LAB_COLD_LATE = np.array([lab.cold_late for lab in LABS])
LAB_PCT_FROM = np.array([day(lab.pct_from) for lab in LABS])
LAB_ISH_KIT = np.array([KITS.index(lab.ish_kit) for lab in LABS], dtype=np.int8)
LAB_SINGLE_PROBE = np.array([lab.single_probe for lab in LABS])


def ihc_kit(lab: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Index into KITS of the IHC kit a lab used on a given day."""
    kit = np.array([KITS.index(x.ihc_kit) for x in LABS], dtype=np.int8)[lab]
    for i, x in enumerate(LABS):
        if x.new_ihc_kit is not None:
            new, since = x.new_ihc_kit
            kit[(lab == i) & (when >= day(since))] = KITS.index(new)
    return kit


def quarter(days: np.ndarray) -> np.ndarray:
    """Calendar quarter index of a day: 0 for 2023Q1 ... 11 for 2025Q4."""
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    start = np.datetime64(START, "M").astype(np.int64)
    return (months - start) // 3


def quarter_start(q: np.ndarray) -> np.ndarray:
    """First day (integer date) of quarter index ``q``."""
    start = np.datetime64(START, "M").astype(np.int64)
    return (
        (start + 3 * np.asarray(q)).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    )


def quarter_label(q: int) -> str:
    return f"{START.year + q // 4}Q{q % 4 + 1}"


N_QUARTERS = int(quarter(np.array([END_DAY]))[0]) + 1
