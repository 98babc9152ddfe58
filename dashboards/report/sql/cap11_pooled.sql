-- CAP 11 (2019), all months pooled per lab (lab 'ALL': the network), from marts.cap11_rates:
-- the counts behind rates 1, 2 and 3 summed over the months, each rate with its Wilson 95%
-- interval (macros/statistics). Rate 3 is the reported rate (her2-domain.md §CAP-CHECKLIST);
-- no verdict here: the finding cap11_rate3 (marts.findings) is the reading.
WITH summed AS (
    SELECT
        lab_id,
        min(month) AS first_month,
        max(month) AS last_month,
        sum(n_specimens_audited)::BIGINT AS n_specimens_audited,
        sum(n_specimens_agree)::BIGINT AS n_specimens_agree,
        sum(n_rate3_met)::BIGINT AS n_rate3_met,
        sum(n_equivocal)::BIGINT AS n_equivocal,
        sum(n_equivocal_completed)::BIGINT AS n_equivocal_completed,
        sum(n_repeat_same_specimen)::BIGINT AS n_repeat_same_specimen,
        sum(n_repeat_other_specimen)::BIGINT AS n_repeat_other_specimen,
        max(repeat_window_days) AS repeat_window_days
    FROM marts.cap11_rates
    GROUP BY lab_id
)
SELECT
    *,
    n_specimens_agree / nullif(n_specimens_audited, 0) AS rate1,
    wilson_low(n_specimens_agree, n_specimens_audited) AS rate1_ci_low,
    wilson_high(n_specimens_agree, n_specimens_audited) AS rate1_ci_high,
    n_equivocal_completed / nullif(n_equivocal, 0) AS rate2,
    wilson_low(n_equivocal_completed, n_equivocal) AS rate2_ci_low,
    wilson_high(n_equivocal_completed, n_equivocal) AS rate2_ci_high,
    n_rate3_met / nullif(n_specimens_audited, 0) AS rate3,
    wilson_low(n_rate3_met, n_specimens_audited) AS rate3_ci_low,
    wilson_high(n_rate3_met, n_specimens_audited) AS rate3_ci_high
FROM summed
ORDER BY lab_id
