-- audit/cap11: the two rates of CAP QCDR measure "CAP 11" (2019) as the extract lets us
-- approximate them, for the period: warehouse/sql/marts/cap11_rates.sql re-run unchanged on
-- the period's cohort (audit/stage_specimens), months pooled (sums of its counts). ref:
-- her2-domain.md §CAP-CHECKLIST ("Related quality measure"). Proxies, said so in the labels:
--   rate1   specimens whose every reported clinical call agrees with the ASCO/CAP algorithm's
--           call for that row (marts.interpretation_audit), of those audited
--   rate2   IHC 2+ (equivocal) specimens with a completed dual-probe ISH
--   days_ihc_to_ish_median  report_date of the ISH minus that of the IHC 2+, over completed
--           cases: the mart's definition, as one median over the period
INSERT INTO audit_metrics BY NAME
WITH pooled AS (
    SELECT
        lab_id,
        sum(n_specimens_audited)::BIGINT AS audited,
        sum(n_specimens_agree)::BIGINT AS agree,
        sum(n_ihc_equivocal)::BIGINT AS equivocal,
        sum(n_ish_completed)::BIGINT AS completed,
        any_value(rate1_label) AS rate1_label,
        any_value(rate2_label) AS rate2_label
    FROM period_specimens.marts.cap11_rates
    GROUP BY lab_id
)
SELECT
    'cap11' AS section,
    r.metric,
    p.lab_id,
    'all' AS stratum,
    CASE r.metric WHEN 'rate1' THEN p.rate1_label ELSE p.rate2_label END AS label,
    CASE r.metric WHEN 'rate1' THEN p.agree ELSE p.completed END::DOUBLE
        / nullif(CASE r.metric WHEN 'rate1' THEN p.audited ELSE p.equivocal END, 0) AS value,
    'proportion' AS unit,
    CASE r.metric WHEN 'rate1' THEN p.agree ELSE p.completed END AS numerator,
    CASE r.metric WHEN 'rate1' THEN p.audited ELSE p.equivocal END AS n,
    CASE r.metric
        WHEN 'rate1' THEN wilson_low(p.agree, p.audited)
        ELSE wilson_low(p.completed, p.equivocal)
    END AS ci_low,
    CASE r.metric
        WHEN 'rate1' THEN wilson_high(p.agree, p.audited)
        ELSE wilson_high(p.completed, p.equivocal)
    END AS ci_high,
    'Wilson score 95%' AS ci_method,
    'marts.cap11_rates (CAP QCDR measure CAP 11 (2019), her2-domain.md §CAP-CHECKLIST; proxies '
    || 'from the extract); warehouse/sql/marts/cap11_rates.sql re-run on the period''s cohort '
    || '(warehouse/sql/audit/stage_specimens.sql), months pooled' AS source_rule
FROM pooled AS p
CROSS JOIN (VALUES ('rate1'), ('rate2')) AS r (metric)
;
INSERT INTO audit_metrics BY NAME
WITH completed AS (
    SELECT lab_id, (ish_report_date - ihc_report_date)::DOUBLE AS days_ihc_to_ish
    FROM period_specimens.marts.specimen_her2
    WHERE ihc_score = '2+' AND ish_group IS NOT NULL
),
q AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        count(*) AS n,
        quantile_cont(days_ihc_to_ish, 0.5) AS median_days
    FROM completed
    GROUP BY GROUPING SETS ((lab_id), ())
)
SELECT
    'cap11' AS section,
    'days_ihc_to_ish_median' AS metric,
    lab_id,
    'all' AS stratum,
    'Days from the IHC 2+ report to the ISH report: median (completed cases)' AS label,
    median_days AS value,
    'days' AS unit,
    NULL AS numerator,
    n,
    'not applicable (quantile)' AS ci_method,
    'as marts.cap11_rates days_ihc_to_ish (report_date of the ISH minus that of the IHC 2+; '
    || 'continuous quantile) over the period''s cohort (warehouse/sql/audit/cap11.sql)'
        AS source_rule
FROM q
;
