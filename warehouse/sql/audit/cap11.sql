-- audit/cap11: the three rates of CAP QCDR measure "CAP 11" (2019) as the extract lets us
-- approximate them, for the period: warehouse/sql/marts/cap11_rates.sql re-run unchanged on
-- the period's cohort (audit/stage_specimens), months pooled (sums of its counts). ref:
-- her2-domain.md §CAP-CHECKLIST ("Related quality measure": rate 3 is the reported rate; a
-- repeat may be on the same or another specimen). Proxies, said so in the labels:
--   rate3   THE REPORTED RATE: specimens whose calls agree with the algorithm AND, when
--           equivocal, have a completed repeat, of those audited (n_rate3_met /
--           n_specimens_audited)
--   rate1   specimens whose every reported clinical call agrees with the ASCO/CAP algorithm's
--           call for that row (marts.interpretation_audit), of those audited
--   rate2   equivocal specimens (IHC 2+, or an equivocal final status) with a completed repeat:
--           ISH on the specimen, or a decided result on another specimen of the patient within
--           the mart's window (n_equivocal_completed / n_equivocal)
--   repeats_same_specimen, repeats_other_specimen   how rate 2's repeats were completed
--   days_ihc_to_ish_median, days_ihc_to_ish_p90   report_date of the ISH minus that of the
--           IHC 2+, over reflex-completed cases: the mart's definition, as quantiles over the
--           period
INSERT INTO audit_metrics BY NAME
WITH pooled AS (
    SELECT
        lab_id,
        n_specimens_audited AS audited,
        n_specimens_agree AS agree,
        n_rate3_met AS met3,
        n_equivocal AS equivocal,
        n_equivocal_completed AS completed,
        rate1_label,
        rate2_label,
        rate3_label
    FROM cap11_pooled('period_specimens.marts.cap11_rates')  -- macros/cap11
),
rates AS (
    SELECT lab_id, 'rate3' AS metric, rate3_label AS label, met3 AS k, audited AS n FROM pooled
    UNION ALL
    SELECT lab_id, 'rate1', rate1_label, agree, audited FROM pooled
    UNION ALL
    SELECT lab_id, 'rate2', rate2_label, completed, equivocal FROM pooled
)
SELECT
    'cap11' AS section,
    metric,
    lab_id,
    'all' AS stratum,
    label,
    unnest(proportion_figure(k, n)),
    'marts.cap11_rates (CAP QCDR measure CAP 11 (2019), her2-domain.md §CAP-CHECKLIST; rate 3 '
    || 'the reported rate; proxies from the extract); warehouse/sql/marts/cap11_rates.sql re-run '
    || 'on the period''s cohort (warehouse/sql/audit/stage_specimens.sql), months pooled'
        AS source_rule
FROM rates
;
INSERT INTO audit_metrics BY NAME
SELECT
    'cap11' AS section,
    r.metric,
    p.lab_id,
    'all' AS stratum,
    r.label,
    CASE r.metric WHEN 'repeats_same_specimen' THEN p.same_specimen ELSE p.other_specimen END
        ::DOUBLE AS value,
    'count' AS unit,
    CASE r.metric WHEN 'repeats_same_specimen' THEN p.same_specimen ELSE p.other_specimen END
        AS numerator,
    p.equivocal AS n,
    'not applicable (count)' AS ci_method,
    'marts.cap11_rates n_repeat_same_specimen / n_repeat_other_specimen (a specimen completed '
    || 'both ways counts in both), over the period''s equivocal specimens '
    || '(warehouse/sql/audit/cap11.sql)' AS source_rule
FROM (
    SELECT
        lab_id,
        n_equivocal AS equivocal,
        n_repeat_same_specimen AS same_specimen,
        n_repeat_other_specimen AS other_specimen
    FROM cap11_pooled('period_specimens.marts.cap11_rates')
) AS p
CROSS JOIN (
    VALUES
    ('repeats_same_specimen', 'Equivocal specimens completed by ISH on the same specimen'),
    ('repeats_other_specimen', 'Equivocal specimens completed by a decided result on another '
        || 'specimen of the patient (the excision after an equivocal core)')
) AS r (metric, label)
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
        quantile_cont(days_ihc_to_ish, 0.5) AS median_days,
        quantile_cont(days_ihc_to_ish, 0.9) AS p90_days
    FROM completed
    GROUP BY GROUPING SETS ((lab_id), ())
)
SELECT
    'cap11' AS section,
    r.metric,
    q.lab_id,
    'all' AS stratum,
    r.label,
    CASE r.metric WHEN 'days_ihc_to_ish_median' THEN q.median_days ELSE q.p90_days END AS value,
    'days' AS unit,
    NULL AS numerator,
    q.n,
    'not applicable (quantile)' AS ci_method,
    'as marts.cap11_rates days_ihc_to_ish (report_date of the ISH minus that of the IHC 2+; '
    || 'continuous quantile) over the period''s cohort (warehouse/sql/audit/cap11.sql)'
        AS source_rule
FROM q
CROSS JOIN (
    VALUES
    ('days_ihc_to_ish_median', 'Days from the IHC 2+ report to the ISH report: median '
        || '(completed cases)'),
    ('days_ihc_to_ish_p90', 'Days from the IHC 2+ report to the ISH report: 90th percentile '
        || '(completed cases)')
) AS r (metric, label)
;
