-- The nine contract relations (CONTRACT.md) as views over the Standard Safeguarding Dataset's
-- tables (data-to-insight/ssd-data-model, PostgreSQL build) and the local gap tables.
-- The SSD is the work of Data to Insight and the local authorities that built it with them
-- (README.md, "Running on the SSD", says who and under which licence); this file holds none
-- of its code, only its table and column names.
--
-- psql variables:
--   :ssd_schema    schema holding the ssd_* tables        default public (the SSD's Eclipse
--                                                         PostgreSQL build creates them unqualified)
--   :schema        schema the views go into                default casework (driftwatch's
--                                                         database.case_schema)
--   :local_schema  local.sql's gap tables and the code map default local
-- Creates local_schema.sql's tables when missing, and ssd_mapping.sql's code map with its
-- defaults when the map is missing (an existing map is left as the authority edited it).
-- Rerunnable: the views are replaced.
--
-- What the SSD holds and how it reaches the contract (README.md, "Running on the SSD"):
--   * dates: the SSD's TIMESTAMP columns, cast to date (the local calendar day they hold);
--   * cp_plans: plans for another authority (cppl_cp_plan_ola in the code map's
--     other_authority list) are left out; categories, codes or descriptions, go through the
--     code map to NEG/PHY/EMO/SAB/MUL; a value the map does not know passes unchanged, so that
--     driftwatch counts it as a bad row rather than losing the plan;
--   * neglect on referrals: primary need in neglect_need (N1), or an assessment of the referral
--     with a factor in neglect_factor (16A); false when the need or the factors are known and
--     say otherwise; NULL when nothing is known (driftwatch counts NULL neglect as a bad row);
--   * neglect on CIN plans: that of the plan's referral (cinp_referral_id), or, with no
--     referral id, of the child's latest referral on or before the plan's start;
--   * children: one family per child (the smallest fami_family_id), disability from
--     ssd_disability codes other than no_disability's;
--   * allocations: involvements whose invo_professional_role_id is in allocation_role;
--   * workers: keyed by prof_professional_id (what ssd_involvements names), which is not the
--     HR staff number prof_staff_id: local.workers (keyed by staff number) is matched on
--     either, and staff with no SSD row get the worker_id 'staff:' || staff_id so that the two
--     kinds of identifier never collide.
\if :{?ssd_schema}
\else
\set ssd_schema public
\endif
\if :{?schema}
\else
\set schema casework
\endif
\if :{?local_schema}
\else
\set local_schema local
\endif

\ir local_schema.sql
SELECT to_regclass(format('%I.ssd_code_map', :'local_schema')) IS NULL AS ssd_need_map \gset
\if :ssd_need_map
\ir ssd_mapping.sql
\endif

CREATE SCHEMA IF NOT EXISTS :"schema";

-- Assessment factor codes from cinf_assessment_factors_json, in each form the SSD builds write:
-- a JSON array of codes (Liquidlogic: ["1A", "16A"]; Eclipse: JSON_BUILD_ARRAY with NULLs for
-- absent factors), the planned JSON object ({"16A": "Yes", "3B": "No"}: only keys with a
-- yes-like value count), or text that is not JSON at all (its code-like words). Read with
-- patterns, not a cast to jsonb: a cast raises on one malformed row and fails the whole view,
-- and catching that needs a subtransaction, which PostgreSQL refuses inside a parallel query.
CREATE OR REPLACE FUNCTION :"schema".ssd_factor_codes(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE
    WHEN t IS NULL OR btrim(t) = '' THEN NULL
    WHEN btrim(t) LIKE '{%' THEN
        ARRAY(SELECT upper(m[1])
              FROM regexp_matches(t, '"\s*([0-9]+[A-Za-z]?)\s*"\s*:\s*"?\s*(yes|y|true|1)\s*"?\s*[,}]',
                                  'gi') m)
    ELSE ARRAY(SELECT upper(m[1]) FROM regexp_matches(t, '([0-9]+[A-Za-z]?)', 'g') m)
END
$fn$;

-- The code map's lists, normalised once.
CREATE OR REPLACE VIEW :"schema".ssd_codes AS
SELECT kind, upper(btrim(ssd_value)) AS ssd_value, contract_value
FROM :"local_schema".ssd_code_map;

-- Every staff number the SSD or the HR export knows, with the worker_id it becomes.
CREATE OR REPLACE VIEW :"schema".ssd_staff_ids AS
SELECT DISTINCT ON (staff_id) staff_id, worker_id
FROM (SELECT btrim(w.staff_id) AS staff_id, btrim(w.professional_id) AS worker_id, 1 AS pri
      FROM :"local_schema".workers w
      WHERE nullif(btrim(w.professional_id), '') IS NOT NULL
      UNION ALL
      SELECT btrim(p.prof_staff_id), p.prof_professional_id::text, 2
      FROM :"ssd_schema".ssd_professionals p
      WHERE nullif(btrim(p.prof_staff_id), '') IS NOT NULL) s
WHERE nullif(staff_id, '') IS NOT NULL
ORDER BY staff_id, pri, worker_id;

CREATE OR REPLACE VIEW :"schema".teams AS
SELECT d.dept_team_id::text AS team_id,
       coalesce(lt.name, d.dept_team_name)::text AS name,
       lt.manager_email,
       lt.webhook_url
FROM :"ssd_schema".ssd_department d
LEFT JOIN (SELECT DISTINCT ON (team_id) * FROM :"local_schema".teams
           ORDER BY team_id, manager_email NULLS LAST) lt ON lt.team_id = d.dept_team_id::text
UNION ALL
SELECT t.team_id, t.name, t.manager_email, t.webhook_url
FROM :"local_schema".teams t
WHERE NOT EXISTS (SELECT 1 FROM :"ssd_schema".ssd_department d
                  WHERE d.dept_team_id::text = t.team_id);

CREATE OR REPLACE VIEW :"schema".workers AS
WITH hr AS (
    -- The HR export with each row's worker_id resolved.
    SELECT w.*,
           coalesce(nullif(btrim(w.professional_id), ''), s.worker_id,
                    'staff:' || btrim(w.staff_id)) AS worker_id,
           CASE WHEN nullif(btrim(w.supervisor_staff_id), '') IS NOT NULL
                THEN coalesce(ss.worker_id, 'staff:' || btrim(w.supervisor_staff_id)) END
               AS supervisor_id
    FROM :"local_schema".workers w
    LEFT JOIN :"schema".ssd_staff_ids s ON s.staff_id = btrim(w.staff_id)
    LEFT JOIN :"schema".ssd_staff_ids ss ON ss.staff_id = btrim(w.supervisor_staff_id)
),
hr1 AS (
    -- One HR row per worker (joined by hash, never looked up row by row): the one with an
    -- email, then the smallest staff number.
    SELECT DISTINCT ON (worker_id) * FROM hr
    ORDER BY worker_id, email NULLS LAST, staff_id
),
last_team AS (
    -- A professional's team where HR gives none: that of their latest involvement.
    SELECT DISTINCT ON (invo_professional_id) invo_professional_id::text AS worker_id,
           invo_professional_team::text AS team_id
    FROM :"ssd_schema".ssd_involvements
    WHERE invo_professional_id IS NOT NULL AND invo_professional_team IS NOT NULL
    ORDER BY invo_professional_id, invo_involvement_start_date DESC NULLS LAST
),
last_role AS (
    -- A professional's role where HR gives none: the code map's for their latest allocation.
    SELECT DISTINCT ON (i.invo_professional_id) i.invo_professional_id::text AS worker_id,
           c.contract_value AS role
    FROM :"ssd_schema".ssd_involvements i
    JOIN :"schema".ssd_codes c
      ON c.kind = 'allocation_role' AND c.ssd_value = upper(btrim(i.invo_professional_role_id))
    WHERE i.invo_professional_id IS NOT NULL AND c.contract_value IS NOT NULL
    ORDER BY i.invo_professional_id, i.invo_involvement_start_date DESC NULLS LAST
)
SELECT p.prof_professional_id::text AS worker_id,
       coalesce(h.display_name, p.prof_professional_name)::text AS display_name,
       h.email,
       coalesce(h.team_id, lt.team_id) AS team_id,
       h.supervisor_id,
       coalesce(nullif(btrim(h.role), ''), lr.role, 'social_worker') AS role
FROM :"ssd_schema".ssd_professionals p
LEFT JOIN hr1 h ON h.worker_id = p.prof_professional_id::text
LEFT JOIN last_team lt ON lt.worker_id = p.prof_professional_id::text
LEFT JOIN last_role lr ON lr.worker_id = p.prof_professional_id::text
UNION ALL
-- Staff with no SSD row (managers, chairs, heads of service often have no involvements).
SELECT h.worker_id, h.display_name, h.email, h.team_id, h.supervisor_id,
       coalesce(nullif(btrim(h.role), ''), 'social_worker')
FROM hr1 h
WHERE NOT EXISTS (SELECT 1 FROM :"ssd_schema".ssd_professionals p
                  WHERE p.prof_professional_id::text = h.worker_id);

CREATE OR REPLACE VIEW :"schema".children AS
WITH fam AS (
    SELECT fami_person_id::text AS child_id, min(fami_family_id)::text AS family_id
    FROM :"ssd_schema".ssd_family
    GROUP BY 1
),
dis AS (
    SELECT disa_person_id::text AS child_id,
           bool_or(upper(btrim(disa_disability_code)) NOT IN
                   (SELECT ssd_value FROM :"schema".ssd_codes WHERE kind = 'no_disability'))
               AS disability
    FROM :"ssd_schema".ssd_disability
    WHERE nullif(btrim(disa_disability_code), '') IS NOT NULL
    GROUP BY 1
)
SELECT p.pers_person_id::text AS child_id,
       fam.family_id,
       p.pers_dob::date AS date_of_birth,
       p.pers_expected_dob::date AS expected_dob,
       coalesce(dis.disability, false) AS disability
FROM :"ssd_schema".ssd_person p
LEFT JOIN fam ON fam.child_id = p.pers_person_id::text
LEFT JOIN dis ON dis.child_id = p.pers_person_id::text;

CREATE OR REPLACE VIEW :"schema".allocations AS
SELECT i.invo_involvements_id::text AS allocation_id,
       i.invo_person_id::text AS child_id,
       i.invo_professional_id::text AS worker_id,
       i.invo_involvement_start_date::date AS start_date,
       i.invo_involvement_end_date::date AS end_date
FROM :"ssd_schema".ssd_involvements i
WHERE upper(btrim(i.invo_professional_role_id)) IN
      (SELECT ssd_value FROM :"schema".ssd_codes WHERE kind = 'allocation_role');

CREATE OR REPLACE VIEW :"schema".referrals AS
WITH factors AS (
    -- Per referral: were factors recorded, and was one of them neglect.
    SELECT a.cina_referral_id::text AS referral_id,
           bool_or(f.codes && (SELECT array_agg(ssd_value) FROM :"schema".ssd_codes
                               WHERE kind = 'neglect_factor')) AS neglect
    FROM :"ssd_schema".ssd_cin_assessments a
    JOIN (SELECT cinf_assessment_id,
                 :"schema".ssd_factor_codes(cinf_assessment_factors_json) AS codes
          FROM :"ssd_schema".ssd_assessment_factors) f
      ON f.cinf_assessment_id = a.cina_assessment_id AND f.codes IS NOT NULL
    WHERE a.cina_referral_id IS NOT NULL
    GROUP BY 1
)
SELECT e.cine_referral_id::text AS referral_id,
       e.cine_person_id::text AS child_id,
       e.cine_referral_date::date AS referral_date,
       nullif(upper(btrim(e.cine_cin_primary_need_code)), '')::text AS primary_need,
       CASE WHEN upper(btrim(e.cine_cin_primary_need_code)) IN
                 (SELECT ssd_value FROM :"schema".ssd_codes WHERE kind = 'neglect_need')
                 OR f.neglect THEN true
            WHEN nullif(btrim(e.cine_cin_primary_need_code), '') IS NOT NULL
                 OR f.neglect IS NOT NULL THEN false
       END AS neglect,
       e.cine_close_date::date AS closure_date,
       coalesce(substring(upper(e.cine_close_reason) FROM 'RC[0-9]+'),
                e.cine_close_reason)::text AS closure_reason
FROM :"ssd_schema".ssd_cin_episodes e
LEFT JOIN factors f ON f.referral_id = e.cine_referral_id::text;

CREATE OR REPLACE VIEW :"schema".cin_plans AS
SELECT c.cinp_cin_plan_id::text AS plan_id,
       c.cinp_person_id::text AS child_id,
       c.cinp_cin_plan_start_date::date AS start_date,
       c.cinp_cin_plan_end_date::date AS end_date,
       r.neglect
FROM :"ssd_schema".ssd_cin_plans c
LEFT JOIN :"schema".referrals r ON r.referral_id = c.cinp_referral_id::text
WHERE nullif(btrim(c.cinp_referral_id), '') IS NOT NULL
UNION ALL
-- No referral id on the plan: the child's latest referral on or before the plan's start.
SELECT * FROM (
    SELECT DISTINCT ON (c.cinp_cin_plan_id)
           c.cinp_cin_plan_id::text, c.cinp_person_id::text,
           c.cinp_cin_plan_start_date::date, c.cinp_cin_plan_end_date::date, r.neglect
    FROM :"ssd_schema".ssd_cin_plans c
    LEFT JOIN :"schema".referrals r
      ON r.child_id = c.cinp_person_id::text
     AND r.referral_date <= c.cinp_cin_plan_start_date::date
    WHERE nullif(btrim(c.cinp_referral_id), '') IS NULL
    ORDER BY c.cinp_cin_plan_id, r.referral_date DESC NULLS LAST, r.referral_id DESC) nr;

CREATE OR REPLACE VIEW :"schema".cp_plans AS
SELECT p.cppl_cp_plan_id::text AS plan_id,
       p.cppl_person_id::text AS child_id,
       p.cppl_cp_plan_start_date::date AS start_date,
       p.cppl_cp_plan_end_date::date AS end_date,
       coalesce(mi.contract_value, p.cppl_cp_plan_initial_category)::text AS initial_category,
       coalesce(ml.contract_value, nullif(btrim(p.cppl_cp_plan_latest_category), ''))::text
           AS latest_category,
       ch.chair_id
FROM :"ssd_schema".ssd_cp_plans p
LEFT JOIN :"schema".ssd_codes mi
  ON mi.kind = 'cp_category' AND mi.ssd_value = upper(btrim(p.cppl_cp_plan_initial_category))
LEFT JOIN :"schema".ssd_codes ml
  ON ml.kind = 'cp_category' AND ml.ssd_value = upper(btrim(p.cppl_cp_plan_latest_category))
LEFT JOIN (
    SELECT DISTINCT ON (c.plan_id) c.plan_id,
           coalesce(s.worker_id, 'staff:' || btrim(c.chair_staff_id)) AS chair_id
    FROM :"local_schema".cp_chairs c
    LEFT JOIN :"schema".ssd_staff_ids s ON s.staff_id = btrim(c.chair_staff_id)
    WHERE nullif(btrim(c.chair_staff_id), '') IS NOT NULL
    ORDER BY c.plan_id, 2) ch ON ch.plan_id = p.cppl_cp_plan_id::text
WHERE upper(btrim(coalesce(p.cppl_cp_plan_ola, ''))) NOT IN
      (SELECT ssd_value FROM :"schema".ssd_codes WHERE kind = 'other_authority');

CREATE OR REPLACE VIEW :"schema".appointments AS
SELECT appointment_id, child_id, service, scheduled_for, outcome
FROM :"local_schema".appointments;

CREATE OR REPLACE VIEW :"schema".strategies AS
SELECT strategy_id, child_id, kind, decided_on, review_by
FROM :"local_schema".strategies;
