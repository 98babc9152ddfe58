-- partitions/step: one step of moving linked patients together (partitions/links.sql):
-- each linking specimen takes the lowest partition of its patients, each patient the lowest of
-- its linking specimens'. Repeated until no patient moves; then every patient of a linking
-- specimen is in one partition (a patient's partition is never above any of its specimens',
-- which is the lowest of their patients'), and each step only lowers partitions, so it ends.
-- temp.main.partition_next (patient_key, part, moved): the partitions after the step.
CREATE OR REPLACE TEMP TABLE partition_next AS
WITH specimen_part AS (
    SELECT l.lab_id, l.accession_id, min(p.part) AS part
    FROM partition_links AS l
    JOIN partition_of AS p USING (patient_key)
    GROUP BY l.lab_id, l.accession_id
)
SELECT l.patient_key, min(s.part) AS part, min(s.part) < any_value(p.part) AS moved
FROM partition_links AS l
JOIN specimen_part AS s USING (lab_id, accession_id)
JOIN partition_of AS p USING (patient_key)
GROUP BY l.patient_key
