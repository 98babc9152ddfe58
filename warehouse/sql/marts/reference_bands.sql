-- marts/reference_bands: every threshold a figure is read against, as data: published
-- benchmark bands, guideline limits, ASCO/CAP case counts and proficiency marks, lab targets
-- (the default and each lab's own, from the configuration's lab_settings) and her2qa's own
-- choices, each with its source. No other mart, finding, page or report holds one of these
-- numbers: each joins the rows it needs by band_id (and lab_id for lab targets). ref: her2-domain.md §BENCH (benchmarks),
-- §PREANALYTIC (limits), §QA-WORDING (labels).
--
-- Grain: one row per band_id × lab_id.
--   band_id      stable key used by the marts (e.g. 'positivity_dk_departments')
--   lab_id       'ALL' (every laboratory), or the laboratory a configured lab target is for
--   metric       what the band is about ('her2_positive_rate', 'ish_amplified_rate', ...)
--   stratum      sub-population of the metric where it has one (IHC score '0'..'3+'), else NULL
--   role         'primary': the band a mart shows first and a finding compares with;
--                'context': shown beside it; 'limit': a guideline limit per specimen;
--                'requirement': an ASCO/CAP requirement; 'target': a lab target;
--                'rule': a her2qa choice (small n, control limits, defaults)
--   point        published central figure (NULL when there is none)
--   low, high    the band's ends (NULL: open); low = high = point where only a single
--                published figure exists (band_kind 'point estimate')
--   unit         'proportion' (0-1, like every rate of the quality marts), 'minutes', 'hours',
--                'cases', 'events per year', 'days', 'sigma', 'months'
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
--     2+ three studies report an amplified share (CN-IHC2-2018 17.8%, LAL-2004 ≈25%,
--     Dendukuri 29.8%); the band is their range, 17.8-29.8%. MAIS-2023's "≤13.6%" is an
--     upper bound (70/81 of its 2+ cases were NOT amplified; how many of the other 11 were
--     amplified is not given), so it cannot be a band's low end: it is quoted in the
--     population text only. VARGA-2013's 0/1+ combined 6% and 3+ 69% (pre-2007 criteria)
--     are left out: another score definition.
--     The figures are ratio-based FISH amplification from pre-2018 series: compare them with
--     the mart's ratio_amplified_rate (ratio >= 2.0), not only with group 1.
--   * Primary vs metastasis (§BENCH 6.4): the published pooled 95% CIs are the bands; loss
--     over primary-positive pairs and gain over primary-negative pairs (Schrijver), overall
--     discordance over all comparable pairs (Houssami).
--   * Cold ischaemia ≤ 60 min (§PREANALYTIC): the ASCO/CAP ER/PgR guideline of 2010
--     (ERPGR-2010, "time from tumor removal to fixation no more than an hour"), adopted by the
--     HER2 updates; the 2018 HER2 text says "as short as possible". Applied to every version
--     (§PREANALYTIC gives no other figure for HER2 2007).
--   * Fixation 6-72 h (2013 and 2018 rules, GC-2018 p4) and 6-48 h (2007 rules,
--     CAP-SURVEY-2008), §PREANALYTIC: every end inclusive; marts.preanalytic_monthly judges
--     each specimen against the window of the version it was read under.
CREATE OR REPLACE TABLE marts.reference_bands AS
WITH published AS (
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
        0.298, 0.178, 0.298, 'proportion', 'range of published figures',
        'IHC 2+ cases: CN-IHC2-2018 17.8% amplified (+ 6.0% ISH-equivocal; 2,538 cases, 2013 '
        || 'rules), LAL-2004 ≈25% (2,279 cases), Dendukuri 29.8% (meta-analysis, point); '
        || 'MAIS-2023 (CAP, 21 institutions) found 70/81 IHC 2+ not amplified, i.e. at most '
        || '13.6% amplified: an upper bound, not used as an end of the band',
        'Dendukuri 2007 (point), CN-IHC2-2018, LAL-2004; MAIS-2023 quoted '
        || '(her2-domain.md §BENCH 6.2)',
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
        'Time from excision to fixative; ≤ 60 min compliant (60 inclusive); the HER2 '
        || 'updates adopted it, the 2018 HER2 text says "as short as possible"',
        'ASCO/CAP ER/PgR guideline 2010, ERPGR-2010 (Hammond et al., J Clin Oncol '
        || '2010;28:2784–2795) (her2-domain.md §PREANALYTIC)',
        'pre-analytic limit (≤ 1 h, ASCO/CAP ER/PgR guideline 2010)'
    ),
    (
        'fixation_window', 'fixation_hours', NULL, 'limit',
        NULL, 6, 72, 'hours', 'guideline limit',
        'Hours in 10% neutral buffered formalin; 6-72 h compliant (both ends inclusive), '
        || 'for results read under the 2013 and 2018 rules (2007: fixation_window_2007)',
        'ASCO/CAP 2018 focused update, GC-2018 p4 (her2-domain.md §PREANALYTIC)',
        'pre-analytic requirement (ASCO/CAP 2018: 6–72 h)'
    ),
    (
        'fixation_window_2007', 'fixation_hours', '2007', 'limit',
        NULL, 6, 48, 'hours', 'guideline limit',
        'Hours in 10% neutral buffered formalin; 6-48 h compliant (both ends inclusive), '
        || 'for results read under the ASCO/CAP 2007 rules',
        'ASCO/CAP 2007 guideline, CAP-SURVEY-2008 (her2-domain.md §PREANALYTIC, §TIMELINE)',
        'pre-analytic requirement (ASCO/CAP 2007: 6–48 h)'
    )
) AS bands (
    band_id, metric, stratum, role, point, low, high, unit, band_kind, population, source, label
)
),
-- Lab targets and requirements (her2-domain.md §VALIDATION, §QA-WORDING) and her2qa's own
-- rules (pipeline choices, labelled so).
requirements AS (
    SELECT * FROM (
        VALUES
        (
            'lab_target_concordance', 'agreement_per_category', NULL, 'target',
            0.95, 0.95, NULL, 'proportion', 'lab target',
            'Positive and negative categories each (PPA and NPA), IHC vs ISH and lab vs '
            || 'reference lab; a laboratory may set its own in her2qa.toml '
            || '([labs.<LAB>] concordance_target_pct)',
            'ASCO/CAP 2007 guideline, JOP-2007; the 2013/2018 guidelines set no concordance '
            || 'figure (her2-domain.md §VALIDATION, §QA-WORDING)',
            'lab target (ASCO/CAP 2007 criterion)'
        ),
        (
            'validation_cases_fda', 'validation_cases', NULL, 'requirement',
            20, 20, NULL, 'cases', 'guideline requirement',
            'Initial validation of an FDA-approved assay: 20 positive + 20 negative cases',
            'ASCO/CAP 2018 focused update, GC-2018 p4 (her2-domain.md §VALIDATION)',
            'ASCO/CAP 2013/2018 validation: 20 positive + 20 negative cases'
        ),
        (
            'validation_cases_ldt', 'validation_cases', NULL, 'requirement',
            40, 40, NULL, 'cases', 'guideline requirement',
            'Initial validation of a laboratory-developed test: 40 positive + 40 negative cases',
            'ASCO/CAP 2018 focused update, GC-2018 p4 (her2-domain.md §VALIDATION)',
            'ASCO/CAP 2013/2018 validation: 40 positive + 40 negative cases'
        ),
        (
            'pt_correct', 'pt_correct_share', NULL, 'requirement',
            0.90, 0.90, NULL, 'proportion', 'guideline requirement',
            'Satisfactory proficiency testing: at least 90% correct on graded challenges',
            'ASCO/CAP 2018 focused update, GC-2018 p5 (her2-domain.md §VALIDATION)',
            'ASCO/CAP 2018: satisfactory proficiency testing = ≥ 90% correct'
        ),
        (
            'pt_events_per_year', 'pt_events', NULL, 'requirement',
            2, 2, NULL, 'events per year', 'guideline requirement',
            'External proficiency testing with at least 2 testing events per year',
            'ASCO/CAP 2018 focused update, GC-2018 p5 (her2-domain.md §VALIDATION)',
            'ASCO/CAP 2018: ≥ 2 proficiency-testing events per year'
        ),
        (
            'ish_nuclei_min', 'ish_cells_counted', NULL, 'requirement',
            20, 20, NULL, 'nuclei', 'guideline requirement',
            'ISH signals counted in at least this many invasive tumour nuclei; the blinded '
            || 'recount of dual-probe groups 2-4 with IHC 2+ counts at least as many again. A '
            || 'count under it is a protocol deviation for the worklist, never a quarantine',
            'ASCO/CAP 2018 focused update, GC-2018 Fig 6 (her2-domain.md §ISH-COUNT)',
            'ASCO/CAP 2018: ISH counted in at least 20 nuclei'
        ),
        (
            'category_pairs_min', 'pairs_per_category', NULL, 'rule',
            20, 20, NULL, 'cases', 'her2qa rule',
            'A lab target is judged per category (PPA, NPA) only with at least this many pairs '
            || 'in the category, the size of an ASCO/CAP validation set; fewer: too few to '
            || 'judge, unless even the top of the 95% interval is under the target',
            'her2qa choice, after the 20 + 20 validation set of GC-2018 p4 '
            || '(her2-domain.md §VALIDATION)',
            'her2qa small-n rule for lab targets (not a published limit)'
        ),
        (
            'small_n', 'cases', NULL, 'rule',
            30, 30, NULL, 'cases', 'her2qa rule',
            'A rate over fewer cases than this, or with a 95% interval wider than wide_ci, is '
            || 'too few to compare with a published range',
            'her2qa choice (her2-domain.md §STATS 7.2: Wilson intervals are wide at small n)',
            'her2qa small-n rule (not a published limit)'
        ),
        (
            'wide_ci', 'ci_width', NULL, 'rule',
            0.20, 0.20, NULL, 'proportion', 'her2qa rule',
            'A 95% interval wider than 20 percentage points is too wide to read against a band',
            'her2qa choice (her2-domain.md §STATS 7.2)',
            'her2qa small-n rule (not a published limit)'
        ),
        (
            'control_limit_sigma', 'positivity_control', NULL, 'rule',
            3, 3, NULL, 'sigma', 'her2qa rule',
            'p-chart of the monthly HER2-positive rate: limits at 3 standard errors around the '
            || 'laboratory''s own rate (Shewhart)',
            'her2qa choice; monitoring results over time is good practice '
            || '(her2-domain.md §QA-WORDING)',
            'control limits (statistical process control)'
        ),
        (
            'cusum_k', 'positivity_control', NULL, 'rule',
            0.5, 0.5, NULL, 'sigma', 'her2qa rule',
            'CUSUM reference value: half the shift (in standard errors) the chart is tuned to '
            || 'catch; months nearer the centre line than this wear a shift signal down',
            'her2qa choice (tabular CUSUM, Montgomery); her2-domain.md §QA-WORDING',
            'control rule (statistical process control)'
        ),
        (
            'cusum_h', 'positivity_control', NULL, 'rule',
            4, 4, NULL, 'sigma', 'her2qa rule',
            'CUSUM decision interval: a sustained shift is signalled when the cumulative sum '
            || 'of standardised deviations beyond cusum_k exceeds this (with k 0.5: about one '
            || 'false alarm in 84 in-control months, a 1-sigma shift caught in about 8)',
            'her2qa choice (tabular CUSUM, Montgomery); her2-domain.md §QA-WORDING',
            'control rule (statistical process control)'
        ),
        (
            'spc_baseline_months', 'positivity_control', NULL, 'rule',
            12, 12, NULL, 'months', 'her2qa rule',
            'Months of a laboratory''s own history that set the centre line of a judged month',
            'her2qa choice (Phase I / Phase II control charting)',
            'control rule (statistical process control)'
        ),
        (
            'spc_baseline_lag_months', 'positivity_control', NULL, 'rule',
            6, 6, NULL, 'months', 'her2qa rule',
            'The baseline ends this many months before the judged month, so a shift in '
            || 'progress never sets its own centre line',
            'her2qa choice (Phase I / Phase II control charting)',
            'control rule (statistical process control)'
        ),
        (
            'spc_baseline_min_months', 'positivity_control', NULL, 'rule',
            6, 6, NULL, 'months', 'her2qa rule',
            'Fewer baseline months than this: the month is shown, too few to judge',
            'her2qa choice (Phase I / Phase II control charting)',
            'control rule (statistical process control)'
        ),
        (
            'funnel_z', 'positivity_pathologist', NULL, 'rule',
            3.09, 3.09, NULL, 'sigma', 'her2qa rule',
            'Funnel plot of each pathologist''s HER2-positive rate against the laboratory''s: '
            || 'outside the 99.8% limits (3.09 standard errors at the pathologist''s n) is worth '
            || 'a look; 95% limits (1.96) are drawn for orientation',
            'her2qa choice (Spiegelhalter 2005 funnel plots); ANP.22970 asks to evaluate '
            || 'interobserver variability (her2-domain.md §CAP-CHECKLIST)',
            'funnel limits (statistical comparison with the laboratory)'
        ),
        (
            'cap11_repeat_window_days', 'cap11_repeat', NULL, 'rule',
            NULL, 90, 90, 'days', 'her2qa rule',
            'CAP 11 rates 2 and 3: a decided HER2 result on another specimen of the same patient '
            || '(same specimen role, e.g. the excision after an equivocal core biopsy) collected '
            || 'within this many days after the equivocal specimen counts as its completed '
            || 'repeat test. The measure allows a repeat on another specimen but publishes no '
            || 'window; 90 days spans core biopsy to surgical excision without reaching the next '
            || 'episode of the disease',
            'her2qa choice (not a published limit); CAP QCDR measure CAP 11 (2019): "a repeat '
            || 'may be on the same or another specimen" (her2-domain.md §CAP-CHECKLIST)',
            'her2qa window for a repeat on another specimen (not a published limit)'
        ),
        (
            'pt_consensus_min_labs', 'pt_consensus', NULL, 'rule',
            3, 3, NULL, 'laboratories', 'her2qa rule',
            'A proficiency challenge without the provider''s key (expected_result) is graded '
            || 'against the call of a strict majority of the network''s laboratories with a '
            || 'usable answer, only when at least this many answered; fewer: ungraded',
            'her2qa choice (not a published rule): the provider''s key grades PT '
            || '(her2-domain.md §VALIDATION); a consensus is a stand-in until it is known',
            'her2qa consensus grading (not the provider''s grade)'
        ),
        (
            'quarantine_rate_look', 'quarantine_rate', NULL, 'rule',
            NULL, NULL, 0.05, 'proportion', 'her2qa rule',
            'More than this share of a laboratory''s rows quarantined: the export needs a look',
            'her2qa default (not a published limit)',
            'her2qa default (not a published limit)'
        ),
        (
            'freshness_days', 'days_without_new_results', NULL, 'rule',
            NULL, NULL, $freshness_days, 'days', 'her2qa rule',
            'No file with new results of the laboratory for more days than this: is the LIS '
            || 'feed stopped? ([site] freshness_days in her2qa.toml)',
            'her2qa default (not a published limit)',
            'her2qa default (not a published limit)'
        )
    ) AS r (
        band_id, metric, stratum, role, point, low, high, unit, band_kind, population, source,
        label
    )
),
-- A laboratory's own target replaces the default for that laboratory only.
lab_targets AS (
    SELECT
        'lab_target_concordance' AS band_id, s.lab_id, d.metric, d.stratum, d.role,
        s.value::DOUBLE / 100 AS point, s.value::DOUBLE / 100 AS low, NULL::DOUBLE AS high,
        d.unit, d.band_kind, d.population,
        d.source || '; set for ' || s.lab_id || ' in her2qa.toml' AS source,
        printf('lab target, set by the laboratory in her2qa.toml (the ASCO/CAP 2007 '
            || 'criterion is %g%%)', 100 * d.low) AS label
    FROM lab_settings AS s
    CROSS JOIN requirements AS d
    WHERE s.setting = 'concordance_target_pct' AND d.band_id = 'lab_target_concordance'
)
SELECT
    band_id, 'ALL' AS lab_id, metric, stratum, role, point::DOUBLE AS point,
    low::DOUBLE AS low, high::DOUBLE AS high, unit, band_kind, population, source, label
FROM published
UNION ALL
SELECT
    band_id, 'ALL', metric, stratum, role, point::DOUBLE, low::DOUBLE, high::DOUBLE, unit,
    band_kind, population, source, label
FROM requirements
UNION ALL
SELECT
    band_id, lab_id, metric, stratum, role, point, low, high, unit, band_kind, population,
    source, label
FROM lab_targets
ORDER BY band_id, lab_id
;
