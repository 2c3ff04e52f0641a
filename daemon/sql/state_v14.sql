-- state_v14: only an alert recorded under schema v2's identity is renamed to its episode's.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- record.sql finds an episode's alert under its former identity (the current plan, as v2 named
-- it) and renames it in place, so that an upgrade from v2 does not resolve and announce again
-- every such alert. It did so at every evaluation, not only the first after the upgrade: when a
-- plan entered late began before an episode's first plan, an alert named by that first plan
-- (its current plan too) took the new subject and fingerprint with no notice, and a receiver
-- never heard the old fingerprint resolved nor the new one fire (ALERTS.md: an alert is born
-- firing the first time its rule holds for its (rule, child_id, subject_id)). A rename is now
-- for the alerts this column marks: the firing episode alerts of a schema that has had no full
-- evaluation since it reached version 3, that is, one being upgraded from v2 now.
ALTER TABLE @state@.alerts ADD COLUMN legacy_subject boolean NOT NULL DEFAULT false;
-- record_resolve.sql clears the marks of a rule when it has run to its end over everyone: an
-- alert not renamed by then is under its own identity, and later keeps to the rule above.
CREATE INDEX alerts_legacy_subject_idx ON @state@.alerts (rule) WHERE legacy_subject;

UPDATE @state@.alerts a
   SET legacy_subject = true
 WHERE a.status = 'firing'
   AND a.rule IN ('cin_neglect_duration', 'cp_neglect_duration', 'repeat_neglect_plan')
   AND NOT EXISTS (SELECT 1
                     FROM @state@.evaluations e, @state@.schema_version v
                    WHERE v.version = 3 AND e.scope = 'all' AND e.started_at > v.applied_at);

INSERT INTO @state@.schema_version (version) VALUES (14);
