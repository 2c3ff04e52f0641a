-- case_workers (a fragment, inside a FROM): the rows of workers as the pages and the
-- escalation's service_manager read them. A column a grant withholds that they can do without
-- (a name, an email) is NULL here rather than failing the statement (daemon/case_columns.c, as
-- the rules read rules/rows_workers.sql). Ids are read as text, as the rules read them: an
-- integer id in a view (outside CONTRACT.md, which --check-config says) still joins the text
-- ids of the state schema and of the other relations.
SELECT w.worker_id::text AS worker_id, @col:workers:w.display_name@ AS display_name,
       @col:workers:w.email@ AS email, w.team_id::text AS team_id,
       w.supervisor_id::text AS supervisor_id, w.role
  FROM @case@.workers w
