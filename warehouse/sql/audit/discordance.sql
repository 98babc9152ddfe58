-- audit/discordance: the period's discordant cases and what the data shows was done about them
-- (the worklists of audit/cases: cases/*.csv). ref: her2-domain.md §FINAL-STATUS (IHC 3+ with
-- group 5, IHC 0/1+ with group 1: true IHC/ISH discordance, review both slides), §ISH-RESOLVE
-- and §ISH-COUNT (groups 2-4; a blinded recount of >= 20 cells for groups 2-4 with IHC 2+).
--   ihc_ish_worklist (stratum: all, and each discordance_type)   the rows of
--                          cases/ihc_ish_discordance.csv (counted from the very table the file is
--                          written from, audit_cases_ihc_ish): true discordances AND groups 2-4;
--                          the report's headline is this count, with its two parts
--   ihc_ish_discordant (stratum: each true discordance type, all)   IHC 3+ with group 5 or a
--                          negative single-probe ISH, IHC 0/1+ with group 1 or a positive
--                          single-probe ISH (contract v2); n = specimens of the cohort with ISH
--   ish_group_2_4 (stratum: all, unresolved (no concurrent IHC), needs_blinded_recount)
--   discordant_with_follow_up   true IHC/ISH discordances with a second read, a reference-lab
--                          test or an amended report documented
--   lab_vs_reference_discordant, lab_vs_reference_with_follow_up
--   observer_call_differs  second reads whose call category differs from the clinical read
--   observer_score_differs the rows of cases/observer_disagreements.csv: second reads whose
--                          score differs (any of 0/1+/2+/3+), of the period's second reads
INSERT INTO audit_metrics BY NAME
WITH base AS (
    SELECT lab_id FROM period_specimens.marts.specimen_her2 WHERE ish_group IS NOT NULL
),
totals AS (
    SELECT CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id, count(*) AS n
    FROM base
    GROUP BY GROUPING SETS ((lab_id), ())
),
cases AS (
    SELECT
        lab_id,
        discordance_type,
        discordance_type <> 'ish_group_2_4' AS true_discordance,
        discordance_type = 'ish_group_2_4' AND ihc_score IS NULL AS unresolved,
        needs_blinded_recount,
        second_read_done OR reference_lab_done OR amended_report AS followed_up
    FROM audit_cases_ihc_ish
),
-- The worklist's rows per lab and discordance_type (k_rows), and how many of them are true
-- discordances (k_true).
by_type AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        CASE WHEN grouping(discordance_type) = 1 THEN 'all' ELSE discordance_type END AS stratum,
        count(*) AS k_rows,
        count_if(true_discordance) AS k_true
    FROM cases
    GROUP BY GROUPING SETS ((lab_id, discordance_type), (lab_id), (discordance_type), ())
),
true_by_type AS (
    SELECT lab_id, stratum, k_true AS k FROM by_type WHERE k_true > 0
),
groups_2_4 AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        coalesce(count_if(discordance_type = 'ish_group_2_4'), 0) AS n_all,
        coalesce(count_if(unresolved), 0) AS n_unresolved,
        coalesce(count_if(needs_blinded_recount), 0) AS n_recount
    FROM cases
    GROUP BY GROUPING SETS ((lab_id), ())
)
SELECT
    'discordance' AS section,
    'ihc_ish_discordant' AS metric,
    t.lab_id,
    coalesce(b.stratum, 'all') AS stratum,
    'True IHC/ISH discordances (IHC 3+ with ISH group 5; IHC 0/1+ with group 1), specimens; '
    || 'these rows of cases/ihc_ish_discordance.csv' AS label,
    coalesce(b.k, 0)::DOUBLE AS value,
    'count' AS unit,
    coalesce(b.k, 0) AS numerator,
    t.n,
    'not applicable (count)' AS ci_method,
    'marts.ihc_ish_discordance (her2-domain.md §FINAL-STATUS caveats) re-run on the period''s '
    || 'cohort; n = specimens with a dual-probe ISH group (warehouse/sql/audit/discordance.sql)'
        AS source_rule
FROM totals AS t
LEFT JOIN true_by_type AS b USING (lab_id)
UNION ALL
SELECT
    'discordance',
    'ish_group_2_4',
    g.lab_id,
    s.stratum,
    CASE s.stratum
        WHEN 'all' THEN 'Dual-probe ISH groups 2-4 (resolved by the concurrent IHC)'
        WHEN 'unresolved' THEN 'ISH groups 2-4 without a concurrent IHC score (unresolved)'
        ELSE 'ISH groups 2-4 with IHC 2+: blinded recount of ≥ 20 cells required'
    END,
    CASE s.stratum WHEN 'all' THEN g.n_all WHEN 'unresolved' THEN g.n_unresolved
        ELSE g.n_recount END::DOUBLE,
    'count',
    CASE s.stratum WHEN 'all' THEN g.n_all WHEN 'unresolved' THEN g.n_unresolved
        ELSE g.n_recount END,
    t.n,
    'not applicable (count)',
    'marts.ihc_ish_discordance ish_group_2_4 (her2-domain.md §ISH-RESOLVE, §ISH-COUNT: the '
    || 'extract cannot show whether the recount was done) re-run on the period''s cohort'
FROM groups_2_4 AS g
JOIN totals AS t USING (lab_id)
CROSS JOIN (VALUES ('all'), ('unresolved'), ('needs_blinded_recount')) AS s (stratum)
UNION ALL
SELECT
    'discordance',
    'ihc_ish_worklist',
    t.lab_id,
    coalesce(r.stratum, 'all') AS stratum,
    CASE coalesce(r.stratum, 'all')
        WHEN 'all' THEN 'Specimens in cases/ihc_ish_discordance.csv (true IHC/ISH discordances '
            || 'and ISH groups 2-4)'
        ELSE 'Specimens in cases/ihc_ish_discordance.csv of this discordance_type'
    END AS label,
    coalesce(r.k_rows, 0)::DOUBLE AS value,
    'count' AS unit,
    coalesce(r.k_rows, 0) AS numerator,
    t.n,
    'not applicable (count)' AS ci_method,
    'rows of the worklist cases/ihc_ish_discordance.csv (marts.ihc_ish_discordance re-run on the '
    || 'period''s cohort, warehouse/sql/audit/cases.sql); n = specimens with a dual-probe ISH '
    || 'group' AS source_rule
FROM totals AS t
LEFT JOIN by_type AS r USING (lab_id)
;
INSERT INTO audit_metrics BY NAME
WITH c AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        count(*) AS n,
        coalesce(count_if(second_read_done OR reference_lab_done OR amended_report), 0) AS k
    FROM audit_cases_ihc_ish
    WHERE discordance_type <> 'ish_group_2_4'
    GROUP BY GROUPING SETS ((lab_id), ())
),
r AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        count(*) AS n,
        coalesce(count_if(second_read_done OR amended_report), 0) AS k
    FROM audit_cases_lab_vs_reference
    GROUP BY GROUPING SETS ((lab_id), ())
),
o AS (
    SELECT
        CASE WHEN grouping(p.lab_id) = 1 THEN 'ALL' ELSE p.lab_id END AS lab_id,
        count(*) AS n,
        coalesce(count_if(ihc_call(p.first_value) <> ihc_call(p.second_value)), 0) AS k
    FROM period_pairs.marts.agreement_pairs AS p
    WHERE p.comparison = 'observer_vs_observer'
    GROUP BY GROUPING SETS ((p.lab_id), ())
),
od AS (
    SELECT
        CASE WHEN grouping(lab_id) = 1 THEN 'ALL' ELSE lab_id END AS lab_id,
        count(*) AS k
    FROM audit_cases_observer
    GROUP BY GROUPING SETS ((lab_id), ())
)
SELECT
    'discordance' AS section,
    'discordant_with_follow_up' AS metric,
    lab_id,
    'all' AS stratum,
    'True IHC/ISH discordances with a second read, reference-lab test or amended report '
    || 'documented' AS label,
    unnest(proportion_figure(k, n)),
    'staging.her2_results of the discordant specimens: current second_read or reference_lab '
    || 'result, or a clinical result_version > 1 (warehouse/sql/audit/cases.sql)' AS source_rule
FROM c
UNION ALL
SELECT
    'discordance',
    'lab_vs_reference_discordant',
    lab_id,
    'all',
    'Laboratory vs reference laboratory: discordant pairs (rows of '
    || 'cases/lab_vs_reference_discordance.csv)',
    n::DOUBLE,
    'count',
    n,
    n,
    NULL,
    NULL,
    'not applicable (count)',
    'marts.agreement_pairs lab_vs_reference, agree false, pairs dated in the period '
    || '(warehouse/sql/audit/cases.sql)'
FROM r
UNION ALL
SELECT
    'discordance',
    'lab_vs_reference_with_follow_up',
    lab_id,
    'all',
    'Laboratory vs reference discordances with a second read or amended report documented',
    unnest(proportion_figure(k, n)),
    'staging.her2_results of the discordant specimens: current second_read result or a clinical '
    || 'result_version > 1 (warehouse/sql/audit/cases.sql)'
FROM r
UNION ALL
SELECT
    'discordance',
    'observer_call_differs',
    lab_id,
    'all',
    'Second reads whose call (0/1+ negative, 2+ equivocal, 3+ positive) differs from the '
    || 'clinical read',
    unnest(proportion_figure(k, n)),
    'marts.agreement_pairs observer_vs_observer dated in the period; IHC call per '
    || 'her2-domain.md §IHC-2018 (macros/asco_cap_rules ihc_call)'
FROM o
UNION ALL
SELECT
    'discordance',
    'observer_score_differs',
    o.lab_id,
    'all',
    'Second reads whose IHC score differs from the clinical read (rows of '
    || 'cases/observer_disagreements.csv)',
    coalesce(od.k, 0)::DOUBLE,
    'count',
    coalesce(od.k, 0),
    o.n,
    NULL,
    NULL,
    'not applicable (count)',
    'marts.agreement_pairs observer_vs_observer dated in the period, agree false '
    || '(warehouse/sql/audit/cases.sql)'
FROM o
LEFT JOIN od USING (lab_id)
;
