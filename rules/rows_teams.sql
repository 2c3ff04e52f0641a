-- rows_teams: teams_rows, every row of teams with its faults (docs/internals.md).
-- Not a statement but one CTE of a WITH list: a file has the line `-- @include rows_teams.sql`
-- after head.sql, with the commas around it (rule statements, and quality_teams.sql).
teams_rows AS NOT MATERIALIZED (
    -- @col:teams:EXPR@ is EXPR, or NULL where the role may not read that column: it only
    -- addresses or names people, and withheld it must silence no rule (daemon/case_columns.c).
    SELECT t.team_id::text COLLATE "C" AS team_id,
           @col:teams:t.name@::text COLLATE "C" AS name,
           @col:teams:t.manager_email@::text COLLATE "C" AS manager_email,
           @col:teams:t.webhook_url@::text COLLATE "C" AS webhook_url,
           CASE WHEN t.team_id IS NULL THEN 'null_key' END AS key_fault,
           NULL::text AS row_fault,
           t.team_id IS NOT NULL AS keyed,
           true AS sound
    FROM @case@.teams t
)
