-- rows_referrals: referrals_rows, every row of referrals with its faults (docs/internals.md).
-- Not a statement but one CTE of a WITH list: a file has the line `-- @include rows_referrals.sql`
-- after head.sql, with the commas around it (rule statements, and quality_referrals.sql).
referrals_rows AS NOT MATERIALIZED (
    SELECT r.referral_id::text COLLATE "C" AS referral_id,
           r.child_id::text COLLATE "C" AS child_id,
           -- the column as it is, for the lookup form's index probe (rules/embed_sql.sh)
           r.child_id AS child_id_raw,
           r.referral_date,
           r.primary_need::text COLLATE "C" AS primary_need,
           r.neglect,
           CASE WHEN r.closure_date >= DATE '10000-01-01' THEN 'infinity'
                ELSE r.closure_date END AS closure_date,
           r.closure_reason::text COLLATE "C" AS closure_reason,
           CASE WHEN r.referral_id IS NULL THEN 'null_key'
                WHEN r.child_id IS NULL THEN 'null_child_id'
                -- an id of spaces or nothing names no child: its link would end in /person/ (a
                -- function call a row cost as much as the scan: btrim only below '!')
                WHEN r.child_id::text COLLATE "C" < '!' AND btrim(r.child_id::text) = '' THEN 'blank_child_id' END AS key_fault,
           CASE WHEN r.referral_date IS NULL THEN 'null_referral_date'
                WHEN NOT isfinite(r.referral_date) THEN 'infinite_referral_date'
                WHEN NOT (r.referral_date >= DATE '0001-01-01'
                          AND r.referral_date < DATE '10000-01-01')
                    THEN 'unusable_referral_date'
                WHEN r.closure_date < r.referral_date THEN 'closure_before_referral' END AS row_fault,
           r.referral_id IS NOT NULL AND r.child_id IS NOT NULL
               AND (r.child_id::text COLLATE "C" >= '!' OR btrim(r.child_id::text) <> '') AS keyed,
           r.referral_date IS NOT NULL AND isfinite(r.referral_date)
               AND r.referral_date >= DATE '0001-01-01' AND r.referral_date < DATE '10000-01-01'
               AND (r.closure_date IS NULL OR r.closure_date >= r.referral_date) AS sound
    FROM @case@.referrals r
    WHERE (:child_ids IS NULL OR r.child_id::text = ANY (:child_ids))
)
