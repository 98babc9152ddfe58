-- macros/cap11: the CAP 11 (2019) repeat rule, defined once for the rate (marts/cap11_rates)
-- and the open-equivocal worklist (marts/worklist_open_equivocal).
--
--   completed_by_repeat(specimens, bands) -> TABLE (lab_id, accession_id)
--       specimens of the table named `specimens` (marts.specimen_her2) followed by a DECIDED specimen (final status positive
--       or negative) of the same patient (patient_key, any lab) and the same specimen_role,
--       collected after it and at most 'cap11_repeat_window_days' days later (a her2qa rule:
--       the table named `bands`, marts.reference_bands). Whether the first one needed completing (it was equivocal)
--       is the caller's question.
-- The tables are named (query_table), not written: a macro body is bound where it is defined,
-- before the marts exist, and the audit pack calls it inside its period catalog.
CREATE OR REPLACE TEMP MACRO completed_by_repeat(specimens, bands) AS TABLE
SELECT DISTINCT e.lab_id, e.accession_id
FROM query_table(specimens) AS e
JOIN query_table(specimens) AS o
    ON o.patient_key = e.patient_key
   AND o.specimen_role = e.specimen_role
   AND (o.lab_id, o.accession_id) <> (e.lab_id, e.accession_id)
   AND o.collection_date > e.collection_date
   AND o.collection_date <= e.collection_date + (
       SELECT low::INTEGER
       FROM query_table(bands)
       WHERE band_id = 'cap11_repeat_window_days' AND lab_id = 'ALL'
   )
   AND o.final_status IN ('positive', 'negative')
;
