-- partitions/links: what keeps patients together in a full build made in partitions
-- (warehouse/build.py). A case-level row depends on the current results of its specimen and of
-- its patient alone, so a partition must hold whole specimens and whole patients. A patient goes
-- to partition hash(patient_key) % $parts, unless a specimen links it to other patients (its
-- current results carry more than one patient_key: an amendment that moved a result, a
-- mistyped MRN): then every patient such specimens link, directly or through each other, goes
-- where the lowest of them goes (partitions/step.sql, repeated until nothing moves).
--
-- temp.main.partition_links  (lab_id, accession_id, patient_key) of the specimens that link
--                            patients: compared as text, as a hash of each key could collide
-- temp.main.partition_of     (patient_key, part) of every patient of those specimens
CREATE OR REPLACE TEMP TABLE partition_links AS
SELECT DISTINCT r.lab_id, r.accession_id, r.patient_key
FROM staging.her2_results AS r
SEMI JOIN (
    SELECT lab_id, accession_id
    FROM staging.her2_results
    GROUP BY lab_id, accession_id
    HAVING min(patient_key) <> max(patient_key)
) AS linking USING (lab_id, accession_id)
;
CREATE OR REPLACE TEMP TABLE partition_of AS
SELECT DISTINCT patient_key, hash(patient_key) % $parts AS part
FROM partition_links
