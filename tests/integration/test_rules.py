#!/usr/bin/python3
"""Integration test of every rule's stage boundaries, from ../shared/spec (RULES.md, ALERTS.md,
CONTRACT.md) and docs/internals.md, independently of the implementation.

Loads rules/contract.sql and tests/fixtures/boundaries.sql into schema rules_t, runs
`$DRIFTWATCHD -c CFG --once --dry-run --as-of DAY` for each evaluation day the fixture needs, and
checks the JSON alert lines. Prints `ok - ...` / `not ok - ...` per assertion (tests/run.sh).

Environment: DRIFTWATCHD (default build/san/driftwatchd), PGHOST PGPORT PGUSER PGDATABASE
(defaults 127.0.0.1 15432 dwtest dwtest), DW_TOP (the source tree).
Standard library only; PostgreSQL is reached with psql and pg_dump.
"""

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: a dry run's lines)
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)
from tap import ok  # noqa: E402

TOP = os.environ.get("DW_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DAEMON = os.environ.get("DRIFTWATCHD") or os.path.join(TOP, "build/san/driftwatchd")
PGHOST = os.environ.get("PGHOST") or "127.0.0.1"
if PGHOST.startswith("/"):
    PGHOST = "127.0.0.1"   # the daemon reaches the test server over TCP
PGPORT = os.environ.get("PGPORT") or "15432"
PGUSER = os.environ.get("PGUSER") or "dwtest"
PGDATABASE = os.environ.get("PGDATABASE") or "dwtest"
SCHEMA = "rules_t"
RUN_TIMEOUT = int(os.environ.get("DW_RUN_TIMEOUT", "180"))

T = "2026-11-21"           # the main evaluation day
LINK = "https://lcs.example.gov.uk/person/{child_id}"
ADDR = {
    "fallback": "duty@la.example",
    "cp_chair": "cp-chairs@la.example",
    "cp_manager": "cp-manager@la.example",
    "head_of_service": "hos@la.example",
    "operators": "it-ops@la.example",
}
SUP = ("W-SUP", "sup@la.example")
SW1 = ("W-SW1", "sw1@la.example")
CHAIR1 = ("W-CHAIR1", "chair1@la.example")

from spec_rules import CHURN, CIN, CP, REP, ROLES, RR, STAGES, WC, WNB  # noqa: E402

ALERT_KEYS = ["rule", "stage", "status", "child_id", "subject_id", "family_id", "fingerprint",
              "as_of", "since", "facts", "recipients", "link", "summary"]

# Every bad-row kind of docs/internals.md that the fixture contains.
BAD_KINDS = [
    "teams.null_key", "teams.duplicate_key",
    "workers.null_key", "workers.duplicate_key", "workers.dangling_supervisor",
    "workers.dangling_team", "workers.self_supervisor",
    "children.null_key", "children.duplicate_key", "children.missing",
    "allocations.null_key", "allocations.null_child_id", "allocations.duplicate_key",
    "allocations.null_worker_id", "allocations.null_start_date", "allocations.end_before_start",
    "allocations.dangling_worker",
    "referrals.null_key", "referrals.null_child_id", "referrals.duplicate_key",
    "referrals.null_referral_date", "referrals.closure_before_referral",
    "cin_plans.null_key", "cin_plans.null_child_id", "cin_plans.duplicate_key",
    "cin_plans.null_start_date", "cin_plans.end_before_start", "cin_plans.null_neglect",
    "cp_plans.null_key", "cp_plans.null_child_id", "cp_plans.duplicate_key",
    "cp_plans.null_start_date", "cp_plans.end_before_start", "cp_plans.null_category",
    "cp_plans.unknown_category", "cp_plans.dangling_chair",
    "appointments.null_key", "appointments.null_child_id", "appointments.duplicate_key",
    "appointments.null_scheduled_for", "appointments.unknown_outcome",
    "strategies.null_key", "strategies.null_child_id", "strategies.duplicate_key",
    "strategies.null_decided_on", "strategies.review_before_decided",
]

# ------------------------------------------------------------------------------------------
# TAP output

def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line, flush=True)


def bail(name, why):
    ok(False, name, why)
    sys.exit(1)


# ------------------------------------------------------------------------------------------
# PostgreSQL

def pg_env():
    env = dict(os.environ)
    env.update(PGHOST=PGHOST, PGPORT=PGPORT, PGUSER=PGUSER, PGDATABASE=PGDATABASE)
    return env


def psql(args, stdin=None):
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + args
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=pg_env(),
                          timeout=120)


def db_checksum():
    """A digest of the whole database: schema and data of every schema."""
    r = subprocess.run(["pg_dump", "--no-sync", "-d", PGDATABASE], capture_output=True,
                       env=pg_env(), timeout=300)
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace")
    # pg_dump >= 15.14 brackets its output with \restrict KEY lines, KEY random per run
    body = b"\n".join(l for l in r.stdout.split(b"\n")
                      if not l.startswith((b"\\restrict ", b"\\unrestrict ")))
    return hashlib.sha256(body).hexdigest(), None


# ------------------------------------------------------------------------------------------
# Running the daemon

def write_config(path, rules=None, timezone=None):
    cfg = {
        "database": {
            "conninfo": "host=%s port=%s dbname=%s user=%s" % (PGHOST, PGPORT, PGDATABASE,
                                                              PGUSER),
            "case_schema": SCHEMA,
        },
        "addresses": dict(ADDR),
        "link_template": LINK,
    }
    if rules:
        cfg["rules"] = rules
    if timezone:
        cfg["timezone"] = timezone
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


class Run:
    def __init__(self, day, cfg_name, rc, stdout, stderr, alerts, bad_lines):
        self.day, self.cfg_name, self.rc = day, cfg_name, rc
        self.stdout, self.stderr = stdout, stderr
        self.alerts, self.bad_lines = alerts, bad_lines
        self.index = {}
        self.dups = []
        for a in alerts:
            key = (a.get("rule"), a.get("child_id"))
            if key in self.index:
                self.dups.append(key)
            self.index.setdefault(key, a)

    def get(self, rule, child):
        return self.index.get((rule, child))


def run_daemon(cfg_path, cfg_name, day):
    cmd = [DAEMON, "-c", cfg_path, "--once", "--dry-run", "--as-of", day]
    try:
        r = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL,
                           timeout=RUN_TIMEOUT)
        rc, out, err = r.returncode, r.stdout.decode(errors="replace"), \
            r.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc = "timeout after %ds" % RUN_TIMEOUT
        out = (e.stdout or b"").decode(errors="replace")
        err = (e.stderr or b"").decode(errors="replace")
    alerts, bad = lib.dry_run_alerts(out)
    return Run(day, cfg_name, rc, out, err, alerts, bad)


# ------------------------------------------------------------------------------------------
# Expectations: (day, cfg, rule, child, stage or None, checks)

EXPECT = []


def expect(day, rule, child, stage, cfg="main", **checks):
    EXPECT.append((day, cfg, rule, child, stage, checks))


def days_between(a, b):
    return (datetime.date.fromisoformat(b) - datetime.date.fromisoformat(a)).days


# --- cin_neglect_duration: 6m (and episodes, overlaps, month ends)
expect(T, CIN, "C-CIN-6M-DAY-BEFORE", None)
expect(T, CIN, "C-CIN-6M-DAY", "6m", subject="CIN-6M-D", since="2026-05-21",
       facts={"months": 6, "plan_start": "2026-05-21", "episode_start": "2026-05-21",
              "plans_in_episode": 1, "current_plan_id": "CIN-6M-D"},
       recipients={"supervisor": SUP})
expect(T, CIN, "C-CIN-NOT-NEGLECT", None)
expect("2026-02-27", CIN, "C-CIN-AUG31", None)
expect("2026-02-28", CIN, "C-CIN-AUG31", "6m", subject="CIN-AUG31", since="2025-08-31",
       facts={"months": 6})
expect("2028-02-28", CIN, "C-CIN-AUG31-LEAP", None)
expect("2028-02-29", CIN, "C-CIN-AUG31-LEAP", "6m", since="2027-08-31", facts={"months": 6})
expect(T, CIN, "C-CIN-ENDED-ON-T", None)
expect(T, CIN, "C-CIN-ENDS-DAY-AFTER", "6m", subject="CIN-ENDS-T1", facts={"months": 22})
# RULES.md: the subject is the episode, named by the plan that started it; the current plan is
# in the facts
expect(T, CIN, "C-CIN-GAP-28", "6m", subject="CIN-G28-A", since="2026-01-01",
       facts={"episode_start": "2026-01-01", "plan_start": "2026-08-01", "plans_in_episode": 2,
              "months": 10, "current_plan_id": "CIN-G28-B"})
expect(T, CIN, "C-CIN-GAP-29", None)
expect(T, CIN, "C-CIN-OVERLAP", "6m", subject="CIN-OV-A", since="2025-01-01",
       facts={"episode_start": "2025-01-01", "plan_start": "2025-06-01", "months": 22,
              "current_plan_id": "CIN-OV-B"})
expect(T, CIN, "C-CIN-GAP-NONNEGLECT", None)
expect(T, CIN, "C-CIN-OVERLAP-NONNEGLECT", "6m", subject="CIN-ONN-A", since="2025-01-01",
       facts={"plan_start": "2025-01-01", "plans_in_episode": 1})
expect(T, CIN, "C-CIN-EPISODE-LATEST-END", "6m", subject="CIN-ELE-A", since="2024-01-01",
       facts={"episode_start": "2024-01-01", "plan_start": "2026-06-20", "plans_in_episode": 3})

# --- cp_neglect_duration: each stage the day before and the day it is reached
expect(T, CP, "C-CP-9M-DAY-BEFORE", None)
expect(T, CP, "C-CP-9M-DAY", "9m", subject="CPP-9M-D", since="2026-02-21",
       facts={"months": 9, "plan_start": "2026-02-21", "episode_start": "2026-02-21",
              "category": "NEG"},
       recipients={"supervisor": SUP})
expect(T, CP, "C-CP-12M-DAY-BEFORE", "9m", facts={"months": 11})
expect(T, CP, "C-CP-12M-DAY", "12m", subject="CPP-12M-D", since="2025-11-21",
       facts={"months": 12}, recipients={"supervisor": SUP, "cp_chair": CHAIR1})
expect(T, CP, "C-CP-15M-DAY-BEFORE", "12m", facts={"months": 14, "strategy": None})
expect(T, CP, "C-CP-15M-DAY", "15m", subject="CPP-15M-D", since="2025-08-21",
       facts={"months": 15, "strategy": None, "plan_start": "2025-08-21",
              "episode_start": "2025-08-21"},
       recipients={"cp_chair": CHAIR1, "cp_manager": (None, ADDR["cp_manager"]),
                   "supervisor": SUP})
expect(T, CP, "C-CP-18M-DAY-BEFORE", "15m", facts={"months": 17})
expect(T, CP, "C-CP-18M-DAY", "18m", subject="CPP-18M-D", since="2025-05-21",
       facts={"months": 18},
       recipients={"head_of_service": (None, ADDR["head_of_service"]), "cp_chair": CHAIR1,
                   "supervisor": SUP})
expect(T, CP, "C-CP-CHAIR-CONFIG", "12m", recipients={"cp_chair": (None, ADDR["cp_chair"])})
expect(T, CP, "C-CP-NO-ALLOC", "15m", recipients={"supervisor": (None, ADDR["fallback"])})
# month ends
expect("2025-12-30", CP, "C-CP-MAR31-9M", None)
expect("2025-12-31", CP, "C-CP-MAR31-9M", "9m", since="2025-03-31", facts={"months": 9})
expect("2026-02-27", CP, "C-CP-MAY31-9M", None)
expect("2026-02-28", CP, "C-CP-MAY31-9M", "9m", since="2025-05-31", facts={"months": 9})
expect("2028-02-28", CP, "C-CP-MAY31-9M-LEAP", None)
expect("2028-02-29", CP, "C-CP-MAY31-9M-LEAP", "9m", since="2027-05-31", facts={"months": 9})
# open or not on T
expect(T, CP, "C-CP-ENDED-ON-T", None)
expect(T, CP, "C-CP-ENDS-DAY-AFTER", "18m", subject="CPP-ENDS-T1")
# merge gap
expect(T, CP, "C-CP-GAP-28", "15m", subject="CPP-G28-A", since="2025-06-01",
       facts={"episode_start": "2025-06-01", "plan_start": "2026-06-29", "plans_in_episode": 2,
              "months": 17, "current_plan_id": "CPP-G28-B"})
expect(T, CP, "C-CP-GAP-29", None)
# overlapping plans, ties
# the subject is the episode's first plan; the chair is the current plan's
expect(T, CP, "C-CP-OVERLAP", "18m", subject="CPP-OV-A", since="2025-01-01",
       facts={"episode_start": "2025-01-01", "plan_start": "2025-09-01", "months": 22,
              "current_plan_id": "CPP-OV-B"},
       recipients={"cp_chair": ("W-CHAIR2", "chair2@la.example")})
expect("2026-02-28", CP, "C-CP-OVERLAP", "12m", subject="CPP-OV-A", facts={"months": 13})
# same start: the current plan is the greatest plan_id, the episode's first the smallest
expect(T, CP, "C-CP-TIE", "9m", subject="CPP-TIE-1", facts={"months": 10,
                                                         "current_plan_id": "CPP-TIE-2"},
       recipients={"supervisor": SUP})
expect(T, CP, "C-CP-EPISODE-LATEST-END", "18m", subject="CPP-ELE-A", since="2024-01-01",
       facts={"episode_start": "2024-01-01", "plan_start": "2026-06-20", "plans_in_episode": 3,
              "months": 34})
expect(T, CP, "C-CP-OVERLAP-NONNEGLECT", "18m", subject="CPP-ONN-A", since="2025-01-01",
       facts={"plan_start": "2025-01-01", "category": "NEG", "plans_in_episode": 1},
       recipients={"cp_chair": CHAIR1})
expect(T, REP, "C-CP-OVERLAP-NONNEGLECT", "12m", subject="CPP-ONN-A",
       facts={"previous_plan_id": "CPP-ONN-P", "gap_days": days_between("2024-06-01",
                                                                        "2025-01-01"),
              "plan_number": 2})
# Issue 12 item 8: C ends 19 days after A ended: one episode with A and B, so no repeat
expect(T, REP, "C-CP-EPISODE-LATEST-END", None)
# strategies
expect(T, CP, "C-STRAT-ACTIVE", "12m",
       facts={"strategy.strategy_id": "S-ACT", "strategy.kind": "plo",
              "strategy.decided_on": "2026-09-01", "strategy.review_by": "2027-01-31",
              "escalation_held": True, "months": 17},
       recipients={"supervisor": SUP, "cp_chair": CHAIR1})
expect(T, CP, "C-STRAT-LAPSED", "15m",
       recipients={"cp_chair": CHAIR1, "cp_manager": (None, ADDR["cp_manager"]),
                   "supervisor": SUP})
expect(T, CP, "C-STRAT-REVIEW-ON-T", "12m",
       facts={"strategy.strategy_id": "S-ROT", "escalation_held": True})
expect(T, CP, "C-STRAT-NO-REVIEW", "12m",
       facts={"strategy.strategy_id": "S-NOR", "strategy.review_by": None,
              "escalation_held": True})
expect(T, CP, "C-STRAT-DECIDED-AFTER", "15m")
expect(T, CP, "C-STRAT-DECIDED-ON-T", "12m", facts={"strategy.strategy_id": "S-DOT"})
expect(T, CP, "C-STRAT-18M", "12m",
       facts={"strategy.strategy_id": "S-18M", "escalation_held": True, "months": 22})
expect(T, CP, "C-STRAT-9M", "9m", facts={"months": 9})
# CONTRACT.md: a strategy is active for an episode when decided within it and not run out
# (review_by, else decided_on + 6 months)
expect(T, CP, "C-STRAT-EARLIER-EPISODE", "15m", subject="CPP-SEE-2",
       facts={"strategy": None, "escalation_held": False, "months": 17})
expect(T, CP, "C-STRAT-UNREVIEWED-LAPSED", "15m",
       facts={"strategy": None, "escalation_held": False,
              "lapsed_strategy.strategy_id": "S-SUL", "lapsed_strategy.kind": "plo",
              "lapsed_strategy.decided_on": "2026-03-10", "lapsed_strategy.review_by": None},
       summary_has=["agreed on 10 Mar 2026", "lapsed on 10 Sep 2026 without a review date"])
expect(T, CP, "C-STRAT-UNREVIEWED-ACTIVE", "12m",
       facts={"strategy.strategy_id": "S-SUA", "strategy.review_by": None,
              "escalation_held": True})
expect(T, CP, "C-STRAT-UNREVIEWED-LAST-DAY", "12m",
       facts={"strategy.strategy_id": "S-SULD", "escalation_held": True})
expect(T, CP, "C-STRAT-UNREVIEWED-DAY-AFTER", "15m", facts={"strategy": None})
expect(T, CP, "C-STRAT-BEFORE-EPISODE", "15m", facts={"strategy": None})
expect(T, CP, "C-STRAT-EPISODE-START", "12m", facts={"strategy.strategy_id": "S-SES"})
expect(T, CP, "C-STRAT-SAME-EPISODE", "12m", subject="CPP-SSE-1",
       facts={"strategy.strategy_id": "S-SSE", "strategy.kind": "care_proceedings",
              "months": 22, "plans_in_episode": 2, "escalation_held": True})
expect(T, CP, "C-STRAT-CONTINUE-PLAN", "12m", facts={"strategy.strategy_id": "S-SCP"})
expect(T, CP, "C-STRAT-ACTIVE", "12m",
       summary_has=["held by a PLO strategy agreed on 1 Sep 2026"])
# Issue 12 item 7: a plan closed in error and reopened the same day is one alert (same
# subject and fingerprint before and after: checked in main()); item 8: and no repeat
expect("2026-07-15", CP, "C-CP-REOPENED-SAME-DAY", "18m", subject="CPP-RSD-A",
       facts={"current_plan_id": "CPP-RSD-A", "plans_in_episode": 1},
       recipients={"cp_chair": CHAIR1})
expect(T, CP, "C-CP-REOPENED-SAME-DAY", "18m", subject="CPP-RSD-A", since="2025-01-01",
       facts={"current_plan_id": "CPP-RSD-B", "plans_in_episode": 2, "months": 22},
       recipients={"cp_chair": ("W-CHAIR2", "chair2@la.example")})
expect(T, REP, "C-CP-REOPENED-SAME-DAY", None)
expect(T, CP, "C-CP-REOPENED-20-DAYS", "18m", subject="CPP-R20-A",
       facts={"current_plan_id": "CPP-R20-B", "plans_in_episode": 2})
expect(T, REP, "C-CP-REOPENED-20-DAYS", None)
# categories: latest, else initial; MUL only when configured
expect(T, CP, "C-CAT-NEG-TO-EMO", None)
expect(T, CP, "C-CAT-EMO-TO-NEG", "15m", facts={"category": "NEG"})
expect(T, CP, "C-CAT-LATEST-NULL", "15m", facts={"category": "NEG"})
expect(T, CP, "C-CAT-MUL", None)
expect(T, CP, "C-CAT-MUL", "15m", cfg="mul", subject="CPP-CAT-MUL", facts={"category": "MUL"})
expect(T, CP, "C-CAT-NEG-TO-EMO", None, cfg="mul")
expect(T, CP, "C-CAT-LATEST-NULL", "15m", cfg="mul")
# data: no children row, duplicate children rows, bad rows next to good ones
expect(T, CP, "C-NO-CHILD-ROW", "12m", subject="CPP-NOROW", family_id=None)
expect(T, CP, "C-BAD-CHILD-DUP", "12m", subject="CPP-CHILDDUP",
       family_id="F-C-BAD-CHILD-DUP")
expect(T, CP, "C-BAD-CP", "12m", subject="CPP-BADCP-GOOD", since="2025-11-21",
       facts={"plans_in_episode": 1, "episode_start": "2025-11-21", "months": 12},
       recipients={"cp_chair": (None, ADDR["cp_chair"])})
expect(T, CP, "C-BAD-STRAT", "15m", facts={"strategy": None})
# the current plan changes within the episode: the subject (the episode's first plan) stays
expect("2025-12-31", CP, "C-FP-SUBJECT", "18m", subject="CPP-FP-A", since="2024-06-01",
       facts={"current_plan_id": "CPP-FP-A"})
expect(T, CP, "C-FP-SUBJECT", "18m", subject="CPP-FP-A", since="2024-06-01",
       facts={"plan_start": "2026-01-10", "episode_start": "2024-06-01", "plans_in_episode": 2,
              "current_plan_id": "CPP-FP-B"})
expect(T, REP, "C-FP-SUBJECT", None)

# --- repeat_neglect_plan
expect(T, REP, "C-REP-ANY", "any", subject="CPP-RA-2", since="2025-06-01",
       facts={"plan_start": "2025-06-01", "episode_start": "2025-06-01",
              "previous_plan_id": "CPP-RA-1",
              "previous_plan_start": "2021-01-01", "previous_plan_end": "2023-01-01",
              "gap_days": days_between("2023-01-01", "2025-06-01"), "plan_number": 2},
       recipients={"cp_chair": CHAIR1, "supervisor": SUP})
expect(T, REP, "C-REP-24M-EDGE", "24m", subject="CPP-R24E-2",
       facts={"previous_plan_end": "2024-03-10", "gap_days": days_between("2024-03-10",
                                                                          "2026-03-10")})
expect(T, REP, "C-REP-24M-PAST", "any", subject="CPP-R24P-2")
expect(T, REP, "C-REP-12M-EDGE", "12m", subject="CPP-R12E-2", facts={"gap_days": 365})
expect(T, REP, "C-REP-12M-PAST", "24m", subject="CPP-R12P-2", facts={"gap_days": 366})
expect("2028-02-28", REP, "C-REP-LEAP", None)
expect("2028-02-29", REP, "C-REP-LEAP", "24m", subject="CPP-RL-2",
       facts={"gap_days": 366, "previous_plan_id": "CPP-RL-1"})
expect("2028-02-28", REP, "C-REP-LEAP-12M", "12m", subject="CPP-RL12-2", facts={"gap_days": 365})
expect("2028-02-29", REP, "C-REP-LEAP-12M", "12m", subject="CPP-RL12-2")
expect(T, REP, "C-REP-PREV-NOT-NEGLECT", None)
expect(T, REP, "C-REP-CUR-NOT-NEGLECT", None)
expect(T, REP, "C-REP-PREV-OVERLAP", None)
# ended on the day the next began: one episode (gap 0 <= merge_gap_days), no repeat
expect(T, REP, "C-REP-PREV-ENDS-ON-START", None)
expect(T, REP, "C-REP-TWO-PREV", "12m", subject="CPP-R2-3",
       facts={"previous_plan_id": "CPP-R2-2", "previous_plan_end": "2025-01-15",
              "plan_number": 3})
expect(T, REP, "C-REP-PREV-LATEST-EMO", None)
expect(T, REP, "C-REP-PREV-MIXED", "any", subject="CPP-RPM-3",
       facts={"previous_plan_id": "CPP-RPM-1", "previous_plan_end": "2022-01-01",
              "plan_number": 3})
expect(T, REP, "C-DUP-IDENTICAL-CP", "24m", subject="CPP-DUPI-2",
       facts={"previous_plan_id": "CPP-DUPI-1", "plan_number": 2})
# 28 days: one episode, no repeat; 29 days: a new episode, a repeat within 12 months
expect(T, REP, "C-CP-GAP-28", None)
expect(T, REP, "C-CP-GAP-29", "12m", subject="CPP-G29-B", since="2026-06-30",
       facts={"previous_plan_id": "CPP-G29-A", "gap_days": 29, "plan_number": 2,
              "episode_start": "2026-06-30"})
expect(T, REP, "C-BAD-CP", None)

# --- was_not_brought (window on T: 2026-05-22 .. 2026-11-21 local)
expect(T, WNB, "C-WNB-ONE-NOT-VULNERABLE", None)
expect(T, WNB, "C-WNB-INFANT-LAST-DAY", "vulnerable", subject=None, since="2026-10-01",
       facts={"count": 1, "under_one": True})
expect(T, WNB, "C-WNB-INFANT-FIRST-BIRTHDAY", None)
expect(T, WNB, "C-WNB-VIA-CP", "vulnerable", facts={"count": 1, "on_cp_plan": True})
expect(T, WNB, "C-WNB-VIA-CP-PHY", "vulnerable", facts={"count": 1, "on_cp_plan": True})
expect(T, WNB, "C-WNB-CP-ENDED-ON-T", None)
expect(T, WNB, "C-WNB-CP-STARTS-ON-T", "vulnerable", facts={"count": 1, "on_cp_plan": True})
expect(T, WNB, "C-WNB-DISABLED", "vulnerable", subject=None, since="2026-08-01",
       facts={"count": 1, "disability": True, "under_one": False, "on_cp_plan": False,
              "window_start": "2026-05-22", "latest": "2026-08-01",
              "appointments[].appointment_id": ["AP-DIS-1"],
              "appointments[].service": ["paediatrics"],
              "appointments[].date": ["2026-08-01"]},
       recipients={"supervisor": SUP, "allocated_worker": SW1})
expect(T, WNB, "C-WNB-REPEATED", "repeated", since="2026-06-10",
       facts={"count": 2, "latest": "2026-09-10",
              "appointments[].appointment_id": ["AP-REP-1", "AP-REP-2"]},
       recipients={"supervisor": SUP, "allocated_worker": SW1})
expect(T, WNB, "C-WNB-OTHER-OUTCOMES", "vulnerable", facts={"count": 1})
expect(T, WNB, "C-WNB-EDGE-EXCLUDED", "vulnerable", since="2026-08-01",
       facts={"count": 1, "window_start": "2026-05-22",
              "appointments[].appointment_id": ["AP-EX-2"]})
expect(T, WNB, "C-WNB-EDGE-INCLUDED", "repeated", since="2026-05-22",
       facts={"count": 2, "appointments[].appointment_id": ["AP-IN-1", "AP-IN-2"]})
expect(T, WNB, "C-WNB-LATE-EVENING-IN", "repeated", since="2026-05-22",
       facts={"count": 2, "appointments[].date": ["2026-05-22", "2026-08-01"]})
expect(T, WNB, "C-WNB-LATE-EVENING-OUT", "vulnerable", since="2026-08-01", facts={"count": 1})
expect("2026-07-15", WNB, "C-WNB-SUMMER-UPPER-OUT", "vulnerable",
       facts={"count": 1, "latest": "2026-07-01", "window_start": "2026-01-16"})
expect("2026-07-15", WNB, "C-WNB-SUMMER-UPPER-IN", "repeated",
       facts={"count": 2, "latest": "2026-07-15",
              "appointments[].date": ["2026-07-01", "2026-07-15"]})
expect(T, WNB, "C-WNB-NO-CHILD-ROW", "repeated", family_id=None,
       facts={"count": 2, "disability": None})
expect(T, WNB, "C-WNB-NO-CHILD-ROW-ONE", None)
expect(T, WNB, "C-WNB-DUP-IDENTICAL", "vulnerable", facts={"count": 1})
# Issue 12 item 9: rows of one child with the same service and scheduled_for are one appointment
expect(T, WNB, "C-WNB-FEED-REPEAT", None)
expect(T, WNB, "C-WNB-FEED-REPEAT-VULN", "vulnerable",
       facts={"count": 1, "appointments[].appointment_id": ["AP-FRV-1"]})
expect(T, WNB, "C-WNB-SAME-TIME-OTHER-SERVICE", "repeated", facts={"count": 2})
expect(T, WNB, "C-BAD-APPT", "vulnerable", facts={"count": 1,
                                                  "appointments[].appointment_id": ["AP-BAD-GOOD"]})
expect(T, WNB, "C-BAD-ALLOC", "vulnerable", recipients={"allocated_worker": SW1,
                                                        "supervisor": SUP})
# recipients
expect(T, WNB, "C-RCP-TEAM-MANAGER", "vulnerable",
       recipients={"supervisor": (None, "mgr1@la.example"),
                   "allocated_worker": ("W-SW2", "sw2@la.example")})
expect(T, WNB, "C-RCP-FALLBACK", "vulnerable",
       recipients={"supervisor": (None, ADDR["fallback"]),
                   "allocated_worker": ("W-SW3", "sw3@la.example")})
expect(T, WNB, "C-RCP-DANGLING-SUP", "vulnerable",
       recipients={"supervisor": (None, {"mgr1@la.example", ADDR["fallback"]}),
                   "allocated_worker": ("W-DANGSUP", "dangsup@la.example")})
# a worker named as their own supervisor has none: the team manager, and it is counted
expect(T, WNB, "C-RCP-SELF-SUP", "vulnerable",
       recipients={"supervisor": (None, "mgr1@la.example"),
                   "allocated_worker": ("W-SELFSUP", "selfsup@la.example")})
expect(T, WNB, "C-WNB-NO-ALLOC", "vulnerable", all_emails=ADDR["fallback"])
expect(T, WNB, "C-RCP-ENDED-ALLOC", "vulnerable", all_emails=ADDR["fallback"])


def count_is(n):
    """A fact that is a count, or a list of that many items."""
    def check(v):
        return v == n or (isinstance(v, list) and len(v) == n)
    check.__doc__ = "a count of %d (or a list of %d)" % (n, n)
    return check


def has_plan(plan_id):
    def check(v):
        return isinstance(v, list) and any(
            (isinstance(p, dict) and p.get("plan_id") == plan_id) or p == plan_id for p in v)
    check.__doc__ = "a list naming %s" % plan_id
    return check


def plans_exactly(*plan_ids):
    def check(v):
        return isinstance(v, list) and sorted(
            p.get("plan_id") if isinstance(p, dict) else p for p in v) == sorted(plan_ids)
    check.__doc__ = "a list of exactly %s" % ", ".join(plan_ids) if plan_ids else "an empty list"
    return check


# --- worker_change (handover window on T: 2026-11-08 .. 2026-11-21)
expect(T, WC, "C-WC-DAY-1", "handover", subject="A-WC1-2", since="2026-11-21",
       facts={"allocation_start": "2026-11-21", "previous_worker_id": "W-A",
              "new_worker_id": "W-B"},
       recipients={"allocated_worker": ("W-B", "wb@la.example"), "supervisor": SUP})
expect(T, WC, "C-WC-DAY-14", "handover", subject="A-WC14-2", since="2026-11-08",
       facts={"previous_worker_id": "W-A", "new_worker_id": "W-B"})
expect(T, WC, "C-WC-DAY-15", None)
expect(T, WC, "C-WC-SAME-WORKER", None)
expect(T, WC, "C-WC-NO-PLAN", None)
expect(T, WC, "C-WC-NONNEGLECT-PLAN", None)
expect(T, WC, "C-WC-FIRST-ALLOC", None)
expect(T, WC, "C-WC-OVERLAP", "handover", subject="A-WCO-2",
       facts={"previous_worker_id": "W-A", "new_worker_id": "W-B"},
       recipients={"allocated_worker": ("W-B", "wb@la.example")})
expect(T, WC, "C-WC-HISTORY", "handover", subject="A-WCH-3", since="2026-11-15",
       facts={"previous_worker_id": "W-A", "new_worker_id": "W-B",
              "distinct_workers_12m": 3, "first_neglect_plan": "2023-02-01",
              "referrals_24m": count_is(2), "missed_appointments_12m": count_is(2),
              # earlier plans: not the open one (issue 12 item 10)
              "earlier_neglect_cp_plans": plans_exactly("CPP-WCH-1"),
              "earlier_neglect_cin_plans": plans_exactly("CIN-WCH-1"),
              "new_worker_name": "Worker B", "previous_worker_name": "Worker A"},
       summary_has=["Worker B", "Worker A"])
expect(T, WC, "C-BAD-ALLOC", None)

# --- worker_churn (allocations open on a day in 2025-11-22 .. 2026-11-21)
expect(T, CHURN, "C-CHURN-3", "churn", subject=None, since="2026-08-01",
       facts={"distinct_workers": 3, "workers": ["W-A", "W-B", "W-C"],
              "worker_names": ["Worker A", "Worker B", "Worker C"],
              "window_start": "2025-11-22"},
       recipients={"supervisor": SUP}, summary_has=["Worker A", "Worker C"])
expect(T, CHURN, "C-CHURN-2", None)
expect(T, CHURN, "C-CHURN-EDGE-OUT", None)
expect(T, CHURN, "C-CHURN-EDGE-IN", "churn", since="2026-06-01",
       facts={"distinct_workers": 3, "workers": ["W-A", "W-B", "W-C"]})
expect(T, CHURN, "C-CHURN-SAME-WORKER", None)
expect(T, CHURN, "C-CHURN-NO-PLAN", None)
expect(T, CHURN, "C-CHURN-FUTURE", None)
expect(T, CHURN, "C-CHURN-NONNEGLECT", None)
expect(T, CHURN, "C-CHURN-ZERO-LENGTH", None)
expect(T, CHURN, "C-WC-HISTORY", "churn", facts={"distinct_workers": 3})
expect(T, CHURN, "C-BAD-ALLOC", None)

# --- re_referral (RULES.md): the current referral (latest by T, ties greatest referral_id) while
# open on T; 12m: an earlier one on or after its date - 12 months, neglect on either; cycle: it
# and 2 earlier ones after its date - 24 months, neglect on any of them
expect(T, RR, "C-RR-12M-EDGE-IN", "12m", subject="R-12I-2", since="2026-03-03",
       facts={"referral_date": "2026-03-03", "primary_need": "N4",
              "previous_referral_date": "2025-03-03", "previous_closure_date": "2025-05-01",
              "previous_closure_reason": "RC8", "referrals_24m": 2},
       recipients={"supervisor": SUP})
expect(T, RR, "C-RR-12M-EDGE-OUT", None)
expect(T, RR, "C-RR-LEAP-IN", None)                     # its referrals come after T
expect("2028-02-29", RR, "C-RR-LEAP-IN", "12m", subject="R-LI-2",
       facts={"previous_referral_date": "2027-02-28"})
expect("2028-02-29", RR, "C-RR-LEAP-OUT", None)
expect(T, RR, "C-RR-FEB28-IN", "12m", subject="R-F28I-2",
       facts={"primary_need": "N1", "previous_referral_date": "2024-02-28"})
expect(T, RR, "C-RR-FEB28-OUT", None)
expect(T, RR, "C-RR-MONTHEND-IN", "12m", subject="R-MEI-2",
       facts={"previous_referral_date": "2025-03-31", "previous_closure_reason": "RC7"})
expect(T, RR, "C-RR-MONTHEND-OUT", None)
expect(T, RR, "C-RR-CYCLE", "cycle", subject="R-CY-3", since="2026-03-03",
       facts={"referral_date": "2026-03-03", "primary_need": "N4",
              "previous_referral_id": "R-CY-2", "previous_referral_date": "2025-09-01",
              "previous_closure_date": "2025-10-02", "previous_closure_reason": "RC8",
              "referrals_24m": 3},
       recipients={"supervisor": SUP, "head_of_service": (None, ADDR["head_of_service"])},
       summary="Child C-RR-CYCLE was referred again on 3 Mar 2026, 5 months after a referral "
               "closed on 2 Oct 2025 with no further action; the 3rd referral in 2 years.")
expect(T, RR, "C-RR-CYCLE-EDGE-IN", "cycle", subject="R-CEI-3", facts={"referrals_24m": 3})
# the third referral in exactly 24 months is no cycle; the second within 12 months is a 12m
expect(T, RR, "C-RR-CYCLE-EDGE-OUT", "12m", subject="R-CEO-3",
       facts={"referrals_24m": 2, "previous_referral_id": "R-CEO-2",
              "previous_closure_reason": "RC9"})
expect(T, RR, "C-RR-CYCLE-MONTHEND-IN", "cycle", subject="R-CMI-3")
expect(T, RR, "C-RR-CYCLE-MONTHEND-OUT", None)
expect("2028-02-29", RR, "C-RR-CYCLE-LEAP-IN", "cycle", subject="R-CLI-3")
expect("2028-02-28", RR, "C-RR-CYCLE-LEAP-IN", None)    # then the current one is closed
expect("2028-02-29", RR, "C-RR-CYCLE-LEAP-OUT", None)
expect(T, RR, "C-RR-CYCLE-NO-NEGLECT", None)
expect(T, RR, "C-RR-CYCLE-NEGLECT-OUTSIDE", None)
expect(T, RR, "C-RR-TIE", "12m", subject="R-TIE-B",
       facts={"previous_referral_id": "R-TIE-0", "referrals_24m": 2})
expect(T, RR, "C-RR-TIE-CLOSED", None)
expect(T, RR, "C-RR-CLOSED-ON-T", None)
expect(T, RR, "C-RR-CLOSES-DAY-AFTER", "12m", subject="R-CDA-2")
expect(T, RR, "C-RR-NEGLECT-EARLIER", "12m", subject="R-NE-2")
expect(T, RR, "C-RR-NO-NEGLECT", None)
expect(T, RR, "C-RR-N1-CURRENT", "12m", subject="R-N1C-2", facts={"primary_need": "N1"})
expect(T, RR, "C-RR-N1-EARLIER", "12m", subject="R-N1E-2")
expect(T, RR, "C-RR-NULL-NEGLECT", None)
expect(T, RR, "C-RR-NULL-NEGLECT-N1", "12m", subject="R-NU1-2")
expect(T, RR, "C-RR-BAD-EARLIER", None)
expect(T, RR, "C-RR-BAD-CURRENT", "12m", subject="R-BC-2",
       facts={"previous_referral_id": "R-BC-1"})
expect(T, RR, "C-RR-FUTURE", "12m", subject="R-FU-2", facts={"referral_date": "2026-06-01"})
expect(T, RR, "C-RR-PREV-OPEN", "12m", subject="R-PO-2",
       facts={"previous_referral_id": "R-PO-1", "previous_closure_date": None},
       summary_has=["while a referral of 1 May 2026 was still open"])
expect(T, RR, "C-RR-ONE-REFERRAL", None)
expect(T, RR, "C-WC-HISTORY", None)                      # 2025-06-01 is 15 months before
expect(T, RR, "C-RR-CYCLE", None, cfg="mul")             # switched off there

# --- configured options and thresholds (config "opts", see OPTS_RULES): every threshold and
# recipient list is a default that configuration can change
OPTS_RULES = {
    "cin_neglect_duration": {"enabled": False},
    "cp_neglect_duration": {"merge_gap_days": 29, "stages": {"15m": {"months": 16}},
                            "strategy_months": 3,
                            "strategy_kinds": ["plo", "care_proceedings", "step_down"]},
    "repeat_neglect_plan": {"merge_gap_days": 29, "stages": {"12m": {"months": 13}}},
    "re_referral": {"window_months": 13, "cycle_months": 25,
                    "stages": {"cycle": {"recipients": ["head_of_service"]}}},
    "was_not_brought": {"stages": {"vulnerable": {"count": 1, "recipients": ["allocated_worker"]},
                                   "repeated": {"count": 3}}},
    "worker_change": {"window_days": 15},
    "worker_churn": {"stages": {"churn": {"workers": 2}}},
}
OPTS_TZ = "UTC"
CFG_ROLES = {"opts": {(WNB, "vulnerable"): {"allocated_worker"},
                     (RR, "cycle"): {"head_of_service"}}}
expect(T, CIN, "C-CIN-6M-DAY", None, cfg="opts")          # rule disabled
expect(T, CP, "C-CP-GAP-29", "15m", cfg="opts", subject="CPP-G29-A", since="2025-06-01",
       facts={"plans_in_episode": 2, "current_plan_id": "CPP-G29-B"})  # a 29-day gap now joins
expect(T, CP, "C-CP-15M-DAY", "12m", cfg="opts")          # 15m now at 16 months
expect(T, CP, "C-CP-18M-DAY-BEFORE", "15m", cfg="opts")   # 17 months
expect(T, REP, "C-REP-12M-PAST", "12m", cfg="opts")       # 366 days: within 13 months
expect(T, WNB, "C-WNB-REPEATED", None, cfg="opts")        # 2 missed: not vulnerable, not 3
expect(T, WNB, "C-WNB-EDGE-INCLUDED", "vulnerable", cfg="opts", facts={"count": 2},
       recipients={"allocated_worker": SW1})
# timezone UTC: 2026-05-21 23:30 UTC is 21 May, outside the window
expect(T, WNB, "C-WNB-LATE-EVENING-IN", "vulnerable", cfg="opts", since="2026-08-01",
       facts={"count": 1})
expect(T, WC, "C-WC-DAY-15", "handover", cfg="opts", subject="A-WC15-2")
expect(T, CHURN, "C-CHURN-2", "churn", cfg="opts", facts={"distinct_workers": 2})
expect(T, CHURN, "C-CHURN-EDGE-OUT", "churn", cfg="opts", facts={"distinct_workers": 2,
                                                                  "workers": ["W-B", "W-C"]})
expect(T, REP, "C-CP-GAP-29", None, cfg="opts")           # 29 days: one episode there too
# strategy_months 3: S-SUA (1 Jun 2026, no review date) ran out on 1 Sep 2026
expect(T, CP, "C-STRAT-UNREVIEWED-ACTIVE", "15m", cfg="opts",
       facts={"strategy": None, "lapsed_strategy.strategy_id": "S-SUA"},
       summary_has=["lapsed on 1 Sep 2026 without a review date"])
# strategy_kinds leaves out "continue_plan": it holds nothing
expect(T, CP, "C-STRAT-CONTINUE-PLAN", "15m", cfg="opts", facts={"strategy": None})
expect(T, CP, "C-STRAT-SAME-EPISODE", "12m", cfg="opts",
       facts={"strategy.strategy_id": "S-SSE"})
# window_months 13: 2025-03-02 is within 13 months of 2026-03-03
expect(T, RR, "C-RR-12M-EDGE-OUT", "12m", cfg="opts", subject="R-12O-2")
# cycle_months 25: 2024-06-10 is within 25 months of 2026-06-10
expect(T, RR, "C-RR-CYCLE-EDGE-OUT", "cycle", cfg="opts", subject="R-CEO-3",
       facts={"referrals_24m": 3},
       recipients={"head_of_service": (None, ADDR["head_of_service"])})

# ------------------------------------------------------------------------------------------
# Checking

MISSING = object()


def fact(facts, path):
    """facts value at a dotted path; "list[].key" maps over a list."""
    if "[]." in path:
        head, key = path.split("[].", 1)
        lst = fact(facts, head)
        if not isinstance(lst, list):
            return MISSING
        return [x.get(key, MISSING) if isinstance(x, dict) else MISSING for x in lst]
    cur = facts
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return MISSING
        cur = cur[part]
    return cur


def matches(want, got):
    if callable(want):
        return got is not MISSING and want(got)
    if isinstance(want, set):
        return got in want
    if isinstance(want, bool) or want is None:
        return got is want
    if isinstance(want, int):
        return not isinstance(got, bool) and got == want
    return got == want


def show(v):
    if v is MISSING:
        return "(missing)"
    if callable(v):
        return v.__doc__ or "a predicate"
    if isinstance(v, set):
        return "one of " + ", ".join(sorted(v))
    return json.dumps(v)


def check_expectation(runs, day, cfg, rule, child, stage, checks):
    where = "%s %s on %s%s" % (rule, child, day, "" if cfg == "main" else " (%s config)" % cfg)
    run = runs.get((day, cfg))
    if run is None:
        ok(False, where + ": no run", "the dry run for this day did not happen")
        return
    a = run.get(rule, child)
    if stage is None:
        ok(a is None, where + ": no alert",
           a and "got stage %s: %s" % (a.get("stage"), json.dumps(a)[:600]))
        return
    if not ok(a is not None and a.get("stage") == stage, where + ": stage " + stage,
              "no alert" if a is None else "got stage %s" % a.get("stage")):
        if a is None:
            return
    if "subject" in checks:
        want = checks["subject"]
        ok(a.get("subject_id") == want, "%s: subject %s" % (where, want),
           "got %s" % show(a.get("subject_id", MISSING)))
    if "since" in checks:
        ok(a.get("since") == checks["since"], "%s: since %s" % (where, checks["since"]),
           "got %s" % show(a.get("since", MISSING)))
    if "family_id" in checks:
        want = checks["family_id"]
        ok(a.get("family_id", MISSING) == want, "%s: family_id %s" % (where, show(want)),
           "got %s" % show(a.get("family_id", MISSING)))
    if "summary" in checks:
        ok(a.get("summary") == checks["summary"], "%s: summary is %s" % (where,
                                                                         json.dumps(checks["summary"])),
           "got %s" % json.dumps(a.get("summary")))
    for words in checks.get("summary_has", []):
        ok(words in str(a.get("summary")), "%s: summary says %s" % (where, json.dumps(words)),
           "got %s" % json.dumps(a.get("summary")))
    facts = a.get("facts")
    for path, want in checks.get("facts", {}).items():
        got = fact(facts, path) if isinstance(facts, dict) else MISSING
        ok(matches(want, got), "%s: facts.%s is %s" % (where, path, show(want)),
           "got %s" % show(got))
    recips = a.get("recipients")
    if not isinstance(recips, list):
        recips = []
    roles_want = checks.get("roles") or CFG_ROLES.get(cfg, {}).get((rule, stage)) or \
        ROLES.get((rule, stage))
    if roles_want and "all_emails" not in checks:
        got_roles = {r.get("role") for r in recips if isinstance(r, dict)}
        ok(got_roles == roles_want,
           "%s: recipients are the roles %s" % (where, ", ".join(sorted(roles_want))),
           "got roles %s" % sorted(str(r) for r in got_roles))
    for role, (wid, email) in checks.get("recipients", {}).items():
        rs = [r for r in recips if isinstance(r, dict) and r.get("role") == role]
        desc = "%s: %s is %s%s" % (where, role, show(email) if isinstance(email, set) else email,
                                   " (%s)" % wid if wid else "")
        good = len(rs) == 1 and matches(email, rs[0].get("email")) and \
            (wid is None or rs[0].get("worker_id") == wid)
        ok(good, desc, "got %s" % json.dumps(rs))
    if "all_emails" in checks:
        want = checks["all_emails"]
        ok(len(recips) > 0 and all(isinstance(r, dict) and r.get("email") == want
                                   for r in recips),
           "%s: every recipient is %s" % (where, want), "got %s" % json.dumps(recips))


def check_run_shape(run):
    """Checks every alert of one run against ALERTS.md and RULES.md."""
    tag = "dry run %s%s" % (run.day, "" if run.cfg_name == "main" else " (%s config)" %
                            run.cfg_name)
    ok(run.rc == 0, tag + ": exits 0", "exit status %s; stderr:\n%s" % (run.rc,
                                                                      run.stderr[-3000:]))
    san = re.findall(r"(ERROR: (?:Address|Leak|Undefined)Sanitizer[^\n]*|runtime error:[^\n]*)",
                     run.stderr)
    ok(not san, tag + ": no sanitizer reports", "\n".join(san[:10]))
    ok(not run.bad_lines, tag + ": every stdout line is one JSON object",
       "\n".join(l[:200] for l in run.bad_lines[:5]))
    ok(len(run.alerts) > 0, tag + ": some alerts hold", "stdout was empty")
    problems = []
    for a in run.alerts:
        cid = a.get("child_id")
        who = "%s/%s" % (a.get("rule"), cid)
        missing = [k for k in ALERT_KEYS if k not in a]
        if missing:
            problems.append("%s: missing keys %s" % (who, missing))
        if a.get("rule") not in STAGES:
            problems.append("%s: unknown rule" % who)
        elif a.get("stage") not in STAGES[a["rule"]]:
            problems.append("%s: unknown stage %s" % (who, a.get("stage")))
        if a.get("status") != "firing":
            problems.append("%s: status %s, want firing" % (who, a.get("status")))
        if a.get("as_of") != run.day:
            problems.append("%s: as_of %s, want %s" % (who, a.get("as_of"), run.day))
        if not isinstance(a.get("facts"), dict):
            problems.append("%s: facts is not an object" % who)
        since = a.get("since")
        if not (isinstance(since, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", since)
                and since <= run.day):
            problems.append("%s: since %r is not a date on or before as_of" % (who, since))
    ok(not problems, tag + ": every alert has the fields of ALERTS.md", "\n".join(problems[:20]))

    ok(not run.dups, tag + ": at most one alert per rule and child",
       "duplicates: %s" % run.dups[:10])

    fps = {}
    bad_fp = []
    for a in run.alerts:
        fp = a.get("fingerprint")
        if not (isinstance(fp, str) and re.fullmatch(r"[0-9a-f]{16,}", fp)):
            bad_fp.append("%s/%s: %r" % (a.get("rule"), a.get("child_id"), fp))
        fps.setdefault(fp, []).append((a.get("rule"), a.get("child_id"), a.get("subject_id")))
    ok(not bad_fp, tag + ": fingerprints are hex digests", "\n".join(bad_fp[:10]))
    clash = {k: v for k, v in fps.items() if len(v) > 1}
    ok(not clash, tag + ": fingerprints differ per (rule, child, subject)",
       "\n".join("%s: %s" % (k, v) for k, v in list(clash.items())[:10]))

    empty, no_email = [], []
    for a in run.alerts:
        rs = a.get("recipients")
        if not isinstance(rs, list) or not rs:
            empty.append("%s/%s" % (a.get("rule"), a.get("child_id")))
            continue
        for r in rs:
            if not (isinstance(r, dict) and r.get("role") and r.get("email")):
                no_email.append("%s/%s: %s" % (a.get("rule"), a.get("child_id"), json.dumps(r)))
    ok(not empty, tag + ": no alert has an empty recipient list", ", ".join(empty[:20]))
    ok(not no_email, tag + ": every recipient has a role and an address",
       "\n".join(no_email[:10]))

    bad_link = ["%s/%s: %r" % (a.get("rule"), a.get("child_id"), a.get("link"))
                for a in run.alerts
                if a.get("link") != LINK.replace("{child_id}", str(a.get("child_id")))]
    ok(not bad_link, tag + ": link is built from link_template", "\n".join(bad_link[:10]))

    bad_sum = []
    for a in run.alerts:
        s = a.get("summary")
        cid = str(a.get("child_id"))
        if not (isinstance(s, str) and len(s) > len(cid) + 10 and cid in s
                and s.rstrip().endswith(".") and "(null)" not in s and "{" not in s):
            bad_sum.append("%s/%s: %r" % (a.get("rule"), cid, s))
    ok(not bad_sum, tag + ": summary is a sentence naming the child", "\n".join(bad_sum[:10]))

    # the evaluation summary on standard error: checked for presence, not wording
    err = run.stderr
    rules_alerting = sorted({a.get("rule") for a in run.alerts if a.get("rule") in STAGES})
    missing = [r for r in rules_alerting if r not in err]
    ok(not missing, tag + ": stderr summary gives alerts by rule",
       "rules not mentioned: %s\nstderr:\n%s" % (missing, err[-2000:]))
    stage_missing = []
    for r in rules_alerting:
        for st in sorted({a.get("stage") for a in run.alerts if a.get("rule") == r}):
            if not re.search(re.escape(r) + r"\W[^\n]*\b" + re.escape(st) + r"\b", err) and \
                    not re.search(r"\b" + re.escape(st) + r"\b[^\n]*\b" + re.escape(r), err):
                stage_missing.append("%s %s" % (r, st))
    ok(not stage_missing, tag + ": stderr summary gives alerts by stage",
       "not on a line with their rule: %s" % stage_missing)
    ok(re.search(r"children", err, re.I) is not None, tag + ": stderr summary gives children evaluated",
       err[-1500:])
    ok(re.search(r"\d+(\.\d+)?\s*(ms|s|sec|secs|seconds)\b", err) is not None,
       tag + ": stderr summary gives the time taken", err[-1500:])


def kind_reported(err, kind):
    """The relation and the kind named on one line (relation.kind, or a line per relation)."""
    rel, k = kind.split(".", 1)
    rel_re = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(rel) + r"(?![A-Za-z0-9_])")
    kind_re = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(k) + r"(?![A-Za-z0-9_])")
    return any(rel_re.search(line) and kind_re.search(line) for line in err.splitlines())


def main():
    if not (os.path.isfile(DAEMON) and os.access(DAEMON, os.X_OK)):
        bail("driftwatchd is built", "%s is not an executable (set DRIFTWATCHD)" % DAEMON)

    r = psql(["-c", 'DROP SCHEMA IF EXISTS "%s" CASCADE' % SCHEMA])
    if r.returncode != 0:
        bail("reach PostgreSQL", r.stderr)
    r = psql(["-v", "schema=" + SCHEMA, "-f", os.path.join(TOP, "rules/contract.sql"),
              "-f", os.path.join(TOP, "tests/fixtures/boundaries.sql")])
    if not ok(r.returncode == 0, "load contract.sql and the boundaries fixture into " + SCHEMA,
              r.stderr):
        sys.exit(1)

    tmp = tempfile.mkdtemp(prefix="dw-rules-", dir=os.environ.get("TEST_TMPDIR"))
    cfgs = {name: os.path.join(tmp, name + ".json") for name in ("main", "mul", "opts")}
    write_config(cfgs["main"])
    write_config(cfgs["mul"], rules={"cp_neglect_duration": {"neglect_categories":
                                                             ["NEG", "MUL"]},
                                     "re_referral": {"enabled": False}})
    write_config(cfgs["opts"], rules=OPTS_RULES, timezone=OPTS_TZ)

    before, why = db_checksum()
    if before is None:
        bail("checksum the database before the dry runs", why)

    wanted = sorted({(d, c) for d, c, *_ in EXPECT})
    runs = {}
    for day, cfg in wanted:
        run = run_daemon(cfgs[cfg], cfg, day)
        runs[(day, cfg)] = run
        diag("%s %s: exit %s, %d alerts" % (day, cfg, run.rc, len(run.alerts)))
        check_run_shape(run)

    after, why = db_checksum()
    ok(after is not None and after == before,
       "--dry-run changes nothing in the database (pg_dump digest equal before and after)",
       why or "digest before %s, after %s" % (before, after))

    main_run = runs[(T, "main")]
    missing = [k for k in BAD_KINDS if not kind_reported(main_run.stderr, k)]
    if missing:
        diag("stderr of the dry run on %s:\n%s" % (T, main_run.stderr[-3000:]))
    for k in BAD_KINDS:
        ok(k not in missing, "dry run %s: stderr reports bad rows of kind %s" % (T, k))

    for day, cfg, rule, child, stage, checks in EXPECT:
        check_expectation(runs, day, cfg, rule, child, stage, checks)

    # fingerprints across days: stable for one (rule, child, subject), different otherwise
    seen = {}
    unstable = []
    for (day, cfg), run in sorted(runs.items()):
        if cfg != "main":
            continue
        for a in run.alerts:
            key = (a.get("rule"), a.get("child_id"), a.get("subject_id"))
            fp = a.get("fingerprint")
            if key in seen and seen[key][1] != fp:
                unstable.append("%s: %s on %s, %s on %s" % (key, seen[key][1], seen[key][0],
                                                            fp, day))
            seen.setdefault(key, (day, fp))
    ok(not unstable, "fingerprint of a (rule, child, subject) is the same on every day",
       "\n".join(unstable[:10]))
    by_fp = {}
    for key, (_, fp) in seen.items():
        by_fp.setdefault(fp, []).append(key)
    clash = [v for v in by_fp.values() if len(v) > 1]
    ok(not clash, "fingerprints differ between (rule, child, subject) across days",
       "\n".join(str(c) for c in clash[:10]))

    a1 = runs[("2026-02-28", "main")].get(CP, "C-CP-OVERLAP")
    a2 = runs[(T, "main")].get(CP, "C-CP-OVERLAP")
    ok(a1 is not None and a2 is not None and a1.get("fingerprint") == a2.get("fingerprint"),
       "cp_neglect_duration C-CP-OVERLAP: same fingerprint at 12m (2026-02-28) and 18m (%s)" % T,
       "got %s and %s" % (a1 and a1.get("fingerprint"), a2 and a2.get("fingerprint")))
    # RULES.md: the episode is the subject: a plan closed and reopened within merge_gap_days
    # keeps the alert (its identity, so its fingerprint), whichever plan is current
    for child, day in (("C-FP-SUBJECT", "2025-12-31"), ("C-CP-REOPENED-SAME-DAY", "2026-07-15")):
        b1 = runs[(day, "main")].get(CP, child)
        b2 = runs[(T, "main")].get(CP, child)
        ok(b1 is not None and b2 is not None and b1.get("fingerprint") == b2.get("fingerprint")
           and b1.get("facts", {}).get("current_plan_id") !=
           b2.get("facts", {}).get("current_plan_id"),
           "cp_neglect_duration %s: another current plan in the same episode (%s and %s), the "
           "same alert" % (child, day, T),
           "got %s and %s" % (b1 and b1.get("fingerprint"), b2 and b2.get("fingerprint")))
    c1 = main_run.get(CP, "C-CP-OVERLAP-NONNEGLECT")
    c2 = main_run.get(REP, "C-CP-OVERLAP-NONNEGLECT")
    ok(c1 is not None and c2 is not None and c1.get("subject_id") == c2.get("subject_id")
       and c1.get("fingerprint") != c2.get("fingerprint"),
       "C-CP-OVERLAP-NONNEGLECT: two rules on the same child and subject have different "
       "fingerprints",
       "got %s and %s" % (c1 and c1.get("fingerprint"), c2 and c2.get("fingerprint")))
    c3 = main_run.get(CP, "C-CP-12M-DAY")
    ok(c3 is not None and c1 is not None and c1.get("fingerprint") != c3.get("fingerprint"),
       "one rule on two children gives different fingerprints")

    # C-WC-HISTORY is alerted by worker_change and worker_churn, which have no common subject
    d = main_run.get(CHURN, "C-WC-HISTORY")
    ok(d is not None and d.get("subject_id") is None,
       "worker_churn C-WC-HISTORY: subject_id is null", d and json.dumps(d)[:300])

    # alerts for children with no children row appear alongside the rest
    ok(main_run.get(CP, "C-NO-CHILD-ROW") is not None and
       main_run.get(WNB, "C-WNB-NO-CHILD-ROW") is not None,
       "children with no children row are still alerted")

    shutil.rmtree(tmp, ignore_errors=True)
    print("# %d passed, %d failed" % (tap.passed, tap.failures), flush=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
