"""The part of a FHIR resource the adapter reads, as one definition: DuckDB's typed JSON
reader parses it (``duckdb_type``) and the fallback reader checks each resource against it
(``mismatch``) before handing it to the same reader.

Only the elements the mapping uses are listed; DuckDB ignores the rest. Leaves are text
(``STR``: DuckDB turns a number or an object there into its text, as FHIR's primitive values
are) or raw JSON (``JSON``: numbers, whose JSON type the mapping checks, and elements whose
shape differs between resource types, such as ``specimen``: one Reference in an
Observation, a list in a DiagnosticReport). An object where a list is expected (or the
reverse) is what DuckDB cannot read: ``mismatch`` names that element.
"""

from __future__ import annotations

STR = "VARCHAR"
JSON = "JSON"
Shape = str | dict[str, "Shape"] | list["Shape"]

CODING: Shape = {"system": STR, "code": STR, "display": STR}
CONCEPT: Shape = {"coding": [CODING], "text": STR}
QUANTITY: Shape = {"value": JSON, "unit": STR, "system": STR, "code": STR, "comparator": STR}
REFERENCE: Shape = {
    "reference": STR,
    "type": STR,
    "identifier": {"system": STR, "value": STR},
    "display": STR,
}
IDENTIFIER: Shape = {
    "system": STR,
    "value": STR,
    "use": STR,
    "type": CONCEPT,
    "assigner": REFERENCE,
}
# Observation.value[x] (R4): the mapping reads the first four; the others only misfit.
VALUE: dict[str, Shape] = {
    "valueQuantity": QUANTITY,
    "valueCodeableConcept": CONCEPT,
    "valueString": STR,
    "valueRatio": {"numerator": QUANTITY, "denominator": QUANTITY},
    "valueInteger": JSON,
    "valueBoolean": JSON,
    "valueRange": JSON,
    "valueSampledData": JSON,
    "valueTime": JSON,
    "valueDateTime": JSON,
    "valuePeriod": JSON,
}
VALUE_TYPES = tuple(VALUE)
EXTENSION: Shape = {
    "url": STR,
    "valueCode": STR,
    "valueString": STR,
    "valueCoding": CODING,
    "valueQuantity": QUANTITY,
    "valueDecimal": JSON,
    "valueInteger": JSON,
}

RESOURCE: dict[str, Shape] = {
    "resourceType": STR,
    "id": STR,
    "meta": {"versionId": STR},
    "extension": [EXTENSION],
    "identifier": [IDENTIFIER],
    "status": STR,
    "code": CONCEPT,
    "subject": REFERENCE,
    "specimen": JSON,  # Observation: a Reference; DiagnosticReport: a list of them
    "effectiveDateTime": STR,
    "effectivePeriod": {"start": STR},
    "effectiveInstant": STR,
    "issued": STR,
    "performer": [REFERENCE],
    **VALUE,
    "dataAbsentReason": CONCEPT,
    "interpretation": [CONCEPT],
    "method": CONCEPT,
    "bodySite": JSON,  # an Observation's is one concept; a Condition's or Procedure's a list
    "device": REFERENCE,
    "component": [{"code": CONCEPT, **VALUE, "dataAbsentReason": CONCEPT}],
    "hasMember": [REFERENCE],
    "derivedFrom": [REFERENCE],
    # Specimen
    "accessionIdentifier": IDENTIFIER,
    "collection": {
        "collectedDateTime": STR,
        "collectedPeriod": {"start": STR},
        "bodySite": CONCEPT,
    },
    # Patient (name: a list of HumanName; an Organization's name is text)
    "name": JSON,
    "birthDate": STR,
    # DiagnosticReport
    "result": [REFERENCE],
    "resultsInterpreter": [REFERENCE],
    # what sends a file to the fallback reader: resources inside resources
    "contained": JSON,
    "entry": JSON,
}
ENTRY: dict[str, Shape] = {
    "fullUrl": STR,
    "resource": RESOURCE,
    "request": {"method": STR, "url": STR},
}


def duckdb_type(shape: Shape) -> str:
    """The DuckDB type of a shape (``STRUCT(...)``, ``...[]``, a leaf)."""
    if isinstance(shape, str):
        return shape
    if isinstance(shape, list):
        return f"{duckdb_type(shape[0])}[]"
    fields = ", ".join(f'"{name}" {duckdb_type(sub)}' for name, sub in shape.items())
    return f"STRUCT({fields})"


def mismatch(value: object, shape: Shape, path: str = "") -> str | None:
    """The first element of ``value`` whose JSON kind DuckDB cannot read as ``shape``
    (an object where a list is expected, or the reverse), as a path; None when it fits.
    Never the value itself (it may be a patient's)."""
    if value is None or isinstance(shape, str):
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{path or 'the resource'} is not a list"
        for i, item in enumerate(value):
            found = mismatch(item, shape[0], f"{path}[{i}]")
            if found:
                return found
        return None
    if not isinstance(value, dict):
        return f"{path or 'the resource'} is not an object"
    for name, sub in shape.items():
        if name in value:
            found = mismatch(value[name], sub, f"{path}.{name}" if path else name)
            if found:
                return found
    return None
