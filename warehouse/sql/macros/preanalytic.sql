-- macros/preanalytic: the pre-analytic limits in force, defined once for the specimens judged
-- against them (marts/specimen_preanalytic) and the monthly figures that show them
-- (marts/preanalytic_monthly): her2-domain.md §PREANALYTIC, rows of marts.reference_bands.
--
--   preanalytic_limits(bands) -> TABLE, one row: cold_limit_min ('cold_ischemia_limit', at
--       most 60 min), fixation_low_h / fixation_high_h ('fixation_window', 6-72 h, the 2013
--       and 2018 rules), fixation_low_h_2007 / fixation_high_h_2007 ('fixation_window_2007',
--       6-48 h), limits_source. The table is named (query_table): a macro body is bound where
--       it is defined, before the marts exist.
CREATE OR REPLACE TEMP MACRO preanalytic_limits(bands) AS TABLE
SELECT
    max(high) FILTER (WHERE band_id = 'cold_ischemia_limit') AS cold_limit_min,
    max(low) FILTER (WHERE band_id = 'fixation_window') AS fixation_low_h,
    max(high) FILTER (WHERE band_id = 'fixation_window') AS fixation_high_h,
    max(low) FILTER (WHERE band_id = 'fixation_window_2007') AS fixation_low_h_2007,
    max(high) FILTER (WHERE band_id = 'fixation_window_2007') AS fixation_high_h_2007,
    string_agg(source, '; ' ORDER BY band_id) FILTER (
        WHERE band_id IN ('cold_ischemia_limit', 'fixation_window', 'fixation_window_2007')
    ) AS limits_source
FROM query_table(bands)
;
