-- audit/metrics_table: the pack's figures in one long table (one row per figure), and the lab
-- targets and requirements they are read against. Temporary (per connection): the warehouse is
-- only read. Every section file (audit/<section>.sql) appends its rows; dashboards/audit_pack/metrics.py
-- writes them to metrics.csv and the report is rendered from them, so every figure in
-- report.html / report.pdf is a row here.
--
-- Columns:
--   section, metric, lab_id ('ALL' = pooled over the labs in scope), stratum ('all' when none)
--                    the key: unique per pack
--   label            what the figure is, in words
--   value            the figure; unit: 'count' | 'proportion' (0-1) | 'kappa' | 'days'
--   numerator, n     the counts behind it (n: the denominator, the pairs / specimens / results
--                    the figure is computed over; for a count, the population it counts in)
--   ci_low, ci_high, ci_method   95% interval (Wilson score for proportions, the macros of
--                    macros/statistics); ci_method says why there is none otherwise
--   target_kind      'lab target' | 'requirement' | 'benchmark band' | 'control limits' |
--                    'limit (per specimen)' | NULL; target_low / target_high / target_label /
--                    target_source: what the figure is read against, from marts.reference_bands
--                    (audit_bands below: never a number in the SQL or the report)
--   finding, finding_period   the row of marts.findings whose verdict the figure carries
--                    (audit/findings.sql, attached by audit/verdicts.sql); NULL for a figure
--                    judged here (validation, proficiency: no warehouse finding) or not judged
--   verdict          'ok' | 'look' | 'info' | 'too_few' (the contract's words, spec/warehouse.md
--                    marts.findings); NULL: the figure is shown, not judged
--   verdict_message  the sentence that says the verdict (the finding's message)
--   source_rule      the rule and the SQL the figure comes from
CREATE OR REPLACE TEMP TABLE audit_metrics (
    section       VARCHAR NOT NULL,
    metric        VARCHAR NOT NULL,
    lab_id        VARCHAR NOT NULL,
    stratum       VARCHAR NOT NULL DEFAULT 'all',
    label         VARCHAR NOT NULL,
    value         DOUBLE,
    unit          VARCHAR NOT NULL,
    numerator     BIGINT,
    n             BIGINT NOT NULL,
    ci_low        DOUBLE,
    ci_high       DOUBLE,
    ci_method     VARCHAR NOT NULL,
    target_kind   VARCHAR,
    target_low    DOUBLE,
    target_high   DOUBLE,
    target_label  VARCHAR,
    target_source VARCHAR,
    finding       VARCHAR,
    finding_period VARCHAR,
    verdict       VARCHAR,
    verdict_message VARCHAR,
    source_rule   VARCHAR NOT NULL
)
;
-- A proportion of audit_metrics: k of n with its Wilson 95% interval (the macros of
-- macros/statistics), defined once for every section; expand it with unnest() into value,
-- unit, numerator, n, ci_low, ci_high, ci_method.
CREATE OR REPLACE TEMP MACRO proportion_figure(k, n) AS {
    'value': k::DOUBLE / nullif(n, 0),
    'unit': 'proportion',
    'numerator': k,
    'n': n,
    'ci_low': wilson_low(k, n),
    'ci_high': wilson_high(k, n),
    'ci_method': 'Wilson score 95%'
}
;
-- A published benchmark band (a row of audit_bands) as the target of a figure, with its
-- population in the label; expand it with unnest() into the target_* columns.
CREATE OR REPLACE TEMP MACRO benchmark_band_target(b) AS {
    'target_kind': 'benchmark band',
    'target_low': b.low,
    'target_high': b.high,
    'target_label': b.label || ' — ' || b.band_kind || ': ' || b.population,
    'target_source': b.source
}
;
-- Every threshold of marts.reference_bands (re-run for the period with the pack's configuration,
-- audit/stage_findings) for each laboratory of the warehouse and the pooled 'ALL': the
-- laboratory's own row where it has one (a lab target set in her2qa.toml), else the default
-- ('ALL') row. The sections read their targets, bands and limits here.
CREATE OR REPLACE TEMP TABLE audit_bands AS
WITH labs AS (
    SELECT 'ALL' AS lab_id
    UNION
    SELECT DISTINCT lab_id FROM wh.staging.her2_results
)
SELECT
    d.band_id,
    l.lab_id,
    coalesce(o.point, d.point) AS point,
    coalesce(o.low, d.low) AS low,
    coalesce(o.high, d.high) AS high,
    coalesce(o.label, d.label) AS label,
    coalesce(o.source, d.source) AS source,
    d.band_kind,
    d.population
FROM period_findings.marts.reference_bands AS d
CROSS JOIN labs AS l
LEFT JOIN period_findings.marts.reference_bands AS o
    ON o.band_id = d.band_id AND o.lab_id = l.lab_id
WHERE d.lab_id = 'ALL'
;
