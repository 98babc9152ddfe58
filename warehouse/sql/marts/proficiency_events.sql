-- marts/proficiency_events: each laboratory's proficiency-testing (PT) events, from
-- marts.proficiency_results (the one grading). her2-domain.md §VALIDATION: satisfactory PT =
-- >= 90% correct on graded challenges per event ('pt_correct'), >= 2 testing events a year
-- ('pt_events_per_year'); both read from marts.reference_bands by the findings.
--
-- Grain: one row per lab_id × event_date (the PT material's distribution).
--   n_challenges         challenges answered in the event
--   n_graded, n_correct  graded challenges and those answered correctly; pct_correct (0-1)
--                        with its Wilson 95% interval (macros/statistics); NULL without a
--                        graded challenge
--   n_by_key, n_by_consensus  graded against the provider's key / the network's consensus
--   graded_by            'provider_key' (every graded challenge by the key), 'consensus'
--                        (every one by consensus), 'mixed', or 'ungraded'
--   first_report_date, last_report_date   when the lab signed out its answers
--   events_in_year       events of the lab in the calendar year of event_date
CREATE OR REPLACE TABLE marts.proficiency_events AS
WITH per_event AS (
    SELECT
        lab_id,
        event_date,
        count(*) AS n_challenges,
        count_if(graded_by <> 'ungraded') AS n_graded,
        count_if(correct) AS n_correct,
        count_if(graded_by = 'provider_key') AS n_by_key,
        count_if(graded_by = 'consensus') AS n_by_consensus,
        min(report_date) AS first_report_date,
        max(report_date) AS last_report_date
    FROM marts.proficiency_results
    GROUP BY lab_id, event_date
)
SELECT
    lab_id,
    event_date,
    strftime(event_date, '%Y-%m') AS event_month,
    year(event_date) AS event_year,
    n_challenges::BIGINT AS n_challenges,
    n_graded::BIGINT AS n_graded,
    n_correct::BIGINT AS n_correct,
    CASE WHEN n_graded > 0 THEN n_correct::DOUBLE / n_graded END AS pct_correct,
    wilson_low(n_correct, n_graded) AS ci_low,
    wilson_high(n_correct, n_graded) AS ci_high,
    n_by_key::BIGINT AS n_by_key,
    n_by_consensus::BIGINT AS n_by_consensus,
    CASE
        WHEN n_graded = 0 THEN 'ungraded'
        WHEN n_by_consensus = 0 THEN 'provider_key'
        WHEN n_by_key = 0 THEN 'consensus'
        ELSE 'mixed'
    END AS graded_by,
    first_report_date,
    last_report_date,
    count(*) OVER (PARTITION BY lab_id, year(event_date))::BIGINT AS events_in_year
FROM per_event
ORDER BY lab_id, event_date
;
