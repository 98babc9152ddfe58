-- marts/primary_metastasis_pairs: one row per (patient, metastasis specimen), for every
-- patient with a primary specimen (spec/warehouse.md). Built from marts.specimen_her2.
-- The primary is the patient's earliest primary specimen by collection_date (ties: the
-- smallest lab_id, then accession_id), across laboratories (linked by patient_key), and
-- stays the primary even when its status is equivocal or indeterminate. Every metastasis
-- specimen of the patient pairs with it, whatever its collection date.
-- change: concordant (same), gain (negative -> positive), loss (positive -> negative);
-- not_comparable unless both statuses are positive or negative.
-- Extras: pair_date = the latest report_date among the results selected for the two
-- members (NULL when neither has a usable result), its quarter, both members' collection
-- dates and HER2 categories (HER2-low subgroups, ref: her2-domain.md §HER2-LOW), and:
--   metastasis_site                 specimen_site of the metastasis (lis-extract.md)
--   metastasis_site_group           'distant' (liver, lung, bone, brain, pleura),
--                                   'locoregional' (lymph_node, skin, chest wall, breast) or
--                                   'unspecified' (other, not recorded): macros site_group.
--                                   Schrijver 2018 (§BENCH 6.4) is about distant metastases
--   metastasis_likely_decalcified   the metastasis comes from a site usually decalcified
--                                   (bone): HER2 on decalcified tissue needs a validated
--                                   method, CAP ANP.22985 (§PREANALYTIC, §CAP-CHECKLIST)
--   primary_companion_assay, metastasis_companion_assay
--                                   each member's IHC is clone 4B5, the FDA 2025 companion
--                                   diagnostic for HER2-ultralow (marts.specimen_her2)
CREATE OR REPLACE TABLE marts.primary_metastasis_pairs AS
WITH primaries AS (
    SELECT
        patient_key,
        arg_min(
            {
                'lab_id': lab_id,
                'accession_id': accession_id,
                'final_status': final_status,
                'her2_category': her2_category,
                'collection_date': collection_date,
                'specimen_date': specimen_date,
                'companion_assay': companion_assay
            },
            {'collection_date': collection_date, 'lab_id': lab_id, 'accession_id': accession_id}
        ) AS p
    FROM marts.specimen_her2
    WHERE specimen_role = 'primary'
        -- the patients with a metastasis only (the pairs are theirs): the arg_min states for
        -- every patient took 13.5-16.0 s of a 10M build against 2.2-2.3 s so (the same rows;
        -- README "Scale and scale-out")
        AND patient_key IN (
            SELECT patient_key FROM marts.specimen_her2 WHERE specimen_role = 'metastasis'
        )
    GROUP BY patient_key
),
pairs AS (
    SELECT
        m.patient_key,
        p.p.lab_id AS primary_lab_id,
        p.p.accession_id AS primary_accession_id,
        m.lab_id AS metastasis_lab_id,
        m.accession_id AS metastasis_accession_id,
        p.p.final_status AS primary_status,
        m.final_status AS metastasis_status,
        greatest(p.p.specimen_date, m.specimen_date) AS pair_date,
        p.p.her2_category AS primary_her2_category,
        m.her2_category AS metastasis_her2_category,
        p.p.collection_date AS primary_collection_date,
        m.collection_date AS metastasis_collection_date,
        m.specimen_site AS metastasis_site,
        p.p.companion_assay AS primary_companion_assay,
        m.companion_assay AS metastasis_companion_assay
    FROM marts.specimen_her2 AS m
    JOIN primaries AS p USING (patient_key)
    WHERE m.specimen_role = 'metastasis'
)
SELECT
    patient_key,
    primary_lab_id,
    primary_accession_id,
    metastasis_lab_id,
    metastasis_accession_id,
    primary_status,
    metastasis_status,
    CASE
        WHEN primary_status NOT IN ('positive', 'negative')
            OR metastasis_status NOT IN ('positive', 'negative') THEN 'not_comparable'
        WHEN primary_status = metastasis_status THEN 'concordant'
        WHEN primary_status = 'negative' THEN 'gain'
        ELSE 'loss'
    END AS change,
    pair_date,
    quarter_label(pair_date) AS pair_quarter,
    primary_her2_category,
    metastasis_her2_category,
    primary_collection_date,
    metastasis_collection_date,
    metastasis_site,
    site_group(metastasis_site) AS metastasis_site_group,
    likely_decalcified(metastasis_site) AS metastasis_likely_decalcified,
    primary_companion_assay,
    metastasis_companion_assay
FROM pairs
ORDER BY patient_key, metastasis_lab_id, metastasis_accession_id
;
