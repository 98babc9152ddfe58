"""``[[sources]]`` of her2qa.toml (her2qa/config.py): read by the one parser against its
schema, in the configuration's fingerprint, first matching pattern wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from her2qa import config


def _load(tmp_path: Path, toml: str) -> config.SiteConfig:
    path = tmp_path / "her2qa.toml"
    path.write_text(toml, encoding="utf-8")
    return config.load_site_config(path)


NORTH_XLSX = '[[sources]]\npattern = "NORTH_*.xlsx"\nformat = "excel"\nlab_id = "NORTH"\n'


def test_the_first_matching_pattern_wins_whatever_the_case(tmp_path):
    site = _load(tmp_path, NORTH_XLSX + '[[sources]]\npattern = "*.xlsx"\nsheet = "HER2"\n')
    assert site.source_for("north_2024q1.XLSX").lab_id == "NORTH"
    assert site.source_for("south.xlsx").get("sheet") == "HER2"
    assert site.source_for("north.csv") is config.DEFAULT_SOURCE


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[sources]]\npattern = "*.csv"\ndelimeter = ";"\n', "unknown key.*delimeter"),
        ('[[sources]]\npattern = "*.csv"\nformat = "xml"\n', "format 'xml' is not one of"),
        ('[[sources]]\nformat = "csv"\n', "pattern must be a file-name pattern"),
        ('[[sources]]\npattern = "*.csv"\nlab_id = ""\n', "lab_id must be a laboratory code"),
        ('sources = "x.csv"\n', "array of tables"),
    ],
)
def test_a_wrong_source_entry_is_a_one_line_error(tmp_path, toml, message):
    with pytest.raises(config.ConfigError, match=message) as err:
        _load(tmp_path, toml)
    assert "\n" not in str(err.value)


def test_sources_are_in_the_fingerprint_and_absent_ones_change_nothing(tmp_path):
    empty = _load(tmp_path, "")
    assert empty.fingerprint() == config.SiteConfig().fingerprint()  # older lineage stays
    north = _load(tmp_path, NORTH_XLSX)
    other_lab = _load(tmp_path, NORTH_XLSX.replace('lab_id = "NORTH"', 'lab_id = "SOUTH"'))
    assert len({empty.fingerprint(), north.fingerprint(), other_lab.fingerprint()}) == 3
