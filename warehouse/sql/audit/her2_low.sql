-- audit/her2_low: the HER2 category mix of the period's specimens, beside the Danish
-- distribution: warehouse/sql/marts/her2_low_distribution.sql re-run unchanged on the period's
-- cohort (audit/stage_specimens), its quarter 'ALL' rows, roles primary and metastasis (the
-- benchmarks are about primaries). ref: spec/warehouse.md "Statuses"; her2-domain.md
-- §HER2-LOW (HER2-low / ultralow / null are therapy-eligibility subgroups, not ASCO/CAP result
-- categories), §BENCH 6.3.
--   share_<category>             n_<category> / specimens of the role (7 categories)
--   share_ihc0                   (null + ultralow + zero_unspecified) / specimens
--   share_ultralow_of_negative   ultralow / negatives
-- Bands (primary role only): low -> 'her2_low_dk_departments', positive ->
-- 'positivity_dk_departments', ihc0 -> 'ihc0_share_dk', ultralow of negatives ->
-- 'ultralow_db06_screened' (context: HR status is not in the extract).
INSERT INTO audit_metrics BY NAME
WITH d AS (
    SELECT *
    FROM period_specimens.marts.her2_low_distribution
    WHERE quarter = 'ALL' AND specimen_role IN ('primary', 'metastasis')
),
shares AS (
    SELECT lab_id, specimen_role, c.metric, c.label, c.band_id,
        CASE c.metric
            WHEN 'share_positive' THEN n_positive
            WHEN 'share_low' THEN n_low
            WHEN 'share_ultralow' THEN n_ultralow
            WHEN 'share_null' THEN n_null
            WHEN 'share_zero_unspecified' THEN n_zero_unspecified
            WHEN 'share_negative_unspecified' THEN n_negative_unspecified
            WHEN 'share_equivocal' THEN n_equivocal
            WHEN 'share_indeterminate' THEN n_indeterminate
            WHEN 'share_ihc0' THEN n_null + n_ultralow + n_zero_unspecified
            WHEN 'share_ultralow_of_negative' THEN n_ultralow
        END AS k,
        CASE WHEN c.metric = 'share_ultralow_of_negative' THEN n_negative ELSE n_specimens END AS n
    FROM d
    CROSS JOIN (
        VALUES
        ('share_positive', 'HER2-positive', 'positivity_dk_departments'),
        ('share_low', 'HER2-low (IHC 1+, or 2+ with negative ISH)', 'her2_low_dk_departments'),
        ('share_ultralow', 'HER2-ultralow (IHC 0, 0 < % stained ≤ 10)', NULL),
        ('share_null', 'HER2-null (IHC 0, no staining)', NULL),
        ('share_zero_unspecified', 'IHC 0, % stained not recorded (or contradicting)', NULL),
        ('share_equivocal', 'Equivocal (work-up incomplete)', NULL),
        ('share_negative_unspecified', 'HER2-negative by ISH alone (no IHC score)', NULL),
        ('share_indeterminate', 'Indeterminate (no usable result)', NULL),
        ('share_ihc0', 'IHC 0 (null + ultralow + unspecified)', 'ihc0_share_dk'),
        ('share_ultralow_of_negative', 'HER2-ultralow among negatives', 'ultralow_db06_screened')
    ) AS c (metric, label, band_id)
)
SELECT
    'her2_low' AS section,
    s.metric,
    s.lab_id,
    s.specimen_role AS stratum,
    s.label,
    unnest(proportion_figure(s.k, s.n)),
    CASE WHEN b.band_id IS NOT NULL THEN 'benchmark band' END AS target_kind,
    -- a band with a single published figure (low = high = point; 'ihc0_share_dk' stores only
    -- the point) is read as low = high = point
    CASE WHEN b.low IS NULL AND b.high IS NULL THEN b.point ELSE b.low END AS target_low,
    CASE WHEN b.low IS NULL AND b.high IS NULL THEN b.point ELSE b.high END AS target_high,
    b.label || ' — ' || b.band_kind || ': ' || b.population AS target_label,
    b.source AS target_source,
    'marts.her2_low_distribution (her2_category: spec/warehouse.md "Statuses", her2-domain.md '
    || '§HER2-LOW); warehouse/sql/marts/her2_low_distribution.sql re-run on the period''s cohort '
    || '(warehouse/sql/audit/stage_specimens.sql)' AS source_rule
FROM shares AS s
LEFT JOIN audit_bands AS b
    ON b.band_id = s.band_id AND b.lab_id = s.lab_id AND s.specimen_role = 'primary'
;
