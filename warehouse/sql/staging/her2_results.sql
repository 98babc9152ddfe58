-- staging/her2_results: the current version of each result (lab_id, test_id):
-- the highest result_version received; older versions stay in the history.
CREATE OR REPLACE TABLE staging.her2_results AS
SELECT *
FROM staging.her2_results_history
QUALIFY row_number() OVER (PARTITION BY lab_id, test_id ORDER BY result_version DESC) = 1
ORDER BY lab_id, test_id
;
