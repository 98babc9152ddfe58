-- marts/agreement_pairs: one row per pair of every comparison of marts.agreement
-- (spec/warehouse.md, "marts.agreement" table of comparisons), so each figure can be traced
-- to its specimens (e.g. the discordance worklist). Built from marts.specimen_her2, the
-- reference_lab / second_read calls of marts/specimen_calls, and
-- marts.primary_metastasis_pairs.
--   lab_id, accession_id           the pair's specimen (for primary_vs_metastasis: the
--                                  metastasis, whose lab_id the pair takes)
--   partner_lab_id, partner_accession_id
--                                  the second member's specimen (the same specimen except
--                                  for primary_vs_metastasis, where it is the primary)
--   first_value, second_value      the members' calls ('positive' / 'negative'), or the IHC
--                                  scores for observer_vs_observer
--   first_code, second_code        agreement_code() of the values (0/1, or 0..3 for IHC)
--   ish_probe                      ihc_vs_ish: the ISH member's probe ('dual' / 'single');
--                                  NULL for the other comparisons
--   pair_date, period              latest report_date among the results selected for the
--                                  two members, and its quarter 'YYYY-Qn'
--   assay_kit, pathologist_id      the kit and reader the pair is broken down by
--                                  (marts.agreement_by_group); NULL for primary_vs_metastasis
-- Pairs never cross lab_id except primary_vs_metastasis (linked through patient_key).
-- The first three comparisons use every specimen, primary or metastasis.
-- No ORDER BY: sorting 10M-row builds costs more than it saves; readers order.
CREATE OR REPLACE TABLE marts.agreement_pairs AS
WITH pairs AS (
    -- IHC 0/1+/3+ vs the selected ISH of the same specimen (clinical results): dual-probe
    -- group 1/5, or single-probe positive (>= 6.0) / negative (< 4.0) (contract v2).
    SELECT
        'ihc_vs_ish' AS comparison,
        lab_id,
        accession_id,
        lab_id AS partner_lab_id,
        accession_id AS partner_accession_id,
        patient_key,
        ihc_binary_call(ihc_score) AS first_value,
        ish_binary_call(ish_probe, ish_group, ish_her2_per_cell) AS second_value,
        greatest(ihc_report_date, ish_report_date) AS pair_date,
        ish_probe
    FROM marts.specimen_her2
    WHERE ihc_binary_call(ihc_score) IS NOT NULL
        AND ish_binary_call(ish_probe, ish_group, ish_her2_per_cell) IS NOT NULL
    UNION ALL
    -- The laboratory's clinical final status vs the reference laboratory's, both pos/neg.
    SELECT
        'lab_vs_reference',
        s.lab_id,
        s.accession_id,
        r.lab_id,
        r.accession_id,
        s.patient_key,
        s.final_status,
        r.final_status,
        greatest(s.specimen_date, r.status_date),
        NULL
    FROM marts.specimen_her2 AS s
    JOIN specimen_calls AS r
        ON r.lab_id = s.lab_id AND r.accession_id = s.accession_id
        AND r.test_purpose = 'reference_lab'
    WHERE s.final_status IN ('positive', 'negative') AND r.final_status IN ('positive', 'negative')
    UNION ALL
    -- The clinical IHC score vs the second_read IHC score of the same specimen.
    SELECT
        'observer_vs_observer',
        s.lab_id,
        s.accession_id,
        o.lab_id,
        o.accession_id,
        s.patient_key,
        s.ihc_score,
        o.ihc_score,
        greatest(s.ihc_report_date, o.ihc_report_date),
        NULL
    FROM marts.specimen_her2 AS s
    JOIN specimen_calls AS o
        ON o.lab_id = s.lab_id AND o.accession_id = s.accession_id
        AND o.test_purpose = 'second_read'
    WHERE s.ihc_score IS NOT NULL AND o.ihc_score IS NOT NULL
    UNION ALL
    -- A patient's primary vs each metastasis specimen, both pos/neg (any laboratories).
    SELECT
        'primary_vs_metastasis',
        metastasis_lab_id,
        metastasis_accession_id,
        primary_lab_id,
        primary_accession_id,
        patient_key,
        primary_status,
        metastasis_status,
        pair_date,
        NULL
    FROM marts.primary_metastasis_pairs
    WHERE change <> 'not_comparable'
)
SELECT
    p.comparison,
    p.lab_id,
    p.accession_id,
    p.partner_lab_id,
    p.partner_accession_id,
    p.patient_key,
    p.first_value,
    p.second_value,
    agreement_code(p.first_value)::TINYINT AS first_code,
    agreement_code(p.second_value)::TINYINT AS second_code,
    p.first_value = p.second_value AS agree,
    p.pair_date,
    quarter_label(p.pair_date) AS period,
    p.ish_probe,
    -- the specimen's assay kit and reader the pair is broken down by (marts.agreement_by_group):
    -- its ISH's for a lab-vs-reference pair without an IHC, else its IHC's
    CASE
        WHEN p.comparison = 'primary_vs_metastasis' THEN NULL
        WHEN p.comparison = 'lab_vs_reference' AND s.ihc_score IS NULL THEN s.ish_assay_kit
        ELSE s.ihc_assay_kit
    END AS assay_kit,
    CASE
        WHEN p.comparison = 'primary_vs_metastasis' THEN NULL
        WHEN p.comparison = 'lab_vs_reference' AND s.ihc_score IS NULL THEN s.ish_pathologist_id
        ELSE s.ihc_pathologist_id
    END AS pathologist_id
FROM pairs AS p
LEFT JOIN marts.specimen_her2 AS s USING (lab_id, accession_id)
;
