"""FHIR R4 structure checks with fhir.resources' R4B models (the package's default models
are R5 and drop R4 fields without a word).

Validating one resource costs about half a millisecond (measured: an ISH Observation with
components, 515 us), so a million results cannot each be validated within the speed
target. What is validated:

- every resource of a file with at most ``VALIDATE_ALL`` resources (the public examples, a
  day's messages);
- in a larger file, the first ``SAMPLE`` resources of each type, and when one of them is
  invalid, every resource of that type in the file (a file that goes wrong is checked in
  full);
- every Observation quarantined for a value that does not fit its code (is it also not
  FHIR?).

DuckDB's typed reader has already checked the shape of every element the mapping reads
(``schema``): validation adds the rest of FHIR's rules. Its findings name the element and
the kind of error, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

VALIDATE_ALL = 500
SAMPLE = 20
# How much of a single-object Bundle is parsed to find its first entries.
_PREFIX_CHARS = 8 << 20


def problem(resource: dict) -> str | None:
    """Why ``resource`` is not valid FHIR R4 (element path and error kind), or None."""
    kind = resource.get("resourceType")
    try:
        model = get_fhir_model_class(kind) if isinstance(kind, str) else None
    except KeyError:
        model = None
    if model is None:
        return "not a FHIR R4 resource type"
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        errors = exc.errors()
        if not errors:
            return "invalid"
        first = errors[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "__root__")
        more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
        return f"{where or 'the resource'}: {first.get('type', 'invalid')}{more}"
    except Exception as exc:  # a model's own check: its text may hold values
        return type(exc).__name__
    return None


def first_entries(data: bytes, limit: int) -> dict[int, dict]:
    """The first ``limit`` entry resources of a Bundle written as one JSON value, parsed
    one by one from the start of the file (not the whole file): pos -> resource."""
    text = data[:_PREFIX_CHARS].decode("utf-8", errors="ignore")
    decoder = json.JSONDecoder()
    found: dict[int, dict] = {}
    try:
        at = _skip(text, 0)
        if text[at] != "{":
            return found
        at += 1
        while True:
            at = _skip(text, at)
            if text[at] == "}":
                return found
            key, at = decoder.raw_decode(text, at)
            at = _skip(text, at)
            at = _skip(text, at + 1)  # ':'
            if key != "entry":
                _value, at = decoder.raw_decode(text, at)
                at = _skip(text, at)
                if text[at] == ",":
                    at += 1
                continue
            at = _skip(text, at + 1)  # '['
            pos = 0
            while text[at] != "]" and pos < limit:
                entry, at = decoder.raw_decode(text, at)
                pos += 1
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    found[pos] = entry["resource"]
                at = _skip(text, at)
                if text[at] == ",":
                    at = _skip(text, at + 1)
            return found
    except (ValueError, IndexError):  # the prefix ends inside an entry: what was found
        return found


def _skip(text: str, at: int) -> int:
    while text[at] in " \t\r\n":
        at += 1
    return at


def check(resources: Iterable[tuple[int, dict]]) -> dict[int, str]:
    """pos -> problem, for the invalid ones."""
    found = {}
    for pos, resource in resources:
        why = problem(resource)
        if why:
            found[pos] = why
    return found
