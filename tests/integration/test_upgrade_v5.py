#!/usr/bin/python3
"""State schema v4 -> v5 (issue 13): the migration adds each alert's team_id and keeps every
alert, event, response, notice and delivery attempt; the first evaluation after it records the
team of each alert's child's allocated worker, and a later one follows a reallocation.

The v4 schema is made with daemon/sql/state_v1..v4.sql (as driftwatchd of that release runs
them) and filled with rows in the shape v4's record.sql and responses write: the
cp_neglect_duration alert of C-CP-9 (its real fingerprint, so the evaluation continues it),
acknowledged through a link for its stage, a snoozed alert, their events, notices and a delivery
attempt. `driftwatchd --once` then migrates it and records 21 Nov 2026 (tests/fixtures/
once_lifecycle.sql), and once more on 22 Nov after C-CP-9 moves from team T-1 to T-2.
Prints TAP lines.
"""

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap  # noqa: E402
from dwtest import TOP, Db, addresses, run_once, run_test, write_config  # noqa: E402

S = "up5_state"


def fingerprint(rule, child, subject):
    return hashlib.sha256("\x1f".join((rule, child, subject or "")).encode()).hexdigest()


FP9 = fingerprint("cp_neglect_duration", "C-CP-9", "CPP-9")

V4_DATA = """
INSERT INTO {s}.evaluations (as_of, scope, started_at, finished_at)
VALUES ('2026-11-19', 'all', now(), now()), ('2026-11-20', 'all', now(), now());
INSERT INTO {s}.alerts (fingerprint, rule, child_id, subject_id, stage, stage_rank, status,
       notify_key, payload, destinations, first_fired_on, last_changed_on, last_seen_on,
       last_notified_on, stage_since, escalate_from)
VALUES ('{fp9}', 'cp_neglect_duration', 'C-CP-9', 'CPP-9', '9m', 0, 'firing', '',
        '{{"rule": "cp_neglect_duration", "child_id": "C-CP-9"}}',
        '[{{"channel": "email", "destination": "sup1@la.example", "role": "supervisor"}}]',
        '2026-11-19', '2026-11-19', '2026-11-20', '2026-11-19', '2026-11-19', NULL),
       ('fp-snoozed', 're_referral', 'C-X', 'R-X', 'second', 0, 'firing', 'k',
        '{{"rule": "re_referral"}}', '[]', '2026-11-19', '2026-11-19', '2026-11-20',
        '2026-11-19', '2026-11-19', '2026-11-19');
INSERT INTO {s}.alert_events (alert_id, at, as_of, kind, stage, detail)
SELECT alert_id, '2026-11-19 12:00', '2026-11-19', 'firing', stage, '{{}}' FROM {s}.alerts;
-- a response through a link (responses_record.sql's shape) and a snooze through the API
UPDATE {s}.alerts SET acknowledged_at = '2026-11-20 09:00', acknowledged_by = 'sup1@la.example',
       ack_note = 'in supervision', ack_stage = '9m', ack_stage_since = '2026-11-19'
 WHERE fingerprint = '{fp9}';
UPDATE {s}.alerts SET snoozed_until = '2026-12-20', snooze_reason = 'legal_planning',
       snoozed_at = '2026-11-20 10:00', snoozed_by = 'api:ci', snooze_note = 'PLO'
 WHERE fingerprint = 'fp-snoozed';
INSERT INTO {s}.alert_events (alert_id, at, kind, stage, actor, via, reason, note, detail)
SELECT alert_id, timestamptz '2026-11-20 09:00', 'acknowledged', '9m', 'sup1@la.example', 'link', NULL,
       'in supervision', '{{}}'::jsonb FROM {s}.alerts WHERE fingerprint = '{fp9}'
UNION ALL
SELECT alert_id, timestamptz '2026-11-20 10:00', 'snoozed', 'second', 'api:ci', 'api', 'legal_planning',
       'PLO', '{{"until": "2026-12-20"}}' FROM {s}.alerts WHERE fingerprint = 'fp-snoozed';
INSERT INTO {s}.outbox (idempotency_key, event_id, alert_id, channel, destination, role, type,
       payload, status, delivered_at, notice)
SELECT 'msg_' || e.event_id, e.event_id, e.alert_id, 'email', 'sup1@la.example', 'supervisor',
       'alert.firing', '{{}}', 'delivered', now(), '{{"label": "x"}}'
  FROM {s}.alert_events e WHERE e.kind = 'firing';
INSERT INTO {s}.delivery_attempts (notice_id, outcome, detail)
SELECT notice_id, 'delivered', '250 ok' FROM {s}.outbox;
"""

# state_v13 adds a token to every event written after it (NULL before): left out here
EVENTS = "SELECT * FROM %s.alert_events ORDER BY event_id"


def events(db):
    return [{k: v for k, v in x.items() if k != "token"} for x in db.rows(EVENTS % S)]
RESPONSE = ("SELECT fingerprint, alert_id, acknowledged_at, acknowledged_by, ack_note, "
            "ack_stage, ack_stage_since, snoozed_until, snooze_reason, snoozed_at, snoozed_by, "
            "snooze_note, first_fired_on, stage_since FROM %s.alerts ORDER BY alert_id")
COUNTS = ("alerts", "alert_events", "outbox", "delivery_attempts")
# The team of each firing alert's child as the case data says on a day: the allocation open on
# it that started last, its worker's team (NULL without one), computed here independently.
EXPECTED = """
SELECT a.fingerprint, a.child_id, (
    SELECT w.team_id FROM casework.allocations al JOIN casework.workers w USING (worker_id)
     WHERE al.child_id = a.child_id AND al.start_date <= DATE '{day}'
       AND (al.end_date IS NULL OR al.end_date > DATE '{day}')
     ORDER BY al.start_date DESC LIMIT 1) AS expected, a.team_id
  FROM {s}.alerts a WHERE a.status = 'firing' ORDER BY a.fingerprint
"""


def counts(db):
    return {t: int(db.value("SELECT count(*) FROM %s.%s" % (S, t))) for t in COUNTS}


def body(t, procs, tmp):
    db = Db("dw_upgrade_v5")
    db.recreate()
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "once_lifecycle.sql"))
    script = 'CREATE SCHEMA "%s";\n' % S
    for v in (1, 2, 3, 4):
        with open(os.path.join(TOP, "daemon", "sql", "state_v%d.sql" % v)) as f:
            script += f.read().replace("@state@", '"%s"' % S) + "\n"
    db._psql(["-1"], stdin=script + V4_DATA.format(s='"%s"' % S, fp9=FP9))
    t.check(db.value("SELECT max(version) FROM %s.schema_version" % S) == "4",
            "a v4 state schema with alerts, responses, notices")
    before = counts(db)
    events_before = events(db)
    response_before = db.rows(RESPONSE % S)
    outbox_before = db.rows("SELECT * FROM %s.outbox ORDER BY notice_id" % S)

    cfg = write_config(tmp, "upgrade", {
        "database": {"conninfo": db.conninfo("dw-upgrade-v5"), "state_schema": S},
        "addresses": addresses()})
    r = run_once(cfg, "2026-11-21")
    t.check(r.rc == 0 and not r.sanitizer(), "--once migrates the v4 schema and records a day",
            r.diag())
    # later versions (test_upgrade_v6.py) are applied in the same run
    t.check(int(db.value("SELECT max(version) FROM %s.schema_version" % S)) >= 5 and
            db.value("SELECT count(*) FROM %s.schema_version WHERE version = 5" % S) == "1",
            "the schema is at version 5 or later")
    after = counts(db)
    t.check(all(after[k] >= before[k] for k in COUNTS) and
            after["delivery_attempts"] == before["delivery_attempts"],
            "nothing was lost", before, after)
    t.check(events(db)[:len(events_before)] == events_before,
            "every v4 event, the responses' included, is there unchanged")
    # state_v7 adds first_due_at to every notice; what was there before is unchanged
    t.check([{k: v for k, v in x.items() if k != "first_due_at"}
             for x in db.rows("SELECT * FROM %s.outbox WHERE notice_id <= %d ORDER BY notice_id"
                              % (S, outbox_before[-1]["notice_id"]))] == outbox_before,
            "every v4 notice is there unchanged")
    resp = db.rows(RESPONSE % S)[:len(response_before)]
    t.check(resp == response_before,
            "the acknowledgement and the snooze are there unchanged (C-CP-9's alert continued "
            "as the same alert)", response_before, resp)
    rows = db.rows(EXPECTED.format(s=S, day="2026-11-21"))
    t.check(len(rows) >= 30 and all(x["team_id"] == x["expected"] for x in rows) and
            {x["team_id"] for x in rows} == {"T-1", "T-2", None},
            "the evaluation after the upgrade records each firing alert's team: its child's "
            "allocated worker's (T-1, T-2), NULL for C-NOALLOC",
            [x for x in rows if x["team_id"] != x["expected"]][:5], len(rows))
    t.check(db.value("SELECT team_id FROM %s.alerts WHERE fingerprint = '%s'" % (S, FP9)) ==
            "T-1", "C-CP-9's continued alert has T-1")

    db.run("UPDATE casework.allocations SET end_date = '2026-11-22' WHERE allocation_id = "
           "'A-CP-9'; INSERT INTO casework.allocations VALUES ('A-CP-9b', 'C-CP-9', 'W-SW2', "
           "'2026-11-22', NULL)")
    r = run_once(cfg, "2026-11-22")
    t.check(r.rc == 0 and not r.sanitizer(), "--once records 22 Nov", r.diag())
    rows = db.rows(EXPECTED.format(s=S, day="2026-11-22"))
    t.check(db.value("SELECT team_id FROM %s.alerts WHERE fingerprint = '%s'" % (S, FP9)) ==
            "T-2" and all(x["team_id"] == x["expected"] for x in rows),
            "a reallocation moves the alert to the new worker's team (T-2) at the next "
            "evaluation", [x for x in rows if x["team_id"] != x["expected"]][:5])


def main():
    t = Tap()
    return run_test(t, "upgrade_v5", lambda procs, tmp: body(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
