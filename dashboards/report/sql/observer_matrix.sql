-- dashboards/observer_matrix: the inter-observer confusion matrix, clinical IHC score (rows) ×
-- second-read IHC score (columns), per lab and 'ALL', from the observer_vs_observer pairs of
-- marts.agreement_pairs. Grain: lab_id × first_value × second_value.
SELECT
    CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
    first_value AS clinical_score,
    second_value AS second_read_score,
    count(*) AS n_pairs
FROM marts.agreement_pairs
WHERE comparison = 'observer_vs_observer'
GROUP BY GROUPING SETS ((lab_id, first_value, second_value), (first_value, second_value))
ORDER BY lab_id, clinical_score, second_read_score
