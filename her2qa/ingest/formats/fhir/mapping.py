"""The resources of one file (table ``res``, see ``load``) -> one row per item, in SQL.

An item is an Observation that is not part of another one's result, a DiagnosticReport
none of whose results is in the file, or an entry without a resource. Each item is one
row: a result (the contract's text columns) or a reason why it carries none.

How an Observation becomes a row (docs/formats/fhir.md has the full table):

1. Its code's codings are looked up in the code map (``codes.CodeMap``): a HER2 code says
   which column the Observation's value carries (``ihc_score``, ``ish_ratio``,
   ``reported_result``, ...) and which columns it sets (``assay=ISH``).
2. Its value, its components (each a code and a value of its own), its interpretation, its
   method and its extensions give *facts*: (column, value) pairs, or a *misfit* when a value
   does not fit its code (a quantity where a coded call is expected, a number in a presence
   code, a unit that is not the code's). A misfit is never repaired: the item is quarantined
   with it.
3. ``hasMember`` and ``derivedFrom`` link results: an Observation whose linked HER2
   Observations all belong to one assay takes their facts into its own row (a panel and its
   members are one result); links across assays are left as separate rows.
4. Context columns come from the resources the Observation refers to, resolved inside the
   file: Patient (MRN, name, birth date: PHI columns, keyed or dropped by the raw layer),
   Specimen (accession, collection date, owning lab as the accession's assigner, site,
   role, times), the DiagnosticReport that lists it (accession, lab, report date),
   performers (performing lab, pathologist).
5. Two different values for one column, two assays in one item, no assay, or no value
   at all: the item is a row with that reason.

Reasons name the place (``Observation 'abc' (entry 5)``) and codes, never a patient's value:
an id or code is quoted only when it looks like one and equals no identifier of the file's
patients.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from her2qa.ingest.formats.fhir import codes as fc
from her2qa.ingest.formats.fhir import schema
from schemas import contract

_REF = schema.duckdb_type(schema.REFERENCE)
_NAMES = "STRUCT(text VARCHAR, family VARCHAR, given VARCHAR[])[]"
_CONCEPT = schema.duckdb_type(schema.CONCEPT)
_OK_STATUS = "('final', 'amended', 'corrected')"
# Units a count, a ratio or a count per nucleus may carry (UCUM annotations, "#", "1").
_COUNT_UNIT = r"1|#|\{[^}]*\}|(\{[^}]*\}|#|1)?/\{?(nucleus|nuclei|cell|cells)\}?"
_CELL_UNIT = r"1|#|\{[^}]*\}"


def _other_value(alias: str) -> str:
    """SQL naming the first value[x] of a type the mapping never reads (a misfit)."""
    parts = [
        f"CASE WHEN {alias}.{name} IS NOT NULL THEN '{name}' END"
        for name in schema.VALUE_TYPES
        if name
        not in (
            "valueQuantity",
            "valueCodeableConcept",
            "valueString",
            "valueRatio",
            "valueInteger",
        )
    ]
    return f"coalesce({', '.join(parts)})"


def _code_words(alias: str) -> str:
    """SQL for "LOINC 85318-4" / "code X" / "its code" of a value row."""
    return f"CASE WHEN safe_code({alias}.code) THEN 'code ' || {alias}.code ELSE 'its code' END"


def _unit_fits(column: str, unit: str) -> str:
    return (
        f"(nullif({unit}, '') IS NULL OR CASE {column} "
        f"WHEN 'ihc_pct_stained' THEN {unit} = '%' "
        f"WHEN 'ish_cells_counted' THEN regexp_full_match({unit}, '{_CELL_UNIT}') "
        f"WHEN 'ish_her2_per_cell' THEN regexp_full_match({unit}, '{_COUNT_UNIT}') "
        f"WHEN 'ish_cep17_per_cell' THEN regexp_full_match({unit}, '{_COUNT_UNIT}') "
        f"WHEN 'ish_ratio' THEN regexp_full_match({unit}, '{_CELL_UNIT}') "
        f"ELSE true END)"
    )


def _meaning_table(con: duckdb.DuckDBPyConnection, code_map: fc.CodeMap) -> None:
    """The code map as the table ``meaning`` (system NULL: any system), and the macros."""
    rows = []
    for (system, code), m in code_map.exact.items():
        rows.append((system, code, m.carries, [{"col": c, "val": v} for c, v in m.sets]))
    for code, m in code_map.any_system.items():
        rows.append((None, code, m.carries, [{"col": c, "val": v} for c, v in m.sets]))
    table = pa.table(
        {
            "system": pa.array([r[0] for r in rows], pa.string()),
            "code": pa.array([r[1] for r in rows], pa.string()),
            "carries": pa.array([r[2] for r in rows], pa.string()),
            "sets": pa.array(
                [r[3] for r in rows],
                pa.list_(pa.struct([("col", pa.string()), ("val", pa.string())])),
            ),
        }
    )
    con.register("meaning_in", table)
    con.execute("CREATE TABLE meaning AS SELECT * FROM meaning_in")
    con.unregister("meaning_in")
    numeric = ", ".join(f"'{c}'" for c in sorted(fc.NUMERIC))
    con.execute(
        f"""
        CREATE MACRO numeric_col(c) AS c IN ({numeric});
        CREATE MACRO assay_of(c) AS CASE WHEN starts_with(c, 'ihc_') THEN 'IHC'
                                         WHEN starts_with(c, 'ish_') THEN 'ISH' END;
        CREATE MACRO date_part_of(x) AS CASE
            WHEN regexp_matches(x, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T') THEN x[1:10] ELSE x END;
        CREATE MACRO json_number(j) AS json_type(j) IN ('DOUBLE', 'UBIGINT', 'BIGINT', 'HUGEINT');
        """
    )


# Each statement builds one table; together they are the mapping (run in order).
_STATEMENTS: tuple[str, ...] = (
    # -- one narrow view per kind of resource read (scans read only the fields they use)
    """
    CREATE VIEW kind AS
    SELECT pos, label, parent, full_url, method, r.resourceType AS rtype, r.id AS rid,
           r IS NULL AS empty
    FROM res
    """,
    f"""
    CREATE VIEW obs AS
    SELECT pos, r.id AS id, r.status AS status, r.meta.versionId AS version,
           r.identifier AS identifier, r.extension AS extension, r.code AS code,
           r.subject AS subject, r.specimen AS specimen, r.performer AS performer,
           r.effectiveDateTime AS effective_dt, r.effectivePeriod.start AS effective_start,
           r.effectiveInstant AS effective_instant, r.issued AS issued,
           {", ".join(f"r.{name} AS {name}" for name in schema.VALUE_TYPES)},
           r.dataAbsentReason AS absent, r.interpretation AS interpretation,
           r.method AS method, r.bodySite AS body_site, r.device AS device,
           r.component AS component, r.hasMember AS has_member, r.derivedFrom AS derived_from
    FROM res WHERE r.resourceType = 'Observation'
    """,  # noqa: S608 - our names and constants
    """
    CREATE VIEW spec AS
    SELECT pos, r.accessionIdentifier AS accession, r.collection AS collection,
           r.subject AS subject, r.extension AS extension
    FROM res WHERE r.resourceType = 'Specimen'
    """,
    """
    CREATE VIEW report AS
    SELECT pos, r.identifier AS identifier, r.result AS result, r.issued AS issued,
           r.effectiveDateTime AS effective_dt, r.effectivePeriod.start AS effective_start,
           r.performer AS performer, r.resultsInterpreter AS interpreter,
           r.specimen AS specimen, r.subject AS subject
    FROM res WHERE r.resourceType = 'DiagnosticReport'
    """,
    """
    CREATE VIEW person AS
    SELECT pos, r.resourceType AS rtype, r.identifier AS identifier, r.name AS name,
           r.birthDate AS birth_date
    FROM res
    WHERE r.resourceType IN ('Patient', 'Organization', 'Practitioner', 'PractitionerRole')
    """,
    # -- the keys a reference may use for each resource
    """
    CREATE TABLE res_key AS
    SELECT key, scope, min(pos) AS pos FROM (
        SELECT full_url AS key, NULL::BIGINT AS scope, pos FROM kind
            WHERE full_url IS NOT NULL AND parent IS NULL
        UNION ALL
        SELECT rtype || '/' || rid, NULL, pos FROM kind
            WHERE rid IS NOT NULL AND rtype IS NOT NULL AND parent IS NULL
        UNION ALL
        SELECT '#' || rid, parent, pos FROM kind WHERE parent IS NOT NULL AND rid IS NOT NULL
    ) GROUP BY key, scope
    """,
    # -- every reference the mapping follows, with the referring resource and its role
    f"""
    CREATE TABLE refs AS
    SELECT f.pos, coalesce(k.parent, f.pos) AS scope, f.role, f.ord, f.ref
    FROM (
        SELECT pos, 'subject' AS role, 1 AS ord, subject AS ref FROM obs
            WHERE subject IS NOT NULL
        UNION ALL SELECT pos, 'subject', 1, subject FROM spec WHERE subject IS NOT NULL
        UNION ALL SELECT pos, 'subject', 1, subject FROM report WHERE subject IS NOT NULL
        UNION ALL SELECT pos, 'assigner', 1, accession.assigner FROM spec
            WHERE accession.assigner IS NOT NULL
        UNION ALL SELECT pos, 'specimen', 1, try_cast(specimen AS {_REF}) FROM obs
            WHERE json_type(specimen) = 'OBJECT'
        UNION ALL SELECT pos, 'specimen', 1, try_cast(specimen AS {_REF}[])[1] FROM report
            WHERE json_type(specimen) = 'ARRAY'
        UNION ALL SELECT pos, 'performer', generate_subscripts(performer, 1), unnest(performer)
            FROM obs WHERE performer IS NOT NULL
        UNION ALL SELECT pos, 'performer', generate_subscripts(performer, 1), unnest(performer)
            FROM report WHERE performer IS NOT NULL
        UNION ALL SELECT pos, 'interpreter', generate_subscripts(interpreter, 1),
                         unnest(interpreter)
            FROM report WHERE interpreter IS NOT NULL
        UNION ALL SELECT pos, 'result', generate_subscripts(result, 1), unnest(result)
            FROM report WHERE result IS NOT NULL
        UNION ALL SELECT pos, 'member', generate_subscripts(has_member, 1), unnest(has_member)
            FROM obs WHERE has_member IS NOT NULL
        UNION ALL SELECT pos, 'member', 1000 + generate_subscripts(derived_from, 1),
                         unnest(derived_from)
            FROM obs WHERE derived_from IS NOT NULL
    ) AS f JOIN kind AS k USING (pos)
    """,  # noqa: S608 - our names and constants
    # a reference resolves by fullUrl, by Type/id (also as the tail of an absolute or
    # versioned URL), or to a contained resource of the same container (#id)
    r"""
    CREATE TABLE resolved AS
    WITH direct AS (
        SELECT f.*, k.pos AS target FROM refs AS f
        LEFT JOIN res_key AS k
            ON k.key = f.ref.reference
           AND (CASE WHEN starts_with(f.ref.reference, '#') THEN k.scope = f.scope
                     ELSE k.scope IS NULL END)
    ), tail AS (  -- (only the references not found as written: an absolute or versioned URL)
        SELECT d.pos, d.role, d.ord, k.pos AS target
        FROM direct AS d JOIN res_key AS k
            ON k.scope IS NULL
           AND k.key = regexp_extract(d.ref.reference,
                   '([A-Za-z]+/[A-Za-z0-9.-]{1,64})(/_history/[^/]+)?$', 1)
        WHERE d.target IS NULL AND d.ref.reference IS NOT NULL
    )
    SELECT d.pos, d.role, d.ord, d.ref,
           coalesce(d.target, t2.target) AS target,
           coalesce(t.rtype, d.ref.type,
                    regexp_extract(d.ref.reference,
                        '(^|/)(Organization|Practitioner|PractitionerRole|Patient|Specimen)/', 2)
           ) AS target_type
    FROM direct AS d
    LEFT JOIN tail AS t2 USING (pos, role, ord)
    LEFT JOIN kind AS t ON t.pos = coalesce(d.target, t2.target)
    """,
    # -- the patients' identifiers: never quoted in a reason
    f"""
    CREATE TABLE phi AS
    WITH p AS (SELECT identifier, name, birth_date FROM person WHERE rtype = 'Patient'),
    names AS (SELECT unnest(try_cast(name AS {_NAMES})) AS n FROM p)
    SELECT DISTINCT v FROM (
        SELECT unnest(identifier).value AS v FROM p
        UNION ALL SELECT birth_date FROM p
        UNION ALL SELECT unnest(string_split(n.text, ' ')) FROM names
        UNION ALL SELECT n.family FROM names
        UNION ALL SELECT unnest(n.given) FROM names
    ) WHERE v IS NOT NULL AND length(v) >= 2
    """,  # noqa: S608 - our names and constants
    # a code, unit or status is quoted in a reason only when it looks like one and is no
    # patient identifier
    """
    CREATE MACRO safe_code(x) AS regexp_full_match(x, '[A-Za-z0-9._:-]{1,40}')
        AND x NOT IN (SELECT v FROM phi);
    CREATE MACRO safe_unit(x) AS regexp_full_match(x, '[A-Za-z0-9{}/%.#*^\\[\\]-]{1,20}')
        AND x NOT IN (SELECT v FROM phi);
    """,
    # how an item is named in a reason: its id when it looks like one and is no identifier
    """
    CREATE TABLE named AS
    SELECT pos,
           CASE WHEN regexp_full_match(rid, '[A-Za-z0-9.-]{1,64}')
                     AND rid NOT IN (SELECT v FROM phi)
                THEN rtype || ' ''' || rid || ''' (' || label || ')'
                ELSE coalesce(rtype, 'resource') || ' at ' || label END AS name
    FROM kind
    """,
    # -- what each Observation's code means
    """
    CREATE TABLE obs_coding AS
    WITH c AS (
        SELECT pos, unnest(code.coding) AS x, generate_subscripts(code.coding, 1) AS ord
        FROM obs WHERE code.coding IS NOT NULL
    )
    SELECT c.pos, c.ord, c.x.system AS system, c.x.code AS code,
           coalesce(me.carries, ma.carries) AS carries,
           CASE WHEN me.code IS NOT NULL THEN me.sets ELSE ma.sets END AS sets,
           (me.code IS NOT NULL OR ma.code IS NOT NULL) AS mapped
    FROM c
    LEFT JOIN meaning AS me ON me.system = c.x.system AND me.code = c.x.code
    LEFT JOIN meaning AS ma ON ma.system IS NULL AND ma.code = c.x.code
    """,
    """
    CREATE TABLE obs_code AS
    SELECT o.pos,
           coalesce(bool_or(c.mapped), false) AS her2,
           list_distinct(list(c.carries) FILTER (WHERE c.carries IS NOT NULL)) AS carried,
           flatten(list(c.sets) FILTER (WHERE c.sets IS NOT NULL)) AS sets,
           arg_min(c.system, c.ord) AS first_system,
           arg_min(c.code, c.ord) AS first_code
    FROM obs AS o LEFT JOIN obs_coding AS c USING (pos)
    GROUP BY o.pos
    """,
    # -- the mapped codings of every other coded thing read: component codes, coded
    #    values, interpretations, methods
    """
    CREATE TABLE comp AS
    SELECT pos, unnest(component) AS c, generate_subscripts(component, 1) AS k
    FROM obs WHERE component IS NOT NULL
    """,
    """
    CREATE TABLE coded AS
    WITH concept(pos, k, what, cc) AS (
        SELECT pos, k, 'code', c.code FROM comp
        UNION ALL SELECT pos, 0, 'value', valueCodeableConcept FROM obs
            WHERE valueCodeableConcept IS NOT NULL
        UNION ALL SELECT pos, k, 'value', c.valueCodeableConcept FROM comp
            WHERE c.valueCodeableConcept IS NOT NULL
        UNION ALL SELECT pos, 0, 'method', method FROM obs WHERE method IS NOT NULL
        UNION ALL SELECT pos, 100 + generate_subscripts(interpretation, 1), 'interpretation',
                         unnest(interpretation) FROM obs WHERE interpretation IS NOT NULL
    ), coding AS (
        SELECT pos, k, what, unnest(cc.coding) AS x, generate_subscripts(cc.coding, 1) AS ord
        FROM concept WHERE cc.coding IS NOT NULL
    )
    SELECT c.pos, c.k, c.what, c.ord, c.x.system AS system, c.x.code AS code,
           coalesce(me.carries, ma.carries) AS carries,
           CASE WHEN me.code IS NOT NULL THEN me.sets ELSE ma.sets END AS sets,
           (me.code IS NOT NULL OR ma.code IS NOT NULL) AS mapped
    FROM coding AS c
    LEFT JOIN meaning AS me ON me.system = c.x.system AND me.code = c.x.code
    LEFT JOIN meaning AS ma ON ma.system IS NULL AND ma.code = c.x.code
    """,
    # a component is read when one of its codings is mapped (the first mapped one counts)
    """
    CREATE TABLE comp_code AS
    SELECT pos, k,
           arg_min(carries, ord) FILTER (WHERE mapped) AS carries,
           arg_min(sets, ord) FILTER (WHERE mapped) AS sets,
           coalesce(arg_min(code, ord) FILTER (WHERE mapped), arg_min(code, ord)) AS code
    FROM coded WHERE what = 'code'
    GROUP BY pos, k
    """,
    # -- each value to read: the Observation's own and each mapped component's
    f"""
    CREATE TABLE vals AS
    SELECT o.pos, 0 AS k, 'its value' AS src,
           CASE WHEN len(oc.carried) = 1 THEN oc.carried[1] END AS carries,
           oc.first_code AS code,
           o.valueQuantity AS vq, o.valueCodeableConcept AS vcc, o.valueString AS vs,
           o.valueRatio AS vr, o.valueInteger AS vi,
           {_other_value("o")} AS other
    FROM obs AS o JOIN obs_code AS oc USING (pos)
    UNION ALL
    SELECT comp.pos, comp.k,
           'component ' || CASE WHEN safe_code(cc.code) THEN cc.code ELSE '#' || comp.k END,
           cc.carries, cc.code,
           comp.c.valueQuantity, comp.c.valueCodeableConcept, comp.c.valueString,
           comp.c.valueRatio, comp.c.valueInteger,
           {_other_value("comp.c")}
    FROM comp JOIN comp_code AS cc USING (pos, k)
    WHERE cc.carries IS NOT NULL OR len(cc.sets) > 0
    """,  # noqa: S608 - our names and constants
    """
    CREATE TABLE answered AS
    SELECT DISTINCT pos, k FROM coded WHERE what = 'value' AND mapped AND len(sets) > 0
    """,
    # -- facts: (column, value), or a misfit: what does not fit its code is never repaired
    rf"""
    CREATE TABLE facts AS
    -- the columns set by a mapped coding: the Observation's code, a component's code, a
    -- coded value (an answer), an interpretation, a method
    SELECT pos, 0 AS k, 'its code' AS src, s.col, s.val, NULL AS misfit
    FROM (SELECT pos, unnest(sets) AS s FROM obs_code WHERE len(sets) > 0)
    UNION ALL
    SELECT c.pos, c.k, CASE c.what WHEN 'code' THEN v.src || ' code'
                                   WHEN 'value' THEN v.src ELSE c.what END, s.col, s.val, NULL
    FROM (SELECT pos, k, what, unnest(sets) AS s FROM coded
          WHERE mapped AND len(sets) > 0) AS c
    LEFT JOIN vals AS v ON v.pos = c.pos AND v.k = c.k
    -- (a component is read when its code is mapped: the answers of others are not facts)
    WHERE c.what IN ('method', 'interpretation') OR v.pos IS NOT NULL
    UNION ALL
    -- the assay a carried column implies
    SELECT pos, k, src, 'assay', assay_of(carries), NULL FROM vals
    WHERE assay_of(carries) IS NOT NULL
    UNION ALL
    -- the value itself, by its type and the column it goes to
    SELECT v.pos, v.k, v.src, v.carries,
        CASE
            WHEN v.other IS NOT NULL THEN NULL
            WHEN v.vq IS NOT NULL AND numeric_col(v.carries) AND json_number(v.vq.value)
                 AND v.vq.comparator IS NULL
                 AND {_unit_fits("v.carries", "coalesce(v.vq.code, v.vq.unit)")}
                THEN v.vq.value::VARCHAR
            WHEN v.vi IS NOT NULL AND numeric_col(v.carries) AND json_number(v.vi)
                THEN v.vi::VARCHAR
            WHEN v.vr IS NOT NULL AND v.carries = 'ish_ratio'
                 AND json_number(v.vr.numerator.value)
                 AND (v.vr.denominator.value IS NULL
                      OR json_number(v.vr.denominator.value)
                         AND v.vr.denominator.value::DOUBLE = 1)
                THEN v.vr.numerator.value::VARCHAR
            WHEN v.vr IS NOT NULL AND v.carries = 'ish_ratio'
                 AND json_number(v.vr.numerator.value)
                 AND json_number(v.vr.denominator.value)
                 AND v.vr.denominator.value::DOUBLE <> 0
                THEN round(v.vr.numerator.value::DOUBLE
                           / v.vr.denominator.value::DOUBLE, 6)::VARCHAR
            WHEN v.vs IS NOT NULL AND v.carries IS NOT NULL
                 AND (v.carries <> 'reported_result' OR NOT regexp_matches(v.vs, '[0-9]'))
                THEN v.vs
            WHEN v.vcc IS NOT NULL AND v.carries IS NOT NULL AND NOT numeric_col(v.carries)
                 AND a.pos IS NULL
                THEN coalesce(v.vcc.text, v.vcc.coding[1].display, v.vcc.coding[1].code)
        END,
        CASE
            WHEN v.other IS NOT NULL
                THEN 'its ' || v.other || ' does not fit ' || {_code_words("v")}
            WHEN v.vq IS NOT NULL AND NOT numeric_col(v.carries)
                THEN 'a quantity does not fit ' || {_code_words("v")}
                     || coalesce(' (a coded ' || replace(v.carries, '_', ' ') || ' is expected)',
                                 ' (the code carries no value)')
            WHEN v.vq IS NOT NULL AND NOT json_number(v.vq.value)
                THEN {_code_words("v")} || ' has a quantity without a number'
            WHEN v.vq IS NOT NULL AND v.vq.comparator IS NOT NULL
                THEN {_code_words("v")} || ' has a quantity with a comparator (<, >): '
                     || 'not a measured value'
            WHEN v.vq IS NOT NULL
                 AND NOT {_unit_fits("v.carries", "coalesce(v.vq.code, v.vq.unit)")}
                THEN 'the unit ' || CASE WHEN safe_unit(coalesce(v.vq.code, v.vq.unit))
                     THEN '''' || coalesce(v.vq.code, v.vq.unit) || ''' ' ELSE '' END
                     || 'does not fit ' || {_code_words("v")} || ' (' ||
                     CASE WHEN v.carries = 'ihc_pct_stained' THEN 'a percentage'
                          WHEN v.carries = 'ish_cells_counted' THEN 'a count of nuclei'
                          WHEN v.carries = 'ish_ratio' THEN 'a ratio'
                          ELSE 'a count per nucleus' END || ')'
            WHEN v.vi IS NOT NULL AND NOT (numeric_col(v.carries) AND json_number(v.vi))
                THEN 'an integer does not fit ' || {_code_words("v")}
            WHEN v.vr IS NOT NULL AND v.carries IS DISTINCT FROM 'ish_ratio'
                THEN 'a ratio does not fit ' || {_code_words("v")}
            WHEN v.vr IS NOT NULL AND NOT (json_number(v.vr.numerator.value)
                 AND (v.vr.denominator.value IS NULL OR json_number(v.vr.denominator.value)
                      AND v.vr.denominator.value::DOUBLE <> 0))
                THEN {_code_words("v")} || ' has a ratio without a usable numerator and '
                     || 'denominator'
            WHEN v.vs IS NOT NULL AND v.carries = 'reported_result'
                 AND regexp_matches(v.vs, '[0-9]')
                THEN {_code_words("v")} || ' is a presence or status code (a call: '
                     || 'positive, negative, ...) but its text value holds a number '
                     || '(a ratio or a count?): not guessed'
            WHEN v.vs IS NOT NULL AND v.carries IS NULL
                THEN 'a text value does not fit ' || {_code_words("v")}
                     || ' (the code carries no value)'
            WHEN v.vcc IS NOT NULL AND numeric_col(v.carries)
                THEN 'a coded value does not fit ' || {_code_words("v")}
                     || ' (a number is expected)'
            WHEN v.vcc IS NOT NULL AND v.carries IS NULL AND a.pos IS NULL
                THEN 'the coded value of ' || {_code_words("v")} || ' is not in the code map'
        END
    FROM vals AS v LEFT JOIN answered AS a ON a.pos = v.pos AND a.k = v.k
    WHERE v.vq IS NOT NULL OR v.vi IS NOT NULL OR v.vr IS NOT NULL OR v.vs IS NOT NULL
       OR v.vcc IS NOT NULL OR v.other IS NOT NULL
    UNION ALL
    -- an interpretation none of whose codings is mapped: its words are the reported call
    SELECT o.pos, 100 + o.j, 'interpretation', 'reported_result',
           coalesce(o.i.text, o.i.coding[1].display, o.i.coding[1].code), NULL
    FROM (SELECT pos, unnest(interpretation) AS i, generate_subscripts(interpretation, 1) AS j
          FROM obs WHERE interpretation IS NOT NULL) AS o
    ANTI JOIN (SELECT pos, k FROM coded
               WHERE what = 'interpretation' AND mapped AND len(sets) > 0) AS c
        ON c.pos = o.pos AND c.k = 100 + o.j
    WHERE coalesce(o.i.text, o.i.coding[1].display, o.i.coding[1].code) IS NOT NULL
    UNION ALL
    -- her2qa's extensions on the Observation
    SELECT pos, 300, 'extension', CASE e.url
               WHEN '{fc.EXT_TEST_PURPOSE}' THEN 'test_purpose'
               WHEN '{fc.EXT_EXPECTED_RESULT}' THEN 'expected_result' END,
           coalesce(e.valueCode, e.valueString, e.valueCoding.code), NULL
    FROM (SELECT pos, unnest(extension) AS e FROM obs WHERE extension IS NOT NULL)
    WHERE e.url IN ('{fc.EXT_TEST_PURPOSE}', '{fc.EXT_EXPECTED_RESULT}')
    """,  # noqa: S608 - our names and constants
    # -- links between HER2 results: a root takes its linked results when one assay is read
    """
    CREATE TABLE edge AS
    SELECT DISTINCT rv.pos AS parent, rv.target AS child
    FROM resolved AS rv
    JOIN obs_code AS a ON a.pos = rv.pos AND a.her2
    JOIN obs_code AS b ON b.pos = rv.target AND b.her2
    WHERE rv.role = 'member' AND rv.target <> rv.pos
    """,
    """
    CREATE TABLE member_of AS
    WITH RECURSIVE roots AS (
        SELECT DISTINCT parent AS root FROM edge
        WHERE parent NOT IN (SELECT child FROM edge)
    ), reach(root, node, depth) AS (
        SELECT root, root, 0 FROM roots
        UNION
        SELECT reach.root, edge.child, depth + 1
        FROM reach JOIN edge ON edge.parent = reach.node WHERE depth < 8
    ), assays AS (
        SELECT reach.root, count(DISTINCT upper(f.val)) AS n
        FROM reach LEFT JOIN facts AS f ON f.pos = reach.node AND f.col = 'assay'
        GROUP BY reach.root
    )
    SELECT node AS pos, min(reach.root) AS root
    FROM reach JOIN assays USING (root)
    WHERE assays.n <= 1 AND node <> reach.root
    GROUP BY node
    """,
    """
    CREATE TABLE item_fact AS
    SELECT coalesce(m.root, f.pos) AS item, f.pos, f.k, f.src, f.col, f.val, f.misfit
    FROM facts AS f LEFT JOIN member_of AS m USING (pos)
    """,
    # -- the context of each Observation, from what it refers to
    """
    CREATE TABLE pick AS
    SELECT pos, role,
           arg_min(target, ord) FILTER (WHERE target IS NOT NULL) AS target,
           arg_min(ref.identifier.value, ord) AS ident,
           arg_min(ref.identifier.value, ord)
               FILTER (WHERE target_type = 'Organization') AS org_ident,
           arg_min(target, ord) FILTER (WHERE target_type = 'Organization') AS org,
           arg_min(ref.identifier.value, ord)
               FILTER (WHERE target_type IN ('Practitioner', 'PractitionerRole')) AS prac_ident,
           arg_min(target, ord)
               FILTER (WHERE target_type IN ('Practitioner', 'PractitionerRole')) AS prac
    FROM resolved GROUP BY pos, role
    """,
    """
    CREATE TABLE report_of AS
    SELECT target AS pos, min(pos) AS report FROM resolved
    WHERE role = 'result' AND target IS NOT NULL GROUP BY target
    """,
    # the first identifier value of a resource (for a Patient: the one typed MR, if any)
    """
    CREATE TABLE ident AS
    WITH i AS (
        SELECT pos, unnest(identifier) AS x, generate_subscripts(identifier, 1) AS ord
        FROM (SELECT pos, identifier FROM obs UNION ALL SELECT pos, identifier FROM report
              UNION ALL SELECT pos, identifier FROM person)
        WHERE identifier IS NOT NULL
    )
    SELECT pos,
           arg_min(x.value, ord) FILTER (WHERE x.value IS NOT NULL) AS first_value,
           arg_min(x.value, ord) FILTER (
               WHERE list_contains(list_transform(x.type.coding, lambda c: c.code), 'MR')
           ) AS mr_value,
           count(x.value) AS n_values
    FROM i GROUP BY pos
    """,
    f"""
    CREATE TABLE ctx AS
    SELECT o.pos,
        o.status,
        coalesce(oi.first_value, o.id) AS test_id,
        o.version AS result_version,
        coalesce(sp.target, rsp.target) AS specimen,
        rep.report AS report,
        coalesce(pat.target, spat.target, rpat.target) AS patient,
        CASE WHEN coalesce(pat.target, spat.target, rpat.target) IS NULL
             THEN coalesce(pat.ident, spat.ident, rpat.ident) END AS logical_mrn,
        coalesce(perf.org_ident, orgi.first_value) AS performing_lab,
        coalesce(perf.prac_ident, praci.first_value,
                 rint.prac_ident, rpraci.first_value) AS pathologist_id,
        o.device.display AS assay_kit,
        date_part_of(coalesce(o.effective_dt, o.effective_start, o.effective_instant))
            AS effective,
        date_part_of(o.issued) AS issued,
        coalesce(try_cast(o.body_site AS {_CONCEPT}).text,
                 try_cast(o.body_site AS {_CONCEPT}).coding[1].display) AS body_site,
        o.absent.coding[1].code AS absent_code
    FROM obs AS o
    LEFT JOIN ident AS oi ON oi.pos = o.pos
    LEFT JOIN pick AS sp ON sp.pos = o.pos AND sp.role = 'specimen'
    LEFT JOIN report_of AS rep ON rep.pos = o.pos
    LEFT JOIN pick AS rsp ON rsp.pos = rep.report AND rsp.role = 'specimen'
    LEFT JOIN pick AS pat ON pat.pos = o.pos AND pat.role = 'subject'
    LEFT JOIN pick AS spat ON spat.pos = coalesce(sp.target, rsp.target) AND spat.role = 'subject'
    LEFT JOIN pick AS rpat ON rpat.pos = rep.report AND rpat.role = 'subject'
    LEFT JOIN pick AS perf ON perf.pos = o.pos AND perf.role = 'performer'
    LEFT JOIN ident AS orgi ON orgi.pos = perf.org
    LEFT JOIN ident AS praci ON praci.pos = perf.prac
    LEFT JOIN pick AS rint ON rint.pos = rep.report AND rint.role = 'interpreter'
    LEFT JOIN ident AS rpraci ON rpraci.pos = rint.prac
    """,  # noqa: S608 - our names and constants
    f"""
    CREATE TABLE specimen_ctx AS
    WITH s AS (
        SELECT pos, accession, collection,
               list_filter(extension, lambda e: e.url = '{fc.EXT_SPECIMEN_ROLE}')[1] AS role,
               list_filter(extension, lambda e: e.url = '{fc.EXT_COLD_ISCHEMIA}')[1] AS cold,
               list_filter(extension, lambda e: e.url = '{fc.EXT_FIXATION}')[1] AS fixation
        FROM spec
    )
    SELECT s.pos,
        s.accession.value AS accession_id,
        coalesce(asg.org_ident, asg.ident, asgi.first_value) AS lab_id,
        date_part_of(coalesce(s.collection.collectedDateTime,
                              s.collection.collectedPeriod.start)) AS collected,
        coalesce(s.collection.bodySite.text,
                 s.collection.bodySite.coding[1].display) AS body_site,
        coalesce(s.role.valueCode, s.role.valueString, s.role.valueCoding.code) AS specimen_role,
        s.cold, s.fixation
    FROM s
    LEFT JOIN pick AS asg ON asg.pos = s.pos AND asg.role = 'assigner'
    LEFT JOIN ident AS asgi ON asgi.pos = asg.target
    """,  # noqa: S608 - our names and constants
    """
    CREATE TABLE report_ctx AS
    SELECT d.pos, di.first_value AS accession_id,
           coalesce(perf.org_ident, orgi.first_value) AS lab_id,
           date_part_of(d.issued) AS issued,
           date_part_of(coalesce(d.effective_dt, d.effective_start)) AS effective
    FROM report AS d
    LEFT JOIN ident AS di ON di.pos = d.pos
    LEFT JOIN pick AS perf ON perf.pos = d.pos AND perf.role = 'performer'
    LEFT JOIN ident AS orgi ON orgi.pos = perf.org
    """,
    f"""
    CREATE TABLE patient_ctx AS
    SELECT p.pos,
           CASE WHEN pi.mr_value IS NOT NULL THEN pi.mr_value
                WHEN pi.n_values = 1 THEN pi.first_value END AS patient_mrn,
           coalesce(pi.n_values, 0) AS n_identifiers,
           coalesce(p.n.text, nullif(concat_ws(' ', array_to_string(p.n.given, ' '),
                                                p.n.family), '')) AS patient_name,
           p.birth_date AS patient_dob
    FROM (SELECT pos, birth_date, try_cast(name AS {_NAMES})[1] AS n FROM person
          WHERE rtype = 'Patient') AS p
    LEFT JOIN ident AS pi USING (pos)
    """,  # noqa: S608 - our names and constants
    # the extension durations, with their unit checked (another unit is not converted)
    """
    CREATE TABLE specimen_fact AS
    WITH x AS (
        SELECT pos, 'cold_ischemia_min' AS col, 'min' AS unit, cold AS e FROM specimen_ctx
        WHERE cold IS NOT NULL
        UNION ALL
        SELECT pos, 'fixation_hours', 'h', fixation FROM specimen_ctx WHERE fixation IS NOT NULL
    ), v AS (
        SELECT pos, col, unit, e,
               coalesce(e.valueQuantity.value, e.valueDecimal, e.valueInteger) AS num,
               coalesce(e.valueQuantity.code, e.valueQuantity.unit) AS u
        FROM x
    )
    SELECT pos, col,
        CASE WHEN num IS NULL THEN e.valueString
             WHEN json_number(num) AND coalesce(u, unit) = unit THEN num::VARCHAR END AS val,
        CASE WHEN coalesce(u, unit) <> unit
             THEN 'the ' || replace(col, '_', ' ') || ' of its Specimen is in '
                  || CASE WHEN safe_unit(u) THEN '''' || u || '''' ELSE 'another unit' END
                  || ' where ''' || unit || ''' is expected (not converted)'
             WHEN num IS NOT NULL AND NOT json_number(num)
             THEN 'the ' || replace(col, '_', ' ') || ' of its Specimen is not a number'
        END AS misfit
    FROM v
    """,
)


# Contract columns a fact may give (code map, values, extensions) and, when no fact gives
# them, where the context says them.
_CONTEXT: dict[str, str] = {
    "performing_lab": "c.performing_lab",
    "pathologist_id": "c.pathologist_id",
    "assay_kit": "c.assay_kit",
    "specimen_role": "s.specimen_role",
    "specimen_site": "coalesce(s.body_site, c.body_site)",
    "cold_ischemia_min": "sc.val",
    "fixation_hours": "sf.val",
}
# Columns only the context gives (the result's identity, dates, the patient).
_IDENTITY: dict[str, str] = {
    "lab_id": "coalesce(s.lab_id, d.lab_id, $lab_id)",
    "test_id": "c.test_id",
    "result_version": "c.result_version",
    "accession_id": "coalesce(s.accession_id, d.accession_id)",
    "patient_mrn": "coalesce(p.patient_mrn, c.logical_mrn)",
    "patient_name": "p.patient_name",
    "patient_dob": "p.patient_dob",
    "collection_date": "coalesce(s.collected, c.effective, d.effective)",
    "report_date": "coalesce(c.issued, d.issued)",
}
# What makes an item a result: at least one of these.
_RESULT_VALUES = (
    "ihc_score",
    "reported_result",
    "ish_her2_per_cell",
    "ish_cep17_per_cell",
    "ish_ratio",
    "ish_cells_counted",
)


def _output_sql() -> str:
    mappable = [c for c in fc.MAPPABLE if c not in ("collection_date", "report_date")]
    picked = []
    for col in contract.NAMES:
        if col in _IDENTITY:
            picked.append(f"{_IDENTITY[col]} AS {col}")
        elif col in mappable:
            fact = f"pv.f_{col}"
            fallback = _CONTEXT.get(col)
            picked.append(
                f"coalesce({fact}, {fallback}) AS {col}" if fallback else f"{fact} AS {col}"
            )
        else:
            picked.append(f"NULL::VARCHAR AS {col}")
    has_value = " OR ".join(f"{col} IS NOT NULL" for col in _RESULT_VALUES)
    pivot = ", ".join(f"max(val) FILTER (WHERE col = '{col}') AS f_{col}" for col in mappable)
    return f"""
    CREATE TABLE out AS
    WITH item AS (
        SELECT pos FROM obs WHERE pos NOT IN (SELECT pos FROM member_of)
    ),
    -- one value per (item, column): the facts of the item and its members
    agg AS (
        SELECT item, col, arg_min(val, pos * 1000 + k) AS val,
               min(lower(trim(val))) <> max(lower(trim(val))) AS differ
        FROM item_fact WHERE col IS NOT NULL AND val IS NOT NULL
        GROUP BY item, col
    ),
    pv AS (SELECT item, {pivot} FROM agg GROUP BY item),
    misfit AS (
        SELECT item, arg_min(misfit, pos * 1000 + k) AS misfit,
               arg_min(pos, pos * 1000 + k) AS at
        FROM item_fact WHERE misfit IS NOT NULL GROUP BY item
    ),
    conflict AS (  -- (rare: the places are looked up for those only)
        SELECT item, string_agg(col || ' (' || srcs || ')', '; ' ORDER BY col) AS cols
        FROM (
            SELECT f.item, f.col, string_agg(DISTINCT f.src, ', ' ORDER BY f.src) AS srcs
            FROM item_fact AS f
            SEMI JOIN (SELECT item, col FROM agg WHERE differ AND col <> 'assay') AS d
                ON d.item = f.item AND d.col = f.col
            WHERE f.val IS NOT NULL
            GROUP BY f.item, f.col
        ) GROUP BY item
    ),
    assays AS (
        SELECT item, CASE WHEN differ THEN 2 ELSE 1 END AS n FROM agg WHERE col = 'assay'
    ),
    linked AS (  -- the assays of the results an item links to without taking them in
        SELECT e.parent AS item, count(DISTINCT upper(f.val)) AS n
        FROM edge AS e JOIN facts AS f ON f.pos = e.child AND f.col = 'assay'
        GROUP BY e.parent
    ),
    members AS (
        SELECT root AS item, list(pos ORDER BY pos) AS members FROM member_of GROUP BY root
    ),
    spec_misfit AS (
        SELECT pos, arg_min(misfit, col) AS misfit FROM specimen_fact
        WHERE misfit IS NOT NULL GROUP BY pos
    ),
    rows AS (
        SELECT i.pos,
            {", ".join(picked)},
            c.status, oc.her2, len(oc.carried) AS n_carried, oc.first_system, oc.first_code,
            m.misfit, m.at AS misfit_at, cf.cols AS conflicts, coalesce(asy.n, 0) AS n_assays,
            coalesce(lk.n, 0) AS n_linked_assays,
            spm.misfit AS specimen_misfit,
            p.n_identifiers, c.patient AS patient_pos, c.specimen AS specimen_pos,
            c.report AS report_pos, c.absent_code, mb.members
        FROM item AS i
        JOIN ctx AS c ON c.pos = i.pos
        JOIN obs_code AS oc ON oc.pos = i.pos
        LEFT JOIN pv ON pv.item = i.pos
        LEFT JOIN misfit AS m ON m.item = i.pos
        LEFT JOIN conflict AS cf ON cf.item = i.pos
        LEFT JOIN assays AS asy ON asy.item = i.pos
        LEFT JOIN members AS mb ON mb.item = i.pos
        LEFT JOIN linked AS lk ON lk.item = i.pos
        LEFT JOIN specimen_ctx AS s ON s.pos = c.specimen
        LEFT JOIN specimen_fact AS sc ON sc.pos = c.specimen AND sc.col = 'cold_ischemia_min'
        LEFT JOIN specimen_fact AS sf ON sf.pos = c.specimen AND sf.col = 'fixation_hours'
        LEFT JOIN spec_misfit AS spm ON spm.pos = c.specimen
        LEFT JOIN report_ctx AS d ON d.pos = c.report
        LEFT JOIN patient_ctx AS p ON p.pos = c.patient
    )
    SELECT rows.*,
        CASE
            WHEN status IS NULL THEN n.name || ' has no status'
            WHEN lower(status) NOT IN {_OK_STATUS} THEN n.name || ' has status '
                || CASE WHEN safe_code(status) THEN '''' || status || '''' ELSE 'unknown' END
                || CASE WHEN lower(status) IN ('preliminary', 'registered')
                        THEN ': not a final result (the final one is read when it comes)'
                        WHEN lower(status) IN ('cancelled', 'entered-in-error')
                        THEN ': no result'
                        ELSE ': not a result status' END
            WHEN NOT her2 THEN n.name || ' is not a HER2 IHC or ISH result ('
                || CASE WHEN first_code IS NULL THEN 'its code has no coding'
                        WHEN NOT safe_code(first_code) THEN 'its code is not in the code map'
                        WHEN first_system = '{fc.LOINC}' THEN 'LOINC ' || first_code
                        WHEN first_system = '{fc.SNOMED}' THEN 'SNOMED CT ' || first_code
                        ELSE 'code ' || first_code END
                || ')'
            WHEN n_carried > 1 THEN n.name || ': its codings say different things '
                || '(two codes of one Observation carry different columns)'
            WHEN misfit IS NOT NULL THEN n.name || ': '
                || CASE WHEN misfit_at <> rows.pos THEN 'its linked ' || mn.name || ': '
                        ELSE '' END || misfit
            WHEN specimen_misfit IS NOT NULL THEN n.name || ': ' || specimen_misfit
            WHEN n_assays > 1 THEN n.name || ' holds both IHC and ISH results: one row per '
                || 'assay result is needed (not split)'
            WHEN conflicts IS NOT NULL THEN n.name || ' has two different values for '
                || conflicts
            WHEN NOT ({has_value}) THEN n.name || ' carries no result value'
                || CASE WHEN safe_code(absent_code)
                        THEN ' (dataAbsentReason ' || absent_code || ')' ELSE '' END
            WHEN n_assays = 0 AND n_linked_assays > 1 THEN n.name || ' is a status over '
                || 'IHC and ISH results (each read as its own row), not one assay''s result'
            WHEN n_assays = 0 THEN n.name || ' says neither IHC nor ISH'
                || CASE WHEN first_code = '{fc.HER2_STATUS}'
                        THEN ' (a HER2 status: the assay result it comes from is not linked)'
                        ELSE '' END
            WHEN patient_mrn IS NULL AND n_identifiers > 1 THEN n.name || ': its Patient has '
                || n_identifiers || ' identifiers and none is typed MR (the MRN is not guessed)'
        END AS reason
    FROM rows JOIN named AS n ON n.pos = rows.pos
    LEFT JOIN named AS mn ON mn.pos = rows.misfit_at
    """  # noqa: S608 - column names are ours


_OTHER_ITEMS = """
    CREATE TABLE other_items AS
    SELECT k.pos,
        CASE WHEN k.empty THEN k.label || ' has no resource'
                || CASE WHEN k.method IS NOT NULL AND safe_code(k.method)
                        THEN ' (a ' || k.method || ' request is not applied)' ELSE '' END
             WHEN k.rtype IS NULL THEN k.label || ' is not a FHIR resource (no resourceType)'
             ELSE n.name || CASE WHEN len(d.result) > 0
                THEN ': none of its ' || len(d.result) || ' results is in this file'
                ELSE ' lists no result' END
                || ' (a report without its Observations carries no HER2 result)'
        END AS reason
    FROM kind AS k
    LEFT JOIN named AS n USING (pos)
    LEFT JOIN report AS d USING (pos)
    WHERE k.empty OR k.rtype IS NULL
       OR k.rtype = 'DiagnosticReport' AND NOT EXISTS (
            SELECT 1 FROM resolved AS rv JOIN obs AS t ON t.pos = rv.target
            WHERE rv.pos = k.pos AND rv.role = 'result')
"""


def run(con: duckdb.DuckDBPyConnection, code_map: fc.CodeMap, lab_id: str | None) -> pa.Table:
    """Map ``res`` (see ``load``) to items: one row per Observation item (contract text
    columns, ``reason``, and the places it was read from) plus ``other_items`` (pos,
    reason). Returns the Observation items, ordered by ``pos``."""
    _meaning_table(con, code_map)
    for statement in _STATEMENTS:
        con.execute(statement)
    con.execute(_output_sql(), {"lab_id": lab_id})
    con.execute(_OTHER_ITEMS)
    return con.sql("SELECT * FROM out ORDER BY pos").to_arrow_table()
