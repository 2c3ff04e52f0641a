-- lock_holders: the sessions whose locks stop a statement reading the contract, for the message of one that timed out.
-- A nightly reload of a reporting copy (TRUNCATE, ALTER, a VACUUM FULL) takes an ACCESS
-- EXCLUSIVE lock, and a rule's SELECT waits for it until its statement timeout: the server
-- only says "canceling statement due to statement timeout". Asked right after, on the same
-- connection, this names the relation and the session, so the operators' notice says who is in
-- the way. A request for that lock that is itself still waiting counts too: reads queue behind
-- it. Relations under a contract view are followed through the views' rules (pg_depend), so a
-- lock on a base table of another shape is found and said as such.
-- $1 text    the case schema
-- $2 text[]  the contract relations the statement reads
WITH RECURSIVE rel (oid, contract) AS (
    SELECT c.oid, c.relname::text
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1::text AND c.relname = ANY ($2::text[])
    UNION
    SELECT d.refobjid, rel.contract
      FROM rel
      JOIN pg_catalog.pg_rewrite w ON w.ev_class = rel.oid
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass
                                 AND d.objid = w.oid
     WHERE d.refclassid = 'pg_catalog.pg_class'::regclass
       AND d.refobjid <> rel.oid
)
SELECT format('%I.%I', n.nspname, c.relname) AS relation,
       min(rel.contract) AS contract,
       c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1::text)
           AND c.relname::text = min(rel.contract) AS direct,
       l.pid,
       l.granted,
       a.application_name,
       a.usename::text AS usename,
       to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS since
  FROM pg_catalog.pg_locks l
  JOIN rel ON rel.oid = l.relation
  JOIN pg_catalog.pg_class c ON c.oid = l.relation
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'relation'
   AND l.mode = 'AccessExclusiveLock'
   AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
   AND l.pid <> pg_backend_pid()
 GROUP BY n.nspname, c.relname, c.relnamespace, l.pid, l.granted, a.application_name,
          a.usename, a.xact_start
 ORDER BY l.granted DESC, relation, l.pid
 LIMIT 4
