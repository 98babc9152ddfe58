-- audit/proficiency: proficiency-testing (PT) results of the period, from
-- marts.proficiency_results, the warehouse's one grading (warehouse/sql/marts/
-- proficiency_results.sql documents it): each answer against the provider's key
-- (expected_result, contract v2) where given, else against the consensus of the network's
-- laboratories (a her2qa rule, labelled 'consensus' in graded_by), else ungraded. Nothing is
-- graded here. ref: her2-domain.md §VALIDATION (ASCO/CAP 2018: external PT with >= 2 testing
-- events per year; satisfactory = >= 90% correct on graded challenges).
-- Answers counted in the period: report_date between $from and $to, lab $lab. Each event's
-- verdict is its row of marts.findings (proficiency_event, findings.sql re-run on the events
-- signed out in the period: audit/stage_findings); the period's pooled rate and the 12-month event count are read against
-- marts.reference_bands ('pt_correct', 'pt_events_per_year') in the words of marts.findings.
CREATE OR REPLACE TEMP TABLE audit_pt_results AS
SELECT
    lab_id, challenge_id, assay, event_date, report_date, test_id, assay_kit, pathologist_id,
    ihc_score, ish_group, reported_result, answer_call, expected_result, graded_by,
    graded_against, n_labs_answered, n_consensus, consensus_call,
    graded_by <> 'ungraded' AS graded, correct
FROM wh.marts.proficiency_results
WHERE report_date BETWEEN $from AND $to
    AND ($lab IS NULL OR lab_id = $lab)
;
INSERT INTO audit_metrics BY NAME
WITH per_lab AS (
    SELECT
        lab_id,
        count(*) AS n_answered,
        count_if(graded) AS n_graded,
        count_if(correct) AS n_correct,
        count(DISTINCT event_date) AS n_events
    FROM audit_pt_results
    GROUP BY lab_id
),
per_event AS (
    SELECT
        lab_id,
        strftime(event_date, '%Y-%m-%d') AS stratum,
        count_if(graded) AS n_graded,
        count_if(correct) AS n_correct
    FROM audit_pt_results
    GROUP BY lab_id, event_date
),
-- Events of the 12 months ending at the period's end (a look-back: §VALIDATION asks >= 2 a
-- year), per lab in scope; answers by report_date.
year_events AS (
    SELECT lab_id, count(DISTINCT collection_date) AS n_events
    FROM wh.staging.her2_results
    WHERE test_purpose = 'proficiency'
        AND report_date > $to::DATE - INTERVAL 1 YEAR AND report_date <= $to
        AND ($lab IS NULL OR lab_id = $lab)
    GROUP BY lab_id
),
metrics AS (
    SELECT
        'challenges_answered' AS metric, lab_id, 'all' AS stratum,
        'PT challenges answered in the period' AS label,
        n_answered::DOUBLE AS value, 'count' AS unit, n_answered AS numerator, n_answered AS n,
        NULL::DOUBLE AS ci_low, NULL::DOUBLE AS ci_high, 'not applicable (count)' AS ci_method,
        NULL AS target_id
    FROM per_lab
    UNION ALL
    SELECT
        'challenges_graded', lab_id, 'all',
        'PT challenges graded (against the provider''s key, else the network''s consensus)',
        n_graded, 'count', n_graded, n_answered, NULL, NULL, 'not applicable (count)', NULL
    FROM per_lab
    UNION ALL
    -- proportion_figure expands to value, unit, numerator, n, ci_low, ci_high, ci_method
    SELECT
        'correct_rate', lab_id, 'all', 'Correct on graded PT challenges, all events of the period',
        unnest(proportion_figure(n_correct, n_graded)), 'pt_correct'
    FROM per_lab
    UNION ALL
    SELECT
        'event_correct_rate', lab_id, stratum,
        'Correct on graded PT challenges, per testing event (event date)',
        unnest(proportion_figure(n_correct, n_graded)), 'pt_correct'
    FROM per_event
    UNION ALL
    SELECT
        'events_in_period', lab_id, 'all', 'PT testing events answered in the period',
        n_events, 'count', n_events, n_events, NULL, NULL, 'not applicable (count)', NULL
    FROM per_lab
    UNION ALL
    SELECT
        'events_12_months', lab_id, 'all',
        'PT testing events answered in the 12 months ending at the period''s end',
        n_events, 'count', n_events, n_events, NULL, NULL, 'not applicable (count)',
        'pt_events_per_year'
    FROM year_events
)
SELECT
    'proficiency' AS section,
    m.metric,
    m.lab_id,
    m.stratum,
    m.label,
    m.value,
    m.unit,
    m.numerator,
    m.n,
    m.ci_low,
    m.ci_high,
    m.ci_method,
    CASE WHEN t.band_id IS NOT NULL THEN 'requirement' END AS target_kind,
    t.low AS target_low,
    t.label AS target_label,
    t.source AS target_source,
    CASE
        WHEN t.band_id IS NULL THEN NULL
        WHEN m.n = 0 THEN 'too_few'
        WHEN m.value >= t.low THEN 'ok'
        ELSE 'look'
    END AS verdict,
    CASE
        WHEN t.band_id IS NULL THEN NULL
        WHEN m.unit = 'count' THEN printf('%s testing event(s) in the 12 months ending %s: %s '
            || 'the ASCO/CAP 2018 requirement of at least %s a year.', fmt_count(m.value),
            strftime($to::DATE, '%d %b %Y'),
            CASE WHEN m.value >= t.low THEN 'meets' ELSE 'below' END, fmt_count(t.low))
        WHEN m.n = 0 THEN 'no graded challenge: too few to judge against the ASCO/CAP 2018 '
            || 'mark of ' || fmt_pct(t.low) || ' correct.'
        ELSE printf('%s correct (%s of %s graded challenges): %s the ASCO/CAP 2018 mark of %s.',
            fmt_pct(m.value), fmt_count(m.numerator), fmt_count(m.n),
            CASE WHEN m.value >= t.low THEN 'meets' ELSE 'below' END, fmt_pct(t.low))
    END AS verdict_message,
    'marts.proficiency_results: each answer graded against the provider''s key '
    || '(expected_result) where given, else the consensus of the network''s laboratories '
    || '(graded_by says which); pass mark and events per year her2-domain.md §VALIDATION '
    || '(warehouse/sql/marts/proficiency_results.sql, warehouse/sql/audit/proficiency.sql)'
        AS source_rule
FROM metrics AS m
LEFT JOIN audit_bands AS t ON t.band_id = m.target_id AND t.lab_id = m.lab_id
;
-- Each event's verdict and sentence: its row of marts.findings made for the period
-- (audit_findings: findings.sql re-run on the events signed out in the period, as graded by
-- marts.proficiency_results), proficiency_event, subgroup = the event date; never judged here.
UPDATE audit_metrics AS m
SET
    finding = f.finding,
    finding_period = f.period,
    verdict = f.verdict,
    verdict_message = f.message
FROM audit_findings AS f
WHERE m.section = 'proficiency'
    AND m.metric = 'event_correct_rate'
    AND f.made_for = 'period'
    AND f.finding = 'proficiency_event'
    AND f.lab_id = m.lab_id
    AND f.subgroup = m.stratum
;
