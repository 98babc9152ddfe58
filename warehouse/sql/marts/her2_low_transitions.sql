-- marts/her2_low_transitions: HER2 category of the primary → HER2 category of the metastasis
-- (spec/warehouse.md v2 "Statuses"; ref: her2-domain.md §HER2-LOW, §TIMELINE, §BENCH 6.4),
-- counted from marts.primary_metastasis_pairs (every pair, comparable or not), read as
-- therapy-eligibility classes per the 2025 indications.
--
-- Eligibility class (macros eligibility_class), §HER2-LOW "therapy-eligibility subgroups":
--   positive   IHC 3+, or 2+ with ISH positive: anti-HER2 therapy (ASCO/CAP)
--   low        IHC 1+, or 2+ with negative ISH: T-DXd after chemotherapy, HR-positive or
--              HR-negative (DESTINY-Breast04, FDA 2022); and HR-positive after endocrine
--              therapy (DESTINY-Breast06, FDA 2025)
--   ultralow   IHC 0 with membrane staining in > 0% and <= 10%: T-DXd in HR-positive disease
--              after endocrine therapy only (DESTINY-Breast06, FDA 27 Jan 2025)
--   null       IHC 0 without membrane staining: neither
--   NULL       the class cannot be told: zero_unspecified (IHC 0, ultralow or null unknown),
--              negative_unspecified (ISH alone: low, ultralow or null unknown), equivocal,
--              indeterminate
-- HR status is not in the extract, so each therapy's eligibility is followed separately
-- (macros anti_her2_eligible, tdxd_hr_positive_eligible, tdxd_hr_negative_eligible):
--   class       anti-HER2   T-DXd HR-positive   T-DXd HR-negative
--   positive    yes         no (*)              no (*)
--   low         no          yes                 yes
--   ultralow    no          yes                 no
--   null        no          no                  no
--   (*) the HER2-low / -ultralow indications; a positive tumour gets anti-HER2 therapy.
-- An unspecified category is still decided where every class it may be agrees
-- (zero_unspecified is not eligible in HR-negative disease, ultralow and null alike).
--
-- Grain: one row per lab_id (the metastasis' lab, or 'ALL' pooled) × primary_category ×
-- metastasis_category with at least one pair.
--   n_pairs               pairs with that transition
--   share_of_primary      n_pairs / pairs of the lab with that primary category (each
--                         primary category's row shares sum to 1)
--   transition_kind       (unchanged meaning, by category)
--     'same'              the same category
--     'gain' / 'loss'     status change negative → positive / positive → negative
--     'low_to_zero'       HER2-low primary, IHC 0 metastasis (null, ultralow, zero_unspecified)
--     'zero_to_low'       IHC 0 primary, HER2-low metastasis
--     'within_zero'       between null, ultralow and zero_unspecified
--     'not_comparable'    either side equivocal or indeterminate
--     'unspecified'       a negative without IHC (negative_unspecified) on either side
--   primary_class, metastasis_class   eligibility classes (above)
--   anti_her2_change, tdxd_hr_positive_change, tdxd_hr_negative_change
--                         'gained', 'lost', 'unchanged', or NULL when a side leaves it open
--   changes_eligibility   TRUE for every transition that changes the eligibility class: both
--                         classes known and different (including low ↔ ultralow and
--                         null ↔ ultralow), or a class that certainly changes although one
--                         side is unspecified (a therapy gained or lost, e.g. low →
--                         zero_unspecified loses HR-negative T-DXd eligibility); FALSE when
--                         the class certainly stays; NULL when it cannot be told
--                         (e.g. null → zero_unspecified) or the pair is not comparable.
--                         A class change is not a loss: low → ultralow keeps T-DXd
--                         eligibility in HR-positive disease (tdxd_hr_positive_change
--                         'unchanged') and loses it in HR-negative disease only
--   eligibility_change    short text: 'same class', the category transition when the class
--                         changes ('low → ultralow'), 'class unknown', 'not comparable'
--   n_pairs_off_companion pairs of the row where an ultralow or null call (primary or
--                         metastasis) was made on a recorded IHC clone other than 4B5, the
--                         FDA 2025 companion diagnostic for HER2-ultralow (§TIMELINE)
CREATE OR REPLACE TABLE marts.her2_low_transitions AS
WITH kinds AS (
    SELECT
        metastasis_lab_id,
        primary_her2_category AS primary_category,
        metastasis_her2_category AS metastasis_category,
        CASE
            WHEN primary_her2_category IN ('equivocal', 'indeterminate')
                OR metastasis_her2_category IN ('equivocal', 'indeterminate') THEN 'not_comparable'
            WHEN primary_her2_category = metastasis_her2_category THEN 'same'
            WHEN metastasis_her2_category = 'positive' THEN 'gain'
            WHEN primary_her2_category = 'positive' THEN 'loss'
            WHEN 'negative_unspecified' IN (primary_her2_category, metastasis_her2_category)
                THEN 'unspecified'
            WHEN primary_her2_category = 'low' THEN 'low_to_zero'
            WHEN metastasis_her2_category = 'low' THEN 'zero_to_low'
            ELSE 'within_zero'
        END AS transition_kind,
        coalesce(
            (primary_her2_category IN ('ultralow', 'null') AND NOT primary_companion_assay)
            OR (metastasis_her2_category IN ('ultralow', 'null') AND NOT metastasis_companion_assay),
            false
        ) AS off_companion
    FROM marts.primary_metastasis_pairs
),
counts AS (
    SELECT
        CASE WHEN grouping(metastasis_lab_id) = 1 THEN 'ALL' ELSE metastasis_lab_id END
            AS lab_id,
        primary_category,
        metastasis_category,
        any_value(transition_kind) AS transition_kind,
        count(*) AS n_pairs,
        count_if(off_companion) AS n_pairs_off_companion
    FROM kinds
    GROUP BY GROUPING SETS (
        (metastasis_lab_id, primary_category, metastasis_category),
        (primary_category, metastasis_category)
    )
),
moves AS (
    SELECT
        *,
        eligibility_class(primary_category) AS primary_class,
        eligibility_class(metastasis_category) AS metastasis_class,
        eligibility_move(anti_her2_eligible(primary_category), anti_her2_eligible(metastasis_category))
            AS anti_her2_change,
        eligibility_move(
            tdxd_hr_positive_eligible(primary_category),
            tdxd_hr_positive_eligible(metastasis_category)
        ) AS tdxd_hr_positive_change,
        eligibility_move(
            tdxd_hr_negative_eligible(primary_category),
            tdxd_hr_negative_eligible(metastasis_category)
        ) AS tdxd_hr_negative_change
    FROM counts
),
judged AS (
    SELECT
        *,
        CASE
            WHEN transition_kind = 'not_comparable' THEN NULL
            WHEN primary_class IS NOT NULL AND metastasis_class IS NOT NULL
                THEN primary_class <> metastasis_class
            WHEN 'gained' IN (anti_her2_change, tdxd_hr_positive_change, tdxd_hr_negative_change)
                OR 'lost' IN (anti_her2_change, tdxd_hr_positive_change, tdxd_hr_negative_change)
                THEN true
        END AS changes_eligibility
    FROM moves
)
SELECT
    lab_id,
    primary_category,
    metastasis_category,
    n_pairs::BIGINT AS n_pairs,
    n_pairs::DOUBLE / sum(n_pairs) OVER (PARTITION BY lab_id, primary_category) AS share_of_primary,
    transition_kind,
    changes_eligibility,
    primary_class,
    metastasis_class,
    anti_her2_change,
    tdxd_hr_positive_change,
    tdxd_hr_negative_change,
    CASE
        WHEN transition_kind = 'not_comparable' THEN 'not comparable'
        WHEN changes_eligibility THEN primary_category || ' → ' || metastasis_category
        WHEN NOT changes_eligibility THEN 'same class'
        ELSE 'class unknown'
    END AS eligibility_change,
    n_pairs_off_companion::BIGINT AS n_pairs_off_companion
FROM judged
ORDER BY lab_id <> 'ALL', lab_id, primary_category, metastasis_category
;
