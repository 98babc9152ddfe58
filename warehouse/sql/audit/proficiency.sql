-- audit/proficiency: proficiency-testing (PT) results of the period (test_purpose
-- 'proficiency'), graded against the 90%-correct mark. ref: her2-domain.md §VALIDATION
-- (ASCO/CAP 2018: external PT with >= 2 testing events per year; satisfactory = >= 90% correct
-- on graded challenges).
--
-- The extract carries no expected answer, so her2qa grades each answer against the CONSENSUS
-- of the laboratories of this deployment that answered the same challenge (pipeline choice,
-- stated in the report):
--   challenge     accession_id (+ assay) of the PT row: the PT material's id, the same in every
--                 laboratory (the generator plants e.g. 'PT23A-01')
--   answer        a laboratory's current result for the challenge (latest report_date, then the
--                 greatest test_id); call: IHC 3+ positive, 2+ equivocal, 0/1+ negative
--                 (macros/asco_cap_rules ihc_call); dual-probe ISH group 1 positive, 5 negative,
--                 2-4 equivocal; reported 'indeterminate' or no usable value: indeterminate
--   consensus     the call given by a strict majority of the laboratories with a usable answer
--                 (each laboratory's own answer included), over every answer in the warehouse;
--                 a challenge is GRADED when at least 3 laboratories answered and a strict
--                 majority exists, else ungraded (too few labs, or no majority)
--   correct       the answer's call equals the consensus (an indeterminate answer on a graded
--                 challenge is not correct)
--   event         the PT material's distribution, identified by the rows' collection_date
-- Answers counted in the period: report_date between $from and $to, lab $lab.
-- Judged here (no warehouse finding covers PT), thresholds from marts.reference_bands
-- (audit_bands: 'pt_correct', 'pt_events_per_year'), verdicts in the words of marts.findings:
-- ok at or above the requirement, look below, too_few with no graded challenge.
CREATE OR REPLACE TEMP TABLE audit_pt_results AS
WITH pt AS (
    SELECT
        lab_id,
        test_id,
        accession_id AS challenge_id,
        assay,
        collection_date AS event_date,
        report_date,
        assay_kit,
        pathologist_id,
        ihc_score,
        ish_group(ish_ratio, ish_her2_per_cell)::TINYINT AS ish_group,
        reported_result,
        CASE
            WHEN reported_result = 'indeterminate' THEN 'indeterminate'
            WHEN assay = 'IHC' THEN coalesce(ihc_call(ihc_score), 'indeterminate')
            WHEN ish_group(ish_ratio, ish_her2_per_cell) = 1 THEN 'positive'
            WHEN ish_group(ish_ratio, ish_her2_per_cell) = 5 THEN 'negative'
            WHEN ish_group(ish_ratio, ish_her2_per_cell) IN (2, 3, 4) THEN 'equivocal'
            ELSE 'indeterminate'
        END AS answer_call
    FROM wh.staging.her2_results
    WHERE test_purpose = 'proficiency'
),
answers AS (
    SELECT *
    FROM pt
    QUALIFY row_number() OVER (
        PARTITION BY lab_id, challenge_id, assay ORDER BY report_date DESC, test_id DESC
    ) = 1
),
votes AS (
    SELECT challenge_id, assay, answer_call, count(*) AS n_votes
    FROM answers
    WHERE answer_call <> 'indeterminate'
    GROUP BY challenge_id, assay, answer_call
),
consensus AS (
    SELECT
        challenge_id,
        assay,
        sum(n_votes)::BIGINT AS n_labs_answered,
        max(n_votes)::BIGINT AS n_consensus,
        arg_max(answer_call, n_votes) AS modal_call
    FROM votes
    GROUP BY challenge_id, assay
)
SELECT
    a.lab_id,
    a.challenge_id,
    a.assay,
    a.event_date,
    a.report_date,
    a.test_id,
    a.assay_kit,
    a.pathologist_id,
    a.ihc_score,
    a.ish_group,
    a.reported_result,
    a.answer_call,
    coalesce(c.n_labs_answered, 0) AS n_labs_answered,
    c.n_consensus,
    CASE
        WHEN c.n_labs_answered >= 3 AND 2 * c.n_consensus > c.n_labs_answered THEN c.modal_call
    END AS consensus_call,
    coalesce(c.n_labs_answered >= 3 AND 2 * c.n_consensus > c.n_labs_answered, false) AS graded,
    CASE
        WHEN c.n_labs_answered >= 3 AND 2 * c.n_consensus > c.n_labs_answered
            THEN a.answer_call = c.modal_call
    END AS correct
FROM answers AS a
LEFT JOIN consensus AS c USING (challenge_id, assay)
WHERE a.report_date BETWEEN $from AND $to
    AND ($lab IS NULL OR a.lab_id = $lab)
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
        'PT challenges graded (consensus of ≥ 3 laboratories, strict majority)',
        n_graded, 'count', n_graded, n_answered, NULL, NULL, 'not applicable (count)', NULL
    FROM per_lab
    UNION ALL
    SELECT
        'correct_rate', lab_id, 'all', 'Correct on graded PT challenges, all events of the period',
        n_correct::DOUBLE / nullif(n_graded, 0), 'proportion', n_correct, n_graded,
        wilson_low(n_correct, n_graded), wilson_high(n_correct, n_graded), 'Wilson score 95%',
        'pt_correct'
    FROM per_lab
    UNION ALL
    SELECT
        'event_correct_rate', lab_id, stratum,
        'Correct on graded PT challenges, per testing event (event date)',
        n_correct::DOUBLE / nullif(n_graded, 0), 'proportion', n_correct, n_graded,
        wilson_low(n_correct, n_graded), wilson_high(n_correct, n_graded), 'Wilson score 95%',
        'pt_correct'
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
    'test_purpose proficiency results; each answer graded against the consensus call of the '
    || 'deployment''s laboratories for the same challenge (accession_id), IHC call per '
    || 'her2-domain.md §IHC-2018; pass mark and events per year §VALIDATION '
    || '(warehouse/sql/audit/proficiency.sql)' AS source_rule
FROM metrics AS m
LEFT JOIN audit_bands AS t ON t.band_id = m.target_id AND t.lab_id = m.lab_id
;
