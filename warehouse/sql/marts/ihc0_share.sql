-- marts/ihc0_share: the share of IHC 0 among clinical IHC reads (issue 11: a drift of the
-- 0 vs 1+ call shows as a shift of the IHC 0 share of a reader or a clone over time;
-- her2-domain.md §HER2-LOW). Summed from marts.specimen_counts: each specimen with a clinical IHC
-- score (the selected IHC result, primary or metastasis) counts once, at the quarter of that
-- IHC result's report_date, for its reader and its antibody.
--   lab_id           a lab's code, or 'ALL' pooled
--   breakdown        'all' (breakdown_value 'all') | 'pathologist' | 'clone' (assay_kit);
--                    '(not recorded)' when the extract has none
--   quarter          'YYYY-Qn', or 'ALL' pooled
--   n_ihc_reads      specimens with a clinical IHC score (0, 1+, 2+, 3+)
--   n_ihc0, n_ihc1plus   of them scored 0, resp. 1+
--   share_ihc0, ci_low, ci_high   n_ihc0 / n_ihc_reads (0-1) with its Wilson 95% interval
-- A row exists for every group with at least one read.
CREATE OR REPLACE TABLE marts.ihc0_share AS
WITH fine AS (
    -- The reads' counts (marts.specimen_counts) summed at the finest grain (lab, quarter,
    -- reader, clone: a few thousand rows, labelled after summing), then unpivoted and rolled up
    -- with sum(): the same counts as grouping the reads themselves.
    SELECT
        lab_id,
        ihc_quarter_start AS quarter_start,
        ihc_pathologist_id,
        ihc_assay_kit,
        sum(n_specimens) AS n_ihc_reads,
        coalesce(sum(n_specimens) FILTER (WHERE ihc_score = '0'), 0) AS n_ihc0,
        coalesce(sum(n_specimens) FILTER (WHERE ihc_score = '1+'), 0) AS n_ihc1plus
    FROM marts.specimen_counts
    WHERE ihc_score IS NOT NULL
    GROUP BY lab_id, quarter_start, ihc_pathologist_id, ihc_assay_kit
),
reads AS (
    SELECT
        lab_id,
        quarter_label(quarter_start) AS quarter,
        coalesce(ihc_pathologist_id, '(not recorded)') AS pathologist,
        coalesce(ihc_assay_kit, '(not recorded)') AS clone,
        n_ihc_reads,
        n_ihc0,
        n_ihc1plus
    FROM fine
),
unpivoted AS (
    SELECT lab_id, quarter, 'all' AS breakdown, 'all' AS breakdown_value, n_ihc_reads,
        n_ihc0, n_ihc1plus
    FROM reads
    UNION ALL
    SELECT lab_id, quarter, 'pathologist', pathologist, n_ihc_reads, n_ihc0, n_ihc1plus
    FROM reads
    UNION ALL
    SELECT lab_id, quarter, 'clone', clone, n_ihc_reads, n_ihc0, n_ihc1plus FROM reads
),
counts AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        breakdown,
        breakdown_value,
        CASE WHEN grouping(quarter) = 1 THEN 'ALL' ELSE quarter END AS quarter,
        sum(n_ihc_reads)::BIGINT AS n_ihc_reads,
        sum(n_ihc0) AS n_ihc0,  -- HUGEINT, as count_if gives
        sum(n_ihc1plus) AS n_ihc1plus
    FROM unpivoted
    GROUP BY GROUPING SETS (
        (lab_id, breakdown, breakdown_value, quarter),
        (lab_id, breakdown, breakdown_value),
        (breakdown, breakdown_value, quarter),
        (breakdown, breakdown_value)
    )
)
SELECT
    lab_id,
    breakdown,
    breakdown_value,
    quarter,
    n_ihc_reads,
    n_ihc0,
    n_ihc1plus,
    n_ihc0::DOUBLE / n_ihc_reads AS share_ihc0,
    wilson_low(n_ihc0, n_ihc_reads) AS ci_low,
    wilson_high(n_ihc0, n_ihc_reads) AS ci_high
FROM counts
ORDER BY lab_id <> 'ALL', lab_id, breakdown <> 'all', breakdown, breakdown_value,
    quarter <> 'ALL', quarter
;
