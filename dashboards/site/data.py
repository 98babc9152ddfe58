"""What the pages read: one read-only warehouse connection, the views of the lab selector,
marts.reference_bands, marts.findings, and query helpers.

Pages read aggregates only: the marts, or the SQL files of ``dashboards/report/sql/`` (each one
documents its grain). No query here returns a case row; ``patient_key`` is never selected.
The statistics and formatting macros are the marts' own (``warehouse/sql/macros/``), defined
again on this connection as temporary macros: one definition of each.

Verdicts are not made here: every badge reads a row of marts.findings (``Findings``), and
every threshold a figure draws (a lab target line, a band, the small-n rule) is a row of
marts.reference_bands (``Band``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

import duckdb

from dashboards.site.layout import View
from her2qa import config
from warehouse.build import define_macros

SQL_DIR = Path(__file__).parents[1] / "report" / "sql"
NETWORK = View("all", None, "All laboratories (network)")
ALL = "ALL"


@cache
def sql(name: str) -> str:
    """The text of ``dashboards/report/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Band:
    """A row of marts.reference_bands (a published band, a limit, a target or a rule)."""

    band_id: str
    lab_id: str
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

    @property
    def value(self) -> float | None:
        """The one number of a target or rule (the lower end, else the upper, else the point)."""
        for v in (self.low, self.high, self.point):
            if v is not None:
                return v
        return None

    def legend(self, scale: float = 100.0, unit: str = "%") -> str:
        """'published benchmark band (context, not a limit): 11.8–17.2%, Denmark ...'."""
        if self.low is not None and self.high is not None and self.low != self.high:
            span = f"{self.low * scale:g}–{self.high * scale:g}{unit}"
        else:
            span = f"{(self.point if self.point is not None else self.value or 0) * scale:g}{unit}"
        return f"{self.label}: {span} ({self.band_kind}; {self.source})"


@dataclass(frozen=True)
class Finding:
    """A row of marts.findings: one verdict, made once in SQL (findings/findings.sql)."""

    finding: str
    lab_id: str
    period: str
    subgroup: str
    verdict: str  # ok | look | info | too_few
    figure: float | None
    n: int | None
    ci_low: float | None
    ci_high: float | None
    threshold: str | None
    source: str | None
    message: str
    topic: str
    title: str

    @property
    def monthly(self) -> bool:
        return len(self.period) == 7 and self.period[4] == "-"


FINDINGS_SQL = (
    "SELECT finding, lab_id, period, subgroup, verdict, figure, n, ci_low, ci_high, threshold, "
    "source, message, topic, title FROM marts.findings ORDER BY ALL"
)


@dataclass
class Findings:
    """marts.findings, indexed for the pages. ``window`` is the findings' own 12-month period
    ('YYYY-MM..YYYY-MM'), the one every "last 12 months" reading uses."""

    rows: list[Finding]
    window: str | None = None
    _index: dict[tuple[str, str, str, str], Finding] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {(f.finding, f.lab_id, f.period, f.subgroup): f for f in self.rows}
        if self.window is None:
            self.window = max((f.period for f in self.rows if ".." in f.period), default=None)

    def get(
        self, finding: str, lab: str | None = ALL, period: str = ALL, subgroup: str = ALL
    ) -> Finding | None:
        """The one row of (finding, lab, period, subgroup); lab None means the network."""
        return self._index.get((finding, lab or ALL, period, subgroup))

    def select(self, finding: str, lab: str | None = None, **where: str) -> list[Finding]:
        """Rows of a finding, of one lab (None: every lab and ALL), filtered on columns."""
        return [
            f
            for f in self.rows
            if f.finding == finding
            and (lab is None or f.lab_id == lab)
            and all(getattr(f, k) == v for k, v in where.items())
        ]

    def in_window(self, f: Finding) -> bool:
        """A finding of the 12-month window: of the window itself, or of one of its months."""
        if not self.window:
            return False
        if f.period == self.window:
            return True
        start, end = self.window.split("..")
        return f.monthly and start <= f.period <= end

    def headline(self, lab: str | None) -> list[Finding]:
        """The lab's (or the pooled, lab None) findings of period ALL or the 12-month window,
        subgroup ALL: what "Where to look" lists."""
        code = lab or ALL
        return [
            f
            for f in self.rows
            if f.lab_id == code and f.subgroup == ALL and f.period in (ALL, self.window)
        ]

    def labs(self, finding: str) -> list[str]:
        """Laboratories with a row of this finding (not ALL), sorted."""
        return sorted({f.lab_id for f in self.rows if f.finding == finding and f.lab_id != ALL})


@dataclass(frozen=True)
class SmallN:
    """The small-n rule of marts.reference_bands (small_n cases, wide_ci points): where a
    figure draws an open marker and says 'small n'. Proportions 0-1."""

    n: float
    wide: float

    def __call__(self, n: int | None, low: float | None = None, high: float | None = None) -> bool:
        if not n or n < self.n:
            return True
        return low is not None and high is not None and (high - low) > self.wide


@dataclass
class Context:
    """Everything a page builder needs, read once per build."""

    con: duckdb.DuckDBPyConnection
    site_config: config.SiteConfig
    run_id: str | None
    generated_at: datetime
    views: list[View]
    bands: dict[tuple[str, str], Band]
    findings: Findings
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
        define_macros(con)  # temporary macros: wilson_low/high, fmt_*, kappa_words
        # the labs with a clinical specimen, from the report table that counts every specimen
        # (its lab rows: a few per quarter), not from the specimens themselves
        labs = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT lab_id FROM marts.her2_low_distribution WHERE lab_id <> 'ALL' "
                "ORDER BY lab_id"
            ).fetchall()
        ]
        views = [NETWORK] + [View(f"lab-{i}", lab, lab) for i, lab in enumerate(labs, 1)]
        bands = {
            (r["band_id"], r["lab_id"]): Band(**r)
            for r in rows(
                con,
                "SELECT band_id, lab_id, metric, stratum, role, point, low, high, unit, "
                "band_kind, population, source, label FROM marts.reference_bands",
            )
        }
        findings = Findings([Finding(**r) for r in rows(con, FINDINGS_SQL)])
        return cls(con, site_config, run_id, generated_at, views, bands, findings)

    # --- queries
    def rows(self, query: str, params: dict | None = None) -> list[dict]:
        return rows(self.con, query, params)

    def file(self, name: str, params: dict | None = None) -> list[dict]:
        """Rows of ``dashboards/report/sql/<name>.sql``."""
        return rows(self.con, sql(name), params)

    def per_view(self, records: Iterable[dict], lab_field: str = "lab_id") -> dict[str, list]:
        """Group rows by view: lab_id 'ALL' (the marts' pooled rows) -> the network view."""
        by_lab: dict[str | None, list[dict]] = defaultdict(list)
        for r in records:
            lab = r[lab_field]
            by_lab[None if lab == ALL else lab].append(r)
        return {v.key: by_lab.get(v.lab, []) for v in self.views}

    def one_per_view(self, records: Iterable[dict], lab_field: str = "lab_id") -> dict:
        """The one row of each view (rows of one row per lab and 'ALL'); None without a row."""
        return {k: (v[0] if v else None) for k, v in self.per_view(records, lab_field).items()}

    # --- thresholds: rows of marts.reference_bands
    def band(self, band_id: str, lab: str | None = ALL) -> Band | None:
        """The band of a laboratory (its own row, e.g. a lab target), else the default."""
        return self.bands.get((band_id, lab or ALL)) or self.bands.get((band_id, ALL))

    def target(self, view: View | str | None) -> float:
        """The lab target for agreement in percent: the lab's own row, else the default."""
        lab = view.lab if isinstance(view, View) else view
        band = self.band("lab_target_concordance", lab)
        return 100 * (band.value or 0.0) if band else 0.0

    def target_label(self, view: View | str | None) -> str:
        """'lab target (ASCO/CAP 2007 criterion): 95%' (the band's own label and value)."""
        lab = view.lab if isinstance(view, View) else view
        band = self.band("lab_target_concordance", lab)
        return f"{band.label}: {self.target(view):g}%" if band else "no lab target"

    @property
    def is_small(self) -> SmallN:
        n, wide = self.band("small_n"), self.band("wide_ci")
        return SmallN((n.value or 0) if n else 0, (wide.value or 1) if wide else 1)

    @property
    def today(self) -> date:
        return self.generated_at.date()


def rows(con: duckdb.DuckDBPyConnection, query: str, params: dict | None = None) -> list[dict]:
    cur = con.execute(query, params or None)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
