"""PHI keying: ``patient_mrn`` becomes ``patient_key`` = HMAC-SHA256(key, MRN).

The key comes from configuration, never from code: ``HER2QA_PHI_KEY`` holds the
key itself, or ``HER2QA_PHI_KEY_FILE`` (default ``var/phi.key``) names a file
holding it. The same key must be used for every run of a deployment, or the
same patient gets two keys and cross-laboratory linkage breaks.

HMAC is computed inside DuckDB (``hmac_sql``) as the file is read, so the MRN
never reaches a table; ``patient_key`` here is the Python reference.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from her2qa import config

_BLOCK = 64  # SHA-256 block size (RFC 2104)
MIN_KEY_BYTES = 16


class MissingKeyError(config.ConfigError):
    pass


@dataclass(frozen=True, repr=False)
class PhiKey:
    secret: bytes

    def __repr__(self) -> str:  # never print the key
        return "PhiKey(<hidden>)"

    def pads(self) -> tuple[bytes, bytes]:
        """The (inner, outer) padded keys of RFC 2104, for HMAC in SQL."""
        k = self.secret if len(self.secret) <= _BLOCK else hashlib.sha256(self.secret).digest()
        k = k.ljust(_BLOCK, b"\0")
        return bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)


def patient_key(key: PhiKey, mrn: str) -> str:
    """Reference implementation of the keyed hash (hex)."""
    return hmac.new(key.secret, mrn.strip().encode("utf-8"), hashlib.sha256).hexdigest()


# Every character Python's str.strip() removes: a value of tabs, no-break spaces or other
# white space is as missing as one of spaces. The SQL side is the macro blank()
# (warehouse/sql/macros/text.sql), checked against this set code point by code point
# (tests/ingest/test_text_macros.py, which also holds it equal to every code point whose
# str.isspace() is true: spelled out here, since finding them costs 0.14 s a process).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def hmac_sql(column: str) -> str:
    """SQL for HMAC-SHA256 of a text column; parameters ``$ipad`` and ``$opad``; the
    connection needs the macros of ``macros/text`` (``blank``).

    The MRN is trimmed first (``blank``, as ``patient_key`` strips): an LIS pads fields, and
    " MRN1" is the same patient.
    """
    trimmed = f"blank({column})"
    return (
        f"CASE WHEN {trimmed} IS NOT NULL THEN "
        f"sha256($opad::BLOB || unhex(sha256($ipad::BLOB || encode({trimmed})))) END"
    )


def load_key() -> PhiKey:
    """The deployment's key, or a one-line MissingKeyError."""
    direct = os.environ.get("HER2QA_PHI_KEY", "")
    if direct.strip():
        secret = direct.strip().encode("utf-8")
    else:
        path = config.key_file_path()
        if not path.exists():
            raise MissingKeyError(
                f"no PHI key: set HER2QA_PHI_KEY or create the key file {path} "
                "(`her2qa demo` makes one for synthetic data)"
            )
        secret = path.read_bytes().strip()
    if len(secret) < MIN_KEY_BYTES:
        raise MissingKeyError(f"the PHI key is shorter than {MIN_KEY_BYTES} bytes")
    return PhiKey(secret)


def ensure_demo_key() -> Path:
    """Create the local key file (mode 0600) unless a key is already configured."""
    path = config.key_file_path()
    if os.environ.get("HER2QA_PHI_KEY", "").strip() or path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path
