#!/usr/bin/python3
"""State schema v5 -> v6 (issue 14): the migration adds the daily counts of open alerts
(daily_count_days, daily_counts) and keeps every alert, event, response, notice and delivery
attempt; the first whole evaluation after it counts its day from the alerts as they are then.

The v5 schema is made with daemon/sql/state_v1..v5.sql (as driftwatchd of that release runs
them) and filled with rows in the shape v5's record.sql and responses write (an acknowledged
alert with its team, a snoozed one, their events, notices and a delivery attempt).
`driftwatchd --once` then migrates it and records 21 Nov 2026 (tests/fixtures/
once_lifecycle.sql). Prints TAP lines.
"""

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap  # noqa: E402
from dwtest import TOP, Db, addresses, run_once, run_test, write_config  # noqa: E402

S = "up6_state"


def fingerprint(rule, child, subject):
    return hashlib.sha256("\x1f".join((rule, child, subject or "")).encode()).hexdigest()


FP9 = fingerprint("cp_neglect_duration", "C-CP-9", "CPP-9")

V5_DATA = """
INSERT INTO {s}.evaluations (as_of, scope, started_at, finished_at)
VALUES ('2026-11-19', 'all', now(), now()), ('2026-11-20', 'all', now(), now());
INSERT INTO {s}.alerts (fingerprint, rule, child_id, subject_id, stage, stage_rank, status,
       notify_key, payload, destinations, first_fired_on, last_changed_on, last_seen_on,
       last_notified_on, stage_since, escalate_from, team_id)
VALUES ('{fp9}', 'cp_neglect_duration', 'C-CP-9', 'CPP-9', '9m', 0, 'firing', '',
        '{{"rule": "cp_neglect_duration", "child_id": "C-CP-9"}}',
        '[{{"channel": "email", "destination": "sup1@la.example", "role": "supervisor"}}]',
        '2026-11-19', '2026-11-19', '2026-11-20', '2026-11-19', '2026-11-19', NULL, 'T-1'),
       ('fp-snoozed', 're_referral', 'C-X', 'R-X', 'second', 0, 'firing', 'k',
        '{{"rule": "re_referral"}}', '[]', '2026-11-19', '2026-11-19', '2026-11-20',
        '2026-11-19', '2026-11-19', '2026-11-19', NULL);
INSERT INTO {s}.alert_events (alert_id, at, as_of, kind, stage, detail)
SELECT alert_id, '2026-11-19 12:00', '2026-11-19', 'firing', stage, '{{}}' FROM {s}.alerts;
UPDATE {s}.alerts SET acknowledged_at = '2026-11-20 09:00', acknowledged_by = 'sup1@la.example',
       ack_note = 'in supervision', ack_stage = '9m', ack_stage_since = '2026-11-19'
 WHERE fingerprint = '{fp9}';
UPDATE {s}.alerts SET snoozed_until = '2026-12-20', snooze_reason = 'legal_planning',
       snoozed_at = '2026-11-20 10:00', snoozed_by = 'api:ci', snooze_note = 'PLO'
 WHERE fingerprint = 'fp-snoozed';
INSERT INTO {s}.alert_events (alert_id, at, kind, stage, actor, via, reason, note, detail)
SELECT alert_id, timestamptz '2026-11-20 09:00', 'acknowledged', '9m', 'sup1@la.example', 'link',
       NULL, 'in supervision', '{{}}'::jsonb FROM {s}.alerts WHERE fingerprint = '{fp9}'
UNION ALL
SELECT alert_id, timestamptz '2026-11-20 10:00', 'snoozed', 'second', 'api:ci', 'api',
       'legal_planning', 'PLO', '{{"until": "2026-12-20"}}' FROM {s}.alerts
 WHERE fingerprint = 'fp-snoozed';
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
ALERTS = ("SELECT fingerprint, alert_id, acknowledged_at, acknowledged_by, ack_note, ack_stage, "
          "ack_stage_since, snoozed_until, snooze_reason, snoozed_at, snoozed_by, snooze_note, "
          "first_fired_on FROM %s.alerts ORDER BY alert_id")
COUNTS = ("alerts", "alert_events", "outbox", "delivery_attempts", "evaluations")
# The day's open alerts by team, rule, stage and response, computed here from the alerts.
EXPECTED = """
SELECT team_id, rule, stage,
       CASE WHEN snoozed_until >= DATE '{day}' THEN 'snoozed'
            WHEN ack_stage = stage AND ack_stage_since = stage_since THEN 'acknowledged'
            ELSE 'open' END AS state, count(*)::int AS alerts
  FROM {s}.alerts WHERE status = 'firing' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
WRITTEN = ("SELECT team_id, rule, stage, state, alerts FROM {s}.daily_counts "
           "WHERE day = DATE '{day}' ORDER BY 1, 2, 3, 4")


def counts(db):
    return {t: int(db.value("SELECT count(*) FROM %s.%s" % (S, t))) for t in COUNTS}


def body(t, procs, tmp):
    db = Db("dw_upgrade_v6")
    db.recreate()
    db.load(os.path.join(TOP, "rules", "contract.sql"),
            os.path.join(TOP, "tests", "fixtures", "once_lifecycle.sql"))
    script = 'CREATE SCHEMA "%s";\n' % S
    for v in (1, 2, 3, 4, 5):
        with open(os.path.join(TOP, "daemon", "sql", "state_v%d.sql" % v)) as f:
            script += f.read().replace("@state@", '"%s"' % S) + "\n"
    db._psql(["-1"], stdin=script + V5_DATA.format(s='"%s"' % S, fp9=FP9))
    t.check(db.value("SELECT max(version) FROM %s.schema_version" % S) == "5",
            "a v5 state schema with alerts, teams, responses, notices")
    before = counts(db)
    events_before = events(db)
    alerts_before = db.rows(ALERTS % S)
    outbox_before = db.rows("SELECT * FROM %s.outbox ORDER BY notice_id" % S)

    cfg = write_config(tmp, "upgrade", {
        "database": {"conninfo": db.conninfo("dw-upgrade-v6"), "state_schema": S},
        "addresses": addresses()})
    r = run_once(cfg, "2026-11-21")
    t.check(r.rc == 0 and not r.sanitizer(), "--once migrates the v5 schema and records a day",
            r.diag())
    t.check(int(db.value("SELECT max(version) FROM %s.schema_version" % S)) >= 6 and
            db.value("SELECT count(*) FROM %s.schema_version WHERE version = 6" % S) == "1",
            "the schema is at version 6 or later")
    after = counts(db)
    t.check(all(after[k] >= before[k] for k in COUNTS) and
            after["delivery_attempts"] == before["delivery_attempts"],
            "nothing was lost", before, after)
    t.check(events(db)[:len(events_before)] == events_before,
            "every v5 event, the responses' included, is there unchanged")
    # state_v7 adds first_due_at to every notice; what was there before is unchanged
    t.check([{k: v for k, v in x.items() if k != "first_due_at"}
             for x in db.rows("SELECT * FROM %s.outbox WHERE notice_id <= %d ORDER BY notice_id"
                              % (S, outbox_before[-1]["notice_id"]))] == outbox_before,
            "every v5 notice is there unchanged")
    got = db.rows(ALERTS % S)[:len(alerts_before)]
    t.check(got == alerts_before, "the acknowledgement and the snooze are there unchanged",
            alerts_before, got)
    expected = db.rows(EXPECTED.format(s=S, day="2026-11-21"))
    written = db.rows(WRITTEN.format(s=S, day="2026-11-21"))
    t.check(len(expected) >= 5 and written == expected,
            "the first evaluation after the upgrade counts its day's open alerts by team, rule, "
            "stage and response", expected, written)
    states = {x["state"] for x in written}
    t.check({"open", "acknowledged"} <= states,
            "... C-CP-9's acknowledged alert among them as acknowledged", states)
    day = db.rows("SELECT alerts, unanswered, acknowledged, snoozed FROM %s.daily_count_days "
                  "WHERE day = '2026-11-21'" % S)
    firing = int(db.value("SELECT count(*) FROM %s.alerts WHERE status = 'firing'" % S))
    t.check(len(day) == 1 and day[0]["alerts"] == firing and
            day[0]["unanswered"] + day[0]["acknowledged"] + day[0]["snoozed"] == firing and
            day[0]["acknowledged"] == sum(x["alerts"] for x in written
                                          if x["state"] == "acknowledged"),
            "... and its totals (%d open alerts)" % firing, day)


def main():
    t = Tap()
    return run_test(t, "upgrade_v6", lambda procs, tmp: body(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
