-- marts/her2_low_distribution: the HER2 category mix (spec/warehouse.md v2 "Statuses":
-- positive, low, ultralow, null, zero_unspecified, negative_unspecified, equivocal,
-- indeterminate) per lab and
-- quarter, beside the Danish distribution (ref: her2-domain.md §HER2-LOW, §BENCH 6.3; bands
-- in marts.reference_bands). Summed from marts.specimen_counts (clinical specimens). HER2-low /
-- ultralow / null are therapy-eligibility subgroups, not ASCO/CAP result categories
-- (§HER2-LOW); 'zero_unspecified' is IHC 0 without (or with a contradicting) % stained;
-- 'negative_unspecified' a negative without an IHC score (ISH alone: HER2-negative, whether
-- low, ultralow or null is unknown). Categories follow the version each specimen was read
-- under (macros her2_category).
--
-- Grain: one row per lab_id × specimen_role × quarter, each also rolled up as 'ALL' (CUBE):
--   lab_id         a lab's code or 'ALL'
--   specimen_role  'primary', 'metastasis' or 'ALL' (the benchmark is about primaries)
--   quarter        'YYYY-Qn' of the specimen's collection_date, or 'ALL'
-- Columns: n_specimens (every clinical specimen of the group: the denominator), n_<category>
-- and share_<category> for the eight categories (the shares sum to 1), n_negative
-- (final status negative), share_ihc0 = (null + ultralow + zero_unspecified) / n_specimens
-- (comparable with the published IHC 0 share), share_ultralow_of_negative = ultralow /
-- n_negative (NULL without negatives);
-- n_ultralow_null_off_companion   ultralow or null calls made on a recorded IHC clone other
--                                  than 4B5, the FDA 2025 companion diagnostic for
--                                  HER2-ultralow (marts.specimen_her2
--                                  ultralow_null_off_companion; her2-domain.md §TIMELINE)
-- n_ultralow_null_kit_unknown     ultralow or null calls whose IHC kit is not recorded
-- bench_low_point, bench_low_low, bench_low_high   HER2-low, Denmark (department range)
-- bench_ihc0_point                                 IHC 0 share, Denmark
-- bench_positive_point, bench_positive_low, bench_positive_high
--                                                  HER2-positive, Denmark (department range)
-- bench_ultralow_low, bench_ultralow_high          DESTINY-Breast06 screened HR+/HER2−
--                                                  (context only: no HR status here)
-- bench_source, bench_label                        sources of the Danish figures, and the
--                                                  label "published benchmark band (context,
--                                                  not a limit)"
-- Shares are proportions (0-1).
CREATE OR REPLACE TABLE marts.her2_low_distribution AS
WITH fine AS (
    -- The specimens' counts (marts.specimen_counts) summed per lab, role, quarter and what the
    -- counts below test, labelled after summing; the CUBE then sums these counts: the same as
    -- counting the specimens of each group.
    SELECT
        lab_id,
        specimen_role,
        date_trunc('quarter', collection_month) AS quarter_start,
        her2_category,
        final_status = 'negative' AS is_negative,
        ultralow_null_off_companion,
        companion_assay IS NULL AS kit_unknown,
        sum(n_specimens) AS n
    FROM marts.specimen_counts
    GROUP BY ALL
),
cases AS (
    SELECT * EXCLUDE (quarter_start), quarter_label(quarter_start) AS quarter FROM fine
),
counts AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        CASE WHEN grouping(specimen_role) = 1 THEN 'ALL' ELSE specimen_role END AS specimen_role,
        CASE WHEN grouping(quarter) = 1 THEN 'ALL' ELSE quarter END AS quarter,
        -- count(*): 0, never NULL, for the grand total of an empty warehouse (a first run)
        coalesce(sum(n), 0)::BIGINT AS n_specimens,
        -- count_if(c) over the specimens is sum(c::INTEGER): a HUGEINT, NULL where c is NULL
        -- for every specimen of the group; so is the sum of n * c::INTEGER over the counts
        sum(n * (her2_category = 'positive')::INTEGER) AS n_positive,
        sum(n * (her2_category = 'low')::INTEGER) AS n_low,
        sum(n * (her2_category = 'ultralow')::INTEGER) AS n_ultralow,
        sum(n * (her2_category = 'null')::INTEGER) AS n_null,
        sum(n * (her2_category = 'zero_unspecified')::INTEGER) AS n_zero_unspecified,
        sum(n * (her2_category = 'negative_unspecified')::INTEGER) AS n_negative_unspecified,
        sum(n * (her2_category = 'equivocal')::INTEGER) AS n_equivocal,
        sum(n * (her2_category = 'indeterminate')::INTEGER) AS n_indeterminate,
        sum(n * (is_negative)::INTEGER) AS n_negative,
        sum(n * (ultralow_null_off_companion)::INTEGER) AS n_ultralow_null_off_companion,
        sum(n * (her2_category IN ('ultralow', 'null') AND kit_unknown)::INTEGER)
            AS n_ultralow_null_kit_unknown
    FROM cases
    GROUP BY CUBE (lab_id, specimen_role, quarter)
),
bench AS (
    SELECT
        max(point) FILTER (WHERE band_id = 'her2_low_dk_departments') AS bench_low_point,
        max(low) FILTER (WHERE band_id = 'her2_low_dk_departments') AS bench_low_low,
        max(high) FILTER (WHERE band_id = 'her2_low_dk_departments') AS bench_low_high,
        max(point) FILTER (WHERE band_id = 'ihc0_share_dk') AS bench_ihc0_point,
        max(point) FILTER (WHERE band_id = 'positivity_dk_departments') AS bench_positive_point,
        max(low) FILTER (WHERE band_id = 'positivity_dk_departments') AS bench_positive_low,
        max(high) FILTER (WHERE band_id = 'positivity_dk_departments') AS bench_positive_high,
        max(low) FILTER (WHERE band_id = 'ultralow_db06_screened') AS bench_ultralow_low,
        max(high) FILTER (WHERE band_id = 'ultralow_db06_screened') AS bench_ultralow_high,
        string_agg(DISTINCT source, '; ' ORDER BY source) FILTER (
            WHERE band_id IN (
                'her2_low_dk_departments', 'ihc0_share_dk', 'positivity_dk_departments'
            )
        ) AS bench_source,
        max(label) FILTER (WHERE band_id = 'her2_low_dk_departments') AS bench_label
    FROM marts.reference_bands
)
SELECT
    c.lab_id,
    c.specimen_role,
    c.quarter,
    c.n_specimens::BIGINT AS n_specimens,
    c.n_positive::BIGINT AS n_positive,
    c.n_low::BIGINT AS n_low,
    c.n_ultralow::BIGINT AS n_ultralow,
    c.n_null::BIGINT AS n_null,
    c.n_zero_unspecified::BIGINT AS n_zero_unspecified,
    c.n_negative_unspecified::BIGINT AS n_negative_unspecified,
    c.n_equivocal::BIGINT AS n_equivocal,
    c.n_indeterminate::BIGINT AS n_indeterminate,
    c.n_negative::BIGINT AS n_negative,
    c.n_ultralow_null_off_companion::BIGINT AS n_ultralow_null_off_companion,
    c.n_ultralow_null_kit_unknown::BIGINT AS n_ultralow_null_kit_unknown,
    c.n_positive::DOUBLE / c.n_specimens AS share_positive,
    c.n_low::DOUBLE / c.n_specimens AS share_low,
    c.n_ultralow::DOUBLE / c.n_specimens AS share_ultralow,
    c.n_null::DOUBLE / c.n_specimens AS share_null,
    c.n_zero_unspecified::DOUBLE / c.n_specimens AS share_zero_unspecified,
    c.n_negative_unspecified::DOUBLE / c.n_specimens AS share_negative_unspecified,
    c.n_equivocal::DOUBLE / c.n_specimens AS share_equivocal,
    c.n_indeterminate::DOUBLE / c.n_specimens AS share_indeterminate,
    (c.n_null + c.n_ultralow + c.n_zero_unspecified)::DOUBLE / c.n_specimens AS share_ihc0,
    CASE WHEN c.n_negative > 0 THEN c.n_ultralow::DOUBLE / c.n_negative END
        AS share_ultralow_of_negative,
    b.*
FROM counts AS c
CROSS JOIN bench AS b
ORDER BY
    c.lab_id <> 'ALL', c.lab_id, c.specimen_role <> 'ALL', c.specimen_role,
    c.quarter <> 'ALL', c.quarter
;
