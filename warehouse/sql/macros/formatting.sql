-- macros/formatting: how a number reads in a finding's message, defined once (temporary
-- macros, like macros/statistics). The site and the audit pack show findings' messages as
-- written here; their own tables use the same conventions (dashboards/report/formatting.py):
-- proportions as percent with one decimal, counts with thousands separators, an interval as
-- "95% CI a–b%".
CREATE OR REPLACE TEMP MACRO fmt_pct(p) AS
    CASE WHEN p IS NULL THEN '–' ELSE printf('%.1f%%', 100 * p) END
;
CREATE OR REPLACE TEMP MACRO fmt_count(n) AS
    CASE WHEN n IS NULL THEN '–' ELSE format('{:,}', n::BIGINT) END
;
CREATE OR REPLACE TEMP MACRO fmt_ci(low, high) AS
    CASE
        WHEN low IS NULL OR high IS NULL THEN '95% CI –'
        ELSE printf('95%% CI %.1f–%.1f%%', 100 * low, 100 * high)
    END
;
-- Landis & Koch (1977) descriptors of a kappa (her2-domain.md §STATS 7.3).
CREATE OR REPLACE TEMP MACRO kappa_words(kappa) AS
    CASE
        WHEN kappa IS NULL THEN 'undefined'
        WHEN kappa < 0 THEN 'poor'
        WHEN kappa <= 0.20 THEN 'slight'
        WHEN kappa <= 0.40 THEN 'fair'
        WHEN kappa <= 0.60 THEN 'moderate'
        WHEN kappa <= 0.80 THEN 'substantial'
        ELSE 'almost perfect'
    END
;
CREATE OR REPLACE TEMP MACRO ordinal(n) AS
    n::VARCHAR || CASE
        WHEN n % 100 BETWEEN 11 AND 13 THEN 'th'
        WHEN n % 10 = 1 THEN 'st'
        WHEN n % 10 = 2 THEN 'nd'
        WHEN n % 10 = 3 THEN 'rd'
        ELSE 'th'
    END
;
