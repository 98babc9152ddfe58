"""Where things live and how a site is configured.

Precedence everywhere: command-line flag > environment variable > default.

| setting | environment | default |
|---|---|---|
| warehouse file | ``HER2QA_WAREHOUSE`` | ``warehouse/her2.duckdb`` |
| dashboard site | ``HER2QA_SITE`` | ``build/site`` |
| state folder (archive, key, Dagster home) | ``HER2QA_HOME`` | ``var`` |
| inbox watched by the sensor | ``HER2QA_INBOX`` | ``$HER2QA_HOME/inbox`` |
| archive of ingested files | ``HER2QA_ARCHIVE`` | ``$HER2QA_HOME/archive`` |
| restricted worklists | ``HER2QA_RESTRICTED`` | ``$HER2QA_HOME/restricted`` |
| published read-only warehouse | ``HER2QA_SNAPSHOT`` | ``<warehouse>.snapshot.duckdb`` |
| PHI key | ``HER2QA_PHI_KEY`` (the key) or ``HER2QA_PHI_KEY_FILE`` | ``$HER2QA_HOME/phi.key`` |
| site configuration (TOML) | ``HER2QA_CONFIG`` | ``her2qa.toml`` when present |
| laboratory time zone | ``HER2QA_TIMEZONE`` | ``[site] timezone``, else the machine's |

The TOML file holds what differs between laboratories, e.g.::

    [site]
    timezone = "Europe/Berlin"   # the nightly run starts at 02:00 here
    freshness_days = 3           # no new results of a lab for longer: a finding

    [labs.NORTH]
    date_format = "%d/%m/%Y"   # strptime format of that lab's LIS dates
    concordance_target_pct = 95  # lab target per category (default 95, ASCO/CAP 2007 criterion)
    ldt_kits = ["In-house clone X"]  # laboratory-developed tests: 40 + 40 validation cases
    # ASCO/CAP rule set for historical results (default "2018", i.e. 2018/2023 rules):
    guidelines = [
        {version = "2007", until = "2014-01-01"},
        {version = "2013", from = "2014-01-01", until = "2018-06-10"},
    ]

``guidelines``: a list of ``{version, from, until}``; ``version`` is one of
"2007", "2013", "2018", "2023" (2023 affirms 2018: same rules); ``from`` is
inclusive, ``until`` exclusive; a period without ``from`` starts where the
previous one (by ``until``) ends, the first one and one without ``until`` are
open-ended; dates are TOML dates or ISO text; periods must not overlap.

One parser reads the file (``load_site_config``) against ``SCHEMA``: an unknown section or
key is an error, never ignored, and every key read is in ``SiteConfig.fingerprint`` (lineage).
The thresholds it carries (lab targets, freshness) reach the warehouse as rows of
``marts.reference_bands``, the one home of every threshold. A specimen is read
under the version whose period holds its date (the latest ``report_date`` of
the results that make its status); no matching period means "2018". The
marts record the version used per specimen (``marts.specimen_her2``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

DEFAULT_WAREHOUSE = Path("warehouse/her2.duckdb")
DEFAULT_SITE = Path("build/site")
DEFAULT_HOME = Path("var")
# ASCO/CAP guideline versions a lab may be read under (her2-domain.md §TIMELINE).
GUIDELINE_VERSIONS = ("2007", "2013", "2018", "2023")
DEFAULT_GUIDELINE = "2018"
DEFAULT_FRESHNESS_DAYS = 3  # her2qa default; HER2QA_FRESHNESS_DAYS or [site] freshness_days

# The configuration file's schema: section -> allowed keys (with what each is).
SCHEMA: dict[str, dict[str, str]] = {
    "site": {
        "timezone": "IANA time zone of the laboratory (nightly run at 02:00)",
        "freshness_days": "days without new results of a lab before it is a finding",
    },
    "labs.<LAB>": {
        "date_format": "strptime format of the lab's LIS dates",
        "concordance_target_pct": "the lab's target per category, percent (0-100]",
        "guidelines": "ASCO/CAP rule sets by date: [{version, from, until}, ...]",
        "ldt_kits": "assay kits that are laboratory-developed tests (40 + 40 validation)",
    },
    # How one kind of inbox file is read (her2qa/ingest/formats): [[sources]], first match wins.
    "sources[]": {
        "pattern": "file-name pattern (fnmatch, case-insensitive) this source applies to",
        "format": "csv, excel, hl7v2 or fhir (default: recognised from the bytes)",
        "lab_id": "lab_id of every result of these files when the file does not say it",
        "sheet": "Excel: the sheet to read (name or 0-based position; default the first)",
        "header_row": "Excel/CSV: 1-based row of the column headers (default 1)",
        "delimiter": 'CSV: field delimiter (default ","; e.g. ";" or "\\t")',
        "encoding": "CSV: utf-8 (default), windows-1252 or latin-1",
        "decimal": 'CSV/Excel text cells: decimal mark, "." (default) or ","',
        "layout": "long (default: one row per result) or wide (one row per case)",
        "columns": "{header text = contract column}: renames (long), the case's columns (wide)",
        "assays": "wide: [{assay, columns = {header = contract column}}, ...], one per result",
        "values": "{contract column = {file value = contract value}} value maps",
        "codes": "HL7 v2 / FHIR: {code = contract column or column=value} (e.g. CAP eCC)",
    },
}


class ConfigError(Exception):
    """A configuration problem, said in one line to the user."""


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value) if value else default


def home() -> Path:
    return _env_path("HER2QA_HOME", DEFAULT_HOME)


def warehouse_path(flag: str | os.PathLike[str] | None = None) -> Path:
    return Path(flag) if flag else _env_path("HER2QA_WAREHOUSE", DEFAULT_WAREHOUSE)


def site_path(flag: str | os.PathLike[str] | None = None) -> Path:
    return Path(flag) if flag else _env_path("HER2QA_SITE", DEFAULT_SITE)


def inbox_path() -> Path:
    """The inbox the sensor watches and the UI's runs read (``her2qa run`` takes --inbox)."""
    return _env_path("HER2QA_INBOX", home() / "inbox")


def archive_path() -> Path:
    return _env_path("HER2QA_ARCHIVE", home() / "archive")


def restricted_path() -> Path:
    """Where case-level worklists go (owner-only): ``HER2QA_RESTRICTED``, else
    ``$HER2QA_HOME/restricted``. Never derived from the site's path, so a site copied to a web
    root or a shared drive never has a case list beside it."""
    return _env_path("HER2QA_RESTRICTED", home() / "restricted")


def snapshot_path(warehouse: str | os.PathLike[str] | None = None) -> Path:
    """The published read-only copy of the warehouse that notebooks and dashboards open:
    ``HER2QA_SNAPSHOT``, else ``<warehouse>.snapshot.duckdb`` beside the warehouse. A reader
    of the snapshot never blocks a run and never sees a half-built state."""
    explicit = os.environ.get("HER2QA_SNAPSHOT", "").strip()
    if explicit:
        return Path(explicit)
    main = warehouse_path(warehouse)
    return main.with_name(f"{main.stem}.snapshot{main.suffix or '.duckdb'}")


def key_file_path() -> Path:
    return _env_path("HER2QA_PHI_KEY_FILE", home() / "phi.key")


@dataclass(frozen=True)
class GuidelinePeriod:
    """An ASCO/CAP rule set in force at a lab from ``valid_from`` (inclusive) to ``until``
    (exclusive); ``None`` leaves that end open."""

    version: str
    valid_from: date | None = None
    until: date | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "version": self.version,
            "from": self.valid_from.isoformat() if self.valid_from else None,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass(frozen=True)
class LabConfig:
    date_format: str | None = None  # strptime format accepted besides ISO dates
    guidelines: tuple[GuidelinePeriod, ...] = ()  # ASCO/CAP rule sets by date; default 2018
    concordance_target_pct: float | None = None  # lab target; default in marts.reference_bands
    ldt_kits: tuple[str, ...] = ()  # assay kits that are laboratory-developed tests

    def as_dict(self) -> dict:
        body: dict = {"date_format": self.date_format}
        if self.guidelines:  # left out when empty: older fingerprints stay the same
            body["guidelines"] = [g.as_dict() for g in self.guidelines]
        if self.concordance_target_pct is not None:
            body["concordance_target_pct"] = self.concordance_target_pct
        if self.ldt_kits:
            body["ldt_kits"] = list(self.ldt_kits)
        return body


@dataclass(frozen=True)
class SourceConfig:
    """How the inbox files matching ``pattern`` are read (``[[sources]]``; see SCHEMA).

    Mappings are kept as the TOML gave them (``raw``); each format's adapter checks the keys
    it reads and says what is wrong in one line (her2qa/ingest/formats)."""

    pattern: str = "*"
    format: str | None = None
    lab_id: str | None = None
    raw: dict = field(default_factory=dict)

    def get(self, key: str, default: object = None) -> object:
        return self.raw.get(key, default)

    def matches(self, file_name: str) -> bool:
        return fnmatch.fnmatchcase(file_name.lower(), self.pattern.lower())


FORMATS = ("csv", "excel", "hl7v2", "fhir")
DEFAULT_SOURCE = SourceConfig()


@dataclass(frozen=True)
class SiteConfig:
    labs: dict[str, LabConfig] = field(default_factory=dict)
    timezone: str | None = None  # [site] timezone (lab_timezone() resolves the effective one)
    freshness_days: int = DEFAULT_FRESHNESS_DAYS
    sources: tuple[SourceConfig, ...] = ()

    def source_for(self, file_name: str) -> SourceConfig:
        """The first ``[[sources]]`` entry whose pattern matches the file name, else the
        default (format recognised from the bytes, contract CSV)."""
        return next((s for s in self.sources if s.matches(file_name)), DEFAULT_SOURCE)

    def lab_setting_rows(self) -> list[tuple[str, str, str]]:
        """(setting, lab_id, value) rows for the warehouse: lab targets and LDT kits."""
        rows = []
        for lab, cfg in sorted(self.labs.items()):
            if cfg.concordance_target_pct is not None:
                rows.append(("concordance_target_pct", lab, f"{cfg.concordance_target_pct:g}"))
            rows += [("ldt_kit", lab, kit) for kit in cfg.ldt_kits]
        return rows

    @property
    def ldt_kits(self) -> dict[str, tuple[str, ...]]:
        return {lab: cfg.ldt_kits for lab, cfg in sorted(self.labs.items()) if cfg.ldt_kits}

    def fingerprint(self) -> str:
        """SHA-256 of the configuration's content, for lineage (never of the key). Site keys
        are left out at their defaults, so older fingerprints stay the same."""
        content: dict = {lab: cfg.as_dict() for lab, cfg in sorted(self.labs.items())}
        site = {
            k: v
            for k, v in (("timezone", self.timezone), ("freshness_days", self.freshness_days))
            if v is not None and not (k == "freshness_days" and v == DEFAULT_FRESHNESS_DAYS)
        }
        if site:
            content = {"labs": content, "site": site}
        if self.sources:  # left out when empty: older fingerprints stay the same
            content = {"labs": content, "site": site, "sources": [s.raw for s in self.sources]}
        body = json.dumps(content, sort_keys=True, default=str)  # TOML dates in sources
        return hashlib.sha256(body.encode()).hexdigest()


def _read_toml(path: str | os.PathLike[str] | None) -> dict:
    """The site TOML as a dict; a missing default file is an empty configuration."""
    explicit = path or os.environ.get("HER2QA_CONFIG", "").strip()
    cfg_path = Path(explicit) if explicit else Path("her2qa.toml")
    if not cfg_path.exists():
        if explicit:
            raise ConfigError(f"configuration file {cfg_path} does not exist")
        return {}
    try:
        return tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {cfg_path} is not valid TOML: {exc}") from None


def load_site_config(path: str | os.PathLike[str] | None = None) -> SiteConfig:
    """Read the site TOML against ``SCHEMA``; a missing default file means an empty
    configuration."""
    data = _read_toml(path)
    _known(data, {"site", "labs", "sources"}, "the configuration")
    site = data.get("site") or {}
    _known(site, set(SCHEMA["site"]), "[site]")
    labs = {}
    for lab, body in (data.get("labs") or {}).items():
        body = body or {}
        if not isinstance(body, dict):
            raise ConfigError(f"labs.{lab} must be a table")
        _known(body, set(SCHEMA["labs.<LAB>"]), f"[labs.{lab}]")
        labs[str(lab)] = LabConfig(
            date_format=body.get("date_format"),
            guidelines=_guidelines(str(lab), body.get("guidelines")),
            concordance_target_pct=_target(str(lab), body.get("concordance_target_pct")),
            ldt_kits=_kits(str(lab), body.get("ldt_kits")),
        )
    return SiteConfig(
        labs=labs,
        timezone=site.get("timezone"),
        freshness_days=_freshness(site.get("freshness_days")),
        sources=_sources(data.get("sources")),
    )


def _sources(entries: object) -> tuple[SourceConfig, ...]:
    """``[[sources]]``: the keys are checked here; the mappings by the format that reads them."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ConfigError("sources must be an array of tables ([[sources]])")
    sources = []
    for i, entry in enumerate(entries):
        at = f"sources[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at} must be a table")
        _known(entry, set(SCHEMA["sources[]"]), f"[[sources]] number {i + 1}")
        pattern = entry.get("pattern")
        if not isinstance(pattern, str) or not pattern.strip():
            raise ConfigError(f'{at}.pattern must be a file-name pattern such as "NORTH_*.xlsx"')
        fmt = entry.get("format")
        if fmt is not None and fmt not in FORMATS:
            raise ConfigError(f"{at}.format {fmt!r} is not one of {', '.join(FORMATS)}")
        lab = entry.get("lab_id")
        if lab is not None and (not isinstance(lab, str) or not lab.strip()):
            raise ConfigError(f"{at}.lab_id must be a laboratory code")
        sources.append(
            SourceConfig(pattern=pattern.strip(), format=fmt, lab_id=lab and lab.strip(), raw=entry)
        )
    return tuple(sources)


def _known(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where} has unknown key(s): {', '.join(unknown)}")


def _freshness(value: object) -> int:
    """``HER2QA_FRESHNESS_DAYS``, else ``[site] freshness_days``, else the default."""
    env = os.environ.get("HER2QA_FRESHNESS_DAYS", "").strip()
    raw: object = env or value
    if raw is None:
        return DEFAULT_FRESHNESS_DAYS
    try:
        days = int(str(raw))
    except ValueError:
        days = -1
    if days < 0 or isinstance(raw, bool | float):
        raise ConfigError(f"freshness_days {raw!r} must be a whole number of days (0 or more)")
    return days


def _kits(lab: str, kits: object) -> tuple[str, ...]:
    if kits is None:
        return ()
    if not isinstance(kits, list) or not all(isinstance(k, str) and k.strip() for k in kits):
        raise ConfigError(f"labs.{lab}.ldt_kits must be a list of assay kit names")
    return tuple(sorted({k.strip() for k in kits}))


def _target(lab: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
        raise ConfigError(f"labs.{lab}.concordance_target_pct must be a percentage (0-100]")
    return float(value)


def _guidelines(lab: str, entries: object) -> tuple[GuidelinePeriod, ...]:
    """``[labs.<lab>] guidelines = [{version, from, until}, ...]``, checked."""
    if entries is None:
        return ()
    where = f"labs.{lab}.guidelines"
    if not isinstance(entries, list):
        raise ConfigError(f"{where} must be a list of {{version, from, until}} tables")
    periods: list[tuple[str, date | None, date | None]] = []
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f'{at} must be a table like {{version = "2013", until = ...}}')
        unknown = set(entry) - {"version", "from", "until"}
        if unknown:
            raise ConfigError(f"{at} has unknown key(s): {', '.join(sorted(unknown))}")
        version = str(entry.get("version", "")).strip()
        if version not in GUIDELINE_VERSIONS:
            allowed = ", ".join(GUIDELINE_VERSIONS)
            raise ConfigError(f"{at}.version {entry.get('version')!r} is not one of {allowed}")
        start, until = (
            _date(entry.get("from"), f"{at}.from"),
            _date(entry.get("until"), f"{at}.until"),
        )
        if start and until and start >= until:
            raise ConfigError(f"{at}: from {start} is not before until {until}")
        periods.append((version, start, until))
    # Chain by `until`: a period without `from` starts where the previous one ends.
    periods.sort(key=lambda p: (p[2] is None, p[2] or date.max))
    ordered: list[GuidelinePeriod] = []
    for version, start, until in periods:
        if start is None and ordered:
            start = ordered[-1].until
        if ordered and (ordered[-1].until is None or start is None or start < ordered[-1].until):
            raise ConfigError(
                f"{where}: the periods of {ordered[-1].version} and {version} overlap"
            )
        if start and until and start >= until:
            raise ConfigError(f"{where}: the {version} period ends before it starts")
        ordered.append(GuidelinePeriod(version, start, until))
    return tuple(ordered)


def _date(value: object, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):  # a TOML date (a TOML datetime is a date subclass too)
        return value.date() if hasattr(value, "hour") else value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where} {value!r} is not a date (YYYY-MM-DD)") from None


def lab_timezone(path: str | os.PathLike[str] | None = None) -> str:
    """The laboratory's IANA time zone, for the nightly schedule and arrival dates.

    ``HER2QA_TIMEZONE``, else ``[site] timezone`` in the site TOML, else the machine's
    own zone (``TZ``, ``/etc/timezone``, ``/etc/localtime``), else UTC, said explicitly.
    """
    site = _read_toml(path).get("site") or {}
    candidates = [os.environ.get("HER2QA_TIMEZONE", "").strip(), site.get("timezone")]
    candidates += [os.environ.get("TZ", "").strip().lstrip(":"), _system_zone()]
    for name in candidates:
        if name:
            try:
                zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ConfigError(f"time zone {name!r} is not an IANA time zone name") from None
            return name
    return "UTC"


def _system_zone() -> str | None:
    etc = Path("/etc/timezone")
    if etc.exists():
        name = etc.read_text(encoding="utf-8").strip()
        if name:
            return name
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return None
