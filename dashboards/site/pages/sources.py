"""Sources & definitions: every threshold, band and rule the pages and findings use, with
where it comes from (her2-domain.md §QA-WORDING: a number on a dashboard names its source).
The table is marts.reference_bands as this run built it, every row (band_id × lab_id); the
findings' rules are warehouse/catalog.py FINDINGS. Nothing here is typed twice."""

from __future__ import annotations

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site.data import Band, Context
from dashboards.site.layout import Page, Section, StaticBlock, para, table
from dashboards.site.pages import positivity
from warehouse.catalog import FINDINGS

FILENAME = "sources.html"
# the roles of marts.reference_bands in words, in the order the table lists them
ROLE_LABEL = {
    "target": "lab target",
    "requirement": "guideline requirement (ASCO/CAP)",
    "limit": "guideline limit",
    "primary": "published band (compared with)",
    "context": "published band (shown beside)",
    "rule": "her2qa rule",
}
ROLE_ORDER = tuple(ROLE_LABEL)
UNITS = {"proportion": "%", "minutes": " min", "hours": " h", "days": " days", "sigma": " σ"}


def _band_value(b: Band) -> str:
    """'11.8–17.2% (point 14%)', '≤ 60 min', '6–72 h', '≥ 95%'."""
    unit = UNITS.get(b.unit, f" {b.unit}")
    scale = 100 if b.unit == "proportion" else 1

    def num(x: float) -> str:
        return f"{x * scale:g}"

    if b.low is not None and b.high is not None and b.low != b.high:
        span = f"{num(b.low)}–{num(b.high)}{unit}"
    elif b.low is None and b.high is not None:
        span = f"≤ {num(b.high)}{unit}"
    elif b.high is None and b.low is not None and b.role in ("target", "requirement"):
        return f"≥ {num(b.low)}{unit}"
    else:
        value = b.point if b.point is not None else b.value
        return "–" if value is None else f"{num(value)}{unit}"
    return span + (f" (point {num(b.point)}{unit})" if b.point is not None else "")


def build(ctx: Context) -> Page:
    page = Page(
        FILENAME,
        "Sources",
        "Sources & definitions",
        "Where every threshold, band and rule on these pages comes from. Published figures are "
        "context bands, not pass/fail limits: populations, eras, assays and criteria differ "
        "from one laboratory's series.",
    )
    ordered = sorted(
        ctx.bands.values(),
        key=lambda b: (
            ROLE_ORDER.index(b.role) if b.role in ROLE_ORDER else len(ROLE_ORDER),
            b.band_id,
            b.lab_id != "ALL",
            b.lab_id,
        ),
    )
    bands = table(
        [
            "kind",
            "band_id",
            "laboratory",
            "value",
            "what",
            "population / definition",
            "source",
            "label",
        ],
        [
            [
                ROLE_LABEL.get(b.role, b.role),
                Markup("<code>{}</code>").format(b.band_id),
                "every laboratory" if b.lab_id == "ALL" else b.lab_id,
                _band_value(b),
                b.metric + (f" ({b.stratum})" if b.stratum else ""),
                b.population,
                b.source,
                b.label,
            ]
            for b in ordered
        ],
        nowrap=(3,),
        caption=f"marts.reference_bands of this run: all {fmt.count(len(ordered))} rows. A lab "
        "target row for one laboratory replaces the default for that laboratory only.",
    )
    rules = table(
        ["finding", "what it judges", "badge words (ok / look)"],
        [
            [
                Markup("<code>{}</code>").format(code),
                text,
                " / ".join(fmt.VERDICT_WORDS[fmt.finding_kind(code)].values()),
            ]
            for code, text in FINDINGS.items()
        ],
        caption="Every badge is a row of marts.findings (warehouse/sql/findings/findings.sql): "
        "'Small n' is its verdict too_few, 'For information' its verdict info. Thresholds "
        "come from the table above.",
    )
    definitions = Markup(
        "<dl class='defs'>"
        "<dt>Agreement (overall percent agreement)</dt><dd>pairs that agree ÷ all pairs, with "
        "the Wilson score 95% confidence interval (her2-domain.md §STATS 7.2).</dd>"
        "<dt>PPA, NPA</dt><dd>positive and negative percent agreement, taking the second member "
        "of the pair as the comparator. Neither member is a gold standard, so these are never "
        "called sensitivity or specificity (§STATS 7.1).</dd>"
        "<dt>Cohen's κ</dt><dd>agreement beyond chance; unweighted over the 4 IHC scores for "
        "readers, with the quadratic-weighted κ beside it (§STATS 7.3).</dd>"
        "<dt>p-chart</dt><dd>{}</dd>"
        "<dt>HER2-low, -ultralow, -null</dt><dd>therapy-eligibility subgroups (DESTINY-Breast04 "
        "and -06, FDA 2022 and 2025), not ASCO/CAP result categories (§HER2-LOW).</dd>"
        "<dt>Positivity monitoring</dt><dd>{}</dd>"
        "</dl>"
    ).format(
        "the monthly positive rate against the laboratory's own overall rate, with control limits "
        "for that month's number of specimens (control_limit_sigma below) and a run rule for a "
        "sustained shift (run_rule_months).",
        positivity.WORDING,
    )
    page.sections.append(
        Section(
            "Targets, requirements, published bands and rules",
            "bands",
            "The lab target is the laboratory's own target, labelled 'lab target (ASCO/CAP 2007 "
            "criterion)': the 2013/2018 guidelines keep case-count requirements for validation "
            "but set no concordance figure (her2-domain.md §QA-WORDING, §VALIDATION). Published "
            "figures are context bands, not limits.",
            blocks=[StaticBlock(bands)],
        )
    )
    page.sections.append(Section("Findings", "rules", blocks=[StaticBlock(rules)]))
    page.sections.append(Section("Definitions", "definitions", blocks=[StaticBlock(definitions)]))
    page.sections.append(
        Section(
            "Privacy",
            "privacy",
            blocks=[
                StaticBlock(
                    para(
                        "Pages show aggregates only: no patient identifier, accession or test "
                        "id. Patients are linked across laboratories by a keyed hash computed "
                        "as the file is read; the medical record number never reaches the "
                        "warehouse. Case-level worklists are written as CSV files (spreadsheet "
                        "formulas neutralised) to the restricted folder "
                        f"{ctx.restricted_label}, readable only by the pipeline's owner account."
                    )
                )
            ],
        )
    )
    return page
