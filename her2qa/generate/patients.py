"""Fake patient identities (PHI columns): MRN, name and date of birth.

Entirely invented from small built-in lists; they exist only so that PHI
handling (dropping names and birth dates, hashing the MRN) is exercised. The
lists include accented names (UTF-8) and apostrophes; a lab that writes
``Last, First`` makes the CSV writer quote the field.
"""

from __future__ import annotations

import numpy as np

FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Maria", "Sofia", "Emma", "Olivia", "Chloé", "Zoë", "Inès", "Lena", "Mia",
    "Hannah", "Laura", "Sarah", "Julia", "Clara", "Ida", "Freja", "Astrid", "Noor", "Amira",
    "Fatima", "Yasmin", "Aisha", "Mei", "Yuki", "Priya", "Ana", "Lucía", "Carmen", "Rosa",
    "Helen", "Margaret", "Susan", "Karen", "Linda", "Patricia", "Joan", "Ruth", "Grace",
    "Eleanor", "Agnieszka", "Małgorzata", "Sinéad", "Siobhán", "Renée", "Brigitte",
    "John", "Peter", "Ahmed", "José",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Thomas", "Roberts", "Walker",
    "Wright", "O'Brien", "O'Neill", "McCarthy", "Murphy", "Kelly", "Müller", "Schmidt",
    "Schröder", "Weiß", "Jensen", "Nielsen", "Hansen", "Larsen", "Andersson", "Johansson",
    "García", "Martínez", "Núñez", "Rodríguez", "Fernández", "Rossi", "Bianchi", "Ricci",
    "Dubois", "Lefèvre", "Moreau", "Nowak", "Kowalski", "Wiśniewska", "Novák", "Dvořák",
    "Papadopoulou", "Yılmaz", "Öztürk", "Khan", "Patel", "Nguyen", "Tanaka", "Kim",
    "Ben-Ami", "Smith-Jones", "van der Berg", "de Jong",
)  # fmt: skip

MRN_DIGITS = 8


def draw(n: int, first_day: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` patients: unique MRN numbers, name indices and birth days.

    ``first_day`` is each patient's first collection day; age at that day is
    roughly normal around 61 years (28-92).
    """
    # Unique MRNs without a set: random positive gaps, cumulated, then shuffled.
    gaps = rng.integers(1, max(2, 10**MRN_DIGITS // (2 * max(n, 1))), n)
    mrn = (10**MRN_DIGITS // 20 + np.cumsum(gaps)) % 10**MRN_DIGITS
    rng.shuffle(mrn)
    age_years = np.clip(rng.normal(61.0, 13.0, n), 28.0, 92.0)
    dob = first_day - (age_years * 365.25).astype(np.int64)
    # A handful of male patients (~1%) carry a male first name.
    female = np.arange(len(FIRST_NAMES) - 4)
    male = np.arange(len(FIRST_NAMES) - 4, len(FIRST_NAMES))
    first = np.where(
        rng.random(n) < 0.01,
        male[rng.integers(0, len(male), n)],
        female[rng.integers(0, len(female), n)],
    )
    return {
        "mrn": mrn.astype(np.int64),
        "first": first.astype(np.int16),
        "last": rng.integers(0, len(LAST_NAMES), n).astype(np.int16),
        "dob": dob.astype(np.int64),
    }
