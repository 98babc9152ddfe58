-- CAP 11 (2019), all months pooled per lab (lab 'ALL': the network): macros/cap11
-- cap11_pooled over marts.cap11_rates (the counts behind rates 1, 2 and 3 summed over the
-- months, each rate with its Wilson 95% interval). Rate 3 is the reported rate
-- (her2-domain.md §CAP-CHECKLIST); no verdict here: the finding cap11_rate3 (marts.findings)
-- is the reading.
SELECT * EXCLUDE (rate1_label, rate2_label, rate3_label)
FROM cap11_pooled('marts.cap11_rates')
ORDER BY lab_id
