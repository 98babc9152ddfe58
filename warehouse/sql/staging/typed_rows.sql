-- staging/typed_rows: the raw text of this step's files (temp table batch_files),
-- typed and checked against the input contract (spec/lis-extract.md §Columns,
-- §Spellings, "Impossible values"). One row per raw row, with typed values
-- (NULL when absent or unusable) and every reason that applies.
-- The LIS spellings come from ops.vocabulary (schemas/vocabulary.py); a lab's
-- own date format from the macro lab_date (her2qa/staging.py, site config).
-- blank(x) (white space trimmed, as Python's str.strip(); NULL when nothing is left) and
-- fold(x) (a spelling as ops.vocabulary holds it) are macros/text, loaded before this file,
-- with result_id(x): lab_id and test_id as read here, and by staging/contested_results.
-- Plain decimals only: no exponent, no units, no "inf"/"nan".
CREATE OR REPLACE TEMP MACRO plain_number(x) AS
    CASE WHEN regexp_full_match(x, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)')
         THEN try_cast(x AS DOUBLE) END
;
CREATE OR REPLACE TEMP MACRO whole_number(x) AS
    CASE WHEN regexp_full_match(x, '[+-]?[0-9]{1,9}([.]0*)?')
         THEN try_cast(try_cast(x AS DOUBLE) AS INTEGER) END
;
CREATE OR REPLACE TEMP MACRO iso_date(x) AS
    CASE WHEN regexp_full_match(x, '[0-9]{4}-[0-9]{2}-[0-9]{2}')
         THEN try_strptime(x, '%Y-%m-%d')::DATE END
;
CREATE OR REPLACE TEMP MACRO reason(f, c, m) AS {'field': f, 'code': c, 'message': m}
;
CREATE OR REPLACE TEMP MACRO quoted(x) AS '''' || x || ''''
;
CREATE OR REPLACE TEMP TABLE typed_rows AS
WITH src AS (
    SELECT
        r.file_id, r.source_row, f.file_name AS source_file, f.arrival_date, r.malformed,
        result_id(r.lab_id) AS lab_id_txt,
        blank(r.performing_lab) AS performing_lab_txt,
        result_id(r.test_id) AS test_id_txt,
        blank(r.result_version) AS result_version_txt,
        blank(r.accession_id) AS accession_id_txt,
        r.patient_key,
        blank(r.specimen_role) AS specimen_role_txt,
        blank(r.specimen_site) AS specimen_site_txt,
        blank(r.collection_date) AS collection_date_txt,
        blank(r.report_date) AS report_date_txt,
        blank(r.cold_ischemia_min) AS cold_ischemia_min_txt,
        blank(r.fixation_hours) AS fixation_hours_txt,
        blank(r.assay) AS assay_txt,
        blank(r.assay_kit) AS assay_kit_txt,
        blank(r.ihc_score) AS ihc_score_txt,
        blank(r.ihc_pct_stained) AS ihc_pct_stained_txt,
        blank(r.ish_her2_per_cell) AS ish_her2_per_cell_txt,
        blank(r.ish_cep17_per_cell) AS ish_cep17_per_cell_txt,
        blank(r.ish_ratio) AS ish_ratio_txt,
        blank(r.ish_cells_counted) AS ish_cells_counted_txt,
        blank(r.reported_result) AS reported_result_txt,
        blank(r.pathologist_id) AS pathologist_id_txt,
        blank(r.test_purpose) AS test_purpose_txt,
        blank(r.expected_result) AS expected_result_txt
    FROM raw.her2_rows AS r
    JOIN batch_files AS b USING (file_id)
    JOIN ops.ingested_files AS f USING (file_id)
),
allowed AS (
    SELECT field, string_agg(DISTINCT canonical, ', ' ORDER BY canonical) AS allowed
    FROM ops.vocabulary GROUP BY field
),
typed AS (
    SELECT
        s.*,
        s.lab_id_txt AS lab_id,
        coalesce(s.performing_lab_txt, s.lab_id_txt) AS performing_lab,
        s.test_id_txt AS test_id,
        CASE WHEN s.result_version_txt IS NULL THEN 1
             ELSE whole_number(s.result_version_txt) END AS result_version,
        s.accession_id_txt AS accession_id,
        v_role.canonical AS specimen_role,
        v_site.canonical AS specimen_site,
        coalesce(iso_date(s.collection_date_txt),
                 lab_date(s.lab_id_txt, s.collection_date_txt)) AS collection_date,
        coalesce(iso_date(s.report_date_txt),
                 lab_date(s.lab_id_txt, s.report_date_txt)) AS report_date,
        plain_number(s.cold_ischemia_min_txt) AS cold_ischemia_min,
        plain_number(s.fixation_hours_txt) AS fixation_hours,
        v_assay.canonical AS assay,
        s.assay_kit_txt AS assay_kit,
        v_score.canonical AS ihc_score,
        plain_number(s.ihc_pct_stained_txt) AS ihc_pct_stained,
        plain_number(s.ish_her2_per_cell_txt) AS ish_her2_per_cell,
        plain_number(s.ish_cep17_per_cell_txt) AS ish_cep17_per_cell,
        plain_number(s.ish_ratio_txt) AS ish_ratio,
        whole_number(s.ish_cells_counted_txt) AS ish_cells_counted,
        v_result.canonical AS reported_result,
        s.pathologist_id_txt AS pathologist_id,
        CASE WHEN s.test_purpose_txt IS NULL THEN 'clinical'
             ELSE v_purpose.canonical END AS test_purpose,
        -- contract v2: the PT provider's key, normalised like ihc_score (an IHC challenge) or
        -- like reported_result but only positive / negative (an ISH or a status challenge)
        CASE
            WHEN v_assay.canonical = 'IHC' THEN coalesce(v_expected_score.canonical,
                v_expected_call.canonical)
            WHEN v_assay.canonical = 'ISH' THEN v_expected_call.canonical
        END AS expected_result
    FROM src AS s
    LEFT JOIN ops.vocabulary AS v_assay
        ON v_assay.field = 'assay' AND v_assay.spelling = fold(s.assay_txt)
    LEFT JOIN ops.vocabulary AS v_role
        ON v_role.field = 'specimen_role' AND v_role.spelling = fold(s.specimen_role_txt)
    LEFT JOIN ops.vocabulary AS v_site
        ON v_site.field = 'specimen_site' AND v_site.spelling = fold(s.specimen_site_txt)
    LEFT JOIN ops.vocabulary AS v_score
        ON v_score.field = 'ihc_score' AND v_score.spelling = fold(s.ihc_score_txt)
    LEFT JOIN ops.vocabulary AS v_purpose
        ON v_purpose.field = 'test_purpose' AND v_purpose.spelling = fold(s.test_purpose_txt)
    LEFT JOIN ops.vocabulary AS v_result
        ON v_result.field = 'reported_result' AND v_result.spelling = fold(s.reported_result_txt)
       AND (v_result.assay IS NULL OR v_result.assay = v_assay.canonical)
    LEFT JOIN ops.vocabulary AS v_expected_score
        ON v_expected_score.field = 'ihc_score'
       AND v_expected_score.spelling = fold(s.expected_result_txt)
    LEFT JOIN ops.vocabulary AS v_expected_call
        ON v_expected_call.field = 'reported_result'
       AND v_expected_call.spelling = fold(s.expected_result_txt)
       AND v_expected_call.canonical IN ('positive', 'negative')
       AND (v_expected_call.assay IS NULL OR v_expected_call.assay = v_assay.canonical)
),
checked AS (
    SELECT
        t.*,
        -- A malformed record kept no values (her2qa/ingest/extract.py): its one reason is that.
        CASE WHEN t.malformed IS NOT NULL THEN [reason('row', 'malformed_record', t.malformed)] ELSE
        list_filter([
            -- required fields (spec §Columns "required: yes")
            CASE WHEN t.lab_id_txt IS NULL THEN reason('lab_id', 'required_missing', 'lab_id is missing') END,
            CASE WHEN t.test_id_txt IS NULL THEN reason('test_id', 'required_missing', 'test_id is missing') END,
            CASE WHEN t.accession_id_txt IS NULL THEN reason('accession_id', 'required_missing', 'accession_id is missing') END,
            CASE WHEN t.patient_key IS NULL THEN reason('patient_mrn', 'required_missing', 'patient_mrn is missing') END,
            CASE WHEN t.specimen_role_txt IS NULL THEN reason('specimen_role', 'required_missing', 'specimen_role is missing') END,
            CASE WHEN t.collection_date_txt IS NULL THEN reason('collection_date', 'required_missing', 'collection_date is missing') END,
            CASE WHEN t.report_date_txt IS NULL THEN reason('report_date', 'required_missing', 'report_date is missing') END,
            CASE WHEN t.assay_txt IS NULL THEN reason('assay', 'required_missing', 'assay is missing') END,
            CASE WHEN t.reported_result_txt IS NULL THEN reason('reported_result', 'required_missing', 'reported_result is missing') END,
            -- vocabulary (spec §Spellings)
            CASE WHEN t.specimen_role_txt IS NOT NULL AND t.specimen_role IS NULL THEN reason('specimen_role', 'not_in_vocabulary',
                'specimen_role ' || quoted(t.specimen_role_txt) || ' is not in the vocabulary (expected ' || (SELECT allowed FROM allowed WHERE field = 'specimen_role') || ')') END,
            CASE WHEN t.specimen_site_txt IS NOT NULL AND t.specimen_site IS NULL THEN reason('specimen_site', 'not_in_vocabulary',
                'specimen_site ' || quoted(t.specimen_site_txt) || ' is not in the vocabulary (expected ' || (SELECT allowed FROM allowed WHERE field = 'specimen_site') || ')') END,
            CASE WHEN t.assay_txt IS NOT NULL AND t.assay IS NULL THEN reason('assay', 'not_in_vocabulary',
                'assay ' || quoted(t.assay_txt) || ' is not in the vocabulary (expected IHC or ISH: FISH, SISH, CISH, DDISH)') END,
            CASE WHEN t.ihc_score_txt IS NOT NULL AND t.ihc_score IS NULL THEN reason('ihc_score', 'not_in_vocabulary',
                'ihc_score ' || quoted(t.ihc_score_txt) || ' is not in the vocabulary (expected ' || (SELECT allowed FROM allowed WHERE field = 'ihc_score') || ')') END,
            CASE WHEN t.reported_result_txt IS NOT NULL AND t.reported_result IS NULL THEN reason('reported_result', 'not_in_vocabulary',
                'reported_result ' || quoted(t.reported_result_txt) || ' is not in the vocabulary'
                || CASE WHEN fold(t.reported_result_txt) IN (SELECT spelling FROM ops.vocabulary WHERE field = 'reported_result' AND assay IS NOT NULL)
                        THEN ' of an ' || coalesce(t.assay, 'unknown-assay') || ' row (amplified / not amplified are ISH results)'
                        ELSE ' (expected ' || (SELECT allowed FROM allowed WHERE field = 'reported_result') || ')' END) END,
            CASE WHEN t.test_purpose_txt IS NOT NULL AND t.test_purpose IS NULL THEN reason('test_purpose', 'not_in_vocabulary',
                'test_purpose ' || quoted(t.test_purpose_txt) || ' is not in the vocabulary (expected ' || (SELECT allowed FROM allowed WHERE field = 'test_purpose') || ')') END,
            -- numbers: plain decimals only
            CASE WHEN t.cold_ischemia_min_txt IS NOT NULL AND t.cold_ischemia_min IS NULL THEN reason('cold_ischemia_min', 'not_a_number', 'cold_ischemia_min ' || quoted(t.cold_ischemia_min_txt) || ' is not a plain number') END,
            CASE WHEN t.fixation_hours_txt IS NOT NULL AND t.fixation_hours IS NULL THEN reason('fixation_hours', 'not_a_number', 'fixation_hours ' || quoted(t.fixation_hours_txt) || ' is not a plain number') END,
            CASE WHEN t.ihc_pct_stained_txt IS NOT NULL AND t.ihc_pct_stained IS NULL THEN reason('ihc_pct_stained', 'not_a_number', 'ihc_pct_stained ' || quoted(t.ihc_pct_stained_txt) || ' is not a plain number') END,
            CASE WHEN t.ish_her2_per_cell_txt IS NOT NULL AND t.ish_her2_per_cell IS NULL THEN reason('ish_her2_per_cell', 'not_a_number', 'ish_her2_per_cell ' || quoted(t.ish_her2_per_cell_txt) || ' is not a plain number') END,
            CASE WHEN t.ish_cep17_per_cell_txt IS NOT NULL AND t.ish_cep17_per_cell IS NULL THEN reason('ish_cep17_per_cell', 'not_a_number', 'ish_cep17_per_cell ' || quoted(t.ish_cep17_per_cell_txt) || ' is not a plain number') END,
            CASE WHEN t.ish_ratio_txt IS NOT NULL AND t.ish_ratio IS NULL THEN reason('ish_ratio', 'not_a_number', 'ish_ratio ' || quoted(t.ish_ratio_txt) || ' is not a plain number') END,
            CASE WHEN t.result_version_txt IS NOT NULL AND t.result_version IS NULL THEN reason('result_version', 'not_an_integer', 'result_version ' || quoted(t.result_version_txt) || ' is not a whole number') END,
            CASE WHEN t.ish_cells_counted_txt IS NOT NULL AND t.ish_cells_counted IS NULL THEN reason('ish_cells_counted', 'not_an_integer', 'ish_cells_counted ' || quoted(t.ish_cells_counted_txt) || ' is not a whole number') END,
            -- dates: ISO, or the lab's configured format
            CASE WHEN t.collection_date_txt IS NOT NULL AND t.collection_date IS NULL THEN reason('collection_date', 'bad_date', 'collection_date ' || quoted(t.collection_date_txt) || ' is not a date (YYYY-MM-DD' || coalesce(', or ' || lab_date_format(t.lab_id_txt), '') || ')') END,
            CASE WHEN t.report_date_txt IS NOT NULL AND t.report_date IS NULL THEN reason('report_date', 'bad_date', 'report_date ' || quoted(t.report_date_txt) || ' is not a date (YYYY-MM-DD' || coalesce(', or ' || lab_date_format(t.lab_id_txt), '') || ')') END,
            -- impossible values (spec "Impossible values are quarantined too")
            CASE WHEN t.result_version < 1 THEN reason('result_version', 'out_of_range', 'result_version ' || t.result_version_txt || ' is below 1') END,
            CASE WHEN t.cold_ischemia_min < 0 THEN reason('cold_ischemia_min', 'out_of_range', 'cold_ischemia_min ' || t.cold_ischemia_min_txt || ' is negative') END,
            CASE WHEN t.fixation_hours < 0 THEN reason('fixation_hours', 'out_of_range', 'fixation_hours ' || t.fixation_hours_txt || ' is negative') END,
            CASE WHEN t.ihc_pct_stained < 0 OR t.ihc_pct_stained > 100 THEN reason('ihc_pct_stained', 'out_of_range', 'ihc_pct_stained ' || t.ihc_pct_stained_txt || ' is outside 0-100') END,
            CASE WHEN t.ish_her2_per_cell < 0 THEN reason('ish_her2_per_cell', 'out_of_range', 'ish_her2_per_cell ' || t.ish_her2_per_cell_txt || ' is negative') END,
            CASE WHEN t.ish_cep17_per_cell <= 0 THEN reason('ish_cep17_per_cell', 'out_of_range', 'ish_cep17_per_cell ' || t.ish_cep17_per_cell_txt || ' must be above 0') END,
            CASE WHEN t.ish_ratio <= 0 THEN reason('ish_ratio', 'out_of_range', 'ish_ratio ' || t.ish_ratio_txt || ' must be above 0') END,
            CASE WHEN t.ish_cells_counted < 1 THEN reason('ish_cells_counted', 'out_of_range', 'ish_cells_counted ' || t.ish_cells_counted_txt || ' is below 1') END,
            CASE WHEN t.ish_cep17_per_cell > $cep17_max THEN reason('ish_cep17_per_cell', 'implausible_cep17',
                'ish_cep17_per_cell ' || t.ish_cep17_per_cell_txt || ' is above ' || $cep17_max || ' per nucleus (a signal total typed as a mean?)') END,
            CASE WHEN t.collection_date > t.arrival_date THEN reason('collection_date', 'date_in_future',
                'collection_date ' || t.collection_date_txt || ' is after the file arrived (' || t.arrival_date || ')') END,
            CASE WHEN t.report_date > t.arrival_date THEN reason('report_date', 'date_in_future',
                'report_date ' || t.report_date_txt || ' is after the file arrived (' || t.arrival_date || ')') END,
            -- cross-field rules
            CASE WHEN t.report_date < t.collection_date THEN reason('report_date', 'report_before_collection',
                'report_date ' || t.report_date_txt || ' is before collection_date ' || t.collection_date_txt) END,
            CASE WHEN t.assay = 'ISH' AND (t.ish_cep17_per_cell_txt IS NULL) <> (t.ish_ratio_txt IS NULL) THEN reason(
                CASE WHEN t.ish_ratio_txt IS NULL THEN 'ish_ratio' ELSE 'ish_cep17_per_cell' END, 'dual_probe_incomplete',
                'dual-probe ISH needs both ish_cep17_per_cell and ish_ratio: '
                || CASE WHEN t.ish_ratio_txt IS NULL THEN 'ish_ratio' ELSE 'ish_cep17_per_cell' END || ' is missing') END,
            CASE WHEN t.ish_cep17_per_cell > 0 AND t.ish_ratio IS NOT NULL AND t.ish_her2_per_cell IS NOT NULL
                  AND abs(t.ish_ratio - t.ish_her2_per_cell / t.ish_cep17_per_cell) > $ratio_tolerance + $float_slack
                 THEN reason('ish_ratio', 'ratio_mismatch', 'ish_ratio ' || t.ish_ratio_txt || ' disagrees with '
                      || t.ish_her2_per_cell_txt || '/' || t.ish_cep17_per_cell_txt || ' = '
                      || printf('%.2f', t.ish_her2_per_cell / t.ish_cep17_per_cell)) END,
            CASE WHEN t.assay = 'IHC' AND t.reported_result IS DISTINCT FROM 'indeterminate' AND t.ihc_score_txt IS NULL
                 THEN reason('ihc_score', 'required_missing', 'ihc_score is missing (required on an IHC row unless reported_result is indeterminate)') END,
            CASE WHEN t.assay = 'ISH' AND t.reported_result IS DISTINCT FROM 'indeterminate' AND t.ish_her2_per_cell_txt IS NULL
                 THEN reason('ish_her2_per_cell', 'required_missing', 'ish_her2_per_cell is missing (required on an ISH row unless reported_result is indeterminate)') END,
            CASE WHEN t.assay = 'ISH' AND t.reported_result IS DISTINCT FROM 'indeterminate' AND t.ish_cells_counted_txt IS NULL
                 THEN reason('ish_cells_counted', 'required_missing', 'ish_cells_counted is missing (required on an ISH row unless reported_result is indeterminate)') END,
            -- contract v2: expected_result, the PT provider's key, on proficiency rows only
            CASE WHEN t.expected_result_txt IS NOT NULL AND t.test_purpose <> 'proficiency'
                 THEN reason('expected_result', 'expected_result_not_proficiency',
                      'expected_result is only for proficiency rows (this row''s test_purpose is '
                      || t.test_purpose || ')') END,
            CASE WHEN t.expected_result_txt IS NOT NULL AND t.test_purpose = 'proficiency'
                  AND t.assay IS NOT NULL AND t.expected_result IS NULL
                 THEN reason('expected_result', 'not_in_vocabulary',
                      'expected_result ' || quoted(t.expected_result_txt) || ' is not in the vocabulary of an '
                      || t.assay || ' challenge (expected '
                      || CASE WHEN t.assay = 'IHC' THEN 'an IHC score 0, 1+, 2+ or 3+, or positive or negative'
                              ELSE 'positive or negative' END || ')') END
        ], lambda r: r IS NOT NULL) END AS reasons
    FROM typed AS t
)
SELECT
    file_id, source_file, source_row,
    lab_id, performing_lab, test_id, result_version, accession_id, patient_key,
    specimen_role, specimen_site, collection_date, report_date,
    cold_ischemia_min, fixation_hours, assay, assay_kit,
    ihc_score, ihc_pct_stained, ish_her2_per_cell, ish_cep17_per_cell, ish_ratio,
    ish_cells_counted, reported_result, pathologist_id, test_purpose, expected_result,
    reasons
FROM checked
;
