"""The dashboard site for lab directors: offline Plotly pages built from the warehouse.

``dashboards.site.build_site(con, site_dir, site_config, run_id)`` (run by the Dagster asset
``site``, pipelines/defs/site.py) writes::

    <site_dir>/index.html            Overview: six headline tiles with a one-line reading each,
                                     then every check of the other pages, 'look here' first
    <site_dir>/concordance.html      agreement per comparison and quarter; by lab, kit, reader
    <site_dir>/ihc-ish.html          IHC score × ISH group; amplification by score vs published
    <site_dir>/metastasis.html       primary -> metastasis transitions; gain/loss vs literature
    <site_dir>/positivity.html       p-chart per lab; labs and pathologists vs the band
    <site_dir>/her2-low.html         HER2 category mix per quarter; HER2-low and IHC 0 shares
    <site_dir>/readers.html          inter-observer confusion matrix, kappa
    <site_dir>/preanalytic.html      cold ischaemia, fixation, turnaround, CAP 11 proxies
    <site_dir>/data-quality.html     files ingested, quarantine reasons over time and per file
    <site_dir>/sources.html          every threshold and band with its source
    <site_dir>/plotly.min.js         plotly.js, once for the whole site
    <site_dir>/assets/               site.css, site.js (the lab selector)
    <site_dir>/site.json             pages, generation time, run id, lineage (full SHA-256s)
    <site_dir>/../restricted/        case-level worklists (CSV, 0700 folder, 0600 files)

Lab selector: one page per topic carries every view (the network and each laboratory); the
selector on every page switches between them and the choice travels from page to page in the
address (``concordance.html#lab=NORTH``), so a view can be bookmarked. Each view's figures are
drawn when it is chosen (site.js); nothing is fetched.

Worklists go beside the site, not inside it (``<site_dir>/../restricted/``): copying the site
to a shared drive never carries a case list.

Layout: ``data.py`` (the warehouse connection, views, marts.reference_bands,
marts.findings), ``../report/sql/`` (the pages' non-trivial aggregate queries, one file each,
shared with the audit pack), ``pages/`` (one module per page), ``figures.py`` (palette, CI
bands, serialisation), ``layout.py`` + ``templates/`` (HTML), ``readings.py`` (findings as
badges: the site makes no verdict of its own), ``worklists.py``, ``checks.py`` (the checks
of a built site). Numbers are formatted by ``dashboards/report/formatting.py``.
"""
