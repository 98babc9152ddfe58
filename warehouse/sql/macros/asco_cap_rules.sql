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
-- Single-probe ISH call (HER2 signals per cell, no CEP17 probe), on the reported mean.
-- ref: her2-domain.md §ISH-SINGLE (2018), §ISH-2013 (2013 and 2007 tables):
--   2018 (and 2023) and 2013: >= 6.0 positive; >= 4.0 and < 6.0 equivocal; < 4.0 negative
--                             (4.0 and 6.0 inclusive on the upper side, contract v2);
--   2007 ("mean HER2 copies, no CEP17 probe"): > 6 positive; 4-6 equivocal (both ends
--                             inclusive: 6.00 is equivocal under 2007); < 4 negative.
-- The 2007 cut-points are the published ones (strict > 6), like the 2007 ratio > 2.2 of
-- ish_call_2007; the contract's ">= 6.0" is the 2018 rule.
CREATE OR REPLACE TEMP MACRO ish_single_call(guideline_version, her2_per_cell) AS
    CASE
        WHEN her2_per_cell IS NULL THEN NULL
        WHEN guideline_version = '2007' THEN
            CASE
                WHEN her2_per_cell > 6.0 THEN 'positive'
                WHEN her2_per_cell >= 4.0 THEN 'equivocal'
                ELSE 'negative'
            END
        WHEN her2_per_cell >= 6.0 THEN 'positive'
        WHEN her2_per_cell >= 4.0 THEN 'equivocal'
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
-- Final status with a single-probe ISH (the specimen has no usable dual-probe ISH), any
-- version. spec/warehouse.md v2 order (2018): IHC 3+ -> positive; single-probe positive ->
-- positive; single-probe negative -> negative; single-probe equivocal -> negative with IHC
-- 0/1+, else equivocal (IHC 2+ or no IHC: dual-probe ISH decides, §ISH-SINGLE middle row).
-- That order is exactly combined_call(ihc_call, single-probe call): IHC 3+ or a positive
-- single probe is positive; else IHC 0/1+ or a negative single probe is negative; else
-- equivocal. The 2013 and 2007 texts give the single-probe bands (§ISH-2013) but no
-- separate combination rule; they are read like their dual-probe calls (combined_call), which
-- gives the same order. Only the cut-points differ by version (ish_single_call).
CREATE OR REPLACE TEMP MACRO final_status_single(guideline_version, ihc, her2_per_cell) AS
    combined_call(ihc_call(ihc), ish_single_call(guideline_version, her2_per_cell))
;
-- Final status under the guideline version in force for the specimen (site configuration,
-- marts.guideline_periods): '2007', '2013', or '2018' / '2023' (same rules; the default).
-- ish_probe: 'dual' (ratio and HER2/cell of a dual-probe result), 'single' (HER2/cell only)
-- or NULL (no usable ISH). A dual-probe result always wins over a single-probe one
-- (selection: marts/specimen_calls).
CREATE OR REPLACE TEMP MACRO final_status(guideline_version, ihc, ish_probe, ratio, her2_per_cell) AS
    CASE
        WHEN ish_probe = 'single' THEN final_status_single(guideline_version, ihc, her2_per_cell)
        WHEN guideline_version = '2013'
            THEN combined_call(ihc_call(ihc), ish_call_2013(ratio, her2_per_cell))
        WHEN guideline_version = '2007' THEN combined_call(ihc_call(ihc), ish_call_2007(ratio))
        ELSE final_status_2018(ihc, ish_group(ratio, her2_per_cell))
    END
;
-- IHC score vs ihc_pct_stained (percent of invasive cells with ANY membrane staining), per the
-- score definitions of the version the result was read under. ref: her2-domain.md §IHC-2018
-- (table of the three versions) and §HER2-LOW (implementation notes):
--   0    2007 "no staining": any staining (> 0%) contradicts;
--        2013/2018 "no staining, or faint/incomplete in <= 10%": > 10% contradicts
--   1+   2007 "weak, incomplete staining in any proportion": 0% contradicts (no staining);
--        2013/2018 "in > 10%": <= 10% contradicts
--   3+   2007 "uniform intense staining in > 30%": <= 30% stained contradicts;
--        2013/2018 "intense complete staining in > 10%": <= 10% contradicts
--        (cells with any staining include the intensely stained ones, so a percentage at or
--        under the cut-point cannot hold a 3+)
--   2+   never judged: the unusual "intense complete staining in <= 10%" pattern may be
--        called 2+ (§IHC-2018 notes, §HER2-LOW)
-- NULL when there is no score or no percentage.
CREATE OR REPLACE TEMP MACRO ihc_pct_contradicts(guideline_version, ihc, pct_stained) AS
    CASE
        WHEN ihc IS NULL OR pct_stained IS NULL THEN NULL
        WHEN guideline_version = '2007' THEN
            CASE ihc
                WHEN '0' THEN pct_stained > 0
                WHEN '1+' THEN pct_stained = 0
                WHEN '3+' THEN pct_stained <= 30
                ELSE false
            END
        ELSE
            CASE ihc
                WHEN '0' THEN pct_stained > 10
                WHEN '1+' THEN pct_stained <= 10
                WHEN '3+' THEN pct_stained <= 10
                ELSE false
            END
    END
;
-- The score's definition a contradiction is read against, for the reviewer's message.
CREATE OR REPLACE TEMP MACRO ihc_pct_rule(guideline_version, ihc) AS
    CASE
        WHEN guideline_version = '2007' THEN
            CASE ihc
                WHEN '0' THEN 'score 0 under ASCO/CAP 2007 is no staining'
                WHEN '1+' THEN 'score 1+ under ASCO/CAP 2007 needs some (weak, incomplete) staining'
                WHEN '3+' THEN 'score 3+ under ASCO/CAP 2007 needs uniform intense staining in over 30%'
            END
        ELSE
            CASE ihc
                WHEN '0' THEN 'score 0 allows faint staining in 10% or less (ASCO/CAP 2013/2018)'
                WHEN '1+' THEN 'score 1+ needs staining in over 10% (ASCO/CAP 2013/2018)'
                WHEN '3+' THEN 'score 3+ needs intense complete staining in over 10% (ASCO/CAP 2013/2018)'
            END
    END
;
-- HER2 category (spec/warehouse.md v2 "Statuses"; ref: her2-domain.md §HER2-LOW). Follows
-- final_status except for negatives, split by the IHC score used and its ihc_pct_stained:
-- 1+ or 2+ -> low; 0 with pct = 0 -> null (the text 'null'); 0 with 0 < pct <= 10 ->
-- ultralow; 0 otherwise (missing, or a percentage that contradicts the score) ->
-- zero_unspecified; a negative without an IHC score (ISH alone) -> negative_unspecified.
-- Guideline-aware (§IHC-2018): under 2007 a score 0 was "no staining", so a 2007 IHC 0 with
-- stained cells contradicts its score (ihc_pct_contradicts) and is zero_unspecified, never
-- ultralow; a 2007 1+ ("weak staining in any proportion") stays low as read, whatever its
-- percentage (the score is the version's; HER2-low is defined on the score, §HER2-LOW).
CREATE OR REPLACE TEMP MACRO her2_category(status, ihc, pct_stained, guideline_version) AS
    CASE
        WHEN status <> 'negative' THEN status
        WHEN ihc IN ('1+', '2+') THEN 'low'
        WHEN ihc = '0' AND pct_stained = 0 THEN 'null'
        WHEN ihc = '0' AND pct_stained > 0 AND pct_stained <= 10
            AND NOT ihc_pct_contradicts(guideline_version, ihc, pct_stained) THEN 'ultralow'
        WHEN ihc = '0' THEN 'zero_unspecified'
        ELSE 'negative_unspecified'
    END
;
-- Therapy-eligibility class of a HER2 category (her2-domain.md §HER2-LOW, §TIMELINE):
-- 'positive' (anti-HER2 therapy), 'low' (DESTINY-Breast04 / FDA 2022), 'ultralow'
-- (DESTINY-Breast06 / FDA 2025), 'null'; NULL when the class cannot be told
-- (zero_unspecified: ultralow or null; negative_unspecified: low, ultralow or null) or the
-- status is not decided (equivocal, indeterminate).
CREATE OR REPLACE TEMP MACRO eligibility_class(category) AS
    CASE WHEN category IN ('positive', 'low', 'ultralow', 'null') THEN category END
;
-- Eligibility of a category, per therapy (TRUE / FALSE; NULL when the category leaves it
-- open). ref: her2-domain.md §HER2-LOW and §TIMELINE:
--   anti-HER2 therapy              HER2-positive (ASCO/CAP final status)
--   T-DXd, HR-negative disease     HER2-low only (DESTINY-Breast04, FDA 2022)
--   T-DXd, HR-positive disease     HER2-low or HER2-ultralow after endocrine therapy
--                                  (DESTINY-Breast06, FDA 27 Jan 2025)
-- (T-DXd here is the HER2-low / -ultralow indication; HR status is not in the extract, so
-- both readings are given.) zero_unspecified is ultralow or null: known for HR-negative (not
-- eligible), open for HR-positive; negative_unspecified (no IHC) is open for both.
CREATE OR REPLACE TEMP MACRO anti_her2_eligible(category) AS
    CASE
        WHEN category = 'positive' THEN true
        WHEN category IN ('low', 'ultralow', 'null', 'zero_unspecified', 'negative_unspecified')
            THEN false
    END
;
CREATE OR REPLACE TEMP MACRO tdxd_hr_negative_eligible(category) AS
    CASE
        WHEN category = 'low' THEN true
        WHEN category IN ('positive', 'ultralow', 'null', 'zero_unspecified') THEN false
    END
;
CREATE OR REPLACE TEMP MACRO tdxd_hr_positive_eligible(category) AS
    CASE
        WHEN category IN ('low', 'ultralow') THEN true
        WHEN category IN ('positive', 'null') THEN false
    END
;
-- How an eligibility moves from one specimen to the next: 'gained', 'lost', 'unchanged', or
-- NULL when either side is open.
CREATE OR REPLACE TEMP MACRO eligibility_move(before, after) AS
    CASE
        WHEN before IS NULL OR after IS NULL THEN NULL
        WHEN before = after THEN 'unchanged'
        WHEN after THEN 'gained'
        ELSE 'lost'
    END
;
-- The companion diagnostic of the HER2-ultralow / -low indication: Ventana PATHWAY anti-HER-2/
-- neu (4B5) (her2-domain.md §TIMELINE, FDA 2025). TRUE when the IHC kit names clone 4B5
-- (case-insensitive), FALSE for another recorded kit, NULL when no kit is recorded.
CREATE OR REPLACE TEMP MACRO is_companion_assay(assay_kit) AS
    CASE WHEN assay_kit IS NOT NULL THEN contains(upper(assay_kit), '4B5') END
;
-- Metastatic site group (lis-extract.md specimen_site; issue: Schrijver 2018 is about distant
-- metastases, §BENCH 6.4): 'locoregional' = lymph_node, skin, chest wall, breast (a
-- recurrence in the breast); 'distant' = liver, lung, bone, brain, pleura; 'unspecified' =
-- other or not recorded. A lymph node is taken as regional: the extract does not say which.
CREATE OR REPLACE TEMP MACRO site_group(specimen_site) AS
    CASE
        WHEN specimen_site IN ('lymph_node', 'skin', 'chest_wall', 'breast') THEN 'locoregional'
        WHEN specimen_site IN ('liver', 'lung', 'bone', 'brain', 'pleura') THEN 'distant'
        ELSE 'unspecified'
    END
;
-- Sites usually decalcified before sectioning (bone): predictive-marker results on
-- decalcified tissue need their own validation, CAP checklist ANP.22985 (her2-domain.md
-- §PREANALYTIC, §CAP-CHECKLIST). The extract has no decalcification field.
CREATE OR REPLACE TEMP MACRO likely_decalcified(specimen_site) AS
    coalesce(specimen_site = 'bone', false)
;
-- Binary calls of the ihc_vs_ish comparison (spec/warehouse.md, marts.agreement):
-- IHC 3+ positive, 0/1+ negative (2+ not compared); ISH group 1 positive, group 5 negative
-- (groups 2-4 not compared); single-probe: ish_binary_call below.
CREATE OR REPLACE TEMP MACRO ihc_binary_call(ihc) AS
    CASE WHEN ihc = '3+' THEN 'positive' WHEN ihc IN ('0', '1+') THEN 'negative' END
;
CREATE OR REPLACE TEMP MACRO ish_group_binary_call(grp) AS
    CASE WHEN grp = 1 THEN 'positive' WHEN grp = 5 THEN 'negative' END
;
-- The ISH member of ihc_vs_ish (contract v2): a dual-probe result by its 2018 group (1
-- positive, 5 negative, 2-4 not compared); a single-probe result by its 2018 call (>= 6.0
-- positive, < 4.0 negative, equivocal not compared), like the group, whatever the lab's
-- version.
CREATE OR REPLACE TEMP MACRO ish_binary_call(ish_probe, grp, her2_per_cell) AS
    CASE ish_probe
        WHEN 'dual' THEN ish_group_binary_call(grp)
        WHEN 'single' THEN
            CASE ish_single_call('2018', her2_per_cell)
                WHEN 'positive' THEN 'positive'
                WHEN 'negative' THEN 'negative'
            END
    END
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
