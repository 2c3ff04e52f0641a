-- state_v9: room on each page of alerts for a row's next version.
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- Every full evaluation writes each firing alert's row again (seen, payload, team), and with
-- full pages each new version went to another page with an entry in each of the table's five
-- indexes: on the dense million (200,000 alerts) one update in ten was HOT, the rest made the
-- table grow to 1 GB and the evaluation wait on index writes. With pages half full the new
-- version stays on its page (no index entry) and the next evaluation prunes the old one: every
-- update HOT, and a steady-state --once of 26.3-28.2 s took 20.8-21.0 s (bench/README.md).
-- No rewrite under a lock here: pages written from now on keep the room, and there the first
-- evaluation after this moved every row to such pages (27.9 s), every one after it was all
-- HOT (22.3-24.9 s) and the table stayed the size it was.
ALTER TABLE @state@.alerts SET (fillfactor = 50);

INSERT INTO @state@.schema_version (version) VALUES (9);
