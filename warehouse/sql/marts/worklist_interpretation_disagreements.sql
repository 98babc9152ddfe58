-- marts/worklist_interpretation_disagreements: the worklist of results whose reported call
-- differs from the ASCO/CAP algorithm's call for the row: the rows of marts.interpretation_audit
-- audited and not agreeing, each with its reason (that file says how the call is made).
-- A table of its own, kept with the audit's specimens night by night, so that the nightly
-- list reads its own rows (1% of the audit's at 10M results) instead of picking them out of
-- every current clinical result (0.65 s of a 10M night's worklists, by row id).
--
-- Grain: one row per current clinical result (lab_id, test_id) whose call disagrees.
-- Columns: those of marts.interpretation_audit, in its order, but patient_key (the specimen
-- is the lab's own ids) and agrees (false on every row).
CREATE OR REPLACE TABLE marts.worklist_interpretation_disagreements AS
SELECT * EXCLUDE (patient_key, agrees)
FROM marts.interpretation_audit
WHERE audited AND NOT agrees
