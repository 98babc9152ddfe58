-- marts/reference_bands: every published benchmark and guideline limit the quality marts
-- show or test against, as data (one row per band). No other mart holds one of these
-- numbers: each joins the rows it needs by band_id. ref: her2-domain.md §BENCH (benchmarks),
-- §PREANALYTIC (limits), §QA-WORDING (labels).
--
-- Grain: one row per band_id.
--   band_id      stable key used by the marts (e.g. 'positivity_dk_departments')
--   metric       what the band is about ('her2_positive_rate', 'ish_amplified_rate', ...)
--   stratum      sub-population of the metric where it has one (IHC score '0'..'3+'), else NULL
--   role         'primary': the band a mart shows first and a WARN check compares with;
--                'context': shown beside it; 'limit': a guideline requirement
--   point        published central figure (NULL when there is none)
--   low, high    the band's ends (NULL: open); low = high = point where only a single
--                published figure exists (band_kind 'point estimate')
--   unit         'proportion' (0-1, like every rate of the quality marts), 'minutes', 'hours'
--   band_kind    what low/high are: 'department range', 'mean ± 1 SD', 'pooled 95% CI',
--                'range of published figures', 'point estimate', 'guideline limit'
--   population   who the published figure is about (era, country, cohort)
--   source       citation for dashboards: study, source key and the reference section
--   label        wording for dashboards (§QA-WORDING): benchmarks are
--                "published benchmark band (context, not a limit)"; limits name their origin
--
-- Choices (pipeline, documented here once):
--   * HER2-positive rate: the Danish department range (BCR-DK-2023) is the primary band:
--     it is the spread of real departments' rates, the same unit as one lab's rate; the
--     German mean ± SD (DE-POSRATE-2011) is context. Both verified (§BENCH 6.1).
--   * ISH amplification by IHC score (§BENCH 6.2): Dendukuri 2007 gives one pooled figure
--     per score, no interval, so 0, 1+ and 3+ are point estimates (low = high = point). For
--     2+ four studies report a figure (MAIS-2023 ≤13.6%, CN-IHC2-2018 17.8%, LAL-2004 ≈25%,
--     Dendukuri 29.8%); the band is their range, 13.6-29.8%. VARGA-2013's 0/1+ combined 6%
--     and 3+ 69% (pre-2007 criteria) are left out: another score definition.
--     The figures are ratio-based FISH amplification from pre-2018 series: compare them with
--     the mart's ratio_amplified_rate (ratio >= 2.0), not only with group 1.
--   * Primary vs metastasis (§BENCH 6.4): the published pooled 95% CIs are the bands; loss
--     over primary-positive pairs and gain over primary-negative pairs (Schrijver), overall
--     discordance over all comparable pairs (Houssami).
--   * Cold ischaemia ≤ 60 min and fixation 6-72 h (§PREANALYTIC): both ends inclusive.
CREATE OR REPLACE TABLE marts.reference_bands AS
SELECT
    band_id,
    metric,
    stratum,
    role,
    point::DOUBLE AS point,
    low::DOUBLE AS low,
    high::DOUBLE AS high,
    unit,
    band_kind,
    population,
    source,
    label
FROM (
    VALUES
    (
        'positivity_dk_departments', 'her2_positive_rate', NULL, 'primary',
        0.140, 0.118, 0.172, 'proportion', 'department range',
        'Primary invasive breast cancer, all Danish pathology departments, 48,382 patients; '
        || '14.0% positive overall, 12.6-15.7% by year',
        'Denmark 2007–2019, BCR-DK-2023 (her2-domain.md §BENCH 6.1)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'positivity_de_institutes', 'her2_positive_rate', NULL, 'context',
        0.167, 0.135, 0.199, 'proportion', 'mean ± 1 SD',
        'Germany, 42 institutes, 18,081 tests, continuous positivity-rate surveillance; '
        || 'mean 16.7% ± 3.2% after excluding 6 outlier labs (raw range 7.6-31.6%)',
        'Germany, DE-POSRATE-2011 (her2-domain.md §BENCH 6.1)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'amplification_ihc_0', 'ish_amplified_rate', '0', 'primary',
        0.016, 0.016, 0.016, 'proportion', 'point estimate',
        'Meta-analysis of IHC vs ISH/FISH series (pre-2018 FISH criteria); '
        || 'ISH done mostly on selected cases (verification bias, §BENCH 6.2)',
        'Dendukuri 2007 meta-analysis, DENDUKURI-2007 (her2-domain.md §BENCH 6.2)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'amplification_ihc_1', 'ish_amplified_rate', '1+', 'primary',
        0.049, 0.049, 0.049, 'proportion', 'point estimate',
        'Meta-analysis of IHC vs ISH/FISH series (pre-2018 FISH criteria); '
        || 'ISH done mostly on selected cases (verification bias, §BENCH 6.2)',
        'Dendukuri 2007 meta-analysis, DENDUKURI-2007 (her2-domain.md §BENCH 6.2)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'amplification_ihc_2', 'ish_amplified_rate', '2+', 'primary',
        0.298, 0.136, 0.298, 'proportion', 'range of published figures',
        'IHC 2+ cases: MAIS-2023 ≤13.6% (CAP, 21 institutions), CN-IHC2-2018 17.8% '
        || '(2,538 cases, 2013 rules), LAL-2004 ≈25% (2,279 cases), Dendukuri 29.8% (point)',
        'Dendukuri 2007 (point), MAIS-2023, CN-IHC2-2018, LAL-2004 (her2-domain.md §BENCH 6.2)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'amplification_ihc_3', 'ish_amplified_rate', '3+', 'primary',
        0.924, 0.924, 0.924, 'proportion', 'point estimate',
        'Meta-analysis of IHC vs ISH/FISH series (pre-2018 FISH criteria); '
        || 'ISH done mostly on selected cases (verification bias, §BENCH 6.2)',
        'Dendukuri 2007 meta-analysis, DENDUKURI-2007 (her2-domain.md §BENCH 6.2)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'her2_low_dk_departments', 'her2_low_share', NULL, 'primary',
        0.592, 0.463, 0.718, 'proportion', 'department range',
        'Primary invasive breast cancer, 50,714 Danish patients; HER2-low 59.2% overall, '
        || '46.3-71.8% by department with the same assay',
        'Denmark, BCR-DK-2023 (her2-domain.md §BENCH 6.3)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'ihc0_share_dk', 'ihc0_share', NULL, 'primary',
        0.268, NULL, NULL, 'proportion', 'point estimate',
        'Primary invasive breast cancer, 50,714 Danish patients: IHC 0 26.8%',
        'Denmark, BCR-DK-2023 (her2-domain.md §BENCH 6.3)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'ultralow_db06_screened', 'ultralow_share_of_negative', NULL, 'context',
        NULL, 0.20, 0.25, 'proportion', 'range of published figures',
        'HR-positive/HER2-negative patients screened for DESTINY-Breast06 (HR status is not '
        || 'in the extract: the mart''s share is over all HER2-negative specimens)',
        'DESTINY-Breast06, CANCERNETWORK-2025, secondary (her2-domain.md §HER2-LOW, §BENCH 6.3)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'metastasis_loss_schrijver', 'her2_loss_rate', NULL, 'primary',
        0.213, 0.143, 0.305, 'proportion', 'pooled 95% CI',
        'Distant metastases, 39 studies; loss = positive -> negative over primary-positive pairs',
        'Schrijver 2018 meta-analysis, SCHRIJVER-2018 (her2-domain.md §BENCH 6.4)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'metastasis_gain_schrijver', 'her2_gain_rate', NULL, 'primary',
        0.095, 0.074, 0.121, 'proportion', 'pooled 95% CI',
        'Distant metastases, 39 studies; gain = negative -> positive over primary-negative pairs',
        'Schrijver 2018 meta-analysis, SCHRIJVER-2018 (her2-domain.md §BENCH 6.4)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'metastasis_discordance_houssami', 'her2_discordance_rate', NULL, 'primary',
        0.055, 0.036, 0.085, 'proportion', 'pooled 95% CI',
        'Loco-regional or distant metastases, 26 studies, 2,520 patients; discordance over all '
        || 'pairs (5.2% excluding one study not testing both samples alike)',
        'Houssami 2011 meta-analysis, HOUSSAMI-2011 (her2-domain.md §BENCH 6.4)',
        'published benchmark band (context, not a limit)'
    ),
    (
        'cold_ischemia_limit', 'cold_ischemia_min', NULL, 'limit',
        NULL, NULL, 60, 'minutes', 'guideline limit',
        'Time from excision to fixative; ≤ 60 min compliant (60 inclusive)',
        'ASCO/CAP figure applied by labs and studies; 2018 text: "as short as possible" '
        || '(her2-domain.md §PREANALYTIC: GC-2018 p4, MODPATH-CIT-2012)',
        'pre-analytic limit (≤ 1 h, ASCO/CAP figure as applied by laboratories)'
    ),
    (
        'fixation_window', 'fixation_hours', NULL, 'limit',
        NULL, 6, 72, 'hours', 'guideline limit',
        'Hours in 10% neutral buffered formalin; 6-72 h compliant (both ends inclusive); '
        || 'the 2007 guideline used 6-48 h',
        'ASCO/CAP 2018 focused update, GC-2018 p4 (her2-domain.md §PREANALYTIC)',
        'pre-analytic requirement (ASCO/CAP 2018: 6–72 h)'
    )
) AS bands (
    band_id, metric, stratum, role, point, low, high, unit, band_kind, population, source, label
)
ORDER BY band_id
;
