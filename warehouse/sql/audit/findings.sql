-- audit/findings: every verdict the pack gives, as rows of marts.findings (spec/warehouse.md):
-- the pack computes none of its own for a figure the warehouse has a finding for.
--   made_for 'period'     period_findings.marts.findings: warehouse/sql/findings/findings.sql
--                         re-run on the period's marts (audit/stage_findings); period 'ALL' is
--                         the pack's period, 'YYYY-MM..YYYY-MM' the last 12 collection months
--                         of the period's cohort (positivity_published_range)
--   made_for 'warehouse'  the warehouse's own positivity_control and
--                         positivity_control_pathologist rows of the months overlapping the
--                         period, laboratory $lab: the pack shows the warehouse's p-chart points
--                         (a centre line over the whole series; the run rule needs months before
--                         the period), so it shows their verdicts
-- The period's own p-chart findings (a centre line over the period alone) are left out.
CREATE OR REPLACE TEMP TABLE audit_findings AS
SELECT 'period' AS made_for, *
FROM period_findings.marts.findings
WHERE finding NOT IN ('positivity_control', 'positivity_control_pathologist')
UNION ALL
SELECT 'warehouse', *
FROM wh.marts.findings
WHERE finding IN ('positivity_control', 'positivity_control_pathologist')
    AND strptime(period || '-01', '%Y-%m-%d')::DATE
        BETWEEN date_trunc('month', $from::DATE) AND $to
    AND ($lab IS NULL OR lab_id = $lab)
;
