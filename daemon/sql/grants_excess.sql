-- grants_excess: what the connected role may do beyond what driftwatch needs (the grants of
-- driftwatchd --print-grants), one row each, for the warning at start and in --check-config.
-- A superuser may do everything, so that is said alone. Nothing is changed.
-- $1 text the case schema (a database without it, the state's own, gives rows 1 to 3 only)
WITH me AS (SELECT * FROM pg_catalog.pg_roles WHERE rolname = current_user),
     contract AS (
    SELECT c.oid, c.relname, c.relowner
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1::text
       AND c.relname IN ('teams', 'workers', 'children', 'allocations', 'referrals', 'cin_plans',
                         'cp_plans', 'appointments', 'strategies')
)
SELECT what, current_user::text AS role FROM (
    SELECT 1 AS o, 'is a superuser' AS what FROM me WHERE rolsuper
    UNION ALL
    SELECT 2, 'may ' || concat_ws(', ',
              CASE WHEN rolcreaterole THEN 'create roles' END,
              CASE WHEN rolcreatedb THEN 'create databases' END,
              CASE WHEN rolreplication THEN 'start replication' END,
              CASE WHEN rolbypassrls THEN 'bypass row-level security' END)
      FROM me
     WHERE NOT rolsuper AND (rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)
    UNION ALL
    -- The predefined roles (pg_write_all_data, pg_read_server_files, ...): driftwatch needs none.
    SELECT 3, format('is a member of %I', r.rolname)
      FROM pg_catalog.pg_roles r, me
     WHERE NOT me.rolsuper AND r.rolname LIKE 'pg\_%' AND r.oid <> me.oid
       AND pg_catalog.pg_has_role(me.oid, r.oid, 'MEMBER')
    UNION ALL
    SELECT 4, format('owns %I.%I', $1::text, c.relname)
      FROM contract c, me
     WHERE NOT me.rolsuper AND pg_catalog.pg_has_role(me.oid, c.relowner, 'MEMBER')
    UNION ALL
    -- One row per set of privileges, naming the relations that have it.
    SELECT 5, format('may %s on %s', privs, string_agg(format('%I.%I', $1::text, relname), ', '
                                                       ORDER BY relname))
      FROM (SELECT c.relname, string_agg(p.priv, ', ' ORDER BY p.n) AS privs
              FROM contract c, me,
                   unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                                'TRIGGER']) WITH ORDINALITY AS p(priv, n)
             WHERE NOT me.rolsuper AND NOT pg_catalog.pg_has_role(me.oid, c.relowner, 'MEMBER')
               AND pg_catalog.has_table_privilege(c.oid, p.priv)
             GROUP BY c.relname) r
     GROUP BY privs
    UNION ALL
    SELECT 6, format('may CREATE in schema %I', n.nspname)
      FROM pg_catalog.pg_namespace n, me
     WHERE NOT me.rolsuper AND n.nspname = $1::text
       AND pg_catalog.has_schema_privilege(n.oid, 'CREATE')
) x
ORDER BY o, what;
