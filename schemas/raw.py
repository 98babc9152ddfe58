"""pandera schema of the raw layer (``raw.her2_rows``): text as read, no PHI.

Strict: a column that is not declared here fails validation, so a patient name,
birth date or MRN column can never slip into the raw layer unnoticed.
"""

from __future__ import annotations

import pandera.pandas as pa

from schemas import contract

_HEX64 = r"^[0-9a-f]{64}$"

raw_her2_rows = pa.DataFrameSchema(
    {
        "file_id": pa.Column("int64", pa.Check.ge(1)),
        "source_row": pa.Column("int64", pa.Check.ge(1)),
        **{name: pa.Column(str, nullable=True) for name in contract.RAW_KEPT},
        "patient_key": pa.Column(str, pa.Check.str_matches(_HEX64), nullable=True),
        "malformed": pa.Column(str, nullable=True),
        "extra": pa.Column(str, nullable=True),
    },
    strict=True,
    unique=["file_id", "source_row"],
    name="raw.her2_rows",
    description="Values exactly as read, PHI aside (spec/lis-extract.md).",
)
