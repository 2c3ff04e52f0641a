-- check_state: what the role in database.conninfo lacks to keep driftwatch's own state, one row
-- per missing grant with the statement a DBA runs (--check-config). Nothing is created.
-- $1 text the state schema
SELECT what, fix FROM (
    -- CREATE SCHEMA asks for CREATE on the database; a schema made by a DBA asks for nothing.
    SELECT 1 AS o, 'the state schema does not exist, and this role may not create it' AS what,
           format('CREATE SCHEMA %I AUTHORIZATION %I;', $1::text, current_user) AS fix
     WHERE NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1::text)
       AND NOT has_database_privilege(current_database(), 'CREATE')
    UNION ALL
    SELECT 2, 'this role may not use and create in the state schema',
           format('GRANT USAGE, CREATE ON SCHEMA %I TO %I;', $1::text, current_user)
     WHERE EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1::text)
       AND NOT (has_schema_privilege($1::text, 'USAGE') AND has_schema_privilege($1::text, 'CREATE'))
    UNION ALL
    -- Migrations alter the tables they made: they must be this role's (or a role it is in).
    SELECT 3, format('table %I.%I belongs to %I, so this role cannot migrate it', $1::text, c.relname,
                     pg_get_userbyid(c.relowner)),
           format('ALTER TABLE %I.%I OWNER TO %I;', $1::text, c.relname, current_user)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1::text AND c.relkind IN ('r', 'p')
       AND NOT pg_has_role(c.relowner, 'MEMBER')
) x
ORDER BY o, what;
