"""An HL7 v2 file as bytes and the positions of its delimiters: segments, fields, components.

Nothing is split into Python objects per segment: the segment separators and field
separators are found with numpy, and field k of a whole column of segments is two arrays of
byte offsets, made into an Arrow string array only for the fields the reader uses
(components are split later, per distinct value: ``results``). A per-message parser
(hl7apy's object model) needs ~90 ms for a 16-segment message: hours for a million results.

Accepted framing: MLLP (0x0B ... 0x1C 0x0D), batches (FHS/BHS ... BTS/FTS), CR, LF or CRLF
segment separators. The delimiters are those the file's first header segment declares (MSH-1
and MSH-2, or FHS/BHS's), checked with hl7apy; the character set is MSH-18's (UTF-8 when
empty) unless the source configures ``encoding``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from hl7apy import check_encoding_chars
from hl7apy.exceptions import InvalidEncodingChars

from her2qa.config import ConfigError, SourceConfig
from her2qa.ingest import extract


@dataclass(frozen=True)
class Delimiters:
    field: str
    component: str
    repetition: str
    escape: str
    subcomponent: str

    @property
    def encoding(self) -> str:
        """MSH-2 as the first header declares it (its first four characters)."""
        return self.component + self.repetition + self.escape + self.subcomponent


_HEADERS = (b"MSH", b"FHS", b"BHS")
_CHARSETS = {  # MSH-18 (HL7 table 0211) -> Python codec
    "": "utf-8",
    "ASCII": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
}
_SOURCE_ENCODINGS = {"utf-8": "utf-8", "windows-1252": "cp1252", "latin-1": "latin-1"}


def first_header(data: bytes) -> bytes:
    """The file's first MSH, FHS or BHS segment (up to its end of line)."""
    starts = [at for h in _HEADERS if (at := data.find(h)) >= 0]
    if not starts:
        raise extract.FileRejected(
            "not_hl7", "no MSH, FHS or BHS segment: the file holds no HL7 v2 message"
        )
    at = min(starts)
    ends = [e for sep in (b"\r", b"\n") if (e := data.find(sep, at)) >= 0]
    return data[at : min(ends, default=len(data))]


def delimiters(header: bytes) -> Delimiters:
    """MSH-1 and the encoding characters of MSH-2 (or FHS/BHS-1, -2), checked."""
    text = header.decode("latin-1")
    field = text[3:4]
    declared = text[4:].split(field, 1)[0] if field else ""
    chars = {
        "FIELD": field,
        "COMPONENT": declared[0:1],
        "REPETITION": declared[1:2],
        "ESCAPE": declared[2:3],
        "SUBCOMPONENT": declared[3:4],
    }
    try:
        check_encoding_chars(chars)  # all five present and distinct
        if any(
            len(c) != 1 or c.isalnum() or c.isspace() or not c.isascii() for c in chars.values()
        ):
            raise InvalidEncodingChars("one printable ASCII delimiter each")
    except InvalidEncodingChars:
        raise extract.FileRejected(
            "not_hl7",
            "the first header segment declares no valid delimiters (MSH-1 and the four "
            "encoding characters of MSH-2, such as |^~\\&)",
        ) from None
    return Delimiters(field, declared[0], declared[1], declared[2], declared[3])


def charset(header: bytes, delims: Delimiters, source: SourceConfig) -> str:
    """The file's codec: the source's ``encoding``, else MSH-18's, else UTF-8."""
    configured = source.get("encoding")
    if configured is not None:
        if configured not in _SOURCE_ENCODINGS:
            raise ConfigError(
                f"[[sources]] '{source.pattern}' encoding must be one of "
                f"{', '.join(_SOURCE_ENCODINGS)} (got {configured!r})"
            )
        return _SOURCE_ENCODINGS[configured]
    if not header.startswith(b"MSH"):
        return "utf-8"
    fields = header.decode("latin-1").split(delims.field)
    declared = fields[17].split(delims.repetition)[0].strip().upper() if len(fields) > 17 else ""
    if declared not in _CHARSETS:
        raise extract.FileRejected(
            "not_hl7",
            "MSH-18 names a character set this reader does not know; set `encoding` "
            "(utf-8, windows-1252 or latin-1) for this source",
        )
    return _CHARSETS[declared]


def normalise(data: bytes, codec: str) -> tuple[bytes, int]:
    """UTF-8 bytes without MLLP framing, and the segment separator (CR, or LF in a file
    without any CR: then CRLF is CR too)."""
    if b"\x0b" in data or b"\x1c" in data:  # MLLP start and end bytes: never HL7 content
        data = data.replace(b"\x0b", b"").replace(b"\x1c", b"")
    if codec != "utf-8":
        try:
            data = data.decode(codec).encode("utf-8")
        except UnicodeDecodeError:
            raise extract.FileRejected("not_utf8", f"the file is not {codec} text") from None
    if (nul := data.find(b"\x00")) >= 0:
        raise extract.FileRejected("not_hl7", f"NUL byte at offset {nul} (not HL7 v2 text)")
    if b"\r" in data:
        # a bare LF in a CR-separated file stays inside its value (the raw layer refuses a
        # value over several lines)
        if b"\r\n" in data:
            data = data.replace(b"\r\n", b"\r")
        sep = ord("\r")
    else:
        sep = ord("\n")
    whole = pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(np.array([0, len(data)], np.int64)), pa.py_buffer(data)
    )
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        raise extract.FileRejected(
            "not_utf8",
            "the file is not UTF-8 text (MSH-18 names the character set; or set `encoding` "
            "for this source)",
        ) from None
    return data, sep


def chunks(data: bytes, sep: int, field: str, size: int) -> list[tuple[int, int]]:
    """[lo, hi) byte ranges of about ``size`` bytes that start at a message (MSH) or at the
    file's start: messages are read independently, a chunk at a time."""
    marker = bytes([sep]) + b"MSH" + field.encode()
    bounds = [0]
    while True:
        at = data.find(marker, bounds[-1] + size)
        if at < 0:
            break
        bounds.append(at + 1)
    bounds.append(len(data))
    return list(itertools.pairwise(bounds))


def code(segment_id: bytes) -> int:
    """The int ``Text.types`` gives a segment id."""
    return (segment_id[0] << 16) | (segment_id[1] << 8) | segment_id[2]


def _space(b: np.ndarray) -> np.ndarray:
    return (b == 32) | (b == 9)


class Text:
    """A run of whole segments of the file (bytes, UTF-8) as [start, end) byte ranges."""

    def __init__(self, data: memoryview, sep: int, delims: Delimiters) -> None:
        self.data = data
        self.buf = np.frombuffer(data, np.uint8)
        self.delims = delims
        ends = np.flatnonzero(self.buf == sep)
        starts = np.concatenate(([0], ends + 1))
        ends = np.concatenate((ends, [len(self.buf)]))
        keep = ends > starts  # an empty line is no segment
        self.start = starts[keep].astype(np.int64)
        self.end = ends[keep].astype(np.int64)
        self._positions: dict[str, np.ndarray] = {}
        self._fields: Split | None = None
        self._types: np.ndarray | None = None
        self._heads: np.ndarray | None = None
        self._arrow_data = pa.py_buffer(data)  # the file's bytes, shared by every column

    def __len__(self) -> int:
        return len(self.start)

    def segment(self, row: int) -> str:
        return bytes(self.data[self.start[row] : self.end[row]]).decode()

    # --- segments ---

    def _head(self) -> np.ndarray:
        """The first four bytes of each segment (0 past its end), one gather."""
        if self._heads is None:
            n = len(self.start)
            if len(self.buf) == 0:
                self._heads = np.zeros((n, 4), np.uint8)
            else:
                at = self.start[:, None] + np.arange(4)
                got = self.buf[np.minimum(at, len(self.buf) - 1)]
                self._heads = np.where(at < self.end[:, None], got, 0).astype(np.uint8)
        return self._heads

    def byte(self, k: int) -> np.ndarray:
        """Byte k (< 4) of each segment (0 where the segment is shorter)."""
        return self._head()[:, k]

    def types(self) -> np.ndarray:
        """Each segment's first three bytes as one int (``code(b"OBX")``)."""
        if self._types is None:
            h = self._head().astype(np.int64)
            self._types = (h[:, 0] << 16) | (h[:, 1] << 8) | h[:, 2]
        return self._types

    def well_formed(self) -> np.ndarray:
        """A segment id ([A-Z][A-Z0-9]{2}) followed by the field separator or the end."""
        h = self._head()
        c0, c1, c2, c3 = h[:, 0], h[:, 1], h[:, 2], h[:, 3]
        n = self.end - self.start

        def alnum(c: np.ndarray) -> np.ndarray:
            return ((c >= 65) & (c <= 90)) | ((c >= 48) & (c <= 57))

        upper = (c0 >= 65) & (c0 <= 90)
        field = (n == 3) | (c3 == ord(self.delims.field))
        return (n >= 3) & upper & alnum(c1) & alnum(c2) & field

    def blank(self, rows: np.ndarray) -> np.ndarray:
        """Whether the given segments hold only white space (a stray line break)."""
        return np.array([not self.segment(r).strip() for r in rows.tolist()], bool)

    # --- pieces of byte ranges ---

    def positions(self, ch: str) -> np.ndarray:
        if ch not in self._positions:
            self._positions[ch] = np.flatnonzero(self.buf == ord(ch))
        return self._positions[ch]

    def split(self, rng: tuple[np.ndarray, np.ndarray], ch: str) -> Split:
        """Each range [a, b) split at ``ch`` (two binary searches for the whole column)."""
        a, b = rng
        pos = self.positions(ch)
        q0 = np.searchsorted(pos, a)
        return Split(pos, a, b, q0, np.searchsorted(pos, b) - q0)

    def fields(self, rows: np.ndarray) -> Split:
        """The given segments split into fields: ``.nth(k)`` is SEG-k (MSH-k is ``nth(k-1)``:
        MSH-1 is the field separator itself)."""
        if self._fields is None:
            self._fields = self.split((self.start, self.end), self.delims.field)
        f = self._fields
        return Split(f.pos, f.a[rows], f.b[rows], f.q0[rows], f.count[rows])

    def field(self, rows: np.ndarray, k: int, msh: bool = False) -> tuple[np.ndarray, np.ndarray]:
        return self.fields(rows).nth(k - 1 if msh else k)

    def strings(self, rng: tuple[np.ndarray, np.ndarray], trim: bool = False) -> pa.Array:
        """The ranges as an Arrow string array, empty as null (``trim``: spaces off first).

        The ranges must be in file order (each ends before the next starts: a column of
        fields of segments in order): they are then every other element of one Arrow array
        over the file's own bytes (range, gap, range, ...), which Arrow's ``take`` copies in
        C++, without an index per byte."""
        a, b = rng
        n = len(a)
        if n == 0:
            return pa.array([], pa.large_string())
        if trim:
            a, b = self._trimmed(a, b)
        if np.any(a[1:] < b[:-1]):  # not in file order: gathered byte by byte instead
            return self._gathered(a, b)
        bounds = np.empty(2 * n, np.int64)
        bounds[0::2], bounds[1::2] = a, b
        valid = np.zeros(2 * n - 1, bool)
        valid[0::2] = b > a
        both = pa.LargeStringArray.from_buffers(
            2 * n - 1,
            pa.py_buffer(bounds),
            self._arrow_data,
            pa.py_buffer(np.packbits(valid, bitorder="little")),
        )
        return both.take(pa.array(np.arange(0, 2 * n - 1, 2)))

    def _gathered(self, a: np.ndarray, b: np.ndarray) -> pa.Array:
        length = b - a
        offsets = np.zeros(len(a) + 1, np.int64)
        np.cumsum(length, out=offsets[1:])
        gather = np.repeat(a - offsets[:-1], length) + np.arange(offsets[-1], dtype=np.int64)
        valid = length > 0
        return pa.LargeStringArray.from_buffers(
            len(a),
            pa.py_buffer(offsets),
            pa.py_buffer(self.buf[gather]),
            pa.py_buffer(np.packbits(valid, bitorder="little")),
        )

    def _trimmed(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Leading and trailing spaces off (a few bytes at a time: values are short)."""
        if len(self.buf) == 0 or len(a) == 0:
            return a, b
        last = len(self.buf) - 1
        for _ in range(256):
            lead = (a < b) & _space(self.buf[np.minimum(a, last)])
            trail = (b > a) & _space(self.buf[np.maximum(b - 1, 0)])
            if not (lead.any() or trail.any()):
                break
            a, b = a + lead, b - trail
        return a, b


class Split:
    """Ranges [a, b) and where their delimiters are: ``pos[q0 : q0 + count]``."""

    def __init__(
        self, pos: np.ndarray, a: np.ndarray, b: np.ndarray, q0: np.ndarray, count: np.ndarray
    ) -> None:
        self.pos, self.a, self.b, self.q0, self.count = pos, a, b, q0, count

    def nth(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The n-th (0-based) piece of each range; an absent piece is empty (a == b)."""
        a, b, pos, q0, count = self.a, self.b, self.pos, self.q0, self.count
        if len(pos) == 0:
            return (a, b) if n == 0 else (b, b)
        last = len(pos) - 1
        present = n <= count
        start = a if n == 0 else np.where(present, pos[np.minimum(q0 + n - 1, last)] + 1, b)
        end = np.where(n < count, pos[np.minimum(q0 + n, last)], b)
        return start, end


# --- escape sequences ------------------------------------------------------------------------


def unescape(value: str, d: Delimiters) -> str:
    """Decode HL7 escape sequences: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ (the delimiters), \\Xhh..\\
    (bytes, read as UTF-8), \\.br\\ (a line break); highlighting (\\H\\ \\N\\) and other
    sequences are removed; an unterminated sequence is kept as written."""
    e = d.escape
    parts = value.split(e)
    if len(parts) < 3:
        return value
    simple = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": e}
    simple[".br"] = "\n"
    out = [parts[0]]
    i = 1
    while i < len(parts):
        if i + 1 >= len(parts):
            out.append(e + parts[i])
            break
        seq = parts[i]
        if seq in simple:
            out.append(simple[seq])
        elif len(seq) > 1 and seq[0] == "X" and len(seq) % 2 == 1:
            try:
                out.append(bytes.fromhex(seq[1:]).decode("utf-8", "replace"))
            except ValueError:
                out.append(e + seq + e)
        out.append(parts[i + 1])
        i += 2
    return "".join(out)
