"""One-line readings: 'in control', 'look here', 'small n', in words a lab director reads.

Every rule here is stated on the Sources page (dashboards/site/pages/sources.py) with where its
threshold comes from. Published bands are context, never limits (her2-domain.md §BENCH):
a figure whose whole 95% interval lies outside a band is "worth a look", not a failure.
"""

from __future__ import annotations

from dashboards.site.data import Band
from dashboards.site.figures import ci, count, is_small, pct
from dashboards.site.layout import Reading

# her2qa defaults (pipeline choices, not published limits); shown on the Sources page.
QUARANTINE_LOOK = 0.05  # more than 5% of rows read quarantined
FRESHNESS_DAYS = 92  # newest result older than about a quarter (extracts are at least quarterly)


def concordance(
    *,
    topic: str,
    n: int | None,
    pct_agree: float | None,
    ci_low: float | None,
    ci_high: float | None,
    target: float,
    target_label: str,
    href: str,
) -> Reading:
    """Agreement in percent (marts.agreement) against the lab target.

    look  the point estimate is under the target, or the whole interval is (even at small n)
    small fewer than 30 pairs or an interval wider than 20 points, not clearly under target
    ok    at or above the target
    """
    if not n:
        return Reading("none", "no pairs in this run.", topic, href)
    figure = f"{pct_agree:.1f}% ({ci_low:.1f}–{ci_high:.1f}%, n = {count(n)} pairs)"
    small = is_small(n, ci_low / 100, ci_high / 100)
    if ci_high < target:
        note = " (small n: even the top of its wide interval is under it)" if small else ""
        return Reading("look", f"{figure}: under the {target_label}{note}.", topic, href)
    if small:
        where = "under" if pct_agree < target else "at or above"
        return Reading(
            "small",
            f"{figure}: {where} the {target_label}, but too few pairs to tell; the interval is "
            "wide.",
            topic,
            href,
        )
    if pct_agree < target:
        return Reading("look", f"{figure}: under the {target_label}.", topic, href)
    return Reading("ok", f"{figure}: at or above the {target_label}.", topic, href)


def versus_band(
    *,
    topic: str,
    what: str,
    k: int | None,
    n: int | None,
    rate: float | None,
    ci_low: float | None,
    ci_high: float | None,
    band: Band | None,
    href: str,
) -> Reading:
    """A rate (0-1) beside a published band: 'look' when the whole 95% CI is outside it."""
    if not n:
        return Reading("none", f"no {what} in this run.", topic, href)
    figure = f"{pct(rate)} ({ci(ci_low, ci_high)}, {count(k)} of {count(n)} {what})"
    if band is None or (band.low is None and band.high is None):
        return Reading("info", f"{figure}.", topic, href)
    low = band.low if band.low is not None else band.point
    high = band.high if band.high is not None else band.point
    where = f"published band {pct(low)}–{pct(high)}" if low != high else f"published {pct(low)}"
    context = f"{where} ({band.source}; context, not a limit)"
    small = is_small(n, ci_low, ci_high)
    note = " Small n: the interval is wide." if small else ""
    if ci_low is not None and low is not None and ci_low > high:
        return Reading("look", f"{figure}: above the {context}.{note}", topic, href)
    if ci_high is not None and high is not None and ci_high < low:
        return Reading("look", f"{figure}: below the {context}.{note}", topic, href)
    if small:
        return Reading("small", f"{figure}: too few to compare with the {context}.", topic, href)
    return Reading("ok", f"{figure}: consistent with the {context}.", topic, href)


def kappa_words(kappa: float | None) -> str:
    """Landis & Koch (1977) descriptors (her2-domain.md §STATS 7.3)."""
    if kappa is None:
        return "undefined"
    if kappa < 0:
        return "poor"
    for upper, word in (
        (0.20, "slight"),
        (0.40, "fair"),
        (0.60, "moderate"),
        (0.80, "substantial"),
    ):
        if kappa <= upper:
            return word
    return "almost perfect"
