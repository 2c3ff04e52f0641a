-- case_workers (a fragment, inside a FROM): the rows of workers as the pages and the
-- escalation's service_manager read them. A column a grant withholds that they can do without
-- (a name, an email) is NULL here rather than failing the statement (daemon/case_columns.c, as
-- the rules read rules/rows_workers.sql).
SELECT w.worker_id, @col:workers:w.display_name@ AS display_name,
       @col:workers:w.email@ AS email, w.team_id, w.supervisor_id, w.role
  FROM @case@.workers w
