-- macros/asco_cap_rules: the ASCO/CAP interpretation rules of her2qa, defined once, as SQL
-- macros used by every mart (spec/warehouse.md "Which results make a specimen's status").
-- Temporary macros: each build defines them on its own connection, so the warehouse file
-- never holds an older copy of a rule.
--
-- Inputs are the reported values of the selected results (staging is normalised):
-- ihc_score in '0' | '1+' | '2+' | '3+', ish_ratio and ish_her2_per_cell as DOUBLE.
-- Boundaries use the reported numbers, not a ratio recomputed from the means (pipeline
-- choice, her2-domain.md §ISH-GROUPS "Use the reported values").
--
-- ISH group (2018), dual-probe only; NULL without a ratio or a HER2/cell mean.
-- ref: her2-domain.md §ISH-GROUPS — ratio 2.0, HER2/cell 4.0 and 6.0, each inclusive on
-- the >= side (ratio 2.00 is ">= 2.0", 4.00 is ">= 4.0", 6.00 is ">= 6.0").
-- Under the 2013 and 2007 rule sets the group is still computed (it is the 2018 grouping
-- of the numbers); only final_status follows the lab's configured version.
CREATE OR REPLACE TEMP MACRO ish_group(ratio, her2_per_cell) AS
    CASE
        WHEN ratio IS NULL OR her2_per_cell IS NULL THEN NULL
        WHEN ratio >= 2.0 AND her2_per_cell >= 4.0 THEN 1
        WHEN ratio >= 2.0 THEN 2
        WHEN her2_per_cell >= 6.0 THEN 3
        WHEN her2_per_cell >= 4.0 THEN 4
        ELSE 5
    END
;
-- Final status, 2018 ASCO/CAP (affirmed unchanged by the 2023 update).
-- ref: her2-domain.md §FINAL-STATUS (order of evaluation) and §ISH-RESOLVE (groups 2-4
-- resolved by the concurrent IHC). "equivocal" for groups 2-4 without IHC is a pipeline
-- state (IHC review missing), not a 2018 result category. IHC 3+ with group 5 is positive
-- and a true IHC/ISH discordance (it shows in marts.agreement, ihc_vs_ish).
CREATE OR REPLACE TEMP MACRO final_status_2018(ihc, grp) AS
    CASE
        WHEN ihc = '3+' THEN 'positive'
        WHEN grp = 1 THEN 'positive'
        WHEN grp IN (2, 4) THEN
            CASE WHEN ihc IN ('0', '1+', '2+') THEN 'negative' ELSE 'equivocal' END
        WHEN grp = 3 THEN
            CASE
                WHEN ihc = '2+' THEN 'positive'
                WHEN ihc IN ('0', '1+') THEN 'negative'
                ELSE 'equivocal'
            END
        WHEN grp = 5 THEN 'negative'
        WHEN ihc IN ('0', '1+') THEN 'negative'
        WHEN ihc = '2+' THEN 'equivocal'
        ELSE 'indeterminate'
    END
;
-- IHC call, the same under 2007, 2013 and 2018: 3+ positive, 2+ equivocal, 0/1+ negative.
-- ref: her2-domain.md §IHC-2018 (the score's criteria changed between versions, the call
-- attached to each score did not).
CREATE OR REPLACE TEMP MACRO ihc_call(ihc) AS
    CASE
        WHEN ihc = '3+' THEN 'positive'
        WHEN ihc = '2+' THEN 'equivocal'
        WHEN ihc IN ('0', '1+') THEN 'negative'
    END
;
-- Dual-probe ISH call, 2013 rules. ref: her2-domain.md §ISH-2013 (2013 table):
-- ratio >= 2.0 (any copy number), or ratio < 2.0 with >= 6.0/cell -> positive;
-- ratio < 2.0 with 4.0 to < 6.0/cell -> equivocal; ratio < 2.0 with < 4.0/cell -> negative.
CREATE OR REPLACE TEMP MACRO ish_call_2013(ratio, her2_per_cell) AS
    CASE
        WHEN ratio IS NULL OR her2_per_cell IS NULL THEN NULL
        WHEN ratio >= 2.0 OR her2_per_cell >= 6.0 THEN 'positive'
        WHEN her2_per_cell >= 4.0 THEN 'equivocal'
        ELSE 'negative'
    END
;
-- Dual-probe FISH call, 2007 rules. ref: her2-domain.md §ISH-2013 (2007 table):
-- ratio > 2.2 positive; 1.8 to 2.2 (both inclusive) equivocal; < 1.8 negative.
CREATE OR REPLACE TEMP MACRO ish_call_2007(ratio) AS
    CASE
        WHEN ratio IS NULL THEN NULL
        WHEN ratio > 2.2 THEN 'positive'
        WHEN ratio >= 1.8 THEN 'equivocal'
        ELSE 'negative'
    END
;
-- Combining the IHC and ISH calls under 2013 and 2007 (pipeline reading of those
-- guidelines, her2-domain.md §TIMELINE and §ISH-2013): HER2 is positive when either test is
-- positive; otherwise negative when either is negative (an equivocal test is resolved by
-- the reflex test on the other assay); otherwise equivocal when either is equivocal;
-- nothing usable -> indeterminate.
CREATE OR REPLACE TEMP MACRO combined_call(ihc_result, ish_result) AS
    CASE
        WHEN ihc_result = 'positive' OR ish_result = 'positive' THEN 'positive'
        WHEN ihc_result = 'negative' OR ish_result = 'negative' THEN 'negative'
        WHEN ihc_result = 'equivocal' OR ish_result = 'equivocal' THEN 'equivocal'
        ELSE 'indeterminate'
    END
;
-- Final status under the guideline version in force for the specimen (site configuration,
-- marts.guideline_periods): '2007', '2013', or '2018' / '2023' (same rules; the default).
CREATE OR REPLACE TEMP MACRO final_status(guideline_version, ihc, ratio, her2_per_cell) AS
    CASE guideline_version
        WHEN '2013' THEN combined_call(ihc_call(ihc), ish_call_2013(ratio, her2_per_cell))
        WHEN '2007' THEN combined_call(ihc_call(ihc), ish_call_2007(ratio))
        ELSE final_status_2018(ihc, ish_group(ratio, her2_per_cell))
    END
;
-- HER2 category (spec/warehouse.md "Statuses"; ref: her2-domain.md §HER2-LOW). Follows
-- final_status except for negatives, split by the IHC score used and its ihc_pct_stained:
-- 1+ or 2+ -> low; 0 with 0 < pct <= 10 -> ultralow; 0 with pct = 0 -> null (the text
-- 'null'); 0 otherwise (missing, or > 10, contradicting the score) -> zero_unspecified;
-- a negative without an IHC score -> indeterminate.
CREATE OR REPLACE TEMP MACRO her2_category(status, ihc, pct_stained) AS
    CASE
        WHEN status <> 'negative' THEN status
        WHEN ihc IN ('1+', '2+') THEN 'low'
        WHEN ihc = '0' AND pct_stained > 0 AND pct_stained <= 10 THEN 'ultralow'
        WHEN ihc = '0' AND pct_stained = 0 THEN 'null'
        WHEN ihc = '0' THEN 'zero_unspecified'
        ELSE 'indeterminate'
    END
;
-- Binary calls of the ihc_vs_ish comparison (spec/warehouse.md, marts.agreement):
-- IHC 3+ positive, 0/1+ negative (2+ not compared); ISH group 1 positive, group 5 negative
-- (groups 2-4 not compared).
CREATE OR REPLACE TEMP MACRO ihc_binary_call(ihc) AS
    CASE WHEN ihc = '3+' THEN 'positive' WHEN ihc IN ('0', '1+') THEN 'negative' END
;
CREATE OR REPLACE TEMP MACRO ish_group_binary_call(grp) AS
    CASE WHEN grp = 1 THEN 'positive' WHEN grp = 5 THEN 'negative' END
;
-- Ordinal codes for agreement statistics: IHC 0/1+/2+/3+ -> 0..3; negative/positive -> 0/1.
CREATE OR REPLACE TEMP MACRO agreement_code(value) AS
    CASE value
        WHEN '0' THEN 0 WHEN '1+' THEN 1 WHEN '2+' THEN 2 WHEN '3+' THEN 3
        WHEN 'negative' THEN 0 WHEN 'positive' THEN 1
    END
;
-- Calendar quarter label 'YYYY-Qn' (spec/warehouse.md, marts.agreement period).
CREATE OR REPLACE TEMP MACRO quarter_label(d) AS
    strftime(d, '%Y') || '-Q' || quarter(d)::VARCHAR
;
