"""Resources: where the warehouse, inbox, archive and site are for this deployment.

Paths only. The PHI key is deliberately *not* a resource: Dagster shows resource
configuration in its UI and run records, so the key is read from the environment
or key file inside the step that needs it (her2qa/ingest/phi.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

import warehouse
from her2qa import config


class Her2qaPaths(dg.ConfigurableResource):
    """The files and folders one deployment reads and writes."""

    inbox: str
    warehouse_file: str
    archive_dir: str
    site_dir: str
    site_config: str = ""
    restricted: str = ""  # case-level worklists; empty: HER2QA_RESTRICTED or its default
    snapshot: str = ""  # published read-only copy; empty: HER2QA_SNAPSHOT or its default

    @property
    def restricted_dir(self) -> Path:
        return Path(self.restricted) if self.restricted else config.restricted_path()

    @property
    def snapshot_file(self) -> Path:
        return Path(self.snapshot) if self.snapshot else config.snapshot_path(self.warehouse_file)

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived warehouse connection (DuckDB: one writing process at a time)."""
        with warehouse.connect(Path(self.warehouse_file), read_only=read_only) as con:
            if not read_only:
                warehouse.ensure_schema(con)
            yield con

    def load_site_config(self) -> config.SiteConfig:
        return config.load_site_config(self.site_config or None)


def default_paths(
    inbox: str | Path | None = None,
    warehouse_file: str | Path | None = None,
    site_dir: str | Path | None = None,
) -> Her2qaPaths:
    """Paths from flags, then environment, then defaults (her2qa/config.py)."""
    return Her2qaPaths(
        inbox=str(inbox or config.inbox_path()),
        warehouse_file=str(config.warehouse_path(warehouse_file)),
        archive_dir=str(config.archive_path()),
        site_dir=str(config.site_path(site_dir)),
        restricted=str(config.restricted_path()),
        snapshot=str(config.snapshot_path(warehouse_file)),
    )


@dg.definitions
def resources() -> dg.Definitions:
    """The deployment's paths, read at each load (``her2qa run`` binds its flags instead:
    pipelines/definitions.py ``build_defs``)."""
    return dg.Definitions(resources={"paths": default_paths()})
