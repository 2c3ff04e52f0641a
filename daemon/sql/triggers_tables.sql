-- triggers_tables: the contract relations that name a child and are plain tables here, so
-- --install-triggers knows where a trigger can go and can say which are views.
-- $1 text the case schema
SELECT c.relname::text, c.relkind::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1
   AND c.relname IN ('children', 'allocations', 'referrals', 'cin_plans', 'cp_plans',
                     'appointments', 'strategies')
 ORDER BY 1;
