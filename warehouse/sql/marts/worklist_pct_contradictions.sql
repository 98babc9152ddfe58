-- marts/worklist_pct_contradictions: the worklist of IHC scores that contradict their
-- percentage of stained cells, per the score definitions of the ASCO/CAP version the result was
-- read under (her2-domain.md §IHC-2018, §HER2-LOW). From marts.interpretation_audit, whose
-- pct_contradiction flags them (macros ihc_pct_contradicts); every flagged row is listed,
-- whatever its reported call (a contradiction is not a disagreement: the reported call may
-- follow the score). A worklist to review the slide, never a recategorisation.
--
-- Grain: one row per current clinical IHC result (lab_id, test_id) whose score contradicts its
-- ihc_pct_stained. rule (stable code, what put the row on the list):
--   'ihc0_pct_over_10'           2013/2018 (2023): IHC 0 with more than 10% stained
--   'ihc1_pct_10_or_less'        2013/2018 (2023): IHC 1+ with 10% or less stained
--   'ihc3_pct_10_or_less'        2013/2018 (2023): IHC 3+ with 10% or less stained
--   'ihc0_stained_2007'          2007: IHC 0 ("no staining") with any staining
--   'ihc1_unstained_2007'        2007: IHC 1+ with no staining
--   'ihc3_pct_30_or_less_2007'   2007: IHC 3+ with 30% or less stained
-- (2+ is never judged: §HER2-LOW). The cut-points are the macro's; the codes name them.
-- Columns: lab_id, accession_id, test_id, result_version, specimen_role, report_date,
-- guideline_version, assay_kit, pathologist_id, ihc_score, ihc_pct_stained, reported_result,
-- is_selected (the result makes the specimen's status), her2_category (the specimen's,
-- marts.specimen_her2), boundary_0_1 (the contradiction is on the 0 / 1+ boundary that decides
-- HER2-low vs IHC 0 and T-DXd eligibility), rule, reason (one sentence for the pathologist),
-- source (guideline version and section). No patient_key: the specimen is the lab's own ids.
CREATE OR REPLACE TABLE marts.worklist_pct_contradictions AS
SELECT
    a.lab_id,
    a.accession_id,
    a.test_id,
    a.result_version,
    a.specimen_role,
    a.report_date,
    a.guideline_version,
    a.assay_kit,
    a.pathologist_id,
    a.ihc_score,
    a.ihc_pct_stained,
    a.reported_result,
    a.is_selected,
    s.her2_category,
    a.ihc_score IN ('0', '1+') AS boundary_0_1,
    CASE
        WHEN a.guideline_version = '2007' THEN
            CASE a.ihc_score
                WHEN '0' THEN 'ihc0_stained_2007'
                WHEN '1+' THEN 'ihc1_unstained_2007'
                ELSE 'ihc3_pct_30_or_less_2007'
            END
        ELSE
            CASE a.ihc_score
                WHEN '0' THEN 'ihc0_pct_over_10'
                WHEN '1+' THEN 'ihc1_pct_10_or_less'
                ELSE 'ihc3_pct_10_or_less'
            END
    END AS rule,
    printf(
        'IHC %s with %g%% of cells stained contradicts the score read under ASCO/CAP %s: %s; '
        || 'review the slide%s',
        a.ihc_score, a.ihc_pct_stained, a.guideline_version,
        ihc_pct_rule(a.guideline_version, a.ihc_score),
        CASE
            WHEN a.ihc_score IN ('0', '1+')
                THEN ' (0 vs 1+ decides HER2-low and trastuzumab deruxtecan eligibility)'
            ELSE ' (a 3+ on few stained cells may be a 2+ needing reflex ISH)'
        END
    ) AS reason,
    'ASCO/CAP ' || a.guideline_version || ', her2-domain.md §IHC-2018'
        || CASE WHEN a.ihc_score IN ('0', '1+') THEN ', §HER2-LOW' ELSE '' END AS source
FROM marts.interpretation_audit AS a
LEFT JOIN marts.specimen_her2 AS s USING (lab_id, accession_id)
WHERE a.pct_contradiction
;
