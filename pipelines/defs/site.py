"""Publish stage: the marts -> the dashboard site (dashboards/site/build.py) and the restricted
worklists in their own folder (HER2QA_RESTRICTED). The site code does the work; this asset
says when, and reports the pages, the largest page and the worklist rows as metadata. The
checks (dashboards/site/checks.py) are blocking: a page over 1 MB or a page carrying a case
identifier fails the run.
"""

import dagster as dg

from dashboards.site import checks as site_checks
from dashboards.site.build import build_site
from pipelines.defs.resources import Her2qaPaths
from pipelines.factory import asset_key
from warehouse import catalog

SITE = dg.AssetKey("site")


@dg.asset(
    key=SITE,
    deps=[asset_key(t.name) for t in catalog.published()],
    group_name="publish",
    kinds={"plotly", "html"},
    owners=["team:her2qa"],
    pool="her2qa_warehouse",
    description=(
        "The dashboard site for lab directors: index.html and one page per topic, opening from "
        "disk with no network (plotly.min.js shipped once), aggregates only, a lab selector on "
        "every page. Case-level worklists go to the restricted folder (HER2QA_RESTRICTED, "
        "owner-only CSV)."
    ),
)
def site(context: dg.AssetExecutionContext, paths: Her2qaPaths) -> dg.MaterializeResult:
    """Rebuild the site from the warehouse of this run (read-only connection)."""
    with paths.connect(read_only=True) as con:
        summary = build_site(
            con,
            paths.site_dir,
            paths.load_site_config(),
            context.run.run_id,
            restricted_dir=paths.restricted_dir,
        )
    largest, size = summary.largest_page
    context.log.info(
        f"site: {len(summary.pages)} pages in {summary.site_dir} (largest {largest}, "
        f"{size / 1024:.0f} KB), {summary.views} views; worklists: "
        + ", ".join(f"{name} {rows:,}" for name, rows in summary.worklists.items())
        + f" in {summary.restricted_dir}"
    )
    return dg.MaterializeResult(
        metadata={
            "pages": len(summary.pages),
            "largest_page_kb": float(round(size / 1024, 1)),
            "largest_page": largest,
            "total_pages_kb": float(round(sum(summary.pages.values()) / 1024, 1)),
            "views": summary.views,
            "figures": summary.figures,
            "worklist_rows": summary.worklist_rows,
            **{
                f"worklist_{name.removesuffix('.csv')}_rows": rows
                for name, rows in summary.worklists.items()
            },
            "build_seconds": float(round(summary.seconds, 2)),
            "index": dg.MetadataValue.path(str(summary.site_dir / "index.html")),
            "restricted_dir": dg.MetadataValue.path(str(summary.restricted_dir)),
        }
    )


@dg.asset_check(
    asset=SITE,
    blocking=True,
    description=(
        f"Every page is at most {site_checks.MAX_PAGE_BYTES // 1_000_000} MB (plotly.min.js aside, "
        "shipped once) and references nothing on the network."
    ),
)
def site_pages_small_and_offline(paths: Her2qaPaths) -> dg.AssetCheckResult:
    sizes = site_checks.page_sizes(paths.site_dir)
    too_big = site_checks.oversized(paths.site_dir)
    external = site_checks.external_references(paths.site_dir)
    return dg.AssetCheckResult(
        passed=bool(sizes) and not too_big and not external,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "no pages"
            if not sizes
            else "; ".join(
                [f"{n} is {s / 1024:.0f} KB" for n, s in too_big.items()]
                + [f"{n} links to the network ({k}x)" for n, k in external.items()]
            )
            or f"{len(sizes)} pages, largest {max(sizes.values()) / 1024:.0f} KB, all offline"
        ),
        metadata={
            "pages": len(sizes),
            "largest_page_kb": float(round(max(sizes.values(), default=0) / 1024, 1)),
            "pages_over_limit": len(too_big),
            "pages_with_external_references": len(external),
        },
    )


@dg.asset_check(
    asset=SITE,
    blocking=True,
    description=(
        "No page carries a case identifier of the warehouse: a patient_key (or a 12+ character "
        "prefix of one), an accession_id or a test_id. The worklist folder is owner-only "
        "(0700, files 0600)."
    ),
)
def site_carries_no_case_identifiers(paths: Her2qaPaths) -> dg.AssetCheckResult:
    with paths.connect(read_only=True) as con:
        leaks = site_checks.identifier_leaks(con, paths.site_dir)
    problems = site_checks.restricted_problems(paths.restricted_dir)
    kinds = sorted({kind for _, kind, _ in leaks})
    return dg.AssetCheckResult(
        passed=not leaks and not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            # never echo the identifier itself into the run log: page and kind only
            "; ".join(
                [
                    f"{kind} on {', '.join(sorted({p for p, k, _ in leaks if k == kind}))}"
                    for kind in kinds
                ]
                + problems
            )
            or "no case identifier on any page; worklists owner-only"
        ),
        metadata={
            "identifiers_found": len(leaks),
            "pages_with_identifiers": len({p for p, _, _ in leaks}),
            "restricted_folder_problems": len(problems),
        },
    )
