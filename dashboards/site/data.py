"""What the pages read: one read-only warehouse connection, the views of the lab selector,
the published bands, the lab targets, and query helpers.

Pages read aggregates only: the marts, or the SQL files of ``dashboards/site/sql/`` (each one
documents its grain). No query here returns a case row; ``patient_key`` is never selected.
The Wilson interval is the marts' own macro (``warehouse/sql/macros/statistics``),
defined again on this connection as a temporary macro: one definition of the statistic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

import duckdb

import warehouse
from dashboards.site.layout import View
from her2qa import config

SQL_DIR = Path(__file__).parents[1] / "report" / "sql"
NETWORK = View("all", None, "All laboratories (network)")


@cache
def sql(name: str) -> str:
    """The text of ``dashboards/site/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Band:
    """A row of marts.reference_bands (published benchmark or guideline limit)."""

    band_id: str
    metric: str
    stratum: str | None
    role: str
    point: float | None
    low: float | None
    high: float | None
    unit: str
    band_kind: str
    population: str
    source: str
    label: str

    def legend(self, scale: float = 100.0, unit: str = "%") -> str:
        """'published benchmark band (context, not a limit): 11.8–17.2%, Denmark ...'."""
        if self.low is not None and self.high is not None and self.low != self.high:
            span = f"{self.low * scale:g}–{self.high * scale:g}{unit}"
        elif self.point is not None:
            span = f"{self.point * scale:g}{unit}"
        else:
            span = f"{(self.low if self.low is not None else self.high or 0) * scale:g}{unit}"
        return f"{self.label}: {span} ({self.band_kind}; {self.source})"


@dataclass
class Context:
    """Everything a page builder needs, read once per build."""

    con: duckdb.DuckDBPyConnection
    site_config: config.SiteConfig
    run_id: str | None
    generated_at: datetime
    views: list[View]
    bands: dict[str, Band]
    worklists: dict[str, int] = field(default_factory=dict)  # file name -> rows
    restricted_label: str = ""  # where the worklists are, as the pages say it

    @classmethod
    def open(
        cls,
        con: duckdb.DuckDBPyConnection,
        site_config: config.SiteConfig,
        run_id: str | None,
        generated_at: datetime,
    ) -> Context:
        warehouse.run(con, "macros/statistics")  # temporary macros: wilson_low/high
        labs = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT lab_id FROM marts.specimen_her2 WHERE lab_id IS NOT NULL "
                "ORDER BY lab_id"
            ).fetchall()
        ]
        views = [NETWORK] + [View(f"lab-{i}", lab, lab) for i, lab in enumerate(labs, 1)]
        bands = {
            r["band_id"]: Band(**r)
            for r in rows(
                con,
                "SELECT band_id, metric, stratum, role, point, low, high, unit, band_kind, "
                "population, source, label FROM marts.reference_bands",
            )
        }
        return cls(con, site_config, run_id, generated_at, views, bands)

    # --- queries
    def rows(self, query: str, params: dict | None = None) -> list[dict]:
        return rows(self.con, query, params)

    def file(self, name: str, params: dict | None = None) -> list[dict]:
        """Rows of ``dashboards/site/sql/<name>.sql``."""
        return rows(self.con, sql(name), params)

    def per_view(self, records: Iterable[dict], lab_field: str = "lab_id") -> dict[str, list]:
        """Group rows by view: lab_id 'ALL' (the marts' pooled rows) -> the network view."""
        by_lab: dict[str | None, list[dict]] = defaultdict(list)
        for r in records:
            lab = r[lab_field]
            by_lab[None if lab == "ALL" else lab].append(r)
        return {v.key: by_lab.get(v.lab, []) for v in self.views}

    # --- the lab target (her2qa.config: per lab, default the ASCO/CAP 2007 criterion)
    def target(self, view: View) -> float:
        """Target in percent: the lab's own, or the default for the network view."""
        if view.lab is None:
            return config.DEFAULT_CONCORDANCE_TARGET
        return self.site_config.concordance_target(view.lab)

    def target_label(self, view: View | None = None, target: float | None = None) -> str:
        t = target if target is not None else self.target(view or NETWORK)
        if t == config.DEFAULT_CONCORDANCE_TARGET:
            return f"{config.CONCORDANCE_TARGET_LABEL}: {t:g}%"
        return (
            f"lab target: {t:g}% (set by the laboratory in her2qa.toml; the ASCO/CAP 2007 "
            f"criterion is {config.DEFAULT_CONCORDANCE_TARGET:g}%)"
        )

    def band(self, band_id: str) -> Band | None:
        return self.bands.get(band_id)

    @property
    def today(self) -> date:
        return self.generated_at.date()


def rows(con: duckdb.DuckDBPyConnection, query: str, params: dict | None = None) -> list[dict]:
    cur = con.execute(query, params or None)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
