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
--                     HER2-low (T-DXd) eligibility lost (§HER2-LOW)
--     'zero_to_low'   IHC 0 primary → HER2-low metastasis: HER2-low eligibility gained
--   reason_group 'incomplete_result' (with or without a primary):
--     'no_usable_result'       final status indeterminate: no usable IHC or ISH
--     'ihc_2plus_without_ish'  IHC 2+ and no dual-probe ISH: equivocal, reflex ISH missing
--     'ish_without_ihc'        ISH group 2-4 without a concurrent IHC score (§ISH-RESOLVE)
--     'negative_without_ihc'   negative by ISH alone: HER2-low status cannot be told (no IHC)
-- Columns: lab_id, accession_id, patient_key, specimen_site, collection_date, specimen_date,
-- final_status, her2_category, ihc_score, ihc_pct_stained, ish_group, ihc_test_id,
-- ish_test_id, primary_lab_id, primary_accession_id, primary_status, primary_her2_category,
-- change (marts.primary_metastasis_pairs; NULL without a primary), reason_group, reason_code,
-- reason (text for the reviewer). No PHI (patient_key is the keyed hash).
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
    CASE
        WHEN reason_code IN ('loss', 'gain', 'low_to_zero', 'zero_to_low') THEN 'therapy_change'
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
            'HER2-low primary %s/%s, metastasis IHC 0 (%s): HER2-low (T-DXd) eligibility '
            || 'changes; confirm by retesting (her2-domain.md §HER2-LOW)',
            primary_lab_id, primary_accession_id, her2_category
        )
        WHEN 'zero_to_low' THEN printf(
            'IHC 0 primary %s/%s (%s), HER2-low metastasis: HER2-low (T-DXd) eligibility '
            || 'changes; confirm by retesting (her2-domain.md §HER2-LOW)',
            primary_lab_id, primary_accession_id, primary_her2_category
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
    END AS reason
FROM coded
WHERE reason_code IS NOT NULL
ORDER BY lab_id, accession_id
;
