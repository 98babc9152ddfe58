-- marts/specimen_repeats: the specimens the CAP 11 repeat rule completes (macros/cap11:
-- completed_by_repeat): followed by a decided specimen (positive or negative) of the same
-- patient, any lab, same specimen_role, collected after it and at most
-- 'cap11_repeat_window_days' days later (her2-domain.md §CAP-CHECKLIST; the window is a her2qa
-- rule, marts.reference_bands). Whether the first one needed completing is the reader's
-- question (marts.cap11_rates, marts.worklist_open_equivocal).
-- A case-level table, kept by patient: the rule joins each patient's specimens only, so a
-- night recomputes it for the night's patients, not for the whole warehouse.
-- Grain: one row per completed specimen (lab_id, accession_id).
CREATE OR REPLACE TABLE marts.specimen_repeats AS
SELECT lab_id, accession_id
FROM completed_by_repeat('marts.specimen_her2', 'marts.reference_bands')
ORDER BY lab_id, accession_id
;
