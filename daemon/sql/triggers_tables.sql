-- triggers_tables: the contract relations and whether each is a plain table here, so
-- --install-triggers knows where a trigger can go and can say which are views; whether each
-- names a child (teams and workers do not: a change there concerns every child of the team or
-- worker, and asks for everyone); and whether the state schema (which holds the trigger
-- functions) is there already.
-- $1 text the case schema
-- $2 text the state schema
SELECT c.relname::text, c.relkind::text,
       EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $2) AS state_exists,
       c.relname NOT IN ('teams', 'workers') AS names_child
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1
   AND c.relname IN ('children', 'allocations', 'referrals', 'cin_plans', 'cp_plans',
                     'appointments', 'strategies', 'teams', 'workers')
 ORDER BY 1;
