"""Sources & definitions: every threshold, band and rule the pages use, with where it comes
from (her2-domain.md §QA-WORDING: a number on a dashboard names its source). The bands are
marts.reference_bands as this run built them; nothing here is typed twice."""

from __future__ import annotations

from markupsafe import Markup

from dashboards.report import formatting as fmt
from dashboards.site import figures as F
from dashboards.site import readings
from dashboards.site.data import Band, Context
from dashboards.site.layout import Page, Section, StaticBlock, para, table
from dashboards.site.pages import positivity
from her2qa import config

FILENAME = "sources.html"


def _band_value(b: Band) -> str:
    """'11.8–17.2% (point 14%)', '≤ 60 min', '6–72 h'."""
    unit = {"proportion": "%", "minutes": " min", "hours": " h"}.get(b.unit, "")
    scale = 100 if b.unit == "proportion" else 1

    def num(x: float) -> str:
        return f"{x * scale:g}"

    if b.low is not None and b.high is not None and b.low != b.high:
        span = f"{num(b.low)}–{num(b.high)}{unit}"
    elif b.low is None and b.high is not None:
        span = f"≤ {num(b.high)}{unit}"
    elif b.high is None and b.low is not None and b.point is None:
        span = f"≥ {num(b.low)}{unit}"
    else:
        return f"{num(b.point if b.point is not None else b.low)}{unit}"
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
    labs = sorted(ctx.site_config.labs.items())
    own = [
        [lab, f"{cfg.concordance_target_pct:g}%", "set by the laboratory (her2qa.toml)"]
        for lab, cfg in labs
        if cfg.concordance_target_pct is not None
    ]
    targets = table(
        ["applies to", "target", "source"],
        [
            [
                "IHC/ISH concordance and lab vs reference agreement (every laboratory unless "
                "set below, and the network)",
                f"{config.DEFAULT_CONCORDANCE_TARGET:g}%",
                f"{config.CONCORDANCE_TARGET_LABEL}. The ≥95% concordance is the 2007 ASCO/CAP "
                "validation criterion; the 2013/2018 updates keep case-count requirements "
                "(20+20 / 40+40) but set no concordance figure (her2-domain.md §QA-WORDING, "
                "§VALIDATION). It is the laboratory's own target.",
            ],
            *own,
        ],
        caption="Lab target for agreement",
    )
    bands = table(
        ["metric", "stratum", "value", "kind", "role", "population", "source", "label"],
        [
            [
                b.metric,
                b.stratum or "",
                _band_value(b),
                b.band_kind,
                b.role,
                b.population,
                b.source,
                b.label,
            ]
            for b in sorted(ctx.bands.values(), key=lambda b: (b.metric, b.stratum or ""))
        ],
        caption="Published benchmark bands and guideline limits (marts.reference_bands, this run)",
    )
    defaults = table(
        ["rule", "value", "where it comes from"],
        [
            [
                "small n",
                f"fewer than {F.SMALL_N} cases, or a 95% CI wider than "
                f"{F.WIDE_CI * 100:g} percentage points: open marker, 'small n' in words",
                "her2qa default (pipeline choice)",
            ],
            [
                "small-numbers banner",
                f"a selection with fewer than {F.SMALL_VIEW_SPECIMENS} "
                f"clinical specimens or {F.SMALL_N} IHC/ISH pairs",
                "her2qa default",
            ],
            [
                "'look here' for agreement",
                "the point estimate under the lab target, or the whole 95% CI under it",
                "lab target above",
            ],
            [
                "'look here' beside a published band",
                "the whole 95% CI of the rate outside the band",
                "the band's source; the band is context, not a limit",
            ],
            [
                "'look here' for positivity",
                "a month outside the p-chart control limits in the last 12 months",
                "Shewhart p-chart, centre ± 3σ for each month's n (pipeline "
                "choice; marts.positivity_monthly)",
            ],
            [
                "'look here' for quarantine",
                f"more than {fmt.pct(readings.QUARANTINE_LOOK, 0)} of "
                "rows read quarantined, or a file rejected whole",
                "her2qa default, not a published limit",
            ],
            [
                "'look here' for freshness",
                f"newest result more than {readings.FRESHNESS_DAYS} "
                "days before the site was generated",
                "her2qa default (extracts arrive at least quarterly)",
            ],
            [
                "last 12 months",
                "the 12 calendar months ending with the latest month with data in the warehouse",
                "her2qa default",
            ],
            [
                "kappa words",
                "<0 poor, ≤0.20 slight, ≤0.40 fair, ≤0.60 moderate, ≤0.80 "
                "substantial, above: almost perfect",
                "Landis & Koch 1977 (her2-domain.md §STATS)",
            ],
        ],
        caption="Rules of the readings ('in control', 'look here', 'small n')",
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
        "the monthly positive rate against the laboratory's own overall rate, with limits at ± 3 "
        "standard errors for that month's number of specimens.",
        positivity.WORDING,
    )
    page.sections.append(Section("Lab target", "target", blocks=[StaticBlock(targets)]))
    page.sections.append(
        Section("Published bands and limits", "bands", blocks=[StaticBlock(bands)])
    )
    page.sections.append(Section("Rules of the readings", "rules", blocks=[StaticBlock(defaults)]))
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
