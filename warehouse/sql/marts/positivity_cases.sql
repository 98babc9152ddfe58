-- marts/positivity_cases: the specimens the HER2-positive rate counts (marts/positivity_monthly
-- documents the population: her2-domain.md §BENCH 6.1): each patient's FIRST primary specimen
-- (earliest collection_date; ties: smallest lab_id, then accession_id), when its final status
-- is positive or negative, with its reader and its month of collection.
-- A case-level table, kept by patient (the first primary is chosen among the patient's
-- specimens only): the monthly rates and the funnel plot are counts of its rows.
-- Grain: one row per patient with a decided first primary (lab_id, accession_id).
--   pathologist_id   the reader of the specimen's IHC (its ISH when it has no usable IHC),
--                    '(not recorded)' without one
-- No ORDER BY: its readers count its rows; sorting the 6.8M rows of a 10M build took 12.5-13.2 s
-- of the table against 8.2-9.3 s without (README "Scale and scale-out").
CREATE OR REPLACE TABLE marts.positivity_cases AS
WITH first_primary AS (
    SELECT *
    FROM marts.specimen_her2
    WHERE specimen_role = 'primary'
    QUALIFY row_number() OVER (
        PARTITION BY patient_key ORDER BY collection_date, lab_id, accession_id
    ) = 1
)
SELECT
    lab_id,
    accession_id,
    patient_key,
    coalesce(ihc_pathologist_id, ish_pathologist_id, '(not recorded)') AS pathologist_id,
    date_trunc('month', collection_date)::DATE AS month,
    (final_status = 'positive')::INTEGER AS positive
FROM first_primary
WHERE final_status IN ('positive', 'negative')
;
