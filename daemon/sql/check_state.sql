-- check_state: what the role in database.conninfo lacks to keep driftwatch's own state, one row
-- per missing grant with the statement a DBA runs (--check-config). Nothing is created.
-- $1 text the state schema
-- $2 int  the state schema version this driftwatchd knows (STATE_SCHEMA_VERSION)
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
    UNION ALL
    -- A release rolled back over a newer one's state: the daemon would never evaluate.
    -- (query_to_xml reads the schema named by $1 without building a statement in the client.)
    SELECT 4, format('the state schema is at version %s, newer than this driftwatchd knows (%s)',
                     v.version, $2::int),
           'install the driftwatch release that made it, or point database.state_schema at '
           'another schema'
      FROM (SELECT (xpath('/row/v/text()',
                          query_to_xml(format('SELECT max(version) AS v FROM %I.schema_version',
                                              $1::text), false, true, '')))[1]::text::int
                   AS version
             -- CASE, not AND, for the order: has_schema_privilege raises for a schema that
             -- is not there, and a name in a schema without USAGE cannot be looked up
             WHERE CASE WHEN NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1::text)
                        THEN false
                        WHEN NOT has_schema_privilege($1::text, 'USAGE') THEN false
                        WHEN to_regclass(format('%I.schema_version', $1::text)) IS NULL
                        THEN false
                        ELSE has_table_privilege(format('%I.schema_version', $1::text),
                                                 'SELECT') END) v
     WHERE v.version > $2::int
) x
ORDER BY o, what;
