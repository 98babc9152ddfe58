-- marts/retest_candidates: metastasis specimens to consider for HER2 retesting, with the
-- reason. The 2013 ASCO/CAP guideline asks to test the metastasis when tissue exists
-- (her2-domain.md §TIMELINE, §BENCH 6.4); a metastasis whose status would change therapy is
-- worth confirming, and one without a usable, complete result cannot guide it. From
-- marts.specimen_her2 (every clinical metastasis specimen, with or without a primary) and
-- marts.primary_metastasis_pairs (its patient's primary, when there is one). A worklist for
-- the lab to review, not a clinical recommendation.
--
-- Grain: one row per flagged metastasis specimen (lab_id, accession_id); exactly one reason
-- applies (the cases are exclusive), in this order:
--   reason_group 'therapy_change' (needs a primary, both statuses positive or negative):
--     'loss'          primary positive → metastasis negative: anti-HER2 eligibility lost
--     'gain'          primary negative → metastasis positive: anti-HER2 eligibility gained
--     'low_to_zero'   HER2-low primary → IHC 0 metastasis (null / ultralow / unspecified):
--                     T-DXd eligibility changes (§HER2-LOW); the reason says how: to null,
--                     lost; to ultralow, kept in HR-positive disease (DESTINY-Breast06, FDA
--                     2025) and lost in HR-negative disease only; to an unspecified IHC 0,
--                     lost in HR-negative disease, open in HR-positive
--     'zero_to_low'   IHC 0 primary → HER2-low metastasis: HER2-low eligibility gained (in
--                     HR-positive disease an ultralow primary was already eligible)
--     'null_to_ultralow' / 'ultralow_to_null'
--                     HER2-null ↔ HER2-ultralow: T-DXd eligibility gained / lost in
--                     HR-positive disease (DESTINY-Breast06, FDA 2025)
--   reason_group 'incomplete_result' (with or without a primary):
--     'no_usable_result'       final status indeterminate: no usable IHC or ISH
--     'ihc_2plus_without_ish'  IHC 2+ and no dual-probe ISH: equivocal, reflex ISH missing
--     'ish_without_ihc'        ISH group 2-4 without a concurrent IHC score (§ISH-RESOLVE)
--     'negative_without_ihc'   negative by ISH alone: HER2-low status cannot be told (no IHC)
-- Columns: lab_id, accession_id, patient_key, specimen_site, collection_date, specimen_date,
-- final_status, her2_category, ihc_score, ihc_pct_stained, ish_group, ihc_test_id,
-- ish_test_id, primary_lab_id, primary_accession_id, primary_status, primary_her2_category,
-- change (marts.primary_metastasis_pairs; NULL without a primary), site_group (macros
-- site_group: distant / locoregional / unspecified), likely_decalcified (bone: usually
-- decalcified, CAP ANP.22985, §PREANALYTIC; the reason says so), companion_assay (the
-- metastasis' IHC is clone 4B5, marts.specimen_her2), reason_group, reason_code, reason
-- (text for the reviewer). No PHI (patient_key is the keyed hash).
CREATE OR REPLACE TABLE marts.retest_candidates AS
WITH metastases AS (
    SELECT
        m.*,
        p.primary_lab_id,
        p.primary_accession_id,
        p.primary_status,
        p.primary_her2_category,
        p.change
    FROM marts.specimen_her2 AS m
    LEFT JOIN marts.primary_metastasis_pairs AS p
        ON p.metastasis_lab_id = m.lab_id AND p.metastasis_accession_id = m.accession_id
    WHERE m.specimen_role = 'metastasis'
),
coded AS (
    SELECT
        *,
        CASE
            WHEN change = 'loss' THEN 'loss'
            WHEN change = 'gain' THEN 'gain'
            WHEN change = 'concordant' AND primary_her2_category = 'low'
                AND her2_category IN ('null', 'ultralow', 'zero_unspecified') THEN 'low_to_zero'
            WHEN change = 'concordant' AND her2_category = 'low'
                AND primary_her2_category IN ('null', 'ultralow', 'zero_unspecified')
                THEN 'zero_to_low'
            WHEN change = 'concordant' AND primary_her2_category = 'null'
                AND her2_category = 'ultralow' THEN 'null_to_ultralow'
            WHEN change = 'concordant' AND primary_her2_category = 'ultralow'
                AND her2_category = 'null' THEN 'ultralow_to_null'
            WHEN final_status = 'indeterminate' THEN 'no_usable_result'
            WHEN final_status = 'equivocal' AND ihc_score = '2+' AND ish_group IS NULL
                THEN 'ihc_2plus_without_ish'
            WHEN final_status = 'equivocal' AND ihc_score IS NULL AND ish_group IN (2, 3, 4)
                THEN 'ish_without_ihc'
            WHEN final_status = 'negative' AND ihc_score IS NULL THEN 'negative_without_ihc'
        END AS reason_code
    FROM metastases
)
SELECT
    lab_id,
    accession_id,
    patient_key,
    specimen_site,
    collection_date,
    specimen_date,
    final_status,
    her2_category,
    ihc_score,
    ihc_pct_stained,
    ish_group,
    ihc_test_id,
    ish_test_id,
    primary_lab_id,
    primary_accession_id,
    primary_status,
    primary_her2_category,
    change,
    site_group(specimen_site) AS site_group,
    likely_decalcified(specimen_site) AS likely_decalcified,
    companion_assay,
    CASE
        WHEN reason_code IN (
            'loss', 'gain', 'low_to_zero', 'zero_to_low', 'null_to_ultralow', 'ultralow_to_null'
        ) THEN 'therapy_change'
        ELSE 'incomplete_result'
    END AS reason_group,
    reason_code,
    CASE reason_code
        WHEN 'loss' THEN printf(
            'HER2 loss: primary %s/%s positive, metastasis negative (%s): anti-HER2 therapy '
            || 'eligibility changes; confirm by retesting (her2-domain.md §BENCH 6.4)',
            primary_lab_id, primary_accession_id, her2_category
        )
        WHEN 'gain' THEN printf(
            'HER2 gain: primary %s/%s negative (%s), metastasis positive: anti-HER2 therapy '
            || 'eligibility changes; confirm by retesting (her2-domain.md §BENCH 6.4)',
            primary_lab_id, primary_accession_id, primary_her2_category
        )
        WHEN 'low_to_zero' THEN printf(
            'HER2-low primary %s/%s, metastasis IHC 0 (%s): %s; confirm by retesting '
            || '(her2-domain.md §HER2-LOW)',
            primary_lab_id, primary_accession_id, her2_category,
            CASE her2_category
                WHEN 'ultralow' THEN 'T-DXd eligibility kept in HR-positive disease '
                    || '(HER2-ultralow, DESTINY-Breast06, FDA 2025), lost in HR-negative disease'
                WHEN 'null' THEN 'T-DXd (HER2-low) eligibility lost'
                ELSE 'T-DXd eligibility lost in HR-negative disease; in HR-positive disease it '
                    || 'depends on ultralow vs null (% of stained cells not recorded)'
            END
        )
        WHEN 'zero_to_low' THEN printf(
            'IHC 0 primary %s/%s (%s), HER2-low metastasis: T-DXd (HER2-low) eligibility '
            || 'gained%s; confirm by retesting (her2-domain.md §HER2-LOW)',
            primary_lab_id, primary_accession_id, primary_her2_category,
            CASE
                WHEN primary_her2_category = 'ultralow'
                    THEN ' in HR-negative disease (HR-positive: already eligible as ultralow)'
                ELSE ''
            END
        )
        WHEN 'null_to_ultralow' THEN printf(
            'HER2-null primary %s/%s, HER2-ultralow metastasis: T-DXd eligibility gained in '
            || 'HR-positive disease (DESTINY-Breast06, FDA 2025); confirm by retesting '
            || '(her2-domain.md §HER2-LOW)',
            primary_lab_id, primary_accession_id
        )
        WHEN 'ultralow_to_null' THEN printf(
            'HER2-ultralow primary %s/%s, HER2-null metastasis: T-DXd eligibility lost in '
            || 'HR-positive disease (DESTINY-Breast06, FDA 2025); confirm by retesting '
            || '(her2-domain.md §HER2-LOW)',
            primary_lab_id, primary_accession_id
        )
        WHEN 'no_usable_result' THEN
            'No usable HER2 result on the metastasis: retest when tissue exists '
            || '(ASCO/CAP 2013, her2-domain.md §BENCH 6.4)'
        WHEN 'ihc_2plus_without_ish' THEN
            'IHC 2+ (equivocal) without dual-probe ISH: reflex ISH missing '
            || '(her2-domain.md §FINAL-STATUS)'
        WHEN 'ish_without_ihc' THEN printf(
            'Dual-probe ISH group %d without a concurrent IHC score: unresolved '
            || '(her2-domain.md §ISH-RESOLVE)',
            ish_group
        )
        WHEN 'negative_without_ihc' THEN
            'Negative by ISH alone: no IHC score, so HER2-low / ultralow / null cannot be told '
            || '(her2-domain.md §HER2-LOW)'
    END
    || CASE
        WHEN likely_decalcified(specimen_site) THEN
            '. Bone metastasis, usually decalcified: check that the HER2 method is validated '
            || 'for decalcified tissue (CAP ANP.22985, her2-domain.md §PREANALYTIC)'
        ELSE ''
    END AS reason
FROM coded
WHERE reason_code IS NOT NULL
ORDER BY lab_id, accession_id
;
