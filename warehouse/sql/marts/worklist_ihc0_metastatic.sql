-- marts/worklist_ihc0_metastatic: metastatic patients whose only HER2 result is an IHC 0
-- primary: retest for HER2-low / HER2-ultralow, which decide trastuzumab deruxtecan (T-DXd)
-- eligibility in metastatic disease (her2-domain.md §HER2-LOW: DESTINY-Breast04 HER2-low,
-- DESTINY-Breast06 HER2-ultralow in HR-positive disease; §BENCH 6.4: the metastasis should be
-- tested when tissue is available, and HER2 changes between primary and metastasis).
-- A worklist for the lab to review, not a clinical recommendation.
--
-- Metastatic patient: a patient (patient_key, across labs) with at least one current result
-- (clinical, second_read or reference_lab) on a specimen_role 'metastasis' specimen.
-- Only HER2 result: none of the patient's metastasis results is usable (every one reported
-- 'indeterminate': e.g. a failed test on decalcified bone), and every specimen of the patient
-- with a usable clinical result (marts.specimen_her2, final status not indeterminate) is a
-- primary called IHC 0 (her2_category 'null', 'ultralow' or 'zero_unspecified').
--
-- Grain: one row per such patient, named by the primary specimen (lab_id, accession_id): the
-- patient's earliest IHC 0 primary (collection_date, ties lab_id, accession_id), the primary of
-- spec/warehouse.md; the latest metastasis specimen is named beside it (to pull its block).
-- rule 'metastatic_only_ihc0_primary'; the reason says what a retest can change for the
-- primary's category (null / ultralow / IHC 0 without a % stained).
-- Columns: lab_id, accession_id, specimen_site, collection_date, specimen_date, ihc_test_id,
-- ihc_score, ihc_pct_stained, ihc_assay_kit, companion_assay, her2_category,
-- n_ihc0_primaries, metastasis_lab_id, metastasis_accession_id, metastasis_site,
-- metastasis_collection_date, n_metastasis_specimens, rule, reason, source. No patient_key.
CREATE OR REPLACE TABLE marts.worklist_ihc0_metastatic AS
WITH metastasis_results AS (
    SELECT
        patient_key,
        lab_id,
        accession_id,
        any_value(specimen_site) AS specimen_site,
        min(collection_date) AS collection_date,
        bool_or(reported_result <> 'indeterminate') AS usable
    FROM staging.her2_results
    WHERE specimen_role = 'metastasis'
      AND test_purpose IN ('clinical', 'second_read', 'reference_lab')
    GROUP BY patient_key, lab_id, accession_id
),
metastatic AS (
    SELECT
        patient_key,
        count(*) AS n_metastasis_specimens,
        arg_max(lab_id, (collection_date, lab_id, accession_id)) AS metastasis_lab_id,
        arg_max(accession_id, (collection_date, lab_id, accession_id)) AS metastasis_accession_id,
        arg_max(specimen_site, (collection_date, lab_id, accession_id)) AS metastasis_site,
        max(collection_date) AS metastasis_collection_date
    FROM metastasis_results
    GROUP BY patient_key
    HAVING NOT bool_or(usable)
),
usable AS (
    SELECT
        *,
        specimen_role = 'primary'
            AND her2_category IN ('null', 'ultralow', 'zero_unspecified') AS ihc0_primary
    FROM marts.specimen_her2
    WHERE final_status <> 'indeterminate'
        -- the metastatic patients' specimens only (the list is of them): the arg_min states
        -- below, keyed by a (date, lab, accession) struct, for every patient took 13.6-17.9 s
        -- of a 10M build against 1.0-1.2 s so (the same rows; README "Scale and scale-out")
        AND patient_key IN (SELECT patient_key FROM metastatic)
),
only_ihc0 AS (
    SELECT
        patient_key,
        count(*) AS n_ihc0_primaries,
        arg_min(lab_id, (collection_date, lab_id, accession_id)) AS lab_id,
        arg_min(accession_id, (collection_date, lab_id, accession_id)) AS accession_id
    FROM usable
    GROUP BY patient_key
    HAVING bool_and(ihc0_primary)
)
SELECT
    s.lab_id,
    s.accession_id,
    s.specimen_site,
    s.collection_date,
    s.specimen_date,
    s.ihc_test_id,
    s.ihc_score,
    s.ihc_pct_stained,
    s.ihc_assay_kit,
    s.companion_assay,
    s.her2_category,
    o.n_ihc0_primaries,
    m.metastasis_lab_id,
    m.metastasis_accession_id,
    m.metastasis_site,
    m.metastasis_collection_date,
    m.n_metastasis_specimens,
    'metastatic_only_ihc0_primary' AS rule,
    printf(
        'Metastatic disease (metastasis %s, %s: no usable HER2 result) and the only HER2 result '
        || 'is an IHC 0 primary (%s): %s',
        m.metastasis_accession_id, coalesce(m.metastasis_site, 'site not recorded'),
        CASE s.her2_category
            WHEN 'null' THEN 'HER2-null, no membrane staining'
            WHEN 'ultralow' THEN printf('HER2-ultralow, %g%% stained', s.ihc_pct_stained)
            ELSE 'IHC 0 without a usable % stained'
        END,
        CASE s.her2_category
            WHEN 'ultralow' THEN 'T-DXd-eligible in HR-positive disease (DESTINY-Breast06); '
                || 'retest the metastasis for HER2-low, which also covers HR-negative disease'
            ELSE 'retest the metastasis (or re-review the primary) for HER2-low or HER2-ultralow, '
                || 'which would make the patient eligible for T-DXd'
        END
        || CASE
            WHEN s.companion_assay = false THEN '; the primary''s IHC was not the 4B5 companion assay'
            ELSE ''
        END
    ) AS reason,
    'DESTINY-Breast04/06, FDA 2022/2025, her2-domain.md §HER2-LOW, §BENCH 6.4' AS source
FROM only_ihc0 AS o
JOIN metastatic AS m USING (patient_key)
JOIN marts.specimen_her2 AS s USING (lab_id, accession_id)
;
