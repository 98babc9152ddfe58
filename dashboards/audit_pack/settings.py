"""Audit-pack settings read from the site configuration (her2qa.toml), documented here.

Which assays are laboratory-developed tests (LDT) is not in the LIS extract, and ASCO/CAP
ask for more validation cases for an LDT (40 positive + 40 negative) than for an
FDA-approved assay (20 + 20; her2-domain.md §VALIDATION). A laboratory lists its LDT kits
(the ``assay_kit`` text of its validation rows, exactly) in the same TOML as the rest of its
configuration::

    [labs.WEST]
    ldt_kits = ["In-house HER2 clone X"]

Any kit not listed is taken as FDA-approved, and the report says so. ``her2qa/config.py``
ignores this key (it is read here, with the configuration file her2qa/config.py finds:
``HER2QA_CONFIG``, else ``her2qa.toml`` when present); ``lineage.json`` records the
classification used, since the configuration hash does not cover it.
"""

from __future__ import annotations

import os

from her2qa import config


def ldt_kits(path: str | os.PathLike[str] | None = None) -> dict[str, tuple[str, ...]]:
    """``{lab: (kit, ...)}`` from ``[labs.<LAB>] ldt_kits``; empty when none configured."""
    data = config._read_toml(path)  # the one reader of the site TOML (her2qa/config.py)
    found: dict[str, tuple[str, ...]] = {}
    for lab, body in sorted((data.get("labs") or {}).items()):
        kits = (body or {}).get("ldt_kits")
        if kits is None:
            continue
        if not isinstance(kits, list) or not all(isinstance(k, str) and k.strip() for k in kits):
            raise config.ConfigError(f"labs.{lab}.ldt_kits must be a list of assay kit names")
        found[str(lab)] = tuple(sorted({k.strip() for k in kits}))
    return found
