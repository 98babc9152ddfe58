-- findings/findings: marts.findings, every verdict the tool gives a person, made once
-- (spec/warehouse.md, "marts.findings"). Page badges, "Where to look", Dagster WARN checks,
-- the run's printed summary and the audit pack's marks read their verdict here and compute
-- none of their own. Every threshold comes from marts.reference_bands (band_id, lab_id).
--
-- Grain: one row per finding × lab_id ('ALL' pooled) × period × subgroup.
--   finding    stable code (below)
--   period     'ALL'; 'YYYY-Qn'; 'YYYY-MM'; 'YYYY-MM..YYYY-MM' (the last 12 calendar months
--              with data in the warehouse, by collection month, the same for every lab)
--   subgroup   'ALL', or what the row is about within the lab (a pathologist, an IHC score)
--   verdict    'ok' | 'look' | 'info' (a figure shown without a judgement) | 'too_few'
--   figure     the number judged: percent for rates (0-100), else in `unit`
--   n          cases behind the figure; ci_low, ci_high: its 95% Wilson interval (percent)
--   threshold  the threshold with what it is ("lab target: 95%", "published range 11.8–17.2%",
--              "control limits 10.2–25.3%"); source: where it comes from; message: one
--              sentence for a lab director, in the wording of her2-domain.md §QA-WORDING
--   topic      the subject a page groups it under; title: a short name of the figure
--
-- Codes (contract codes first):
--   lab_target_ihc_vs_ish, lab_target_lab_vs_reference   lab × (ALL, each quarter): PPA and
--       NPA (marts.agreement) each against the lab's target ('lab_target_concordance', the
--       ASCO/CAP 2007 criterion: 95% for the positive and the negative category each). look:
--       either category under the target; too_few: a category with fewer pairs than
--       'category_pairs_min', unless even the top of its interval is under the target.
--       The figure is the lower of the two; overall agreement is in the message, never judged.
--   positivity_control          lab × month (patients' first primaries): the control chart of
--       marts.positivity_monthly (its header documents the rules). look: a point outside the
--       Laney p′ limits or a CUSUM signal of a sustained shift; too_few: no baseline yet; info:
--       the lab's most recent month (incomplete: shown, not judged).
--   positivity_pathologist      lab × last 12 months × pathologist: the funnel plot of
--       marts.positivity_pathologists. look: outside the 99.8% limits; too_few: under small_n.
--   positivity_published_range  lab × last 12 months: HER2-positive rate vs the published band
--   amplification_published_range    lab × ALL × IHC score 2+: ratio-amplified rate vs band
--   her2_low_published_range    lab × ALL: HER2-low share of primaries vs band
--   metastasis_{loss,gain,discordance}_published_range   lab × ALL: vs the meta-analyses
--       (loss and gain over distant metastases only, as Schrijver 2018 pooled them)
--       (published range findings: a band is context, not a limit (§BENCH): info, a note for
--        the annual review, when the whole 95% interval is outside it; too_few under 'small_n'
--        cases or an interval wider than 'wide_ci'; ok otherwise)
--   observer_agreement, primary_metastasis_agreement   lab × ALL: info (no target applies)
--   quarantine_rate             lab × ALL: look above 'quarantine_rate_look'
--   data_freshness              lab × ALL: look when the lab's newest file with results arrived
--                               more than 'freshness_days' before $as_of
--   files_rejected              ALL × ALL: look when a file of the latest arrival day was
--                               rejected whole
CREATE OR REPLACE TEMP TABLE finding_bands AS
SELECT band_id, lab_id, point, low, high, source, label
FROM marts.reference_bands
;
CREATE OR REPLACE TEMP MACRO band_value(id) AS
    (SELECT coalesce(low, high, point) FROM finding_bands WHERE band_id = id AND lab_id = 'ALL')
;
-- The lab's own target, else the default.
CREATE OR REPLACE TEMP TABLE finding_targets AS
SELECT
    l.lab_id,
    coalesce(o.low, d.low) AS target,
    coalesce(o.label, d.label) AS label,
    coalesce(o.source, d.source) AS source
FROM (SELECT DISTINCT lab_id FROM marts.agreement) AS l
CROSS JOIN (SELECT * FROM finding_bands WHERE band_id = 'lab_target_concordance'
    AND lab_id = 'ALL') AS d
LEFT JOIN finding_bands AS o ON o.band_id = 'lab_target_concordance' AND o.lab_id = l.lab_id
;
-- ------------------------------------------------------------------ lab targets (PPA, NPA)
CREATE OR REPLACE TEMP TABLE findings_lab_target AS
WITH a AS (
    SELECT
        'lab_target_' || comparison AS finding,
        CASE comparison WHEN 'ihc_vs_ish' THEN 'ISH' ELSE 'reference-lab' END AS reference,
        lab_id,
        period,
        n_pairs,
        pct_agree,
        n_pos_pos + n_neg_pos AS n_pos,  -- the comparator (second member) positive
        n_neg_neg + n_pos_neg AS n_neg,
        n_pos_pos,
        n_neg_neg,
        ppa,
        npa
    FROM marts.agreement
    WHERE comparison IN ('ihc_vs_ish', 'lab_vs_reference')
),
judged AS (
    SELECT
        a.*,
        t.target,
        t.label AS target_label,
        t.source AS target_source,
        100 * wilson_low(n_pos_pos, n_pos) AS ppa_low,
        100 * wilson_high(n_pos_pos, n_pos) AS ppa_high,
        100 * wilson_low(n_neg_neg, n_neg) AS npa_low,
        100 * wilson_high(n_neg_neg, n_neg) AS npa_high,
        band_value('category_pairs_min') AS min_pairs
    FROM a
    JOIN finding_targets AS t USING (lab_id)
),
picked AS (
    -- the category judged: the one further under the target (PPA on a tie)
    SELECT
        *,
        CASE
            WHEN ppa IS NULL THEN 'npa'
            WHEN npa IS NULL THEN 'ppa'
            WHEN npa < ppa THEN 'npa'
            ELSE 'ppa'
        END AS judged,
        coalesce(ppa_high < 100 * target, false) OR coalesce(npa_high < 100 * target, false)
            AS clearly_under,
        coalesce(ppa < 100 * target, false) OR coalesce(npa < 100 * target, false) AS under,
        n_pos < min_pairs OR n_neg < min_pairs AS small
    FROM judged
)
SELECT
    finding,
    lab_id,
    period,
    'ALL' AS subgroup,
    CASE
        WHEN clearly_under THEN 'look'
        WHEN small THEN 'too_few'
        WHEN under THEN 'look'
        ELSE 'ok'
    END AS verdict,
    CASE judged WHEN 'ppa' THEN ppa ELSE npa END AS figure,
    CASE judged WHEN 'ppa' THEN n_pos ELSE n_neg END AS n,
    CASE judged WHEN 'ppa' THEN ppa_low ELSE npa_low END AS ci_low,
    CASE judged WHEN 'ppa' THEN ppa_high ELSE npa_high END AS ci_high,
    printf('%s: %g%% for the positive and the negative category each', target_label,
        100 * target) AS threshold,
    target_source AS source,
    printf('PPA %s (%s of %s %s-positive pairs) and NPA %s (%s of %s %s-negative pairs); '
        || 'overall agreement %s over %s pairs (shown, not judged): %s.',
        coalesce(printf('%.1f%%', ppa), '–'), fmt_count(n_pos_pos), fmt_count(n_pos), reference,
        coalesce(printf('%.1f%%', npa), '–'), fmt_count(n_neg_neg), fmt_count(n_neg), reference,
        printf('%.1f%%', pct_agree), fmt_count(n_pairs),
        CASE
            WHEN clearly_under OR (under AND NOT small) THEN
                CASE
                    WHEN coalesce(ppa < 100 * target, false)
                        AND coalesce(npa < 100 * target, false)
                        THEN 'both categories are below the lab target'
                    WHEN coalesce(ppa < 100 * target, false)
                        THEN 'the positive category is below the lab target'
                    ELSE 'the negative category is below the lab target'
                END
                || printf(' of %g%%', 100 * target)
            WHEN small THEN printf('too few pairs in a category to judge against the lab '
                || 'target (fewer than %d)', min_pairs::INTEGER)
            ELSE printf('both categories meet the lab target of %g%%', 100 * target)
        END) AS message,
    CASE WHEN finding = 'lab_target_ihc_vs_ish' THEN 'concordance' ELSE 'concordance' END
        AS topic,
    CASE finding
        WHEN 'lab_target_ihc_vs_ish' THEN 'IHC vs ISH'
        ELSE 'Laboratory vs reference laboratory'
    END AS title
FROM picked
;
-- ------------------------------------------------------------------ positivity control
CREATE OR REPLACE TEMP TABLE findings_positivity_control AS
SELECT
    'positivity_control' AS finding,
    lab_id,
    month_label AS period,
    'ALL' AS subgroup,
    CASE month_status
        WHEN 'incomplete' THEN 'info'
        WHEN 'no_baseline' THEN 'too_few'
        ELSE CASE WHEN out_of_control THEN 'look' ELSE 'ok' END
    END AS verdict,
    100 * rate AS figure,
    n_specimens AS n,
    100 * ci_low AS ci_low,
    100 * ci_high AS ci_high,
    CASE
        WHEN month_status = 'judged' THEN printf('control limits %s–%s around the baseline '
            || 'rate of %s (%g standard errors%s); CUSUM for a sustained shift (k %g, h %g)',
            fmt_pct(lcl), fmt_pct(ucl), fmt_pct(centre_line),
            band_value('control_limit_sigma'),
            CASE WHEN sigma_z > 1 THEN printf(', widened ×%.2f for overdispersion', sigma_z)
                ELSE '' END,
            band_value('cusum_k'), band_value('cusum_h'))
        ELSE 'not judged'
    END AS threshold,
    'Laney p′ chart and tabular CUSUM on a lagged 12-month baseline (her2qa rules in '
        || 'marts.reference_bands); monitoring results over time is good practice '
        || '(her2-domain.md §QA-WORDING)' AS source,
    printf('%s: %s HER2-positive (%s of %s first primaries)', month_label, fmt_pct(rate),
        fmt_count(n_positive), fmt_count(n_specimens))
    || CASE
        WHEN month_status = 'incomplete' THEN ': the most recent month, results may still be '
            || 'pending; shown, not judged.'
        WHEN month_status = 'no_baseline' THEN printf(': %d month(s) of baseline, too few to '
            || 'judge (at least %d).', baseline_months,
            band_value('spc_baseline_min_months')::INTEGER)
        WHEN signal IN ('above', 'below') THEN printf(', %s the control limits %s–%s: out of '
            || 'control.', signal, fmt_pct(lcl), fmt_pct(ucl))
        WHEN signal = 'shift_up' THEN printf(': a sustained shift above the baseline rate of %s '
            || '(CUSUM): out of control.', fmt_pct(centre_line))
        WHEN signal = 'shift_down' THEN printf(': a sustained shift below the baseline rate of '
            || '%s (CUSUM): out of control.', fmt_pct(centre_line))
        ELSE printf(', within the control limits %s–%s: in control.', fmt_pct(lcl),
            fmt_pct(ucl))
    END AS message,
    'positivity' AS topic,
    'Positivity control chart' AS title
FROM marts.positivity_monthly
WHERE level = 'lab'
;
CREATE OR REPLACE TEMP TABLE findings_positivity_pathologist AS
SELECT
    'positivity_pathologist' AS finding,
    lab_id,
    window_label AS period,
    pathologist_id AS subgroup,
    CASE
        WHEN outside THEN 'look'
        WHEN n_specimens < band_value('small_n') THEN 'too_few'
        ELSE 'ok'
    END AS verdict,
    100 * rate AS figure,
    n_specimens AS n,
    100 * ci_low AS ci_low,
    100 * ci_high AS ci_high,
    printf('funnel limits %s–%s around the laboratory''s rate of %s (%g standard errors at '
        || 'n = %s)', fmt_pct(limit_low), fmt_pct(limit_high), fmt_pct(lab_rate),
        band_value('funnel_z'), fmt_count(n_specimens)) AS threshold,
    'Funnel plot (Spiegelhalter 2005; her2qa rule funnel_z in marts.reference_bands); '
        || 'CAP AP checklist ANP.22970 (her2-domain.md §CAP-CHECKLIST)' AS source,
    printf('Pathologist %s: %s HER2-positive (%s of %s first primaries, %s) against the '
        || 'laboratory''s %s: %s', pathologist_id, fmt_pct(rate), fmt_count(n_positive),
        fmt_count(n_specimens), window_label, fmt_pct(lab_rate),
        CASE
            WHEN outside THEN printf('outside the funnel limits %s–%s; worth a review of this '
                || 'reader''s calls.', fmt_pct(limit_low), fmt_pct(limit_high))
            WHEN n_specimens < band_value('small_n') THEN 'too few specimens to compare.'
            ELSE printf('within the funnel limits %s–%s.', fmt_pct(limit_low),
                fmt_pct(limit_high))
        END) AS message,
    'positivity' AS topic,
    'Pathologists against their laboratory' AS title
FROM marts.positivity_pathologists
;
-- ------------------------------------------------------------------ published ranges
-- Every "rate beside a published band" comparison, judged by one rule.
CREATE OR REPLACE TEMP TABLE finding_band_inputs AS
WITH window_bounds AS (
    SELECT
        (max(month) - INTERVAL 11 MONTH)::DATE AS window_start,
        max(month) AS window_end
    FROM marts.positivity_monthly
),
positivity AS (
    SELECT
        coalesce(lab_id, 'ALL') AS lab_id,
        sum(n_positive) AS k,
        sum(n_specimens) AS n
    FROM marts.positivity_monthly
    WHERE level = 'lab' AND month >= (SELECT window_start FROM window_bounds)
    GROUP BY ROLLUP (lab_id)
)
SELECT
    'positivity_published_range' AS finding, lab_id,
    (SELECT strftime(window_start, '%Y-%m') || '..' || strftime(window_end, '%Y-%m')
     FROM window_bounds) AS period,
    'ALL' AS subgroup, 'positivity' AS topic,
    'HER2-positive rate, last 12 months' AS title, 'primaries' AS what,
    k, n, 'positivity_dk_departments' AS band_id
FROM positivity
WHERE n > 0
UNION ALL
SELECT
    'amplification_published_range', lab_id, 'ALL', ihc_score, 'ihc_ish',
    'IHC 2+ amplified (ratio ≥ 2.0)', 'IHC 2+ specimens with dual-probe ISH',
    n_ratio_amplified, n_with_ish, 'amplification_ihc_2'
FROM marts.amplification_by_ihc_score
WHERE ihc_score = '2+' AND n_with_ish > 0
UNION ALL
SELECT
    'her2_low_published_range', lab_id, 'ALL', 'ALL', 'her2_low',
    'HER2-low share of primaries', 'primaries', n_low, n_specimens, 'her2_low_dk_departments'
FROM marts.her2_low_distribution
WHERE specimen_role = 'primary' AND quarter = 'ALL' AND n_specimens > 0
UNION ALL
SELECT
    'metastasis_' || rate || '_published_range', lab_id, 'ALL', 'ALL', 'metastasis',
    'Primary vs metastasis: ' || name, what, k, n, band_id
FROM marts.primary_metastasis_summary,
    -- Schrijver 2018 pooled distant metastases: loss and gain beside the distant pairs only;
    -- Houssami 2011 covers locoregional and distant: discordance beside every pair
    (VALUES
        ('loss', 'HER2 loss (positive → negative), distant metastases', 'distant pairs',
            'metastasis_loss_schrijver'),
        ('gain', 'HER2 gain (negative → positive), distant metastases', 'distant pairs',
            'metastasis_gain_schrijver'),
        ('discordance', 'overall discordance', 'comparable pairs',
            'metastasis_discordance_houssami')
    ) AS r (rate, name, what, band_id),
    LATERAL (
        SELECT
            CASE rate
                WHEN 'loss' THEN distant_n_loss
                WHEN 'gain' THEN distant_n_gain
                ELSE n_gain + n_loss
            END AS k,
            CASE rate
                WHEN 'loss' THEN distant_n_primary_positive
                WHEN 'gain' THEN distant_n_primary_negative
                ELSE n_comparable
            END AS n
    )
WHERE n > 0
;
CREATE OR REPLACE TEMP TABLE findings_published_range AS
WITH x AS (
    SELECT
        i.*,
        i.k::DOUBLE / nullif(i.n, 0) AS rate,
        wilson_low(i.k, i.n) AS lo,
        wilson_high(i.k, i.n) AS hi,
        coalesce(b.low, b.point) AS band_low,
        coalesce(b.high, b.point) AS band_high,
        b.source AS band_source
    FROM finding_band_inputs AS i
    LEFT JOIN finding_bands AS b ON b.band_id = i.band_id AND b.lab_id = 'ALL'
),
j AS (
    SELECT
        *,
        CASE
            WHEN band_low IS NULL THEN 'info'
            -- context, not a limit: outside is a note for the annual review, never an alarm
            WHEN lo > band_high THEN 'info'
            WHEN hi < band_low THEN 'info'
            WHEN n < band_value('small_n') OR hi - lo > band_value('wide_ci') THEN 'too_few'
            ELSE 'ok'
        END AS verdict,
        n < band_value('small_n') OR hi - lo > band_value('wide_ci') AS small,
        CASE
            WHEN band_low = band_high THEN 'published figure ' || fmt_pct(band_low)
            ELSE 'published range ' || fmt_pct(band_low) || '–' || fmt_pct(band_high)
        END AS range_text
    FROM x
)
SELECT
    finding,
    lab_id,
    period,
    subgroup,
    verdict,
    100 * rate AS figure,
    n,
    100 * lo AS ci_low,
    100 * hi AS ci_high,
    range_text || ' (context, not a limit)' AS threshold,
    band_source AS source,
    printf('%s (%s, %s of %s %s): %s', fmt_pct(rate), fmt_ci(lo, hi), fmt_count(k),
        fmt_count(n), what,
        CASE
            WHEN lo > band_high OR hi < band_low THEN
                'outside the ' || range_text || ' ('
                || CASE WHEN lo > band_high THEN 'above' ELSE 'below' END
                || ' it; context, not a limit).'
                || CASE WHEN small THEN ' Small n: the interval is wide.' ELSE '' END
            WHEN verdict = 'too_few' THEN 'too few to compare with the ' || range_text || '.'
            WHEN verdict = 'ok' THEN 'within the ' || range_text || ' (context, not a limit).'
            ELSE 'no published range.'
        END) AS message,
    topic,
    title
FROM j
;
-- ------------------------------------------------------------------ agreement, no target
CREATE OR REPLACE TEMP TABLE findings_agreement_info AS
SELECT
    CASE comparison
        WHEN 'observer_vs_observer' THEN 'observer_agreement'
        ELSE 'primary_metastasis_agreement'
    END AS finding,
    lab_id,
    period,
    'ALL' AS subgroup,
    CASE
        WHEN n_pairs < band_value('small_n') OR (ci_high - ci_low) / 100 > band_value('wide_ci')
            THEN 'too_few'
        ELSE 'info'
    END AS verdict,
    pct_agree AS figure,
    n_pairs AS n,
    ci_low,
    ci_high,
    'none: no lab target or published limit applies' AS threshold,
    'marts.agreement (her2-domain.md §STATS)' AS source,
    printf('%.1f%% (95%% CI %.1f–%.1f%%, n = %s pairs)%s%s', pct_agree, ci_low, ci_high,
        fmt_count(n_pairs),
        CASE WHEN kappa IS NULL THEN ''
            ELSE printf('; κ %.2f (%s, Landis & Koch)', kappa, kappa_words(kappa)) END,
        CASE comparison
            WHEN 'observer_vs_observer' THEN '. No published limit applies.'
            ELSE '. No lab target applies (biology and sampling; compare with the literature '
                || 'on the Primary vs metastasis page).'
        END) AS message,
    CASE comparison WHEN 'observer_vs_observer' THEN 'readers' ELSE 'concordance' END AS topic,
    CASE comparison
        WHEN 'observer_vs_observer' THEN 'Pathologist vs second reader'
        ELSE 'Primary vs metastasis'
    END AS title
FROM marts.agreement
WHERE comparison IN ('observer_vs_observer', 'primary_vs_metastasis') AND period = 'ALL'
;
-- ------------------------------------------------------------------ data
CREATE OR REPLACE TEMP TABLE findings_data AS
WITH lab_rows AS (
    -- rows read and quarantined per lab code *as written* in the input (trimmed; '(no lab
    -- id)' when empty), so a lab whose every row is rejected still shows; 'ALL' from
    -- ops.ingested_files' own accounting (rows_read = rows_staged + rows_quarantined). Rows
    -- are counted per lab code as stored first (a handful of groups), then trimmed and summed.
    SELECT lab_id, rows_read, coalesce(rows_quarantined, 0) AS quarantined
    FROM (
        SELECT coalesce(nullif(trim(lab_id), ''), '(no lab id)') AS lab_id,
            sum(n)::BIGINT AS rows_read
        FROM (SELECT lab_id, count(*) AS n FROM raw.her2_rows GROUP BY lab_id)
        GROUP BY ALL
    )
    LEFT JOIN (
        SELECT coalesce(nullif(trim(lab_id), ''), '(no lab id)') AS lab_id,
            sum(n)::BIGINT AS rows_quarantined
        FROM (SELECT lab_id, count(*) AS n FROM quarantine.rejected_rows GROUP BY lab_id)
        GROUP BY ALL
    ) USING (lab_id)
    UNION ALL
    SELECT 'ALL', sum(rows_read), sum(rows_quarantined)
    FROM ops.ingested_files
),
arrivals AS (
    SELECT coalesce(r.lab_id, 'ALL') AS lab_id, max(f.ingested_at) AS last_arrival
    FROM staging.her2_results AS r
    JOIN ops.ingested_files AS f USING (file_id)
    GROUP BY ROLLUP (r.lab_id)
),
latest_arrivals AS (
    -- the files of the latest arrival day (a rebuild decides the same: no run id, no clock)
    SELECT count(*) AS files, count_if(status = 'rejected') AS rejected, max(arrival_date) AS day
    FROM ops.ingested_files
    WHERE arrival_date = (SELECT max(arrival_date) FROM ops.ingested_files)
)
SELECT
    'quarantine_rate' AS finding,
    lab_id,
    'ALL' AS period,
    'ALL' AS subgroup,
    CASE
        WHEN quarantined::DOUBLE / rows_read > band_value('quarantine_rate_look')
            THEN 'look'
        ELSE 'ok'
    END AS verdict,
    100 * quarantined::DOUBLE / rows_read AS figure,
    rows_read::BIGINT AS n,
    NULL::DOUBLE AS ci_low,
    NULL::DOUBLE AS ci_high,
    printf('her2qa default: at most %s of rows quarantined (not a published limit)',
        fmt_pct(band_value('quarantine_rate_look'))) AS threshold,
    'her2qa default (marts.reference_bands quarantine_rate_look)' AS source,
    printf('%s of rows read quarantined (%s of %s)%s', fmt_pct(quarantined::DOUBLE
        / rows_read), fmt_count(quarantined), fmt_count(rows_read),
        CASE
            WHEN quarantined::DOUBLE / rows_read > band_value('quarantine_rate_look')
                THEN printf(': above %s (her2qa default, not a published limit); the export '
                    || 'needs a look.', printf('%.0f%%', 100 * band_value('quarantine_rate_look')))
            ELSE '.'
        END) AS message,
    'data_quality' AS topic,
    'Quarantined rows' AS title
FROM lab_rows
WHERE rows_read > 0
UNION ALL
SELECT
    'data_freshness',
    lab_id,
    'ALL',
    'ALL',
    CASE
        WHEN date_diff('day', last_arrival, $as_of::TIMESTAMP) > band_value('freshness_days')
            THEN 'look'
        ELSE 'ok'
    END,
    date_diff('day', last_arrival, $as_of::TIMESTAMP)::DOUBLE,
    NULL,
    NULL,
    NULL,
    printf('her2qa default: new results at least every %d days (not a published limit)',
        band_value('freshness_days')::INTEGER),
    'her2qa default (marts.reference_bands freshness_days; [site] freshness_days)',
    printf('newest file with results arrived %s (%s days before %s)%s',
        strftime(last_arrival, '%d %b %Y'),
        fmt_count(date_diff('day', last_arrival, $as_of::TIMESTAMP)),
        strftime($as_of::TIMESTAMP, '%d %b %Y'),
        CASE
            WHEN date_diff('day', last_arrival, $as_of::TIMESTAMP) > band_value('freshness_days')
                THEN printf(': more than %d days; is an extract missing?',
                    band_value('freshness_days')::INTEGER)
            ELSE '.'
        END),
    'data_quality',
    'Data freshness'
FROM arrivals
WHERE last_arrival IS NOT NULL
UNION ALL
SELECT
    'files_rejected',
    'ALL',
    'ALL',
    'ALL',
    CASE WHEN rejected > 0 THEN 'look' ELSE 'ok' END,
    rejected::DOUBLE,
    files,
    NULL,
    NULL,
    'every file of a run is read',
    'lis-extract.md: a file that cannot be read is recorded with its reason',
    CASE
        WHEN rejected > 0 THEN printf('%s of %s file(s) that arrived on %s rejected whole (see '
            || 'the list of files for the reason).', fmt_count(rejected), fmt_count(files),
            strftime(day, '%d %b %Y'))
        ELSE printf('every file that arrived on %s was read (%s).', strftime(day, '%d %b %Y'),
            fmt_count(files))
    END,
    'data_quality',
    'Rejected files'
FROM latest_arrivals
WHERE files > 0
;
-- ------------------------------------------------------------------ proficiency, CAP 11
-- proficiency_event            lab × event (period: the event's month YYYY-MM; subgroup: its
--     date): marts.proficiency_events. look: correct on graded challenges under 'pt_correct'
--     (ASCO/CAP 2018: >= 90% per event); too_few: no graded challenge; ok otherwise. The
--     message says whether the provider's key or the network's consensus graded it.
-- proficiency_events_per_year  lab × calendar year with PT answers (period 'YYYY'): events
--     against 'pt_events_per_year' (>= 2). look: fewer in a finished year; info: the year of
--     $as_of, still in progress (shown, not judged).
-- cap11_rate3                  lab × ALL: CAP 11 rate 3, the reported rate (marts.cap11_rates,
--     months pooled). info: CAP 11 publishes no target in the reference (her2-domain.md
--     §CAP-CHECKLIST), so it is shown with rates 1 and 2, never judged; too_few under
--     'small_n' specimens or an interval wider than 'wide_ci'.
CREATE OR REPLACE TEMP TABLE findings_quality_measures AS
SELECT
    'proficiency_event' AS finding,
    e.lab_id,
    e.event_month AS period,
    strftime(e.event_date, '%Y-%m-%d') AS subgroup,
    CASE
        WHEN e.n_graded = 0 THEN 'too_few'
        WHEN e.pct_correct < b.low THEN 'look'
        ELSE 'ok'
    END AS verdict,
    100 * e.pct_correct AS figure,
    e.n_graded AS n,
    100 * e.ci_low AS ci_low,
    100 * e.ci_high AS ci_high,
    'requirement: ' || fmt_pct(b.low) || ' correct per event' AS threshold,
    b.source,
    CASE
        WHEN e.n_graded = 0 THEN printf('PT event of %s: no challenge graded yet (no key from '
            || 'the provider, no consensus): too few to judge.', strftime(e.event_date, '%d %b %Y'))
        ELSE printf('PT event of %s: %s correct (%s of %s graded challenges, graded against %s): '
            || '%s the ASCO/CAP 2018 mark of %s.', strftime(e.event_date, '%d %b %Y'),
            fmt_pct(e.pct_correct), fmt_count(e.n_correct), fmt_count(e.n_graded),
            CASE e.graded_by
                WHEN 'provider_key' THEN 'the provider''s key'
                WHEN 'consensus' THEN 'the network''s consensus (no key given; not the '
                    || 'provider''s grade)'
                ELSE 'the provider''s key where given, else the network''s consensus'
            END,
            CASE WHEN e.pct_correct >= b.low THEN 'meets' ELSE 'below' END, fmt_pct(b.low))
    END AS message,
    'proficiency' AS topic,
    'Proficiency testing, correct per event' AS title
FROM marts.proficiency_events AS e
JOIN finding_bands AS b ON b.band_id = 'pt_correct' AND b.lab_id = 'ALL'
UNION ALL
SELECT
    'proficiency_events_per_year',
    y.lab_id,
    y.event_year::VARCHAR,
    'ALL',
    CASE
        WHEN y.event_year >= year($as_of) THEN 'info'
        WHEN y.n_events < b.low THEN 'look'
        ELSE 'ok'
    END,
    y.n_events,
    y.n_events,
    NULL,
    NULL,
    'requirement: at least ' || fmt_count(b.low) || ' events a year',
    b.source,
    printf('%s PT event(s) in %s: %s', fmt_count(y.n_events), y.event_year::VARCHAR,
        CASE
            WHEN y.event_year >= year($as_of)
                THEN 'the year is still in progress (shown, not judged against the ASCO/CAP '
                    || '2018 requirement of at least ' || fmt_count(b.low) || ' a year).'
            WHEN y.n_events >= b.low THEN 'meets the ASCO/CAP 2018 requirement of at least '
                || fmt_count(b.low) || ' a year.'
            ELSE 'below the ASCO/CAP 2018 requirement of at least ' || fmt_count(b.low)
                || ' a year.'
        END),
    'proficiency',
    'Proficiency testing events per year'
FROM (
    SELECT lab_id, event_year, count(*) AS n_events
    FROM marts.proficiency_events
    GROUP BY lab_id, event_year
) AS y
JOIN finding_bands AS b ON b.band_id = 'pt_events_per_year' AND b.lab_id = 'ALL'
UNION ALL
SELECT
    'cap11_rate3',
    lab_id,
    'ALL',
    'ALL',
    CASE
        WHEN audited < band_value('small_n')
            OR wilson_high(met, audited) - wilson_low(met, audited) > band_value('wide_ci')
            THEN 'too_few'
        ELSE 'info'
    END,
    100 * met / audited,
    audited,
    100 * wilson_low(met, audited),
    100 * wilson_high(met, audited),
    'none: CAP 11 publishes no target (her2-domain.md §CAP-CHECKLIST)',
    'CAP QCDR measure CAP 11 (2019), her2-domain.md §CAP-CHECKLIST; proxies from the extract '
    || '(marts.cap11_rates)',
    printf('CAP 11 rate 3 (the reported rate) %s (95%% CI %s–%s, n = %s specimens): rate 1 '
        || 'algorithm-derived %s, rate 2 equivocal results with a completed repeat %s (%s of %s, '
        || '%s on another specimen of the patient). No published target: shown, not judged.',
        fmt_pct(met / audited), fmt_pct(wilson_low(met, audited)),
        fmt_pct(wilson_high(met, audited)), fmt_count(audited), fmt_pct(agree / audited),
        coalesce(fmt_pct(completed / nullif(equivocal, 0)), '—'), fmt_count(completed),
        fmt_count(equivocal), fmt_count(other)),
    'preanalytic',
    'CAP 11 rate 3 (reported rate)'
FROM (
    SELECT  -- the months pooled as the site and the audit pack pool them (macros/cap11)
        lab_id,
        n_specimens_audited::DOUBLE AS audited,
        n_specimens_agree::DOUBLE AS agree,
        n_rate3_met::DOUBLE AS met,
        n_equivocal::DOUBLE AS equivocal,
        n_equivocal_completed::DOUBLE AS completed,
        n_repeat_other_specimen::DOUBLE AS other
    FROM cap11_pooled('marts.cap11_rates')
)
WHERE audited > 0
;
-- ------------------------------------------------------------------ validation sets
-- validation_set               lab × ALL × set (subgroup: assay and kit, marts.validation_sets
--     stratum): look when the positive or the negative cases are fewer than the required count
--     ('validation_cases_fda' 20 / 'validation_cases_ldt' 40 per category, ASCO/CAP 2013/2018,
--     the kit's class from ldt_kits), or when PPA or NPA is under the lab's target
--     ('lab_target_concordance', the ASCO/CAP 2007 criterion, per category; a category without
--     a case is short of cases already); ok otherwise. The figure is the lower of PPA and NPA;
--     overall agreement is in the message, never judged.
CREATE OR REPLACE TEMP TABLE findings_validation_set AS
WITH s AS (
    SELECT
        v.*,
        coalesce(o.low, d.low) AS target,
        coalesce(o.source, d.source) AS target_source,
        v.ppa < coalesce(o.low, d.low) AS ppa_below,
        v.npa < coalesce(o.low, d.low) AS npa_below,
        CASE WHEN v.is_ldt THEN 'a laboratory-developed test' ELSE 'an FDA-approved assay' END
            AS class_words
    FROM marts.validation_sets AS v
    CROSS JOIN (SELECT * FROM finding_bands WHERE band_id = 'lab_target_concordance'
        AND lab_id = 'ALL') AS d
    LEFT JOIN finding_bands AS o ON o.band_id = 'lab_target_concordance' AND o.lab_id = v.lab_id
),
low AS (
    SELECT
        *,
        CASE WHEN coalesce(npa, 2) < coalesce(ppa, 2) THEN 'npa' ELSE 'ppa' END AS lower_of
    FROM s
)
SELECT
    'validation_set' AS finding,
    lab_id,
    'ALL' AS period,
    stratum AS subgroup,
    CASE
        WHEN NOT cases_met OR coalesce(ppa_below, false) OR coalesce(npa_below, false) THEN 'look'
        ELSE 'ok'
    END AS verdict,
    100 * CASE lower_of WHEN 'npa' THEN npa ELSE ppa END AS figure,
    CASE lower_of WHEN 'npa' THEN n_negative ELSE n_positive END AS n,
    100 * CASE lower_of WHEN 'npa' THEN npa_ci_low ELSE ppa_ci_low END AS ci_low,
    100 * CASE lower_of WHEN 'npa' THEN npa_ci_high ELSE ppa_ci_high END AS ci_high,
    printf('requirement: %s + %s cases (%s); lab target: %s for PPA and NPA each',
        fmt_count(required_per_category), fmt_count(required_per_category), assay_class,
        fmt_pct(target)) AS threshold,
    required_source || '; lab target: ' || target_source AS source,
    printf('Validation set %s (%s): %s positive and %s negative cases, %s the ASCO/CAP '
        || '2013/2018 requirement of %s + %s for %s; PPA %s (%s of %s), NPA %s (%s of %s): %s; '
        || 'overall agreement %s (shown, not judged)%s.',
        stratum, assay_class, fmt_count(n_positive), fmt_count(n_negative),
        CASE WHEN cases_met THEN 'meets' ELSE 'below' END,
        fmt_count(required_per_category), fmt_count(required_per_category), class_words,
        coalesce(fmt_pct(ppa), '—'), fmt_count(n_pos_agree), fmt_count(n_positive),
        coalesce(fmt_pct(npa), '—'), fmt_count(n_neg_agree), fmt_count(n_negative),
        CASE
            WHEN coalesce(ppa_below, false) AND coalesce(npa_below, false)
                THEN 'both below the lab target of ' || fmt_pct(target)
            WHEN coalesce(ppa_below, false) THEN 'PPA below the lab target of ' || fmt_pct(target)
            WHEN coalesce(npa_below, false) THEN 'NPA below the lab target of ' || fmt_pct(target)
            WHEN ppa IS NULL OR npa IS NULL THEN 'a category without a case cannot be judged '
                || 'against the lab target of ' || fmt_pct(target)
            ELSE 'each meets the lab target of ' || fmt_pct(target)
        END,
        coalesce(fmt_pct(concordance), '—'),
        CASE WHEN n_not_comparable > 0
            THEN printf('; %s case(s) without a positive or negative comparator (listed, not '
                || 'counted)', fmt_count(n_not_comparable))
            ELSE ''
        END) AS message,
    'validation' AS topic,
    'Validation set: cases and agreement' AS title
FROM low
;
CREATE OR REPLACE TABLE marts.findings AS
SELECT
    finding, lab_id, period, subgroup, verdict, figure, n::BIGINT AS n, ci_low, ci_high,
    threshold, source, message, topic, title
FROM (
    SELECT * FROM findings_lab_target
    UNION ALL BY NAME SELECT * FROM findings_positivity_control
    UNION ALL BY NAME SELECT * FROM findings_positivity_pathologist
    UNION ALL BY NAME SELECT * FROM findings_published_range
    UNION ALL BY NAME SELECT * FROM findings_agreement_info
    UNION ALL BY NAME SELECT * FROM findings_data
    UNION ALL BY NAME SELECT * FROM findings_quality_measures
    UNION ALL BY NAME SELECT * FROM findings_validation_set
)
ORDER BY finding, lab_id <> 'ALL', lab_id, period, subgroup
;
DROP TABLE finding_bands
;
DROP TABLE finding_targets
;
DROP TABLE finding_band_inputs
;
DROP TABLE findings_lab_target
;
DROP TABLE findings_positivity_control
;
DROP TABLE findings_positivity_pathologist
;
DROP TABLE findings_published_range
;
DROP TABLE findings_agreement_info
;
DROP TABLE findings_data
;
DROP TABLE findings_quality_measures
;
DROP TABLE findings_validation_set
;
