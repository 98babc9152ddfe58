-- dashboards/her2_low_quarterly: the HER2 category mix of clinical PRIMARY specimens per quarter
-- (and quarter 'ALL'), per lab and 'ALL', from marts.her2_low_distribution, with Wilson 95%
-- intervals for the two shares compared with the Danish figures: HER2-low and IHC 0
-- (null + ultralow + IHC 0 unspecified) over every specimen of the group.
SELECT
    lab_id, quarter, n_specimens,
    n_positive, n_low, n_ultralow, n_null, n_zero_unspecified, n_negative_unspecified,
    n_equivocal, n_indeterminate,
    n_negative,
    share_low,
    wilson_low(n_low, n_specimens) AS low_ci_low,
    wilson_high(n_low, n_specimens) AS low_ci_high,
    n_null + n_ultralow + n_zero_unspecified AS n_ihc0,
    share_ihc0,
    wilson_low(n_null + n_ultralow + n_zero_unspecified, n_specimens) AS ihc0_ci_low,
    wilson_high(n_null + n_ultralow + n_zero_unspecified, n_specimens) AS ihc0_ci_high,
    share_ultralow_of_negative,
    wilson_low(n_ultralow, n_negative) AS ultralow_ci_low,
    wilson_high(n_ultralow, n_negative) AS ultralow_ci_high
FROM marts.her2_low_distribution
WHERE specimen_role = 'primary'
ORDER BY lab_id, quarter
