-- contract_rls: the contract relations that row-level security may make driftwatch blind to part
-- of: a relation of the case schema with it enabled, or a table a contract view reads (through
-- views, to any depth). Policies that filter rows hide children without a word, where the
-- empty-relation check and the grants check say nothing; a superuser or a BYPASSRLS role sees
-- every row, and a table's owner does unless the table forces it. A warning only: a policy may
-- well show every row. One line a relation and table, in words.
-- $1 text    the case schema
-- $2 text[]  the contract's relations
WITH RECURSIVE me AS (
    SELECT r.oid, r.rolsuper OR r.rolbypassrls AS sees_all
      FROM pg_catalog.pg_roles r WHERE r.rolname = current_user
),
rel (oid, relation) AS (
    SELECT c.oid, c.relname::text
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1::text AND c.relname = ANY ($2::text[])
    UNION
    SELECT d.refobjid, r.relation
      FROM rel r
      JOIN pg_catalog.pg_rewrite w ON w.ev_class = r.oid
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass
                                 AND d.objid = w.oid
                                 AND d.refclassid = 'pg_catalog.pg_class'::regclass
                                 AND d.refobjid <> r.oid
)
SELECT DISTINCT format('relation %s.%s: row-level security is enabled on %s: rows its policies '
                       'hide from role %s are never seen by the rules (children left out without '
                       'a word); unless the policies show every row, give the role BYPASSRLS or '
                       'a policy that does',
                       quote_ident($1::text), r.relation,
                       quote_ident(n.nspname) || '.' || quote_ident(c.relname), current_user)
  FROM rel r
  JOIN pg_catalog.pg_class c ON c.oid = r.oid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN me
 WHERE c.relrowsecurity AND c.relkind IN ('r', 'p')
   AND NOT me.sees_all
   AND (c.relforcerowsecurity OR c.relowner <> me.oid)
 ORDER BY 1;
