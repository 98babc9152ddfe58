-- marts/ihc_ish_matrix: clinical specimens by selected IHC score × 2018 ISH group
-- ('none': no usable dual-probe ISH), per lab and 'ALL' (summed from marts.specimen_counts),
-- for the IHC/ISH page: a small table the page reads (the GROUP BY over every specimen is the
-- build's: at 10M, 0.11 s of a site build otherwise).
-- Grain: lab_id × ihc_score × ish_group, specimens with a usable IHC score.
CREATE OR REPLACE TABLE marts.ihc_ish_matrix AS
SELECT
    CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
    ihc_score,
    coalesce(ish_group::VARCHAR, 'none') AS ish_group,
    sum(n_specimens)::BIGINT AS n_specimens
FROM marts.specimen_counts
WHERE ihc_score IS NOT NULL
GROUP BY GROUPING SETS ((lab_id, ihc_score, ish_group), (ihc_score, ish_group))
ORDER BY lab_id, ihc_score, ish_group
