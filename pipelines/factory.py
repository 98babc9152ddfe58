"""Dagster definitions derived from the table catalog (warehouse/catalog.py), as PUDL builds
its assets and checks from its metadata: one asset per table, one integrity check per table
(its rules, each counted, in the check's metadata).

* ``asset_key(name)``: the asset of a warehouse table (``marts.agreement`` -> marts/agreement).
* ``mart_specs()``: one AssetSpec per catalog table of the marts and findings layers, its
  description, grain and key as metadata, its upstream tables as deps.
* ``integrity_checks(tables)``: a blocking ERROR check per table, of its rules: its key unique
  and never NULL, every rate inside [0, scale] and inside its interval, 'ALL' rows equal to
  the sum of the labs', and the table's own rules.
* ``finding_checks()``: one non-blocking WARN check per finding code of marts.findings,
  whose verdicts it reports and never recomputes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import dagster as dg
import duckdb

from pipelines.defs.resources import Her2qaPaths
from warehouse import build, catalog
from warehouse.catalog import Rule, Table

OWNERS = ["team:her2qa"]
EPS = 1e-9


def asset_key(table_name: str) -> dg.AssetKey:
    return dg.AssetKey(table_name.split("."))


def spec(table: Table, *, group: str | None = None) -> dg.AssetSpec:
    """The asset of one catalog table; scratch tables are not assets, so an upstream scratch
    table is replaced by what it reads."""
    return dg.AssetSpec(
        asset_key(table.name),
        description=f"One row per {table.grain}. {table.description}",
        deps=[asset_key(u) for u in _published_upstream(table)],
        kinds={"duckdb"},
        group_name=group or table.layer,
        owners=OWNERS,
        metadata={
            "grain": table.grain,
            "key": ", ".join(table.key) or "(none)",
            "sql": f"warehouse/sql/{table.sql}.sql",
        },
    )


def _published_upstream(table: Table) -> list[str]:
    out: list[str] = []
    for name in table.upstream:
        up = catalog.table(name)
        names = _published_upstream(up) if up.layer == "scratch" else [name]
        out += [n for n in names if n not in out]
    return out


def mart_specs() -> list[dg.AssetSpec]:
    return [spec(t) for t in catalog.build_order() if t.layer != "scratch"]


# --------------------------------------------------------------------- integrity checks
def _keys_sql(table: Table) -> str:
    cols = ", ".join(table.key)
    groups = f"SELECT 1 FROM {table.name} GROUP BY {cols} HAVING count(*) > 1"  # noqa: S608
    duplicates = f"SELECT count(*) FROM ({groups})"  # noqa: S608
    if table.counts_of:  # an additive table's key is its combination: a NULL is a value there
        return duplicates
    nulls = " OR ".join(f"{c} IS NULL" for c in table.key)
    return f"{duplicates} UNION ALL SELECT count(*) FROM {table.name} WHERE {nulls}"  # noqa: S608


def _rates_sql(table: Table) -> str:
    scale = table.rate_scale
    broken = []
    for rate in table.rates:
        values = [c for c in (rate.column, rate.low, rate.high) if c]
        broken += [f"{c} < -{EPS} OR {c} > {scale} + {EPS}" for c in values]
        if rate.low and rate.high:
            broken.append(
                f"{rate.low} > {rate.column} + {EPS} OR {rate.column} > {rate.high} + {EPS}"
            )
    where = " OR ".join(f"({b})" for b in broken)
    return f"SELECT count(*) FROM {table.name} WHERE {where}"  # noqa: S608


def _roll_up_sql(table: Table) -> str:
    dims, counts = table.roll_up or ((), ())
    group = ", ".join(dims) if dims else "()"
    using = f"USING ({', '.join(dims)})" if dims else "ON true"
    sums = ", ".join(f"sum({c}) AS {c}" for c in counts)
    # no lab rows (nothing to pair yet): the ALL row holds zeros where the sums are NULL
    differs = " OR ".join(f"coalesce(a.{c}, 0) <> coalesce(l.{c}, 0)" for c in counts)
    return (
        f"WITH l AS (SELECT {', '.join((*dims, sums))} FROM {table.name} "  # noqa: S608
        f"WHERE lab_id <> 'ALL' GROUP BY {group}) "
        f"SELECT count(*) FROM {table.name} AS a JOIN l {using} "
        f"WHERE a.lab_id = 'ALL' AND ({differs})"
    )


def _add_up_sql(table: Table) -> str:
    rows = table.counts[0]
    return (
        f"SELECT count(*) FROM (SELECT coalesce(sum({rows}), 0) AS n, min({rows}) AS least "  # noqa: S608
        f"FROM {table.name}) WHERE n <> (SELECT count(*) FROM {table.counts_of}) OR least < 1"
    )


def table_rules(table: Table) -> list[Rule]:
    """Every integrity rule of a table: derived ones first, then its own."""
    rules = []
    if table.key:
        rules.append(
            Rule(
                f"{table.short}_key_unique",
                f"One row per {' × '.join(table.key)}"
                + (" (a NULL is a value)." if table.counts_of else ", none of them NULL."),
                _keys_sql(table),
            )
        )
    if table.rates:
        rules.append(
            Rule(
                f"{table.short}_rates_within_range",
                f"Every rate and share within [0, {table.rate_scale:g}] and inside its 95% "
                "interval where it has one.",
                _rates_sql(table),
            )
        )
    if table.counts_of:
        rules.append(
            Rule(
                f"{table.short}_add_up",
                f"The counts add up to the rows of {table.counts_of}, each combination counting "
                "at least one.",
                _add_up_sql(table),
            )
        )
    if table.roll_up:
        rules.append(
            Rule(
                f"{table.short}_roll_ups_add_up",
                "Each 'ALL' row holds the sum of the labs' rows ("
                + ", ".join(table.roll_up[1])
                + ").",
                _roll_up_sql(table),
            )
        )
    return [*rules, *table.rules]


def rule_violations(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    table: Table | None = None,
    run_id: str | None = None,
    scoped: dict[str, str] | None = None,
) -> int:
    """How many rows break one rule (its SQL counts them, with the catalog's rule values).

    A rule of ``table`` reads the rows the run may have changed, the rest having been checked
    by the runs that made them, so a night's checks cost what its rows cost: after an
    incremental mart build, a case-level table's rows of that build's scope
    (``build.scope_rows``; ``scoped``: those rows already gathered by ``gather_scope``); in
    run ``run_id``, an ingest or staging table's ``run_rows``. Otherwise (a full build, no
    run, a run that ingested every file of the warehouse) every row."""
    sql = rule.violations_sql
    rows: dict[str, str] = {}
    if table is not None and table.scope and _last_build_incremental(con):
        # every case-level table the rule reads, not only its own: a rule relating two of them
        # ("every contradiction is listed") holds within the scope as it does in the whole
        rows = scoped or {t.name: f"({build.scope_rows(con, t)})" for t in catalog.case_level()}
    elif table is not None and table.run_rows and run_id is not None and _wrote_part(con, run_id):
        rows = {table.name: f"(SELECT * FROM {table.name} WHERE {table.run_rows})"}  # noqa: S608
    for name, replacement in rows.items():
        sql = re.sub(rf"\b{re.escape(name)}\b", replacement, sql)
    values = {**catalog.RULE_VALUES, "run_id": run_id}
    params = {k: v for k, v in values.items() if f"${k}" in sql}
    return sum(int(r[0]) for r in con.execute(sql, params or None).fetchall())


def _wrote_part(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether run ``run_id`` ingested only part of the warehouse's files. A run that ingested
    all of them (a first, fresh run) wrote every row, and its rules read the tables whole: the
    same rows, without the look-up of the run's results (at 50M results, at the 1 GB default,
    the key rules of the staging tables ran out of memory in it, and took 6 s whole)."""
    (others,) = con.execute(
        "SELECT count(*) FROM ops.ingested_files WHERE run_id IS DISTINCT FROM $run_id",
        {"run_id": run_id},
    ).fetchone()
    return others > 0


def gather_scope(con: duckdb.DuckDBPyConnection, tables: Iterable[Table]) -> dict[str, str]:
    """After an incremental build, each case-level table's rows of the scope, read ONCE into a
    temporary table for all the rules of one check step, not by a semi join over the whole
    table in every rule (every marts rule after a 10M night, measured once: 2.4-2.9 s so,
    3.1-3.6 s with a semi join per rule). Returns table -> temporary table; empty otherwise."""
    if not any(t.scope for t in tables) or not _last_build_incremental(con):
        return {}
    out = {}
    for t in catalog.case_level():
        temp = f"temp.main.scope__{t.short}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE scope__{t.short} AS {build.scope_rows(con, t)}")
        out[t.name] = temp
    return out


def _last_build_incremental(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT max(mode) FROM ops.mart_state").fetchone()
    return bool(row) and row[0] == "incremental"


INTEGRITY = "integrity"  # the check name of every table's integrity check
# Metadata keys of an integrity check besides its rules' counts (one key per rule name).
VIOLATING_ROWS, RULES = "violating_rows", "rules"
INTEGRITY_KEYS = (VIOLATING_ROWS, RULES)


def integrity_result(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    run_id: str | None = None,
    scoped: dict[str, str] | None = None,
) -> dg.AssetCheckResult:
    """The integrity check of one table: passed when no rule of it counts a violating row;
    each rule's count is in the metadata under the rule's name."""
    counts = {
        rule.name: rule_violations(con, rule, table, run_id, scoped) for rule in table_rules(table)
    }
    broken = [name for name, n in counts.items() if n]
    rows = "\n".join(
        ["| rule | violating rows | what it holds |", "|---|---|---|"]
        + [f"| {r.name} | {counts[r.name]} | {r.description} |" for r in table_rules(table)]
    )
    return dg.AssetCheckResult(
        asset_key=asset_key(table.name),
        check_name=INTEGRITY,
        passed=not broken,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"broken: {', '.join(broken)}" if broken else "every rule holds",
        metadata={
            VIOLATING_ROWS: sum(counts.values()),
            **counts,
            RULES: dg.MetadataValue.md(rows),
        },
    )


def integrity_checks(tables: Iterable[Table], name: str) -> list[dg.AssetChecksDefinition]:
    """One blocking ERROR check per table (``integrity``) holding all of its rules, every
    table's evaluated in ONE step (one connection). One check per table, not per rule: each
    check costs the run three events in Dagster's event log (planned, evaluated, output), and
    the 48 checks this saves cost a night about 1.5 s (median of 4 paired nights on a 100k
    warehouse, 2 cores: 15.2 s per rule, 13.3 s per table); the rules and their counts are
    the check's metadata. Tables with ``run_rows`` (ingest, staging) are checked on the rows of
    the checking run."""
    checked = [t for t in tables if table_rules(t)]
    specs = [
        dg.AssetCheckSpec(
            INTEGRITY,
            asset=asset_key(t.name),
            description="Every rule holds: "
            + " ".join(f"{r.name}: {r.description}" for r in table_rules(t)),
            blocking=True,
        )
        for t in checked
    ]

    def evaluate(paths: Her2qaPaths, run_id: str | None) -> Iterator[dg.AssetCheckResult]:
        with paths.connect(read_only=True) as con:
            scoped = gather_scope(con, checked)
            for t in checked:
                yield integrity_result(con, t, run_id, scoped)

    if not any(t.run_rows for t in checked):

        @dg.multi_asset_check(name=name, specs=specs)
        def _checks(paths: Her2qaPaths) -> Iterator[dg.AssetCheckResult]:
            yield from evaluate(paths, None)

        return [_checks]

    @dg.multi_asset_check(name=name, specs=specs)
    def _run_checks(context, paths: Her2qaPaths) -> Iterator[dg.AssetCheckResult]:
        # context: dg.AssetCheckExecutionContext (left unannotated: Dagster reads annotations at
        # definition time and cannot resolve a string one, `from __future__ import annotations`)
        yield from evaluate(paths, context.run.run_id)

    return [_run_checks]


# --------------------------------------------------------------------- finding checks
def finding_result(con: duckdb.DuckDBPyConnection, finding: str) -> dg.AssetCheckResult:
    """The WARN result of one finding code of marts.findings: passed when no row says 'look'.
    A quality finding, never a failure of the run."""
    rows = con.execute(
        "SELECT lab_id, period, subgroup, verdict, message FROM marts.findings "
        "WHERE finding = $f ORDER BY verdict <> 'look', lab_id <> 'ALL', lab_id, "
        "period, subgroup",
        {"f": finding},
    ).fetchall()
    look = [r for r in rows if r[3] == "look"]
    labs = sorted({r[0] for r in look if r[0] != "ALL"})
    counts = {v: sum(1 for r in rows if r[3] == v) for v in catalog.VERDICTS}
    table = "\n".join(
        ["| lab | period | subgroup | verdict | finding |", "|---|---|---|---|---|"]
        + [f"| {lab} | {p} | {s} | {v} | {m} |" for lab, p, s, v, m in look[:50]]
    )
    return dg.AssetCheckResult(
        asset_key=asset_key("marts.findings"),
        check_name=finding,
        passed=not look,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(look)} finding(s) to look at" + (f" ({', '.join(labs)})" if labs else "")
            if look
            else "nothing to look at"
            if rows
            else "nothing to judge yet"
        ),
        metadata={
            **{f"n_{v}": n for v, n in counts.items()},
            "labs_to_look_at": ", ".join(labs) or "none",
            "look": dg.MetadataValue.md(table if look else "none"),
        },
    )


def finding_checks() -> list[dg.AssetChecksDefinition]:
    """One WARN check per finding code (catalog.FINDINGS), all read in one step."""

    @dg.multi_asset_check(
        name="findings_to_look_at",
        specs=[
            dg.AssetCheckSpec(
                code,
                asset=asset_key("marts.findings"),
                description=f"{text} Verdicts read from marts.findings (finding = '{code}').",
                blocking=False,
            )
            for code, text in catalog.FINDINGS.items()
        ],
    )
    def _checks(paths: Her2qaPaths) -> Iterator[dg.AssetCheckResult]:
        with paths.connect(read_only=True) as con:
            for code in catalog.FINDINGS:
                yield finding_result(con, code)

    return [_checks]
