-- marts/guideline_periods: which ASCO/CAP rule set applies to which lab and dates, from the
-- site configuration (her2qa/config.py, [labs.<LAB>] guidelines = [...]). Kept in the
-- warehouse so an auditor can see the rules each specimen was read under.
-- Created empty here; her2qa/marts.py fills it with parameterised inserts (never with
-- values formatted into SQL). A specimen whose lab and date match no row is read under
-- the 2018 rules (affirmed 2023). ref: her2-domain.md §TIMELINE, §ISH-2013.
-- Dates: valid_from inclusive, valid_until exclusive; NULL = open-ended.
CREATE OR REPLACE TABLE marts.guideline_periods (
    lab_id            VARCHAR NOT NULL,
    guideline_version VARCHAR NOT NULL CHECK (guideline_version IN ('2007', '2013', '2018', '2023')),
    valid_from        DATE,
    valid_until       DATE,
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
)
;
