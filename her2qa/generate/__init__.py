"""Synthetic HER2 LIS extracts with a ground-truth manifest (``her2qa generate``).

``generate(out_dir, rows, seed, messy)`` writes one CSV per lab per quarter
(contract: ``spec/lis-extract.md``) and ``manifest.json`` (format:
``her2qa.generate.manifest``) into ``out_dir`` and returns the manifest.
Deterministic for a seed: same seed, same bytes. Modules, one job each:

- ``network``: labs, pathologists, kits, calendar (static data);
- ``rules``: the ASCO/CAP 2018 readings the simulation needs;
- ``patients``: fake PHI (MRN, name, date of birth);
- ``values``: draws of single measurements (scores' percentages, ISH counts, ...);
- ``results``: the clean clinical simulation, exactly ``rows`` rows;
- ``render``: canonical values -> contract text columns;
- ``messy``: LIS spellings, header variations, planted invalid rows, bad files;
- ``files``: file layout and CSV bytes;
- ``manifest``: the ground truth.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from her2qa.generate import files, formats, manifest, render, results
from her2qa.generate import messy as messy_mode
from schemas.contract import NAMES

MANIFEST_NAME = "manifest.json"


def _remove_previous(out_dir: Path) -> None:
    """Delete the files a previous run listed in its manifest (and nothing else)."""
    previous = out_dir / MANIFEST_NAME
    if not previous.is_file():
        return
    try:
        names = [f["name"] for f in json.loads(previous.read_text("utf-8")).get("files", [])]
    except (ValueError, KeyError, TypeError):
        return
    for name in names:
        path = out_dir / name
        if path.parent == out_dir and path.is_file():
            path.unlink()


def generate(
    out_dir: Path, rows: int = 20_000, seed: int = 42, messy: bool = False, fmt: str = "csv"
) -> dict:
    """Write a synthetic extract of exactly ``rows`` data rows and return its manifest.

    ``fmt`` (``formats.FORMATS``) writes the same files in another input format; the messy
    mode's planted rows and bad files are CSV-only (they are CSV's failure modes)."""
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if fmt not in formats.FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(formats.FORMATS)}")
    if messy and fmt != "csv":
        raise ValueError("the messy mode writes CSV files only")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_previous(out_dir)
    # Two independent streams: the clinical simulation is the same with or without messy.
    sim_seed, messy_seed = np.random.SeedSequence(seed).spawn(2)
    sim = results.simulate(rows, np.random.default_rng(sim_seed))
    lay = files.layout(sim)
    canonical = {k: v[lay.order] for k, v in sim.rows.items()}
    canonical["lab"] = sim.spec["lab"][canonical["spec"]]
    canonical["coll"] = sim.spec["coll"][canonical["spec"]]
    canonical["role"] = sim.spec["role"][canonical["spec"]]
    canonical["site"] = sim.spec["site"][canonical["spec"]]
    clean = render.render(sim, lay.order)
    planted: list[messy_mode.Planted] = []
    bad: list[messy_mode.BadFile] = []
    if messy:
        rng = np.random.default_rng(messy_seed)
        out = messy_mode.apply(clean, canonical, lay, rows, rng)
        extracts = out.extracts
        written = files.write_extracts(out_dir, out.columns, extracts)
        planted = out.planted
        if written:
            bad = messy_mode.bad_files(out_dir, clean, lay, written, rng)
    elif fmt == "csv":
        extracts = files.plain_extracts(lay)
        written = files.write_extracts(out_dir, clean, extracts)
    else:
        extracts, written = _write_format(out_dir, clean, files.plain_extracts(lay), fmt)
    result = manifest.build(
        seed=seed,
        rows=rows,
        messy=messy,
        sim=sim,
        r=canonical,
        lay=lay,
        extracts=extracts,
        written=written,
        planted=planted,
        bad=bad,
    )
    text = json.dumps(result, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    (out_dir / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return result


def _write_format(
    out_dir: Path, clean: dict[str, pa.Array], extracts: list[files.Extract], fmt: str
) -> tuple[list[files.Extract], list[files.Written]]:
    """The plain extracts in another format: same rows, same order, the format's suffix."""
    to_bytes = formats.writer(fmt)
    renamed, written = [], []
    for ex in extracts:
        ex = dataclasses.replace(ex, name=Path(ex.name).stem + formats.SUFFIXES[fmt])
        table = pa.table({c: clean[c].slice(ex.start, ex.stop - ex.start) for c in NAMES})
        renamed.append(ex)
        written.append(files.write_file(out_dir / ex.name, to_bytes(table), ex.stop - ex.start))
    return renamed, written


__all__ = ["MANIFEST_NAME", "generate"]
