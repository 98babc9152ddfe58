"""Where things live and how a site is configured.

Precedence everywhere: command-line flag > environment variable > default.

| setting | environment | default |
|---|---|---|
| warehouse file | ``HER2QA_WAREHOUSE`` | ``warehouse/her2.duckdb`` |
| dashboard site | ``HER2QA_SITE`` | ``build/site`` |
| state folder (archive, key, Dagster home) | ``HER2QA_HOME`` | ``var`` |
| archive of ingested files | ``HER2QA_ARCHIVE`` | ``$HER2QA_HOME/archive`` |
| PHI key | ``HER2QA_PHI_KEY`` (the key) or ``HER2QA_PHI_KEY_FILE`` | ``$HER2QA_HOME/phi.key`` |
| site configuration (TOML) | ``HER2QA_CONFIG`` | ``her2qa.toml`` when present |

The TOML file holds what differs between laboratories, e.g.::

    [labs.NORTH]
    date_format = "%d/%m/%Y"   # strptime format of that lab's LIS dates
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_WAREHOUSE = Path("warehouse/her2.duckdb")
DEFAULT_SITE = Path("build/site")
DEFAULT_HOME = Path("var")


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


def archive_path() -> Path:
    return _env_path("HER2QA_ARCHIVE", home() / "archive")


def key_file_path() -> Path:
    return _env_path("HER2QA_PHI_KEY_FILE", home() / "phi.key")


@dataclass(frozen=True)
class LabConfig:
    date_format: str | None = None  # strptime format accepted besides ISO dates


@dataclass(frozen=True)
class SiteConfig:
    labs: dict[str, LabConfig] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """SHA-256 of the configuration's content, for lineage (never of the key)."""
        body = json.dumps(
            {lab: vars(cfg) for lab, cfg in sorted(self.labs.items())}, sort_keys=True
        )
        return hashlib.sha256(body.encode()).hexdigest()


def load_site_config(path: str | os.PathLike[str] | None = None) -> SiteConfig:
    """Read the site TOML; a missing default file means an empty configuration."""
    explicit = path or os.environ.get("HER2QA_CONFIG", "").strip()
    cfg_path = Path(explicit) if explicit else Path("her2qa.toml")
    if not cfg_path.exists():
        if explicit:
            raise ConfigError(f"configuration file {cfg_path} does not exist")
        return SiteConfig()
    try:
        data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {cfg_path} is not valid TOML: {exc}") from None
    labs = {
        str(lab): LabConfig(date_format=(body or {}).get("date_format"))
        for lab, body in (data.get("labs") or {}).items()
    }
    return SiteConfig(labs=labs)
