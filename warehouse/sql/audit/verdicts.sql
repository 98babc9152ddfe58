-- audit/verdicts: each judged figure of audit_metrics takes the verdict and the message of its
-- finding (audit/findings.sql), matched on finding code, laboratory, period and subgroup. The
-- figure a finding judges is the figure of its row (a test checks both). Validation and
-- proficiency rows are judged where they are made (audit/validation.sql, audit/proficiency.sql:
-- no warehouse finding covers them); every other figure is shown, not judged.
--   section / metric / stratum            finding                               period
--   ihc_vs_ish ppa, npa                   lab_target_ihc_vs_ish                 ALL
--   lab_vs_reference ppa, npa             lab_target_lab_vs_reference           ALL
--   observer_vs_observer overall          observer_agreement (info / too_few)   ALL
--   amplification ratio_amplified 2+      amplification_published_range (2+)    ALL
--   positivity positive_rate              positivity_published_range            its window
--   positivity monthly_rate (month)       positivity_control                    the month
--   her2_low share_low primary            her2_low_published_range              ALL
--   primary_vs_metastasis loss, gain,     metastasis_loss_, _gain_,             ALL
--   discordance rates                     _discordance_published_range
--   annual_review positive_rate           positivity_published_range            its window
--   annual_review her2_low_share          her2_low_published_range              ALL
--   annual_review pathologist_positive_   positivity_pathologist (subgroup =    its window
--   rate (stratum = pathologist)          the row's stratum)
-- (PPA and NPA carry the one verdict of the lab target: both categories are judged together.)
UPDATE audit_metrics AS m
SET
    finding = j.finding,
    finding_period = j.period,
    verdict = j.verdict,
    verdict_message = j.message
FROM (
    SELECT r.section, r.metric, r.stratum, r.period_of, r.subgroup AS subgroup_of, f.*
    FROM (
        VALUES
        ('ihc_vs_ish', 'ppa', 'all', 'lab_target_ihc_vs_ish', 'ALL', 'ALL'),
        ('ihc_vs_ish', 'npa', 'all', 'lab_target_ihc_vs_ish', 'ALL', 'ALL'),
        ('lab_vs_reference', 'ppa', 'all', 'lab_target_lab_vs_reference', 'ALL', 'ALL'),
        ('lab_vs_reference', 'npa', 'all', 'lab_target_lab_vs_reference', 'ALL', 'ALL'),
        ('observer_vs_observer', 'overall_agreement', 'all', 'observer_agreement', 'ALL', 'ALL'),
        ('amplification', 'ratio_amplified_rate', '2+', 'amplification_published_range', '2+',
            'ALL'),
        ('positivity', 'positive_rate', 'all', 'positivity_published_range', 'ALL', 'window'),
        ('positivity', 'monthly_rate', '*', 'positivity_control', 'ALL', 'stratum'),
        ('her2_low', 'share_low', 'primary', 'her2_low_published_range', 'ALL', 'ALL'),
        ('primary_vs_metastasis', 'distant_loss_rate', 'all', 'metastasis_loss_published_range',
            'ALL', 'ALL'),
        ('primary_vs_metastasis', 'distant_gain_rate', 'all', 'metastasis_gain_published_range',
            'ALL', 'ALL'),
        ('primary_vs_metastasis', 'discordance_rate', 'all',
            'metastasis_discordance_published_range', 'ALL', 'ALL'),
        ('annual_review', 'positive_rate', 'all', 'positivity_published_range', 'ALL', 'window'),
        ('annual_review', 'her2_low_share', 'all', 'her2_low_published_range', 'ALL', 'ALL'),
        ('annual_review', 'pathologist_positive_rate', '*', 'positivity_pathologist', '*',
            'window')
    ) AS r (section, metric, stratum, finding, subgroup, period_of)
    JOIN audit_findings AS f
        ON f.finding = r.finding AND (r.subgroup = '*' OR f.subgroup = r.subgroup)
        AND (r.period_of <> 'ALL' OR f.period = 'ALL')
) AS j
WHERE m.section = j.section
    AND m.metric = j.metric
    AND (j.stratum = '*' OR m.stratum = j.stratum)
    AND m.lab_id = j.lab_id
    AND (j.period_of <> 'stratum' OR j.period = m.stratum)
    AND (j.subgroup_of <> '*' OR j.subgroup = m.stratum)
;
