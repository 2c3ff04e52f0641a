-- The code lists an authority sets for the SSD contract views (ssd_contract_views.sql), in one
-- table, so that no view text is edited locally. Values are compared trimmed and upper-cased.
-- Check them against your own SSD before going live, for example:
--   SELECT invo_professional_role_id, count(*) FROM ssd_involvements GROUP BY 1 ORDER BY 2 DESC;
--   SELECT cppl_cp_plan_initial_category, count(*) FROM ssd_cp_plans GROUP BY 1;
--   SELECT cppl_cp_plan_ola, count(*) FROM ssd_cp_plans GROUP BY 1;
-- Rerunning this file adds missing defaults and keeps local rows (ON CONFLICT DO NOTHING); to
-- drop a default, DELETE it after the run.
-- psql variable :local_schema as in local_schema.sql (default local).
\if :{?local_schema}
\else
\set local_schema local
\endif

CREATE SCHEMA IF NOT EXISTS :"local_schema";

CREATE TABLE IF NOT EXISTS :"local_schema".ssd_code_map (
    kind           text NOT NULL,
    ssd_value      text NOT NULL,   -- as found in the SSD; matched upper(trim(...))
    contract_value text,            -- what the contract gets, where the kind maps to a value
    note           text,
    PRIMARY KEY (kind, ssd_value)
);

INSERT INTO :"local_schema".ssd_code_map (kind, ssd_value, contract_value, note) VALUES
    -- allocation_role: ssd_involvements.invo_professional_role_id values that mean "the
    -- allocated lead practitioner". The SSD fills the column per system: Liquidlogic writes the
    -- involvement type's description (its code CW is "case worker"; the SSD's care leavers
    -- table counts CW only with IS_ALLOCATED_CW_FLAG = 'Y', which ssd_involvements does not
    -- carry), Eclipse writes RELATIONSHIPCLASSCODE. contract_value is the worker's role when
    -- local.workers gives none. Personal advisers (16PLUS) are not lead practitioners here.
    ('allocation_role', 'CW', 'social_worker', 'Liquidlogic involvement type code'),
    ('allocation_role', 'ALLOCATED CASE WORKER', 'social_worker', 'SSD guidance example'),
    ('allocation_role', 'CASE WORKER', 'social_worker', 'Liquidlogic description of CW'),
    ('allocation_role', 'ALLOCATED WORKER', 'social_worker', NULL),
    ('allocation_role', 'ALLOCATED SOCIAL WORKER', 'social_worker', NULL),
    ('allocation_role', 'EARLY HELP KEY WORKER', 'early_help', NULL),
    -- cp_category: category of abuse as the SSD holds it (codes in one system, descriptions
    -- in another: Liquidlogic INIT_CATEGORY_DESC, Eclipse CP_CATEGORY.NAME) to the census code.
    -- The census codes themselves map to themselves. Anything else reaches driftwatch as it
    -- is and is counted as a bad row (unknown category), never dropped silently.
    ('cp_category', 'NEG', 'NEG', 'census code'),
    ('cp_category', 'PHY', 'PHY', 'census code'),
    ('cp_category', 'EMO', 'EMO', 'census code'),
    ('cp_category', 'SAB', 'SAB', 'census code'),
    ('cp_category', 'MUL', 'MUL', 'census code'),
    ('cp_category', 'NEGLECT', 'NEG', 'SSD category_of_abuse list'),
    ('cp_category', 'PHYSICAL ABUSE', 'PHY', 'SSD category_of_abuse list'),
    ('cp_category', 'EMOTIONAL ABUSE', 'EMO', 'SSD category_of_abuse list'),
    ('cp_category', 'SEXUAL ABUSE', 'SAB', 'SSD category_of_abuse list'),
    ('cp_category', 'MULTIPLE', 'MUL', NULL),
    ('cp_category', 'MIXED', 'MUL', NULL),
    -- other_authority: cppl_cp_plan_ola values meaning "a plan for another local authority"
    -- (Liquidlogic IS_OLA). Such plans are not this authority's to escalate: excluded.
    ('other_authority', 'Y', NULL, NULL),
    ('other_authority', 'YES', NULL, NULL),
    ('other_authority', '1', NULL, NULL),
    ('other_authority', 'TRUE', NULL, NULL),
    -- neglect_need: CIN primary need codes that mean neglect (N1 = abuse or neglect).
    ('neglect_need', 'N1', NULL, 'census primary need'),
    -- neglect_factor: assessment factor codes that mean neglect (16A), as found in
    -- ssd_assessment_factors.cinf_assessment_factors_json.
    ('neglect_factor', '16A', NULL, 'census assessment factor'),
    -- no_disability: ssd_disability codes that mean "no disability".
    ('no_disability', 'NONE', NULL, 'census disability code')
ON CONFLICT (kind, ssd_value) DO NOTHING;
