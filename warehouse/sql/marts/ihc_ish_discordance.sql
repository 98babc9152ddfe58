-- marts/ihc_ish_discordance: the IHC/ISH discordance worklist, from marts.specimen_her2 (the
-- selected clinical IHC and ISH of each specimen: dual-probe, or single-probe without a
-- usable dual-probe result, contract v2). Case level, no PHI (patient_key is the keyed hash).
-- ref: her2-domain.md §FINAL-STATUS, §ISH-RESOLVE, §ISH-SINGLE, §ISH-COUNT.
--
-- Grain: one row per specimen (lab_id, accession_id) whose IHC and ISH disagree or need the
-- concurrent IHC to resolve:
--   discordance_type
--     'ihc3_ish_group5'    IHC 3+ with group 5 (not amplified): final status positive (IHC),
--                          a true IHC/ISH discordance (§FINAL-STATUS caveats)
--     'ihc01_ish_group1'   IHC 0 or 1+ with group 1 (amplified): final status positive (ISH)
--     'ish_group_2_4'      every group 2, 3 or 4, with how it resolved: the concurrent IHC and
--                          the final status (§ISH-RESOLVE), 'equivocal' without IHC
--     'ihc3_single_probe_negative'   IHC 3+ with a single-probe ISH < 4.0 HER2/cell: final
--                          status positive (IHC), an IHC/ISH discordance (§ISH-SINGLE)
--     'ihc01_single_probe_positive'  IHC 0 or 1+ with a single-probe ISH >= 6.0 HER2/cell:
--                          final status positive (ISH), an IHC/ISH discordance; the panel
--                          prefers dual-probe ISH (§ISH-SINGLE): confirm with it
-- (the single-probe calls are the 2018 cut-points, like the ihc_vs_ish pairs of
-- marts.agreement_pairs; the final status follows the lab's version)
-- Columns: lab_id, accession_id, patient_key, specimen_role, discordance_type, rule (the
-- worklist's stable code of what put the specimen on the list: = discordance_type), reason
-- (text for the reviewer; it names the probe: dual-probe group or single-probe HER2/cell),
-- source (the guideline and section the rule comes from), ihc_test_id, ihc_score,
-- ihc_pct_stained, ihc_report_date,
-- ihc_assay_kit, ihc_pathologist_id, ish_test_id, ish_probe, ish_group, ish_ratio,
-- ish_her2_per_cell,
-- ish_cep17_per_cell, ish_cells_counted, ish_report_date, ish_assay_kit, ish_pathologist_id,
-- final_status, her2_category, guideline_version, resolution (how the case resolved, short),
-- needs_blinded_recount (groups 2-4 with IHC 2+: §ISH-COUNT asks a second, blinded observer
-- to recount >= 20 cells; the extract cannot show whether it was done),
-- cells_below_20 (ish_cells_counted < 20: a protocol deviation, §ISH-COUNT),
-- specimen_date, specimen_quarter.
-- final_status follows the lab's configured ASCO/CAP version (marts.specimen_her2); the group
-- is always the 2018 grouping of the reported numbers.
CREATE OR REPLACE TABLE marts.ihc_ish_discordance AS
WITH flagged AS (
    SELECT
        *,
        CASE
            WHEN ihc_score = '3+' AND ish_group = 5 THEN 'ihc3_ish_group5'
            WHEN ihc_score IN ('0', '1+') AND ish_group = 1 THEN 'ihc01_ish_group1'
            WHEN ish_group IN (2, 3, 4) THEN 'ish_group_2_4'
            WHEN ihc_score = '3+' AND ish_binary_call(ish_probe, ish_group, ish_her2_per_cell)
                = 'negative' AND ish_probe = 'single' THEN 'ihc3_single_probe_negative'
            WHEN ihc_score IN ('0', '1+')
                AND ish_binary_call(ish_probe, ish_group, ish_her2_per_cell) = 'positive'
                AND ish_probe = 'single' THEN 'ihc01_single_probe_positive'
        END AS discordance_type
    FROM marts.specimen_her2
    WHERE ish_probe IS NOT NULL
)
SELECT
    lab_id,
    accession_id,
    patient_key,
    specimen_role,
    discordance_type,
    discordance_type AS rule,
    CASE discordance_type
        WHEN 'ihc3_ish_group5' THEN printf(
            'IHC 3+ but dual-probe ISH group 5 (ratio %.2f, HER2 %.2f/cell): not amplified; '
            || 'final status %s by IHC; true IHC/ISH discordance, review both slides '
            || '(her2-domain.md §FINAL-STATUS)',
            ish_ratio, ish_her2_per_cell, final_status
        )
        WHEN 'ihc01_ish_group1' THEN printf(
            'IHC %s but dual-probe ISH group 1 (ratio %.2f, HER2 %.2f/cell): amplified; '
            || 'final status %s by ISH; IHC/ISH discordance, review both slides '
            || '(her2-domain.md §FINAL-STATUS)',
            ihc_score, ish_ratio, ish_her2_per_cell, final_status
        )
        WHEN 'ihc3_single_probe_negative' THEN printf(
            'IHC 3+ but single-probe ISH %.2f HER2/cell (not amplified): final status %s by '
            || 'IHC; IHC/ISH discordance, review both slides (her2-domain.md §ISH-SINGLE, '
            || '§FINAL-STATUS)',
            ish_her2_per_cell, final_status
        )
        WHEN 'ihc01_single_probe_positive' THEN printf(
            'IHC %s but single-probe ISH %.2f HER2/cell (amplified): final status %s by ISH; '
            || 'IHC/ISH discordance, review both slides; dual-probe ISH is preferred '
            || '(her2-domain.md §ISH-SINGLE)',
            ihc_score, ish_her2_per_cell, final_status
        )
        ELSE printf(
            'Dual-probe ISH group %d (ratio %.2f, HER2 %.2f/cell) %s -> final status %s '
            || '(her2-domain.md §ISH-RESOLVE)',
            ish_group, ish_ratio, ish_her2_per_cell,
            CASE
                WHEN ihc_score IS NULL THEN 'without a concurrent IHC score (IHC review missing)'
                ELSE 'resolved with concurrent IHC ' || ihc_score
            END,
            final_status
        )
    END AS reason,
    CASE
        WHEN discordance_type IN ('ihc3_ish_group5', 'ihc01_ish_group1')
            THEN 'ASCO/CAP 2018, her2-domain.md §FINAL-STATUS'
        WHEN discordance_type = 'ish_group_2_4' THEN 'ASCO/CAP 2018, her2-domain.md §ISH-RESOLVE'
        ELSE 'ASCO/CAP 2018, her2-domain.md §ISH-SINGLE, §FINAL-STATUS'
    END AS source,
    ihc_test_id,
    ihc_score,
    ihc_pct_stained,
    ihc_report_date,
    ihc_assay_kit,
    ihc_pathologist_id,
    ish_test_id,
    ish_probe,
    ish_group,
    ish_ratio,
    ish_her2_per_cell,
    ish_cep17_per_cell,
    ish_cells_counted,
    ish_report_date,
    ish_assay_kit,
    ish_pathologist_id,
    final_status,
    her2_category,
    guideline_version,
    CASE
        WHEN discordance_type <> 'ish_group_2_4' THEN 'final ' || final_status
        WHEN ihc_score IS NULL THEN 'unresolved: no concurrent IHC'
        ELSE 'IHC ' || ihc_score || ' -> ' || final_status
    END AS resolution,
    discordance_type = 'ish_group_2_4' AND ihc_score = '2+' AS needs_blinded_recount,
    coalesce(ish_cells_counted < 20, false) AS cells_below_20,
    specimen_date,
    specimen_quarter
FROM flagged
WHERE discordance_type IS NOT NULL
ORDER BY lab_id, accession_id
;
