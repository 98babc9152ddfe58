"""Segments -> rows: every HER2 result of a run of messages, and every item that carries none.

Vectorised (numpy and pyarrow over whole columns of segments, no Python loop per message or
observation); Python builds only the reason texts of the rows that get one.

1. Segments are numbered; each knows its message (the latest MSH), PID and OBR.
2. Each OBX's code (OBX-3, its first coding, else its alternate) is looked up: the source's
   code map, the LOINC codes of issue 13 (coding system LN or none), the local 99HER2QA
   codes. A coded answer (OBX-5) is looked up too: a LOINC answer under a known question, a
   configured answer under any question (a CAP eCC answer).
3. Each hit gives values ("contributions": column, value, assay), checked: the value type
   (OBX-2) and unit (OBX-6) must fit the column, a LOINC answer must be one of its question's,
   one value (no repetition), the method (OBX-17) must not name the other assay.
4. An OBR has one result per assay its values name (IHC, ISH), or one of unknown assay. A
   value of no assay (a call, a specimen fact) belongs to the only result, or to the result
   sharing its OBX-4 sub-id; a specimen fact goes to both; a result fact that could be
   either result's makes both results ambiguous (a reason, never a guess).
5. One value per column: two different values are a conflict. The status (OBR-25, OBX-11)
   must be F or C; C is a correction (``result_version`` 2 unless a version is sent).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from her2qa.ingest.formats.hl7v2 import codes, fields
from her2qa.ingest.formats.hl7v2.text import Delimiters, Text, code
from schemas import contract, vocabulary

SEG = {name: code(name.encode()) for name in ("MSH", "PID", "OBR", "OBX", "SPM")}
BATCH = {name: code(name.encode()) for name in ("FHS", "BHS", "BTS", "FTS")}
_DTM = r"^[0-9]{8}([0-9]{2}([0-9]{2}([0-9]{2}([.][0-9]{1,4})?)?)?)?([+-][0-9]{4})?$"
_STATUS_MEANING = {  # HL7 tables 0123 (OBR-25) and 0085 (OBX-11), besides F and C
    "P": "preliminary",
    "I": "pending",
    "S": "partial",
    "A": "some results available",
    "R": "not verified",
    "O": "order received",
    "X": "no result (cannot be obtained)",
    "D": "deleted",
    "W": "posted in error",
    "N": "not asked",
    "U": "status change only",
    "Y": "no order on record",
    "Z": "no record of this patient",
}
# Shapes of tokens from the file a reason may quote (and only when no patient identifier).
_LOINC_SHAPE = r"[0-9]{1,7}-[0-9]"
_UNIT_SHAPE = r"[%#{}/.*\[\]0-9A-Za-z-]{1,16}"
_TYPE_SHAPE = r"[A-Z]{2,3}"
_MSG_TYPE_SHAPE = r"[A-Z0-9]{3}(\^[A-Z0-9_]{1,7})?"

# how an observation gives its values
_FIXED, _ANSWER, _VALUE, _ANSWER_ONLY = 1, 2, 3, 4
_REPORTED = codes.COLUMN_ID["reported_result"]
_SCORE = codes.COLUMN_ID["ihc_score"]
_RATIO = codes.COLUMN_ID["ish_ratio"]
_ASSAY = codes.COLUMN_ID["assay"]
_CASE_LEVEL = np.array([c in codes.CASE_LEVEL for c in codes.COLUMNS])
_TYPE_FITS = np.array(
    [[codes.type_fits(c, v) for v in codes.VALUE_TYPES] + [False] for c in codes.COLUMNS]
)
_CALL_SPELLINGS = pa.array(
    sorted({s.spelling for s in vocabulary.SPELLINGS if s.field == "reported_result"}),
    pa.large_string(),
)


_NULL = pa.scalar(None, pa.large_string())


# --- small vectorised helpers ----------------------------------------------------------------


def _owner(is_kind: np.ndarray, msg: np.ndarray) -> np.ndarray:
    """Position of the latest segment of a kind at or before each segment, in its message."""
    at = np.arange(len(is_kind))
    if not len(at):
        return at
    last = np.maximum.accumulate(np.where(is_kind, at, -1))
    return np.where((last >= 0) & (msg[np.maximum(last, 0)] == msg), last, -1)


def _rank(keys: np.ndarray) -> np.ndarray:
    """1-based position of each element within its run of equal (non-decreasing) keys."""
    return np.arange(len(keys)) - np.searchsorted(keys, keys, side="left") + 1


def _mask(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), bool)


def _scatter(values: pa.Array, rows: np.ndarray, n: int) -> pa.Array:
    """n nulls with ``values`` placed at ``rows``."""
    pos = np.full(n, -1, np.int64)
    pos[rows] = np.arange(len(rows))
    return _take(values, pos)


def _take(values: pa.Array, rows: np.ndarray) -> pa.Array:
    """``values[rows]``, null where a row is -1."""
    return values.take(pa.array(np.maximum(rows, 0), mask=rows < 0))


def _join(*arrays: pa.Array, sep: str = "", **options: object) -> pa.Array:
    return pc.binary_join_element_wise(*arrays, pa.scalar(sep, pa.large_string()), **options)


def _iso(values: pa.Array) -> pa.Array:
    """HL7 DT/DTM/TS -> ISO date; anything else as sent (the contract quarantines it)."""
    ok = _mask(pc.match_substring_regex(values, _DTM))
    parts = [pc.utf8_slice_codeunits(values, a, b) for a, b in ((0, 4), (4, 6), (6, 8))]
    return pc.if_else(pa.array(ok), _join(*parts, sep="-"), values)


def safe(token: str | None, phi: set[str], shape: str) -> str | None:
    """A token from the file that a reason may quote: code-shaped and no patient's value."""
    if token is None or token in phi or not re.fullmatch(shape, token):
        return None
    return token


def _value_type(vt: str | None) -> tuple[int, bool, bool, str]:
    """(index in VALUE_TYPES or -1, coded, structured numeric, the type) of an OBX-2."""
    vt = (vt or "").strip().upper()
    index = codes.VALUE_TYPES.index(vt) if vt in codes.VALUE_TYPES else -1
    return index, vt in codes.CODED_TYPES, vt == "SN", vt


def _status(value: str | None) -> str | None:
    """A result status (OBR-25, OBX-11: HL7 ID, one letter), upper case."""
    return (value or "").strip().upper() or None


def _method_assay(d: Delimiters, value: str | None) -> int:
    """The assay an observation method (OBX-17 identifier or text) names: 0, IHC 1, ISH 2."""
    for text in (fields.piece(value, d, 2), fields.piece(value, d, 1)):
        named = vocabulary.normalise("assay", text) if text else None
        if named:
            return codes.ASSAY_ID[named]
    return 0


# --- one run of messages ---------------------------------------------------------------------


class Reader:
    """The result rows and item rows of one run of whole messages (``rows()``).

    ``seg_offset`` / ``msg_offset``: segments and messages of the file before this run, so
    that row order and the message numbers in reasons are the file's."""

    def __init__(
        self,
        t: Text,
        lookup: codes.Lookup,
        lab_id: str | None,
        seg_offset: int = 0,
        msg_offset: int = 0,
    ) -> None:
        self.t, self.lookup, self.lab_id = t, lookup, lab_id
        self.d = t.delims
        self.seg_offset, self.msg_offset = seg_offset, msg_offset
        self.typ = t.types()
        self.msg = np.cumsum(self.typ == SEG["MSH"])  # message (0: before the first MSH)
        self.pid_of = _owner(self.typ == SEG["PID"], self.msg)
        self.obr_of = _owner(self.typ == SEG["OBR"], self.msg)
        self.items: list[tuple[int, int, str]] = []  # (anchor, k, reason) of item rows
        self._phi: dict[int, set[str]] = {}
        self._x_ord: np.ndarray | None = None

    def number(self, msg: int) -> int:
        """The message's number in the file (1-based)."""
        return self.msg_offset + msg

    def _field(self, rows: np.ndarray, k: int, msh: bool = False) -> pa.Array:
        """Field k of the given segments as text (empty as null)."""
        return self.t.strings(self.t.field(rows, k, msh))

    # --- segments of each kind ---

    def _messages(self) -> None:
        t, d = self.t, self.d
        m = np.flatnonzero(self.typ == SEG["MSH"])
        self.m_seg = m
        declared = fields.map_int(
            self._field(m, 2, msh=True), lambda v: (v or "")[:4] == d.encoding
        )
        same = (t.byte(3)[m] == ord(d.field)) & declared.astype(bool)
        self.facility = fields.map_text(
            self._field(m, 4, msh=True),
            lambda v: fields.piece(v, d, 1) or fields.piece(v, d, 2),
        )
        kind = self._field(m, 9, msh=True)
        self.m_kind = fields.map_text(
            kind, lambda v: "^".join(filter(None, (fields.piece(v, d, 1), fields.piece(v, d, 2))))
        )
        oru = _mask(pc.equal(self.m_kind, "ORU^R01"))
        # lines that are not segments (a line break inside a value?): the first per message
        bad = ~t.well_formed() & ~np.isin(self.typ, list(BATCH.values()))
        rows = np.flatnonzero(bad)
        rows = rows[~t.blank(rows)] if len(rows) else rows
        first_bad = np.full(len(m) + 1, -1, np.int64)
        first_bad[self.msg[rows[::-1]]] = rows[::-1]  # the last write (the first line) wins
        self.stray = (int(first_bad[0]), int((self.msg[rows] == 0).sum()))
        n_obr = np.bincount(self.msg[self.typ == SEG["OBR"]], minlength=len(m) + 1)[1:]
        problem = np.zeros(len(m), np.int8)  # 0: none; else the first that applies
        problem[n_obr == 0] = 4
        problem[~oru] = 3
        problem[first_bad[1:] >= 0] = 2
        problem[~same] = 1
        self.m_problem, self.m_first_bad = problem, first_bad[1:]

    def _orders(self) -> None:
        d = self.d
        r = np.flatnonzero(self.typ == SEG["OBR"])
        self.r_seg, self.r_msg, self.r_ord = r, self.msg[r], _rank(self.msg[r])
        self.r_filler = fields.component(self._field(r, 3), d, 1)
        self.r_collected = fields.component(self._field(r, 7), d, 1)
        self.r_reported = fields.component(self._field(r, 22), d, 1)
        self.r_status = fields.map_text(self._field(r, 25), _status)
        self.r_interpreter = fields.map_text(self._field(r, 32), lambda v: fields.piece(v, d, 1, 1))
        self.r_pid = self.pid_of[r]
        # the first SPM of each OBR is its specimen: accession (SPM-2), collection (SPM-17)
        s = np.flatnonzero(self.typ == SEG["SPM"])
        owner = self.obr_of[s]
        s, owner = s[owner >= 0], owner[owner >= 0]
        owner, first = np.unique(owner, return_index=True)
        s = s[first]
        rows = np.searchsorted(r, owner)
        placer, filler = fields.components(self._field(s, 2), d, (1, 1), (2, 1))
        accession = pc.coalesce(filler, placer)
        self.r_accession = _scatter(accession, rows, len(r))
        collected = fields.component(self._field(s, 17), d, 1, 1)
        self.r_spm_collected = _scatter(collected, rows, len(r))

    def _patients(self) -> None:
        d = self.d
        p = np.flatnonzero(self.typ == SEG["PID"])
        self.p_seg = p
        ids = self._field(p, 3)
        mrn = fields.component(ids, d, 1)
        several = np.flatnonzero(_mask(pc.match_substring(ids, d.repetition)))
        if len(several):  # several identifiers: the one of type MR, else the first
            values = mrn.to_pylist()
            for row, field in zip(
                several.tolist(), ids.take(pa.array(several)).to_pylist(), strict=True
            ):
                values[row] = self._mrn(field)
            mrn = fields.large(values)
        self.p_mrn = mrn
        # the name as "given middle family" (only compared with other values, then dropped)
        family, given, middle = fields.components(self._field(p, 5), d, (1, 1), 2, 3)
        joined = pc.utf8_trim_whitespace(
            pc.replace_substring_regex(
                _join(given, middle, family, sep=" ", null_handling="replace", null_replacement=""),
                r"\s+",
                " ",
            )
        )
        self.p_name = pc.if_else(pc.equal(joined, ""), _NULL, joined)
        self.p_dob = _iso(fields.component(self._field(p, 7), d, 1))

    def _mrn(self, field: str) -> str | None:
        d = self.d
        reps = [r.split(d.component) for r in field.split(d.repetition)]
        reps = [r for r in reps if r[0].strip()]
        chosen = next((r for r in reps if len(r) > 4 and r[4].strip() == "MR"), None)
        chosen = chosen or (reps[0] if reps else None)
        return chosen[0].split(d.subcomponent)[0].strip() if chosen else None

    def phi(self, msg: int) -> set[str]:
        """A message's patient identifiers (PID-2, -3, -4, -5, -7, -19 pieces): a reason never
        quotes one."""
        if msg not in self._phi:
            d, out = self.d, set()
            seps = "[" + re.escape(d.component + d.repetition + d.subcomponent) + "]"
            for row in self.p_seg[self.msg[self.p_seg] == msg].tolist():
                parts = self.t.segment(row).split(d.field)
                for k in (2, 3, 4, 5, 7, 19):
                    for piece in re.split(seps, parts[k]) if k < len(parts) else ():
                        if piece.strip():
                            out.add(piece.strip())
                            out.update(piece.split())
                if len(parts) > 7 and len(parts[7]) >= 8:
                    out.add(f"{parts[7][:4]}-{parts[7][4:6]}-{parts[7][6:8]}")
            self._phi[msg] = out
        return self._phi[msg]

    # --- observations ---

    def _observations(self) -> None:
        t, d, lk = self.t, self.d, self.lookup
        x = np.flatnonzero(self.typ == SEG["OBX"])
        n = len(x)
        self.x_seg, self.x_msg = x, self.msg[x]
        owner = self.obr_of[x]
        self.x_obr = np.where(owner >= 0, np.searchsorted(self.r_seg, np.maximum(owner, 0)), -1)
        self._x_owner = owner
        f = t.fields(x)
        self.x_fields = f.count  # field separators in the segment: OBX-k is there if >= k
        # the columns of few distinct values are parsed once per value, and kept as (index
        # of each row's value, parsed values): no per-row strings are made for them
        self.x_vt = fields.per_value(t.strings(f.nth(2)), _value_type)
        vt_id, coded, sn = (np.array([v[k] for v in self.x_vt[1]])[self.x_vt[0]] for k in range(3))
        self.x_ident = fields.per_value(
            t.strings(f.nth(3)), lambda v: (fields.piece(v, d, 1), self._question(v))
        )
        q = np.array([v[1] for v in self.x_ident[1]], np.int64)[self.x_ident[0]]
        value = t.strings(f.nth(5))
        # coded answers (OBX-5 of CWE/CE/CNE/CF): identifier, text, system, per distinct value
        answer_rows = np.flatnonzero(coded)
        a = np.full(n, -1, np.int64)
        decoded = value
        if len(answer_rows):
            index, parsed = fields.per_value(
                value.take(pa.array(answer_rows)),
                lambda v: (self._answer(v), fields.piece(v, d, 2) or fields.piece(v, d, 1)),
            )
            a[answer_rows] = np.array([p[0] for p in parsed], np.int64)[index]
            text = fields.large([p[1] for p in parsed]).take(pa.array(index))
            decoded = pc.if_else(pa.array(coded), _scatter(text, answer_rows, n), value)
        loinc_answer = (a >= 0) & (lk.origin[np.maximum(a, 0)] == 0)
        a[loinc_answer & (q < 0)] = -1  # a LOINC answer counts only under a known question

        qfixed = (q >= 0) & lk.fixed[np.maximum(q, 0)]
        has_value = ~_mask(pc.is_null(value))
        mode = np.zeros(n, np.int8)
        mode[(q < 0) & (a >= 0) & (lk.origin[np.maximum(a, 0)] == 2)] = _ANSWER_ONLY
        mode[(q >= 0) & ~qfixed & (a < 0) & has_value] = _VALUE
        mode[(q >= 0) & ~qfixed & (a >= 0)] = _ANSWER
        mode[qfixed] = _FIXED
        entry = np.where((mode == _ANSWER) | (mode == _ANSWER_ONLY), a, q)
        count = np.where(mode > 0, lk.count[np.maximum(entry, 0)], 0)
        q_col = np.where(q >= 0, lk.column[lk.first[np.maximum(q, 0)]], -1)
        q_aff = np.where(q >= 0, lk.assay[lk.first[np.maximum(q, 0)]], 0)

        # SN: a plain number (^2.15), or for a ratio 2.4 to 1 (^2.4^:^1); else as sent
        sn_rows = np.flatnonzero(sn.astype(bool) & (mode == _VALUE))
        if len(sn_rows):
            got = [
                self._structured(v, bool(r))
                for v, r in zip(
                    value.take(pa.array(sn_rows)).to_pylist(),
                    (q_col[sn_rows] == _RATIO).tolist(),
                    strict=True,
                )
            ]
            decoded = pc.if_else(
                pa.array(np.isin(np.arange(n), sn_rows)),
                _scatter(fields.large(got), sn_rows, n),
                decoded,
            )

        # contributions: one per value an observation gives
        cx = np.repeat(np.arange(n), count)
        rank = np.arange(len(cx)) - np.repeat(np.cumsum(count) - count, count)
        aidx = lk.first[entry[cx]] + rank
        cmode = mode[cx]
        col = lk.column[aidx]
        val = pc.if_else(
            pa.array(cmode == _VALUE), decoded.take(pa.array(cx)), lk.value.take(pa.array(aidx))
        )
        aff = np.where((cmode == _ANSWER) & (q_aff[cx] > 0), q_aff[cx], lk.assay[aidx])
        code_aff = aff.copy()
        # a score code carrying a call (Positive, Indeterminate) gives the call
        scores = np.flatnonzero((cmode == _VALUE) & (col == _SCORE))
        if len(scores):
            folded = pc.utf8_lower(pc.utf8_trim_whitespace(val.take(pa.array(scores))))
            col = col.copy()
            col[scores[_mask(pc.is_in(folded, _CALL_SPELLINGS))]] = _REPORTED
        for row in np.flatnonzero((col == _ASSAY) & (aff == 0)).tolist():
            named = vocabulary.normalise("assay", val[row].as_py() or "") or ""
            aff[row] = codes.ASSAY_ID.get(named, 0)
        method = np.zeros(n, np.int64)
        rows, methods = self._subset(f, 17)
        method[rows] = fields.map_int(methods, lambda v: _method_assay(d, v))
        aff = np.where(aff == 0, method[cx], aff)

        # checks
        bad_type = (cmode == _VALUE) & ~_TYPE_FITS[col, vt_id[cx]]
        a_col = lk.column[lk.first[np.maximum(entry, 0)]][cx]
        q_col_c = q_col[cx]
        bad_answer = (
            (cmode == _ANSWER)
            & (lk.origin[np.maximum(entry, 0)][cx] == 0)
            & ~((a_col == q_col_c) | ((q_col_c == _SCORE) & (a_col == _REPORTED)))
        )
        repeated = _mask(pc.match_substring(value, d.repetition))
        bad_repeat = (cmode != _FIXED) & repeated[cx]
        self.x_unit = fields.per_value(
            t.strings(f.nth(6)), lambda v: fields.piece(v, d, 1) or fields.piece(v, d, 2) or ""
        )
        fits = np.array([[codes.unit_fits(c_, u) for u in self.x_unit[1]] for c_ in codes.COLUMNS])
        bad_unit = ~fits[col, self.x_unit[0][cx]]
        bad_method = (method[cx] > 0) & (code_aff > 0) & (method[cx] != code_aff)
        self.x_status = fields.per_value(t.strings(f.nth(11)), _status)
        self.x_method = method

        # the reader (OBX-16) and performing laboratory (OBX-23) of the HER2 observations
        obx_aff = np.zeros(n, np.int64)
        np.maximum.at(obx_aff, cx, aff)
        her2 = count > 0
        ex, ecol, evals = [], [], []
        for k, name, comps in ((16, "pathologist_id", (1,)), (23, "performing_lab", (10, 3, 1))):
            rows, raw = self._subset(f, k, her2)
            values = fields.map_text(
                raw, lambda v, c=comps: next((p for m in c if (p := fields.piece(v, d, m))), None)
            )
            keep = ~_mask(pc.is_null(values))
            ex.append(rows[keep])
            ecol.append(np.full(int(keep.sum()), codes.COLUMN_ID[name]))
            evals.append(values.filter(pa.array(keep)))
        extra = np.concatenate(ex)
        zero = np.zeros(len(extra), bool)
        self.c_x = np.concatenate((cx, extra)).astype(np.int64)
        self.c_col = np.concatenate((col, *ecol)).astype(np.int64)
        self.c_val = pa.concat_arrays([val.cast(pa.large_string()), *evals])
        self.c_aff = np.concatenate((aff, obx_aff[extra])).astype(np.int64)
        self.c_entry = np.concatenate((entry[cx], np.full(len(extra), -1)))
        self.c_q = np.concatenate((q[cx], np.full(len(extra), -1)))
        self.c_checks = {
            "type": np.concatenate((bad_type, zero)),
            "answer": np.concatenate((bad_answer, zero)),
            "repeat": np.concatenate((bad_repeat, zero)),
            "unit": np.concatenate((bad_unit, zero)),
            "method": np.concatenate((bad_method, zero)),
        }
        self.c_bad = np.logical_or.reduce(list(self.c_checks.values()))

    @property
    def x_ord(self) -> np.ndarray:
        """Each observation's number in its OBR (1-based; in its message before any OBR):
        only reasons need it."""
        if self._x_ord is None:
            owner = self._x_owner
            msh = self.m_seg[np.maximum(self.x_msg - 1, 0)] if len(self.m_seg) else owner
            self._x_ord = _rank(np.where(owner >= 0, owner, msh))
        return self._x_ord

    def _subset(
        self, f, k: int, rows_wanted: np.ndarray | None = None
    ) -> tuple[np.ndarray, pa.Array]:
        """(rows, field OBX-k as text) of the observations that have the field (and are
        wanted): OBX-16, -17 and -23 are absent from most observations."""
        have = f.count >= k
        if rows_wanted is not None:
            have &= rows_wanted
        rows = np.flatnonzero(have)
        return rows, self.t.strings(self.t.fields(self.x_seg[rows]).nth(k))

    def _question(self, ident: str | None) -> int:
        """The entry of an observation identifier (OBX-3): its first coding, else its
        alternate one; configured codes, else LOINC (system LN or none), else local
        (system 99HER2QA); -1 for a code no map knows."""
        lk, d = self.lookup, self.d
        for n in (1, 4):
            code_ = fields.piece(ident, d, n)
            system = fields.piece(ident, d, n + 2) or ""
            if code_ is None:
                continue
            if code_ in lk.by_kind["config_q"]:
                return lk.by_kind["config_q"][code_]
            if system in codes.LOINC_SYSTEMS and code_ in lk.by_kind["loinc_q"]:
                return lk.by_kind["loinc_q"][code_]
            if system == codes.LOCAL_SYSTEM and code_ in lk.by_kind["local_q"]:
                return lk.by_kind["local_q"][code_]
        return -1

    def _answer(self, value: str | None) -> int:
        """The entry of a coded answer (OBX-5): configured (any system) or LOINC (LN)."""
        lk, d = self.lookup, self.d
        code_ = fields.piece(value, d, 1)
        if code_ is None:
            return -1
        if code_ in lk.by_kind["config_a"]:
            return lk.by_kind["config_a"][code_]
        system = fields.piece(value, d, 3) or ""
        if system in codes.LOINC_SYSTEMS and code_ in lk.by_kind["loinc_a"]:
            return lk.by_kind["loinc_a"][code_]
        return -1

    def _structured(self, value: str | None, ratio: bool) -> str | None:
        """An SN value: the number when it is plain (or a ratio to 1), else the text as sent
        without its separators ("<6.0", quarantined by the contract as not a number)."""
        if value is None:
            return None
        d = self.d
        comparator, number, sep, second = (fields.piece(value, d, k) for k in range(1, 5))
        if comparator in (None, "=") and (
            (sep is None and second is None)
            or (ratio and sep in (":", "/") and second in ("1", "1.0"))
        ):
            return number
        return value.replace(d.component, "")

    # --- results ---

    def rows(self) -> pa.Table:
        self._messages()
        self._orders()
        self._patients()
        self._observations()
        n_obr = len(self.r_seg)
        obr_c = self.x_obr[self.c_x]
        msg_c = self.x_msg[self.c_x]
        outside = np.zeros(len(self.m_seg) + 1, bool)
        outside[msg_c[obr_c < 0]] = True
        problem = self.m_problem.copy()
        problem[(problem == 0) & outside[1:]] = 5
        ok_msg = np.concatenate(([False], problem == 0))

        ci = np.flatnonzero((obr_c >= 0) & ok_msg[msg_c])
        co, ca = obr_c[ci], self.c_aff[ci]
        has = np.zeros((n_obr, 3), bool)
        has[co, ca] = True
        inc = has.copy()
        inc[:, 0] = has.any(1) & ~has[:, 1] & ~has[:, 2]
        res_obr, res_aff = np.nonzero(inc)  # by OBR, then IHC before ISH
        rid_of = np.full((n_obr, 3), -1, np.int64)
        rid_of[res_obr, res_aff] = np.arange(len(res_obr))
        nres = inc.sum(1)

        att_c, att_r, ambiguous = self._attach(ci, co, ca, rid_of, nres)
        values, conflicts = self._pivot(att_c, att_r, len(res_obr))
        corrected = self._reasons_prepare(att_c, att_r, res_obr)
        reasons = self._reasons(att_c, att_r, res_obr, res_aff, values, conflicts, ambiguous)
        table = self._result_table(res_obr, res_aff, nres, values, corrected, reasons)
        empty = ~has.any(1) & ok_msg[self.r_msg]
        self._empty_orders(np.flatnonzero(empty))
        for m in np.flatnonzero(problem).tolist():
            self.items.append((int(self.m_seg[m]), 0, self._problem(m, int(problem[m]))))
        return self._with_items(table)

    def _attach(self, ci, co, ca, rid_of, nres):
        """(contribution, result) pairs, and the results made ambiguous with the
        contributions that made them so."""
        affine = ca > 0
        att_c, att_r = [ci[affine]], [rid_of[co[affine], ca[affine]]]
        single = ~affine & (nres[co] == 1)
        att_c.append(ci[single])
        att_r.append(rid_of[co[single]].max(axis=1))
        ambiguous: dict[int, list[int]] = {}
        two = np.flatnonzero(~affine & (nres[co] == 2))
        if len(two):
            obx = np.flatnonzero(np.isin(self.x_obr, co[two]))
            subs = fields.map_text(
                self.t.strings(self.t.fields(self.x_seg[obx]).nth(4)),
                lambda v: (v or "").strip() or None,
            )
            encoded = pc.fill_null(_scatter(subs, obx, len(self.x_seg)), "").dictionary_encode()
            names = encoded.dictionary.to_pylist()
            sub_id = encoded.indices.to_numpy().astype(np.int64)
            c_sub = sub_id[self.c_x[ci]]
            named = c_sub != (names.index("") if "" in names else -1)
            key = co * (len(names) + 1) + c_sub
            match = {k: np.isin(key, key[affine & named & (ca == k)]) & named for k in (1, 2)}
            for k, other in ((1, 2), (2, 1)):
                one = two[match[k][two] & ~match[other][two]]
                att_c.append(ci[one])
                att_r.append(rid_of[co[one], k])
            rest = two[match[1][two] == match[2][two]]
            case = _CASE_LEVEL[self.c_col[ci[rest]]]
            for k in (1, 2):
                att_c.append(ci[rest[case]])
                att_r.append(rid_of[co[rest[case]], k])
            for c_, o in zip(ci[rest[~case]].tolist(), co[rest[~case]].tolist(), strict=True):
                for k in (1, 2):
                    ambiguous.setdefault(int(rid_of[o, k]), []).append(c_)
        return np.concatenate(att_c), np.concatenate(att_r), ambiguous

    def _pivot(self, att_c, att_r, n_res):
        """Each result's value of each column (its first observation's), and the results
        with two different values for a column: {result: [(column, OBX a, OBX b)]}."""
        col = self.c_col[att_c]
        order = np.lexsort((self.x_seg[self.c_x[att_c]], col, att_r))
        c_s, r_s, col_s = att_c[order], att_r[order], col[order]
        start = np.ones(len(order), bool)
        start[1:] = (r_s[1:] != r_s[:-1]) | (col_s[1:] != col_s[:-1])
        first = np.flatnonzero(start)
        size = np.diff(np.append(first, len(order)))
        chosen = self.c_val.take(pa.array(c_s[first]))
        values = {}
        for name, cid in codes.COLUMN_ID.items():
            groups = np.flatnonzero(col_s[first] == cid)
            values[name] = _scatter(chosen.take(pa.array(groups)), r_s[first[groups]], n_res)
        conflicts: dict[int, list[tuple[str, int, int]]] = {}
        for g, k in zip(first[size > 1].tolist(), size[size > 1].tolist(), strict=True):
            members = c_s[g : g + k]
            name = codes.COLUMNS[col_s[g]]
            seen = {self._canonical(name, self.c_val[int(m)].as_py()) for m in members}
            if len(seen) > 1:
                ords = self.x_ord[self.c_x[members]]
                found = (name, int(ords.min()), int(ords.max()))
                conflicts.setdefault(int(r_s[g]), []).append(found)
        return values, conflicts

    @staticmethod
    def _canonical(column: str, value: str | None) -> str | None:
        """What two values are compared by: the contract's canonical spelling when there is
        one ("Amplified" and "positive" agree), else the folded text."""
        if value is None:
            return None
        for field in (column, "reported_result"):
            for assay in (None, "IHC", "ISH"):
                canon = vocabulary.normalise(field, value, assay)
                if canon is not None:
                    return canon
        return vocabulary.fold(value)

    def _reasons_prepare(self, att_c, att_r, res_obr) -> np.ndarray:
        """Per result: final (F), corrected (C), other and missing statuses (OBR-25, OBX-11);
        returns whether each result is a correction."""
        n_res = len(res_obr)

        def kinds(values: pa.Array) -> np.ndarray:
            out = np.full(len(values), 3, np.int8)
            out[_mask(pc.is_null(values))] = 0
            out[_mask(pc.equal(values, "F"))] = 1
            out[_mask(pc.equal(values, "C"))] = 2
            return out

        statuses = self.x_status[1]
        x_kind = kinds(fields.large(statuses))[self.x_status[0]][self.c_x[att_c]]
        r_kind = kinds(self.r_status)[res_obr]

        def per(kind: int) -> np.ndarray:
            hit = np.bincount(att_r, weights=x_kind == kind, minlength=n_res) > 0
            return hit | (r_kind == kind)

        self.s_final, self.s_corrected, self.s_other = per(1), per(2), per(3)
        return self.s_corrected

    def _reasons(self, att_c, att_r, res_obr, res_aff, values, conflicts, ambiguous):
        reasons: dict[int, list[str]] = {}
        bad = np.flatnonzero(self.c_bad[att_c])
        for c_, r in zip(att_c[bad].tolist(), att_r[bad].tolist(), strict=True):
            reasons.setdefault(r, []).append(self._misfit(c_))
        for r, found in conflicts.items():
            for column, a, b in found:
                reasons.setdefault(r, []).append(
                    f"OBX {a} and OBX {b} give different {column} values"
                )
        for r, found in ambiguous.items():
            which = ", ".join(
                sorted(
                    {
                        f"OBX {self.x_ord[self.c_x[c_]]} ({self._code(c_)}, "
                        f"{codes.COLUMNS[self.c_col[c_]]})"
                        for c_ in found
                    }
                )
            )
            reasons.setdefault(r, []).append(
                f"the OBR carries an IHC and an ISH result and {which} could belong to "
                "either (give each result its own OBX-4 sub-id, or an OBX-17 method)"
            )
        missing = ~self.s_final & ~self.s_corrected & ~self.s_other
        for r in np.flatnonzero(missing).tolist():
            reasons.setdefault(r, []).append(
                "no result status (OBR-25, OBX-11): not known to be final"
            )
        for r in np.flatnonzero(self.s_other).tolist():
            index, statuses = self.x_status
            found = {statuses[i] for i in index[self.c_x[att_c[att_r == r]]].tolist()}
            found.add(self.r_status[int(res_obr[r])].as_py())
            letter = min(s for s in found if s not in (None, "F", "C"))
            meaning = _STATUS_MEANING.get(letter, "not an HL7 result status")
            shown = safe(letter, set(), "[A-Z]") or "given"
            reasons.setdefault(r, []).append(
                f"result status {shown} ({meaning}): only final (F) and corrected (C) results "
                "are read"
            )
        no_assay = (res_aff == 0) & _mask(pc.is_null(values["assay"]))
        for r in np.flatnonzero(no_assay).tolist():
            found = ", ".join(sorted({self._code(c_) for c_ in att_c[att_r == r].tolist()}))
            reasons.setdefault(r, []).append(
                f"HER2 observation(s) ({found}) without an IHC or ISH code or a method "
                "(OBX-17): the assay is unknown"
            )
        out: list[str | None] = [None] * len(res_obr)
        for r, parts in reasons.items():
            o = int(res_obr[r])
            assay = codes.ASSAYS[int(res_aff[r])] or "HER2"
            out[r] = (
                f"message {self.number(int(self.r_msg[o]))}, OBR {self.r_ord[o]} "
                f"({assay} result): " + "; ".join(dict.fromkeys(parts))
            )
        return out

    def _code(self, c_: int) -> str:
        """A contribution's code as the map names it (never the file's own text)."""
        q, entry = int(self.c_q[c_]), int(self.c_entry[c_])
        if q >= 0:
            return self.lookup.code[q]
        return self.lookup.code[entry] if entry >= 0 else "OBX-16/OBX-23"

    def _misfit(self, c_: int) -> str:
        x = int(self.c_x[c_])
        phi = self.phi(int(self.x_msg[x]))
        column = codes.COLUMNS[self.c_col[c_]]
        name = self._code(c_)
        parts = []
        if self.c_checks["type"][c_]:
            vt = safe(self.x_vt[1][self.x_vt[0][x]][3], phi, _TYPE_SHAPE) or "given"
            need = "NM or SN" if column in codes.NUMERIC else "a coded or string value"
            parts.append(f"value type {vt} does not fit {name} ({column} needs {need})")
        if self.c_checks["answer"][c_]:
            answer = self.lookup.code[int(self.c_entry[c_])]
            parts.append(f"answer {answer} is a {column} answer, not one for {name}")
        if self.c_checks["repeat"][c_]:
            parts.append(f"{name} has several values (repetitions) where one is expected")
        if self.c_checks["unit"][c_]:
            unit = safe(self.x_unit[1][self.x_unit[0][x]], phi, _UNIT_SHAPE) or "given"
            parts.append(f"unit {unit} does not fit {name} ({column}: {codes.unit_doc(column)})")
        if self.c_checks["method"][c_]:
            method = codes.ASSAYS[int(self.x_method[x])]
            parts.append(f"the method (OBX-17) is {method} but {name} is not an {method} code")
        return f"OBX {self.x_ord[x]}: " + "; ".join(parts)

    def _result_table(self, res_obr, res_aff, nres, values, corrected, reasons) -> pa.Table:
        n_res = len(res_obr)
        rows = pa.array(res_obr)
        assay = fields.large([codes.ASSAYS[k] for k in res_aff.tolist()])
        filler = self.r_filler.take(rows)
        test_id = pc.if_else(pa.array(nres[res_obr] == 2), _join(filler, assay, sep="-"), filler)
        version = pc.coalesce(
            values["result_version"],
            pc.if_else(pa.array(corrected), pa.scalar("2", pa.large_string()), _NULL),
        )
        lab = self.facility.take(pa.array(self.r_msg[res_obr] - 1))
        if self.lab_id is not None:
            lab = pc.coalesce(lab, pa.scalar(self.lab_id, pa.large_string()))
        pid = self.r_pid[res_obr]
        pid_row = np.where(pid >= 0, np.searchsorted(self.p_seg, np.maximum(pid, 0)), -1)
        collected = pc.coalesce(self.r_collected.take(rows), self.r_spm_collected.take(rows))
        columns = {
            **values,
            "lab_id": lab,
            "test_id": test_id,
            "result_version": version,
            "accession_id": pc.coalesce(self.r_accession.take(rows), filler),
            "patient_mrn": _take(self.p_mrn, pid_row),
            "patient_name": _take(self.p_name, pid_row),
            "patient_dob": _take(self.p_dob, pid_row),
            "collection_date": _iso(collected),
            "report_date": _iso(self.r_reported.take(rows)),
            "assay": pc.coalesce(assay, values["assay"]),
            "pathologist_id": pc.coalesce(values["pathologist_id"], self.r_interpreter.take(rows)),
        }
        out = {
            name: columns[name].cast(pa.large_string())
            if name in columns
            else pa.nulls(n_res, pa.large_string())
            for name in contract.NAMES
        }
        out["why"] = fields.large(reasons)
        out["anchor"] = pa.array(self.seg_offset + self.r_seg[res_obr], pa.int64())
        out["k"] = pa.array(res_aff.astype(np.int64))
        return pa.table(out)

    # --- items without a result ---

    def _empty_orders(self, empty: np.ndarray) -> None:
        """An OBR with no HER2 observation (a narrative report): one row, naming the LOINC
        codes it holds (LOINC-shaped, never a patient's value)."""
        if not len(empty):
            return
        held = np.bincount(self.x_obr[self.x_obr >= 0], minlength=len(self.r_seg))
        rows = np.flatnonzero(np.isin(self.x_obr, empty))
        found: dict[int, set[str]] = {}
        index, idents = self.x_ident
        names = [idents[i][0] for i in index[rows].tolist()]
        for o, c_ in zip(self.x_obr[rows].tolist(), names, strict=True):
            found.setdefault(o, set()).add(c_)
        for o in empty.tolist():
            msg = int(self.r_msg[o])
            phi = self.phi(msg)
            shown = sorted(filter(None, (safe(c_, phi, _LOINC_SHAPE) for c_ in found.get(o, ()))))
            listed = f" (LOINC {', '.join(shown)})" if shown else ""
            self.items.append(
                (
                    int(self.r_seg[o]),
                    0,
                    f"message {self.number(msg)}, OBR {self.r_ord[o]}: no HER2 observation "
                    f"among its {held[o]} OBX{listed}",
                )
            )

    def _problem(self, m: int, problem: int) -> str:
        msg = m + 1
        if problem == 1:
            why = "declares other delimiters (MSH-1, MSH-2) than the file's first message"
        elif problem == 2:
            line = int(self.m_first_bad[m] - self.m_seg[m] + 1)
            why = (
                f"has a line that is not an HL7 segment (line {line} of the message: a line "
                "break inside a value?)"
            )
        elif problem == 3:
            kind = self.m_kind[m].as_py() or ""
            shown = safe(kind, self.phi(msg), _MSG_TYPE_SHAPE) or "another message type"
            why = f"is {shown}, not a result message (ORU^R01)"
        elif problem == 4:
            why = "has no OBR: no result in it"
        else:
            why = "has a HER2 observation before any OBR (it cannot be tied to a specimen)"
        return f"message {self.number(msg)} {why}: not read"

    def _with_items(self, results: pa.Table) -> pa.Table:
        seg = self.seg_offset
        items = [(seg + a, k, w) for a, k, w in self.items]
        first, stray = self.stray
        if stray:
            items.append(
                (seg + first, 0, f"{stray} line(s) before the first MSH are not part of a message")
            )
        return with_items(results, items)

    # --- what the file's envelope check needs ---

    def envelope(self) -> tuple[list[tuple[int, int, str]], np.ndarray]:
        """The batch segments ((file segment, type, the count it states)) and the file
        segment numbers of the messages."""
        rows = np.flatnonzero(np.isin(self.typ, list(BATCH.values())))
        found = []
        for row in rows.tolist():
            fields = self.t.segment(row).split(self.d.field)
            found.append(
                (
                    self.seg_offset + row,
                    int(self.typ[row]),
                    fields[1].strip() if len(fields) > 1 else "",
                )
            )
        return found, self.seg_offset + self.m_seg


def with_items(results: pa.Table, items: list[tuple[int, int, str]]) -> pa.Table:
    """The result rows with item rows (anchor, k, reason) added."""
    if not items:
        return results
    anchor, k, why = zip(*items, strict=True)
    n = len(why)
    table = {name: pa.nulls(n, pa.large_string()) for name in contract.NAMES}
    table["why"] = fields.large(why)
    table["anchor"] = pa.array(list(anchor), pa.int64())
    table["k"] = pa.array(list(k), pa.int64())
    return pa.concat_tables([results, pa.table(table, schema=results.schema)])


def envelope_items(
    batches: list[tuple[int, int, str]], msh: np.ndarray
) -> list[tuple[int, int, str]]:
    """Batch envelopes that disagree with what they hold: a count in BTS-1 (FTS-1) that is not
    the number of messages (batches), a batch without its trailer."""
    out: list[tuple[int, int, str]] = []
    opened: int | None = None
    batches_seen = 0
    for seg, kind, said in batches:
        if kind == BATCH["BHS"]:
            if opened is not None:
                out.append((seg, 0, "a batch (BHS) starts before the previous one's trailer (BTS)"))
            opened, batches_seen = seg, batches_seen + 1
        elif kind == BATCH["BTS"]:
            start = opened if opened is not None else -1
            held = int(np.sum((msh > start) & (msh < seg)))
            if said.isdigit() and int(said) != held:
                out.append(
                    (
                        seg,
                        0,
                        f"batch trailer BTS-1 counts {said} message(s); the batch holds {held}",
                    )
                )
            opened = None
        elif kind == BATCH["FTS"] and said.isdigit() and int(said) != batches_seen:
            out.append(
                (
                    seg,
                    0,
                    f"file trailer FTS-1 counts {said} batch(es); the file holds {batches_seen}",
                )
            )
    if opened is not None:
        out.append((opened, 0, "batch header BHS has no trailer BTS: the file may be truncated"))
    return out
