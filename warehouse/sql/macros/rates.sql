-- macros/rates: a rate with its Wilson 95% interval, the three columns every mart reports
-- for a count k out of a denominator n (macros/statistics: wilson_low, wilson_high).
--
--   rate_with_ci(k, n) -> {rate, ci_low, ci_high}    proportions (0-1); all NULL when n = 0
--
-- Expand it in place with unnest() (columns rate, ci_low, ci_high), or, for several rates
-- of one row, list the rates as rows (measure, k, n) and PIVOT them ON measure USING
-- first(rate) AS rate, first(ci_low) AS ci_low, first(ci_high) AS ci_high: the columns come
-- out as <measure>_rate, <measure>_ci_low, <measure>_ci_high.
CREATE OR REPLACE TEMP MACRO rate_with_ci(k, n) AS {
    'rate': CASE WHEN n > 0 THEN k::DOUBLE / n END,
    'ci_low': wilson_low(k, n),
    'ci_high': wilson_high(k, n)
}
;
