#!/usr/bin/python3
"""State schema v3 -> v4 (issue 13): the migration keeps every alert, event, notice, delivery
attempt, evaluation and rule's health, and backfills the day each alert's current stage was first
recorded from its events (not from last_changed_on, which also moves on 'updated').

The v3 schema is made with daemon/sql/state_v1..v3.sql (as driftwatchd of that version runs
them), and filled with rows in the shape v3's record.sql writes: an alert that fired and stayed,
one that escalated and was then updated, one resolved, their events, notices (delivered, pending)
and a delivery attempt. `driftwatchd --once` then migrates it and records a day. Prints TAP lines.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap  # noqa: E402
from dwtest import TOP, Db, addresses, run_once, run_test, write_config  # noqa: E402

S = "up_state"

V3_DATA = """
INSERT INTO {s}.evaluations (as_of, scope, started_at, finished_at)
VALUES ('2026-11-01', 'all', now(), now()), ('2026-11-03', 'all', now(), now()),
       ('2026-11-04', 'all', now(), now());
INSERT INTO {s}.alerts (fingerprint, rule, child_id, subject_id, stage, stage_rank, status,
       notify_key, payload, destinations, first_fired_on, last_changed_on, last_seen_on,
       last_notified_on)
VALUES ('fp-stay', 'worker_churn', 'C-1', NULL, 'churn', 0, 'firing', 'k1',
        '{{"rule": "worker_churn"}}', '[]', '2026-11-01', '2026-11-01', '2026-11-04',
        '2026-11-01'),
       ('fp-esc', 'cp_neglect_duration', 'C-2', 'CPP-2', '15m', 2, 'firing', 'k2b',
        '{{"rule": "cp_neglect_duration"}}',
        '[{{"channel": "email", "destination": "s@la.example", "role": "supervisor"}}]',
        '2026-11-01', '2026-11-04', '2026-11-04', '2026-11-04'),
       ('fp-res', 're_referral', 'C-3', 'R-3', 'second', 0, 'resolved', 'k3',
        '{{"rule": "re_referral"}}', '[]', '2026-11-01', '2026-11-03', '2026-11-03',
        '2026-11-01');
INSERT INTO {s}.alert_events (alert_id, at, as_of, kind, stage, detail)
SELECT alert_id, d::date + time '12:00', d::date, k, st, '{{}}'
  FROM {s}.alerts a
  JOIN (VALUES ('fp-stay', '2026-11-01', 'firing', 'churn'),
               ('fp-esc', '2026-11-01', 'firing', '12m'),
               ('fp-esc', '2026-11-03', 'escalated', '15m'),
               ('fp-esc', '2026-11-04', 'updated', '15m'),
               ('fp-res', '2026-11-01', 'firing', 'second'),
               ('fp-res', '2026-11-03', 'resolved', 'second')) v(f, d, k, st)
    ON a.fingerprint = v.f;
INSERT INTO {s}.outbox (idempotency_key, event_id, alert_id, channel, destination, role, type,
       payload, status, delivered_at, notice)
SELECT 'msg_' || e.event_id, e.event_id, e.alert_id, 'email', 's@la.example', 'supervisor',
       'alert.' || e.kind, '{{}}', CASE WHEN e.kind = 'updated' THEN 'pending'
                                        ELSE 'delivered' END,
       CASE WHEN e.kind <> 'updated' THEN now() END, '{{"label": "x"}}'
  FROM {s}.alert_events e;
INSERT INTO {s}.delivery_attempts (notice_id, outcome, detail)
SELECT notice_id, 'delivered', '250 ok' FROM {s}.outbox WHERE status = 'delivered';
-- v1's SQL functions, as an operator would have called them on 2 Nov (fp-esc was at 12m then)
SELECT {s}.acknowledge('fp-stay', 'sup@la.example', 'seen in supervision');
SELECT {s}.acknowledge('fp-esc', 'sup@la.example', repeat('n', 1200));
SELECT {s}.snooze('fp-res', '2026-11-30', 'free text from v3');
UPDATE {s}.alerts SET acknowledged_at = '2026-11-02 10:00' WHERE acknowledged_at IS NOT NULL;
UPDATE {s}.alert_events SET at = '2026-11-02 10:00' WHERE kind = 'acknowledged';
INSERT INTO {s}.rule_health VALUES ('was_not_brought', now(), 'relation missing', now());
"""

# rule_health is left out: the evaluation itself clears a rule that runs again.
# A v3 response event had no stage: v4 fills it in (checked below); the rest is unchanged.
EVENTS = ("SELECT event_id, alert_id, at, as_of, kind, detail, CASE WHEN kind NOT IN "
          "('acknowledged', 'snoozed') THEN stage END AS stage FROM %s.alert_events "
          "ORDER BY event_id")
COUNTS = ("alerts", "alert_events", "outbox", "delivery_attempts")


def counts(db):
    return {t: int(db.value("SELECT count(*) FROM %s.%s" % (S, t))) for t in COUNTS}


def body(t, procs, tmp):
    db = Db("dw_upgrade_v4")
    db.recreate()
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "once_lifecycle.sql"))
    script = 'CREATE SCHEMA "%s";\n' % S
    for v in (1, 2, 3):
        with open(os.path.join(TOP, "daemon", "sql", "state_v%d.sql" % v)) as f:
            script += f.read().replace("@state@", '"%s"' % S) + "\n"
    db._psql(["-1"], stdin=script + V3_DATA.format(s='"%s"' % S))
    t.check(db.value("SELECT max(version) FROM %s.schema_version" % S) == "3",
            "a v3 state schema with data")
    before = counts(db)
    events_before = db.rows(EVENTS % S)
    outbox_before = db.rows("SELECT notice_id, idempotency_key, status, type, notice FROM "
                            "%s.outbox ORDER BY notice_id" % S)

    cfg = write_config(tmp, "upgrade", {
        "database": {"conninfo": db.conninfo("dw-upgrade-v4"), "state_schema": S},
        "addresses": addresses()})
    r = run_once(cfg, "2026-11-21")
    t.check(r.rc == 0 and not r.sanitizer(), "--once migrates the v3 schema and records a day",
            r.diag())
    # later versions (test_upgrade_v5.py) are applied in the same run
    t.check(db.value("SELECT count(*) FROM %s.schema_version WHERE version = 4" % S) == "1",
            "the schema passed version 4")
    after = counts(db)
    t.check(all(after[k] >= before[k] for k in COUNTS) and
            after["delivery_attempts"] == before["delivery_attempts"],
            "nothing was lost", before, after)
    events_after = db.rows(EVENTS % S)[:len(events_before)]
    t.check(events_after == events_before,
            "every v3 event is there unchanged (but for the stage of a response, filled in)",
            events_before, events_after)
    t.check(db.rows("SELECT notice_id, idempotency_key, status, type, notice FROM %s.outbox "
                    "WHERE notice_id <= %d ORDER BY notice_id"
                    % (S, outbox_before[-1]["notice_id"])) == outbox_before,
            "every v3 notice is there unchanged (the pending one still pending)")
    since = {r["fingerprint"]: r["stage_since"] for r in db.rows(
        "SELECT fingerprint, stage_since::text FROM %s.alerts WHERE fingerprint LIKE 'fp-%%'"
        % S)}
    t.check(since == {"fp-stay": "2026-11-01", "fp-esc": "2026-11-03",
                      "fp-res": "2026-11-01"},
            "stage_since is backfilled from the events: the escalation's day, not the later "
            "update's", since)
    acks = {r["fingerprint"]: [r["ack_stage"], r["ack_stage_since"]] for r in db.rows(
        "SELECT fingerprint, ack_stage, ack_stage_since::text FROM %s.alerts WHERE "
        "acknowledged_at IS NOT NULL" % S)}
    t.check(acks == {"fp-stay": ["churn", "2026-11-01"], "fp-esc": ["12m", "2026-11-01"]},
            "a v3 acknowledgement answers the stage it was made at (fp-esc's 12m, not its "
            "15m)", acks)
    ev = db.rows("SELECT a.fingerprint, e.kind, e.actor, e.stage, e.reason, "
                 "char_length(e.note) AS note_len, char_length(e.detail->>'note') AS kept "
                 "FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                 "WHERE e.kind IN ('acknowledged', 'snoozed') ORDER BY e.event_id" % (S, S))
    t.check(ev == [{"fingerprint": "fp-stay", "kind": "acknowledged", "actor": "sup@la.example",
                    "stage": "churn", "reason": None, "note_len": 19, "kept": 19},
                   {"fingerprint": "fp-esc", "kind": "acknowledged", "actor": "sup@la.example",
                    "stage": "12m", "reason": None, "note_len": None, "kept": 1200},
                   {"fingerprint": "fp-res", "kind": "snoozed", "actor": None,
                    "stage": "second", "reason": "free text from v3", "note_len": None,
                    "kept": None}],
            "v3 response events get their actor, stage and reason; a note over 1,000 "
            "characters stays whole in detail", ev)
    frm = {r["fingerprint"]: r["escalate_from"] for r in db.rows(
        "SELECT fingerprint, escalate_from::text FROM %s.alerts WHERE fingerprint LIKE 'fp-%%'"
        % S)}
    t.check(frm == {"fp-stay": "2026-11-04", "fp-esc": "2026-11-04", "fp-res": None},
            "alerts firing at the upgrade count silence from the last evaluation before it "
            "(4 Nov), not from their stage's day: no flood of escalations on the first day",
            frm)
    nulls = db.value("SELECT count(*) FROM %s.alerts WHERE stage_since IS NULL" % S)
    t.check(nulls == "0", "every alert has its stage_since", nulls)


def main():
    t = Tap()
    return run_test(t, "upgrade_v4", lambda procs, tmp: body(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
