#!/usr/bin/python3
"""Upgrading across issue 12's change of subject (RULES.md, "Episodes"): state schema v2 stored
an alert of cin_neglect_duration, cp_neglect_duration and repeat_neglect_plan under its current
plan; the subject is now the episode, named by its first plan. An authority upgrading must not
see every such alert resolved and announced again as new: recording finds the alert under its
former identity and renames it, keeping its history.

Loads rules/contract.sql and tests/fixtures/boundaries.sql into schema upg_t, records a first
evaluation (`--once --as-of 2026-11-20`), puts the episodes' alerts back under the identity v2
gave them (subject the current plan, fingerprint made from it: ALERTS.md's digest of rule,
child_id and subject_id), records the next day and checks the events of that day. Prints
`ok - ...` / `not ok - ...` (tests/run.sh).

Environment: DRIFTWATCHD, PGHOST PGPORT PGUSER PGDATABASE (defaults 127.0.0.1 15432 dwtest
dwtest), DW_TOP. Standard library only; PostgreSQL is reached with psql.
"""

import json
import os
import subprocess
import sys
import tempfile

TOP = os.environ.get("DW_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DAEMON = os.environ.get("DRIFTWATCHD") or os.path.join(TOP, "build/san/driftwatchd")
PGHOST = os.environ.get("PGHOST") or "127.0.0.1"
if PGHOST.startswith("/"):
    PGHOST = "127.0.0.1"
PGPORT = os.environ.get("PGPORT") or "15432"
PGUSER = os.environ.get("PGUSER") or "dwtest"
PGDATABASE = os.environ.get("PGDATABASE") or "dwtest"
CASE, STATE = "upg_t", "upg_state"
EPISODE_RULES = ("cin_neglect_duration", "cp_neglect_duration", "repeat_neglect_plan")

N_FAIL = 0


def ok(cond, name, diag=None):
    global N_FAIL
    print(("ok - " if cond else "not ok - ") + name, flush=True)
    if not cond:
        N_FAIL += 1
        for line in str(diag or "").splitlines()[:30]:
            print("#   " + line, flush=True)
    return cond


def psql(args, stdin=None):
    env = dict(os.environ, PGHOST=PGHOST, PGPORT=PGPORT, PGUSER=PGUSER, PGDATABASE=PGDATABASE)
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + args, input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def rows(sql):
    r = psql(["-At", "-F", "\t", "-c", sql])
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return [l.split("\t") for l in r.stdout.splitlines() if l]


def run_once(cfg, day):
    r = subprocess.run([DAEMON, "-c", cfg, "--once", "--as-of", day], capture_output=True,
                       text=True, timeout=300, stdin=subprocess.DEVNULL)
    return r


def main():
    r = psql(["-c", "SET client_min_messages = warning",
              "-c", 'DROP SCHEMA IF EXISTS "%s" CASCADE' % CASE,
              "-c", 'DROP SCHEMA IF EXISTS "%s" CASCADE' % STATE])
    if not ok(r.returncode == 0, "reach PostgreSQL", r.stderr):
        return 1
    r = psql(["-v", "schema=" + CASE, "-f", os.path.join(TOP, "rules/contract.sql"),
              "-f", os.path.join(TOP, "tests/fixtures/boundaries.sql")])
    if not ok(r.returncode == 0, "load the boundaries fixture into " + CASE, r.stderr):
        return 1
    tmp = tempfile.mkdtemp(prefix="dw-upg-", dir=os.environ.get("TEST_TMPDIR"))
    cfg = os.path.join(tmp, "cfg.json")
    with open(cfg, "w") as f:
        json.dump({"database": {"conninfo": "host=%s port=%s dbname=%s user=%s" % (
                       PGHOST, PGPORT, PGDATABASE, PGUSER),
                   "case_schema": CASE, "state_schema": STATE},
                   "addresses": {"fallback": "duty@la.example"}}, f)

    r = run_once(cfg, "2026-11-20")
    if not ok(r.returncode == 0, "--once records 2026-11-20", r.stderr[-2000:]):
        return 1

    # The identity v2 gave these alerts: the current plan as subject.
    rules = ", ".join("'%s'" % x for x in EPISODE_RULES)
    former = rows("""
        UPDATE "%s".alerts
           SET subject_id = payload -> 'facts' ->> 'current_plan_id',
               fingerprint = encode(sha256(convert_to(rule || chr(31) || child_id || chr(31)
                                     || (payload -> 'facts' ->> 'current_plan_id'), 'UTF8')), 'hex')
         WHERE rule IN (%s) AND status = 'firing'
           AND subject_id IS DISTINCT FROM payload -> 'facts' ->> 'current_plan_id'
        RETURNING alert_id, rule, child_id""" % (STATE, rules))
    kids = {(ru, c) for _, ru, c in former}
    ok(len(former) >= 5 and ("cp_neglect_duration", "C-FP-SUBJECT") in kids and
       ("cin_neglect_duration", "C-CIN-GAP-28") in kids,
       "%d alerts whose current plan is not their episode's first are put back under their "
       "v2 identity" % len(former), former)

    # ... and the schema as a daemon finds it right after the migrations from v2: v3 applied
    # after its last evaluation, v14 not yet (state_v14.sql marks the alerts it may rename)
    r = psql(["-c", 'ALTER TABLE "%s".alerts DROP COLUMN legacy_subject' % STATE,
              "-c", 'DELETE FROM "%s".schema_version WHERE version >= 14' % STATE,
              "-c", 'UPDATE "%s".schema_version SET applied_at = clock_timestamp() '
                    'WHERE version = 3' % STATE])
    if not ok(r.returncode == 0, "the state schema put back as the migrations from v2 leave it "
              "before v14", r.stderr):
        return 1

    r = run_once(cfg, "2026-11-21")
    if not ok(r.returncode == 0, "--once records 2026-11-21 after the upgrade", r.stderr[-2000:]):
        return 1
    ids = ", ".join(a for a, _, _ in former) or "NULL"
    events = rows("""SELECT a.rule, a.child_id, e.kind FROM "%s".alert_events e
                     JOIN "%s".alerts a USING (alert_id)
                     WHERE e.as_of = '2026-11-21' AND a.alert_id IN (%s)
                       AND e.kind IN ('firing', 'resolved')""" % (STATE, STATE, ids))
    ok(not events, "none of them is resolved or announced as new the day after", events)
    twice = rows("""SELECT rule, child_id, count(*) FROM "%s".alerts
                    WHERE rule IN (%s) AND status = 'firing'
                    GROUP BY 1, 2 HAVING count(*) > 1""" % (STATE, rules))
    ok(not twice, "each (rule, child) has one firing alert, not the old and a new one", twice)
    renamed = rows("""SELECT alert_id, subject_id,
                             fingerprint = encode(sha256(convert_to(rule || chr(31) || child_id
                                 || chr(31) || subject_id, 'UTF8')), 'hex'),
                             first_fired_on::text, last_seen_on::text
                        FROM "%s".alerts WHERE alert_id IN (%s) ORDER BY alert_id""" % (STATE, ids))
    subjects = {row[0]: row for row in renamed}
    fp = rows("""SELECT alert_id FROM "%s".alerts
                 WHERE rule = 'cp_neglect_duration' AND child_id = 'C-FP-SUBJECT'""" % STATE)
    ok(fp and subjects.get(fp[0][0], [None, None])[1] == "CPP-FP-A",
       "C-FP-SUBJECT's alert (the same alert_id) is now about its episode's first plan",
       renamed)
    ok(renamed and all(row[2] == "t" and row[3] == "2026-11-20" and row[4] == "2026-11-21"
                       for row in renamed),
       "each renamed alert has the fingerprint of its new subject, its first day kept, and is "
       "seen on the new day", renamed)
    legacy = rows('SELECT count(*) FROM "%s".alerts WHERE legacy_subject' % STATE)
    ok(legacy == [["0"]], "no alert is marked for a rename once renamed", legacy)

    # After the upgrade's first evaluation, an alert whose subject changes is another alert
    # (ALERTS.md: born firing the first time its rule holds for its (rule, child_id,
    # subject_id)): a plan entered late that began before the episode's first plan used to take
    # the alert's identity with no notice. Here, the same alerts as if named by that late plan.
    again = rows("""
        UPDATE "%s".alerts
           SET subject_id = payload -> 'facts' ->> 'current_plan_id',
               fingerprint = encode(sha256(convert_to(rule || chr(31) || child_id || chr(31)
                                     || (payload -> 'facts' ->> 'current_plan_id'), 'UTF8')), 'hex')
         WHERE alert_id IN (%s)
        RETURNING alert_id, rule, child_id""" % (STATE, ids))
    r = run_once(cfg, "2026-11-22")
    if not ok(r.returncode == 0 and len(again) == len(former),
              "--once records 2026-11-22, each of them under another subject again",
              r.stderr[-2000:]):
        return 1
    kinds = rows("""SELECT a.alert_id, e.kind FROM "%s".alert_events e
                    JOIN "%s".alerts a USING (alert_id)
                    WHERE e.as_of = '2026-11-22' AND e.kind IN ('firing', 'resolved')
                      AND a.rule IN (%s)""" % (STATE, STATE, rules))
    resolved = {a for a, k in kinds if k == "resolved"}
    fired = [a for a, k in kinds if k == "firing" and a not in set(ids.split(", "))]
    ok(resolved >= set(ids.split(", ")) and len(fired) >= len(former),
       "outside an upgrade, each is resolved under the subject it had and fires under the new "
       "one (%d resolved, %d new)" % (len(resolved), len(fired)), kinds)
    print("# %d failed" % N_FAIL, flush=True)
    return 1 if N_FAIL else 0


if __name__ == "__main__":
    sys.exit(main())
