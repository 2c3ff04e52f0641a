-- state_v10: a scratch list of the alerts each evaluation saw, so that an unchanged alert's row
-- is not written again.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- Until v9 every evaluation marked each alert it yielded by writing alerts.last_seen_eval, and
-- record_resolve.sql resolved the rule's firing alerts without the mark. Writing the mark wrote
-- the whole row: with the default interval of 300 s, every five minutes each stored alert's row
-- (about 1 kB of payload) went through the heap and the WAL again, though nothing in it had
-- changed since the last evaluation of the day. Now record.sql writes an alert's row only when
-- something in it changes (a new day's as_of is such a change, so at most once a day for a
-- steady alert) and lists every alert it saw here; record_resolve.sql resolves the firing
-- alerts of the rule that this evaluation's list does not hold. UNLOGGED: the list lives only
-- inside the recording transaction (record.c empties it first), so it needs no WAL, and a crash
-- that empties it loses nothing. alerts.last_seen_eval stays: the last evaluation that wrote
-- the row.
CREATE UNLOGGED TABLE @state@.alert_seen (
    -- the key: record_resolve.sql looks each firing alert up here, and a plan made with no
    -- idea of the list's length must still not read the whole list once per alert
    alert_id bigint PRIMARY KEY
);

INSERT INTO @state@.schema_version (version) VALUES (10);
