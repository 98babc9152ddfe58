-- audit/metrics_table: the pack's figures in one long table (one row per figure), and the lab
-- targets and requirements they are read against. Temporary (per connection): the warehouse is
-- only read. Every section file (audit/<section>.sql) appends its rows; dashboards/audit_pack/metrics.py
-- writes them to metrics.csv and the report is rendered from them, so every figure in
-- report.html / report.pdf is a row here.
--
-- Columns:
--   section, metric, lab_id ('ALL' = pooled over the labs in scope), stratum ('all' when none)
--                    the key: unique per pack
--   label            what the figure is, in words
--   value            the figure; unit: 'count' | 'proportion' (0-1) | 'kappa' | 'days'
--   numerator, n     the counts behind it (n: the denominator, the pairs / specimens / results
--                    the figure is computed over; for a count, the population it counts in)
--   ci_low, ci_high, ci_method   95% interval (Wilson score for proportions, the macros of
--                    macros/statistics); ci_method says why there is none otherwise
--   target_kind      'lab target' | 'requirement' | 'benchmark band' | 'control limits' |
--                    'limit (per specimen)' | NULL; target_low / target_high / target_label /
--                    target_source: the figure it is read against, from marts.reference_bands
--                    (benchmarks, limits) or audit_targets below (never a number in a report)
--   source_rule      the rule and the SQL the figure comes from
CREATE OR REPLACE TEMP TABLE audit_metrics (
    section       VARCHAR NOT NULL,
    metric        VARCHAR NOT NULL,
    lab_id        VARCHAR NOT NULL,
    stratum       VARCHAR NOT NULL DEFAULT 'all',
    label         VARCHAR NOT NULL,
    value         DOUBLE,
    unit          VARCHAR NOT NULL,
    numerator     BIGINT,
    n             BIGINT NOT NULL,
    ci_low        DOUBLE,
    ci_high       DOUBLE,
    ci_method     VARCHAR NOT NULL,
    target_kind   VARCHAR,
    target_low    DOUBLE,
    target_high   DOUBLE,
    target_label  VARCHAR,
    target_source VARCHAR,
    source_rule   VARCHAR NOT NULL
)
;
-- Lab targets and guideline requirements that are not published benchmark bands (those are in
-- marts.reference_bands), as data, each labelled with its real source (her2-domain.md
-- §QA-WORDING: "lab target (ASCO/CAP 2007 criterion)", never "CAP requirement").
--   validation_concordance   $concordance_default percent (her2qa/config.py
--                            DEFAULT_CONCORDANCE_TARGET, 95): the ASCO/CAP 2007 validation
--                            criterion; 2013/2018 require case counts but no concordance figure
--   validation_cases_fda / _ldt   20 positive + 20 negative (FDA-approved assay), 40 + 40
--                            (laboratory-developed test): ASCO/CAP 2013/2018, GC-2018 p4
--   pt_correct               >= 90% correct on graded challenges: ASCO/CAP 2018, GC-2018 p5
--   pt_events_per_year       >= 2 testing events per year: ASCO/CAP 2018, GC-2018 p5
CREATE OR REPLACE TEMP TABLE audit_targets AS
SELECT target_id, target_kind, target_low::DOUBLE AS target_low, target_label, target_source
FROM (
    VALUES
    (
        'validation_cases_fda', 'requirement', 20,
        'ASCO/CAP 2013/2018 validation: 20 positive + 20 negative cases for an FDA-approved assay',
        'ASCO/CAP 2018 focused update, GC-2018 p4 (her2-domain.md §VALIDATION)'
    ),
    (
        'validation_cases_ldt', 'requirement', 40,
        'ASCO/CAP 2013/2018 validation: 40 positive + 40 negative cases for a '
        || 'laboratory-developed test',
        'ASCO/CAP 2018 focused update, GC-2018 p4 (her2-domain.md §VALIDATION)'
    ),
    (
        'validation_concordance', 'lab target', $concordance_default::DOUBLE / 100,
        printf('lab target (ASCO/CAP 2007 criterion): ≥ %g%% concordance; the 2013/2018 '
        || 'guidelines require the case counts but no specific concordance figure',
        $concordance_default::DOUBLE),
        'ASCO/CAP 2007 guideline, JOP-2007; GC-2018 p4 (her2-domain.md §VALIDATION, §QA-WORDING)'
    ),
    (
        'pt_correct', 'requirement', 0.90,
        'ASCO/CAP 2018: satisfactory proficiency testing = ≥ 90% correct on graded challenges',
        'ASCO/CAP 2018 focused update, GC-2018 p5 (her2-domain.md §VALIDATION)'
    ),
    (
        'pt_events_per_year', 'requirement', 2,
        'ASCO/CAP 2018: external proficiency testing with ≥ 2 testing events per year',
        'ASCO/CAP 2018 focused update, GC-2018 p5 (her2-domain.md §VALIDATION)'
    )
) AS t (target_id, target_kind, target_low, target_label, target_source)
;
-- The IHC/ISH (and laboratory vs reference) concordance target of each laboratory and of the
-- pooled 'ALL': her2qa/config.py SiteConfig.concordance_target (default 95%, the ASCO/CAP 2007
-- criterion; [labs.<LAB>] concordance_target_pct), inserted with parameters by
-- dashboards/audit_pack/compute.py — the same target the marts' WARN check reads.
CREATE OR REPLACE TEMP TABLE audit_lab_targets (
    lab_id        VARCHAR NOT NULL,
    target_kind   VARCHAR NOT NULL,
    target_low    DOUBLE NOT NULL,
    target_label  VARCHAR NOT NULL,
    target_source VARCHAR NOT NULL
)
;
-- Which assay kits of which laboratory are laboratory-developed tests (LDT): not in the
-- extract, so from the site configuration ([labs.<LAB>] ldt_kits = [...], dashboards/audit_pack/
-- settings.py), inserted with parameters. A kit not listed is taken as FDA-approved (20 + 20).
CREATE OR REPLACE TEMP TABLE audit_ldt_kits (
    lab_id    VARCHAR NOT NULL,
    assay_kit VARCHAR NOT NULL
)
;
