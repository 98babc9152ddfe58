-- marts/proficiency_results: every proficiency-testing (PT) answer of every laboratory, graded
-- (her2-domain.md §VALIDATION: external PT, >= 2 testing events a year, satisfactory = >= 90%
-- correct on graded challenges; ASCO/CAP 2018, GC-2018 p5). The one grading of PT: the audit
-- pack and the findings read it.
--
-- Grain: one row per lab_id × challenge (challenge_id, assay) answered.
--   challenge_id   accession_id of the PT row: the PT material's id, the same in every lab
--   event_date     the PT material's distribution (the rows' collection_date); event_month
--   answer         the lab's current result for the challenge (latest report_date, then the
--                  greatest test_id): ihc_score, ish_group (2018, dual-probe), single-probe
--                  call, reported_result; answer_call: IHC 3+ positive, 2+ equivocal, 0/1+
--                  negative (macros ihc_call); ISH group 1 / single-probe positive positive,
--                  group 5 / single-probe negative negative, groups 2-4 / single-probe
--                  equivocal equivocal; reported indeterminate or nothing usable:
--                  indeterminate
--   expected_result  the provider's key on the answer row (contract v2), normalised
--   graded_by      'provider_key' where expected_result is given: an IHC score key is graded
--                  on the score (0, 1+, 2+, 3+: the provider grades the score, and 0 vs 1+
--                  decides HER2-low eligibility), a positive / negative key on the answer's
--                  call; 'consensus' where no key is given (yet) and the challenge has one:
--                  the call of a strict majority of the laboratories with a usable answer to
--                  it, among at least 'pt_consensus_min_labs' laboratories (a her2qa rule,
--                  marts.reference_bands: what the network agrees on, not the provider's
--                  grade); 'ungraded' otherwise (no key and no consensus)
--   graded_against the key or the consensus call the answer was compared with
--   correct        the answer equals it (an indeterminate answer to a graded challenge is not
--                  correct); NULL when ungraded
--   n_labs_answered, n_consensus  labs with a usable answer, and those giving the modal call
CREATE OR REPLACE TABLE marts.proficiency_results AS
WITH pt AS (
    SELECT
        lab_id,
        test_id,
        accession_id AS challenge_id,
        assay,
        collection_date AS event_date,
        report_date,
        assay_kit,
        pathologist_id,
        ihc_score,
        ish_group(ish_ratio, ish_her2_per_cell)::TINYINT AS ish_group,
        CASE
            WHEN assay = 'ISH' AND ish_ratio IS NULL AND ish_her2_per_cell IS NOT NULL
                THEN ish_single_call('2018', ish_her2_per_cell)
        END AS ish_single_call,
        reported_result,
        expected_result
    FROM staging.her2_results
    WHERE test_purpose = 'proficiency'
),
answers AS (
    SELECT
        *,
        CASE
            WHEN reported_result = 'indeterminate' THEN 'indeterminate'
            WHEN assay = 'IHC' THEN coalesce(ihc_call(ihc_score), 'indeterminate')
            WHEN ish_group = 1 OR ish_single_call = 'positive' THEN 'positive'
            WHEN ish_group = 5 OR ish_single_call = 'negative' THEN 'negative'
            WHEN ish_group IN (2, 3, 4) OR ish_single_call = 'equivocal' THEN 'equivocal'
            ELSE 'indeterminate'
        END AS answer_call
    FROM pt
    QUALIFY row_number() OVER (
        PARTITION BY lab_id, challenge_id, assay ORDER BY report_date DESC, test_id DESC
    ) = 1
),
votes AS (
    SELECT challenge_id, assay, answer_call, count(*) AS n_votes
    FROM answers
    WHERE answer_call <> 'indeterminate'
    GROUP BY challenge_id, assay, answer_call
),
consensus AS (
    SELECT
        challenge_id,
        assay,
        sum(n_votes)::BIGINT AS n_labs_answered,
        max(n_votes)::BIGINT AS n_consensus,
        arg_max(answer_call, n_votes) AS modal_call
    FROM votes
    GROUP BY challenge_id, assay
),
min_labs AS (
    SELECT low AS n FROM marts.reference_bands
    WHERE band_id = 'pt_consensus_min_labs' AND lab_id = 'ALL'
),
graded AS (
    SELECT
        a.*,
        coalesce(c.n_labs_answered, 0) AS n_labs_answered,
        c.n_consensus,
        CASE
            WHEN c.n_labs_answered >= (SELECT n FROM min_labs)
                AND 2 * c.n_consensus > c.n_labs_answered THEN c.modal_call
        END AS consensus_call
    FROM answers AS a
    LEFT JOIN consensus AS c USING (challenge_id, assay)
)
SELECT
    lab_id,
    challenge_id,
    assay,
    event_date,
    strftime(event_date, '%Y-%m') AS event_month,
    report_date,
    test_id,
    assay_kit,
    pathologist_id,
    ihc_score,
    ish_group,
    ish_single_call,
    reported_result,
    answer_call,
    expected_result,
    CASE
        WHEN expected_result IS NOT NULL THEN 'provider_key'
        WHEN consensus_call IS NOT NULL THEN 'consensus'
        ELSE 'ungraded'
    END AS graded_by,
    coalesce(expected_result, consensus_call) AS graded_against,
    CASE
        WHEN expected_result IN ('0', '1+', '2+', '3+')
            THEN coalesce(ihc_score = expected_result AND answer_call <> 'indeterminate', false)
        WHEN expected_result IS NOT NULL THEN answer_call = expected_result
        WHEN consensus_call IS NOT NULL THEN answer_call = consensus_call
    END AS correct,
    n_labs_answered,
    n_consensus,
    consensus_call
FROM graded
ORDER BY lab_id, event_date, challenge_id, assay
;
