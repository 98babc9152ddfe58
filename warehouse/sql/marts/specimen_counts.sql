-- marts/specimen_counts: the clinical specimens of marts.specimen_her2 counted once per
-- combination of everything the specimen-count aggregates break them down by (lab, collection
-- month, role, HER2 category, final status, IHC score, ISH group, the companion-assay flags,
-- the IHC read's quarter, reader and clone). her2_low_distribution, ihc0_share,
-- amplification_by_ihc_score, volume_monthly and ihc_ish_matrix sum these counts instead of
-- counting 7M specimens each (at 10M results: 63k rows).
--
-- An additive table (warehouse/catalog.py `counts_of`): its counts add up over any split of
-- the specimens, so a nightly build keeps it by subtracting the counts of the night's scope as
-- it stood and adding the scope's as it now stands (warehouse/build.py), and no row may depend
-- on any other specimen. Hence no filter, no DISTINCT, no clock: every specimen is counted.
--
-- Grain: one row per combination of the columns below but n_specimens; a NULL is a value of
-- its own (a specimen without an IHC score, a read without a reader).
--   collection_month   first day of the specimen's collection month (NULL: no date)
--   ihc_quarter_start  first day of the quarter of the selected IHC's report_date
--   n_specimens        the specimens of the combination (never 0)
CREATE OR REPLACE TABLE marts.specimen_counts AS
SELECT
    lab_id,
    date_trunc('month', collection_date)::DATE AS collection_month,
    specimen_role,
    her2_category,
    final_status,
    ihc_score,
    ish_group,
    companion_assay,
    ultralow_null_off_companion,
    date_trunc('quarter', ihc_report_date)::DATE AS ihc_quarter_start,
    ihc_pathologist_id,
    ihc_assay_kit,
    count(*) AS n_specimens
FROM marts.specimen_her2
GROUP BY ALL
;
