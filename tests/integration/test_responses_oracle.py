#!/usr/bin/python3
"""test_responses_oracle: "Escalation when nobody answers" (../shared/spec/RESPONSES.md), checked
on the webhooks and emails the daemon really sends, against a reading of RESPONSES.md (with
RULES.md's stages and recipient roles) written without the daemon's code.

Case data made here (CHILDREN): 29 children, each on one open CP plan for neglect
(cp_neglect_duration: 9m, 12m, 15m, 18m after the plan's start; two with a strategy that holds
the 15-month escalation for a while, so the alert goes down to 12m and up again) or one open CIN
plan for neglect (cin_neglect_duration: 6m), each with one allocation to a worker whose
supervisor has a supervisor of their own (RULES.md's service_manager: sm1@la.example) or has
none (service_manager is then head_of_service). No referral, appointment, second allocation or
second plan: no other rule holds. The plan starts put stages on chosen days around Easter 2026
(Good Friday 3 April, Easter Monday 6 April) and Christmas 2026 (Friday 25 December, Monday 28
December the substitute for Boxing Day, Friday 1 January 2027). Loaded with rules/contract.sql
into schema ro_case of database dwresporacle.

Three worlds, each with a state schema of its own, run `driftwatchd -c CFG --once --as-of D` (not
a dry run) over the same 29 days (RUN_DAYS: weekends, bank holidays and gaps among them; two of
them run twice), with one Standard Webhooks webhook (every rule) to a real receiver
(tests/integration/webhook_receiver.py):
  - w1: responses.escalate at its defaults (cp_neglect_duration 15m and 18m after 5 working days
    to head_of_service; everything else after 10 to service_manager), calendar.region at its
    default, calendar.closures 2026-04-14 and 2026-12-29..31, email to a real SMTP server (a
    digest after every evaluation); responses between runs through build/san/responses_driver
    (dwtest.respond, RESPONSES_W1): acknowledgements before the working days are reached, after
    them but before the next run, after the notice, before a higher stage; snoozes ending before
    the due day, on a Sunday, on a run day, after a higher stage, given after the due day;
    unsnoozes; acknowledgements and snoozes combined.
  - w2: a custom responses.escalate (CUSTOM_ESCALATE: first match wins where a later entry
    would give fewer days; cp 9m matched by no entry, so never escalated; two roles in one
    entry, cp_manager in another), calendar.region "england-and-wales" given, no closures,
    email as w1, nobody answers.
  - w3: calendar.region "scotland" (Easter Monday a working day; Monday 4 January 2027 the
    substitute for 2 January), default escalation, webhooks only, nobody answers.

The reference (RESPONSES.md alone): a stage is "first recorded" on the first run that finds the
alert at it; the count of working days starts the day after; working days are Monday to Friday
less the region's bank holidays (tables written here for 2025-2027) less calendar.closures; the
Nth working day W is reached on W itself (the spec's example: first recorded Tuesday 31 March
2026, 5 working days on Thursday 9 April 2026); the notice goes at the first run on or after W
at which the alert is at that stage with no acknowledgement for it and no snooze in force; once
per stage. ASSUMPTIONS lists where RESPONSES.md is silent and what the reference takes.

Checks: per alert and stage the reference knows of, the runs at which an alert.unanswered came
for it (exactly the reference's, or none); none for anything else, nor again when a day is run
twice; each one's envelope (data.fingerprint as in the alert's firing notice, rule, child_id,
subject_id, stage, status firing, as_of the run's day); who: with email, the escalation roles'
addresses in the webhook's data and the alert's own recipient roles in data.recipients, and an
email whose entry for the child reads "not answered in N working days; now also sent to" the
escalation addresses, to exactly the escalation roles and the alert's recipients; to be sure the
days the reference counts from are the daemon's, the firing and escalated notices on the
reference's days and stages; every response recorded and told to the webhook at the next run;
a snoozed alert's new stage notified showing the snooze.

Environment: DRIFTWATCHD, RESPONSES_DRIVER, PGHOST PGPORT PGUSER (see tests/lib/dwtest.py),
RESPONSES_ORACLE_SHIFT (default 0: add this many working days to every threshold of the
reference, to prove the checks can fail), RESPONSES_ORACLE_KEEP=1 (keep the database), KEEP_TMP.
Standard library only.
"""

import calendar
import datetime
import json
import os
import re
import sys
import time
from email import policy
from email.parser import BytesParser

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: receiver, daemon runs, responses)
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)

DBNAME = "dwresporacle"
CASE_SCHEMA = "ro_case"
RUN_TIMEOUT = int(os.environ.get("DW_RUN_TIMEOUT", "120"))
SHIFT = int(os.environ.get("RESPONSES_ORACLE_SHIFT") or "0")
D = datetime.date.fromisoformat
ONE = datetime.timedelta(days=1)
CP, CIN = "cp_neglect_duration", "cin_neglect_duration"

ASSUMPTIONS = [
    "a snooze is on the alert, not on one stage (RESPONSES.md: 'no reminders or no-response "
    "escalation until that date'; 'a new stage is still notified, showing the snooze')",
    "after a snooze ends, the count is still from the day the stage was first recorded: a stage "
    "whose N working days passed during the snooze is escalated at the first run after it",
    "whether a snooze is still in force on its 'until' day itself is left open (both accepted)",
    "an acknowledgement given after the Nth working day but before the run that would escalate "
    "stops the escalation ('with no acknowledgement and no snooze in force' at that run)",
    "a stage left before its N working days (the alert went higher, or lower under a "
    "strategy) is never escalated; a stage is escalated once over the alert's life, so one "
    "the alert comes back to after its notice is not escalated again",
    "acknowledgement and snooze are independent: an unsnooze leaves an acknowledgement of the "
    "current stage in force ('as if never snoozed'), and an acknowledgement given while "
    "snoozed holds after the snooze",
    "data.recipients or data.unanswered.also_sent_to (README) may carry the escalation "
    "addresses; the check accepts either",
]

# ------------------------------------------------------------------------------------------
# The calendar: England and Wales bank holidays, written here (not read from the daemon)

BANK_HOLIDAYS_EW = {D(x) for x in [
    # 2025
    "2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25",
    "2025-12-25", "2025-12-26",
    # 2026: 26 December is a Saturday, so Monday 28 December is the substitute
    "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31",
    "2026-12-25", "2026-12-28",
    # 2027: 25 and 26 December are a Saturday and a Sunday: 27 and 28 December
    "2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30",
    "2027-12-27", "2027-12-28",
]}


# Scotland: 2 January (Monday 4 January 2027 for a Saturday), Good Friday but not Easter
# Monday, the first Monday of August, St Andrew's Day (30 November, or the Monday after)
BANK_HOLIDAYS_SCOTLAND = {D(x) for x in [
    "2025-01-01", "2025-01-02", "2025-04-18", "2025-05-05", "2025-05-26", "2025-08-04",
    "2025-12-01", "2025-12-25", "2025-12-26",
    "2026-01-01", "2026-01-02", "2026-04-03", "2026-05-04", "2026-05-25", "2026-08-03",
    "2026-11-30", "2026-12-25", "2026-12-28",
    "2027-01-01", "2027-01-04", "2027-03-26", "2027-05-03", "2027-05-31", "2027-08-02",
    "2027-11-30", "2027-12-27", "2027-12-28",
]}
HOLIDAYS = {"england-and-wales": BANK_HOLIDAYS_EW, "scotland": BANK_HOLIDAYS_SCOTLAND}


def working(d, off):
    """off: the region's bank holidays and the closures."""
    return d.weekday() < 5 and d not in off


def nth_working_day_after(day, n, off):
    """The Nth working day counted from the day after day (RESPONSES.md)."""
    d, k = day, 0
    while k < n:
        d += ONE
        if working(d, off):
            k += 1
    return d


def add_months(d, n):
    """d + interval 'n months' (RULES.md: month-end clamping)."""
    m0 = d.month - 1 + n
    y, m = d.year + m0 // 12, m0 % 12 + 1
    return datetime.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


# ------------------------------------------------------------------------------------------
# The case data

ADDR = lib.addresses()   # hos@la.example, cp-manager@la.example, cp-chairs@la.example, ...
TEAMS = [("T1", "Team one", "tm1@la.example"), ("T2", "Team two", "tm2@la.example")]
WORKERS = [  # worker_id, name, email, team, supervisor, role
    ("SM1", "Service manager", "sm1@la.example", "T1", None, "service_manager"),
    ("TM1", "Team manager 1", "tm1@la.example", "T1", "SM1", "team_manager"),
    ("TM2", "Team manager 2", "tm2@la.example", "T2", None, "team_manager"),
    ("W1", "Worker 1", "w1@la.example", "T1", "TM1", "social_worker"),
    ("W2", "Worker 2", "w2@la.example", "T2", "TM2", "social_worker"),
    ("CH1", "Chair 1", "chair1@la.example", None, None, "cp_chair"),
]
# service_manager (RULES.md): the supervisor's own supervisor, else head_of_service
SERVICE_MANAGER = {"W1": "sm1@la.example", "W2": ADDR["head_of_service"]}

# child, rule, plan start, worker, what it is for (world 1's responses below)
CHILDREN = [
    ("RO-01", CP, "2024-12-31", "W1", "15m first recorded Tue 31 Mar (RESPONSES.md's example), "
     "never answered; 18m in December"),
    ("RO-02", CP, "2024-12-31", "W1", "15m acknowledged 2 Apr; 18m in December needs a new one"),
    ("RO-03", CP, "2024-12-31", "W1", "15m snoozed 2 Apr until Sun 19 Apr: overdue at 20 Apr"),
    ("RO-04", CP, "2024-12-31", "W2", "15m snoozed 2 Apr until Mon 20 Apr, a run day"),
    ("RO-05", CP, "2024-12-31", "W1", "15m snoozed 2 Apr until 29 Apr, unsnoozed 15 Apr"),
    ("RO-06", CP, "2025-06-30", "W1", "9m at 31 Mar: 10 working days with the 14 Apr "
     "closure is 17 Apr"),
    ("RO-07", CP, "2025-06-30", "W2", "9m acknowledged 8 Apr; 15m in December"),
    ("RO-08", CP, "2025-01-04", "W1", "12m at 31 Mar, 15m on Sat 4 Apr first recorded at the "
     "Easter Monday run"),
    ("RO-09", CIN, "2025-09-30", "W2", "CIN 6m at 31 Mar, service_manager falls to "
     "head_of_service"),
    ("RO-10", CIN, "2025-10-05", "W1", "CIN 6m on Sun 5 Apr, recorded 6 Apr, due 21 Apr, no run "
     "that day"),
    ("RO-11", CP, "2024-09-30", "W1", "18m at 31 Mar, acknowledged 2 Apr"),
    ("RO-12", CP, "2025-06-25", "W1", "9m snoozed 2 Apr until 29 Jun; 15m in December, 18m on "
     "Fri 25 Dec"),
    ("RO-13", CP, "2025-12-14", "W1", "12m born Mon 14 Dec: 10 working days across Christmas "
     "and the closures"),
    ("RO-14", CP, "2025-09-18", "W1", "12m born 14 Dec and snoozed until Sat 9 Jan; 15m on "
     "18 Dec while snoozed"),
    ("RO-15", CP, "2025-09-20", "W1", "15m on Sun 20 Dec, recorded 21 Dec: the substitute "
     "day 28 Dec does not count"),
    ("RO-16", CP, "2025-09-24", "W2", "15m on Thu 24 Dec, recorded that day"),
    ("RO-17", CP, "2025-06-23", "W1", "9m at 31 Mar; 15m recorded 14 Dec, acknowledged 16 Dec; "
     "18m on 23 Dec"),
    ("RO-18", CP, "2025-09-14", "W1", "15m born 14 Dec, acknowledged 18 Dec"),
    ("RO-20", CP, "2026-03-14", "W1", "9m born 14 Dec, snoozed until 1 Feb, unsnoozed 6 Jan"),
    ("RO-21", CIN, "2025-10-05", "W1", "CIN 6m due 21 Apr, acknowledged 21 Apr before the "
     "22 Apr run"),
    ("RO-22", CP, "2024-12-31", "W1", "15m snoozed 2 Apr until 7 Apr: due 9 Apr anyway"),
    ("RO-23", CIN, "2026-06-20", "W2", "CIN 6m on Sun 20 Dec, recorded 21 Dec"),
    ("RO-24", CP, "2024-12-31", "W1", "15m acknowledged 10 Apr, after its notice"),
    ("RO-32", CP, "2024-12-31", "W1", "15m acknowledged 2 Apr, snoozed 6 Apr until 29 Apr, "
     "unsnoozed 15 Apr: the acknowledgement still holds"),
    ("RO-33", CP, "2024-12-31", "W1", "15m snoozed 2 Apr until Sun 19 Apr, acknowledged 8 Apr"),
    ("RO-34", CP, "2024-12-31", "W1", "15m snoozed 2 Apr until 29 Apr, acknowledged 8 Apr, "
     "unsnoozed 15 Apr"),
    ("RO-35", CIN, "2025-10-05", "W1", "CIN 6m due Tue 21 Apr, snoozed 21 Apr (before the 22 Apr "
     "run) until 23 Apr: overdue at 24 Apr"),
    ("RO-30", CP, "2024-12-31", "W1", "15m escalated 9 Apr; a strategy lowers it to 12m on "
     "11 Apr until its review_by 21 Apr, then 15m again"),
    ("RO-31", CP, "2025-01-19", "W1", "12m escalated 17 Apr; 15m on Sun 19 Apr; a strategy "
     "lowers it to 12m again from 22 Apr"),
]
# strategies (CONTRACT.md): child -> (strategy_id, kind, decided_on, review_by)
STRATEGIES = {
    "RO-30": ("ST-RO-30", "plo", "2026-04-10", "2026-04-21"),
    "RO-31": ("ST-RO-31", "step_down", "2026-04-21", "2026-05-31"),
}
PURPOSE = {c[0]: c[4] for c in CHILDREN}

RUN_DAYS = [D(x) for x in [
    # Easter 2026 (3 and 6 April bank holidays; closure 14 April in world 1)
    "2026-03-31", "2026-04-02", "2026-04-03", "2026-04-06", "2026-04-08", "2026-04-09",
    "2026-04-11", "2026-04-15", "2026-04-16", "2026-04-17", "2026-04-20", "2026-04-22",
    "2026-04-24",
    # Christmas 2026 (25, 28 December, 1 January; closures 29-31 December in world 1)
    "2026-12-14", "2026-12-16", "2026-12-18", "2026-12-21", "2026-12-23", "2026-12-24",
    "2026-12-26", "2026-12-28", "2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07",
    "2027-01-08", "2027-01-11", "2027-01-13", "2027-01-20",
]]

# world 1's responses: (after the run of day, --today, child, kind, keywords)
RESPONSES_W1 = [
    ("2026-04-02", "2026-04-02", "RO-02", "acknowledge", {"note": "in supervision"}),
    ("2026-04-02", "2026-04-02", "RO-03", "snooze", {"until": "2026-04-19",
                                                     "reason": "legal_planning",
                                                     "note": "PLO letter"}),
    ("2026-04-02", "2026-04-02", "RO-04", "snooze", {"until": "2026-04-20",
                                                     "reason": "strategy_agreed"}),
    ("2026-04-02", "2026-04-02", "RO-05", "snooze", {"until": "2026-04-29",
                                                     "reason": "step_down_planned"}),
    ("2026-04-02", "2026-04-02", "RO-11", "acknowledge", {}),
    ("2026-04-02", "2026-04-02", "RO-12", "snooze", {"until": "2026-06-29",
                                                     "reason": "other",
                                                     "note": "family moving"}),
    ("2026-04-02", "2026-04-02", "RO-22", "snooze", {"until": "2026-04-07",
                                                     "reason": "case_closing"}),
    ("2026-04-02", "2026-04-02", "RO-32", "acknowledge", {}),
    ("2026-04-06", "2026-04-06", "RO-32", "snooze", {"until": "2026-04-29",
                                                     "reason": "strategy_agreed"}),
    ("2026-04-15", "2026-04-15", "RO-32", "unsnooze", {}),
    ("2026-04-02", "2026-04-02", "RO-33", "snooze", {"until": "2026-04-19",
                                                     "reason": "legal_planning"}),
    ("2026-04-08", "2026-04-08", "RO-33", "acknowledge", {}),
    ("2026-04-02", "2026-04-02", "RO-34", "snooze", {"until": "2026-04-29",
                                                     "reason": "legal_planning"}),
    ("2026-04-08", "2026-04-08", "RO-34", "acknowledge", {}),
    ("2026-04-15", "2026-04-15", "RO-34", "unsnooze", {}),
    ("2026-04-08", "2026-04-08", "RO-07", "acknowledge", {"note": "seen"}),
    ("2026-04-09", "2026-04-10", "RO-24", "acknowledge", {"note": "late"}),
    ("2026-04-15", "2026-04-15", "RO-05", "unsnooze", {}),
    ("2026-04-20", "2026-04-21", "RO-21", "acknowledge", {}),
    ("2026-04-20", "2026-04-21", "RO-35", "snooze", {"until": "2026-04-23",
                                                     "reason": "data_wrong",
                                                     "note": "plan end not entered"}),
    ("2026-12-14", "2026-12-14", "RO-14", "snooze", {"until": "2027-01-09",
                                                     "reason": "legal_planning"}),
    ("2026-12-14", "2026-12-14", "RO-20", "snooze", {"until": "2027-02-01",
                                                     "reason": "strategy_agreed"}),
    ("2026-12-16", "2026-12-16", "RO-17", "acknowledge", {}),
    ("2026-12-18", "2026-12-18", "RO-18", "acknowledge", {}),
    ("2027-01-06", "2027-01-06", "RO-20", "unsnooze", {}),
]

DEFAULT_ESCALATE = [   # RESPONSES.md's defaults, as its text gives them
    {"rules": [CP], "stages": ["15m", "18m"], "after_working_days": 5,
     "to": ["head_of_service"]},
    {"rules": "*", "stages": "*", "after_working_days": 10, "to": ["service_manager"]},
]
CUSTOM_ESCALATE = [    # world 2: first match wins; cp 9m matches nothing
    {"rules": [CIN], "stages": "*", "after_working_days": 3, "to": ["head_of_service"]},
    {"rules": [CP], "stages": ["12m"], "after_working_days": 2, "to": ["cp_manager"]},
    {"rules": "*", "stages": ["12m", "18m"], "after_working_days": 20,
     "to": ["service_manager"]},
    {"rules": [CP], "stages": ["15m", "18m"], "after_working_days": 1,
     "to": ["head_of_service", "service_manager"]},   # 18m: the third entry, not this one
]

# RULES.md's default recipients of the stages used here
STAGE_ROLES = {
    (CIN, "6m"): {"supervisor"},
    (CP, "9m"): {"supervisor"},
    (CP, "12m"): {"supervisor", "cp_chair"},
    (CP, "15m"): {"cp_chair", "cp_manager", "supervisor"},
    (CP, "18m"): {"head_of_service", "cp_chair", "supervisor"},
}
RANK = {"9m": 0, "12m": 1, "15m": 2, "18m": 3, "6m": 0}


def stage_on(rule, start, t, cid=None):
    """RULES.md on this data (one open plan): the highest stage reached on t; 15m and 18m only
    with no strategy active (CONTRACT.md: decided within the episode, on or before t, and t on
    or before its review_by), else 12m."""
    if rule == CIN:
        return "6m" if t >= add_months(start, 6) else None
    best = None
    for n in (9, 12, 15, 18):
        if t >= add_months(start, n):
            best = "%dm" % n
    st = STRATEGIES.get(cid)
    if best in ("15m", "18m") and st and start <= D(st[2]) <= t <= D(st[3]):
        best = "12m"
    return best


def plan_id(cid, rule):
    return ("CPP-" if rule == CP else "CIN-") + cid


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    return "'" + str(v).replace("'", "''") + "'"


def rows_sql(table, rows):
    return "INSERT INTO %s VALUES %s;\n" % (table, ", ".join(
        "(" + ", ".join(lit(x) for x in r) + ")" for r in rows))


def case_sql():
    out = rows_sql("teams", [(t, n, m, None) for t, n, m in TEAMS])
    out += rows_sql("workers", WORKERS)
    out += rows_sql("children", [(c, "F-" + c, "2016-05-01", None, False)
                                 for c, _, _, _, _ in CHILDREN])
    out += rows_sql("allocations", [("AL-" + c, c, w, "2024-01-01", None)
                                    for c, _, _, w, _ in CHILDREN])
    cp = [(plan_id(c, r), c, s, None, "NEG", None, "CH1") for c, r, s, _, _ in CHILDREN
          if r == CP]
    cin = [(plan_id(c, r), c, s, None, True) for c, r, s, _, _ in CHILDREN if r == CIN]
    st = [(sid, c, kind, dec, rev) for c, (sid, kind, dec, rev) in sorted(STRATEGIES.items())]
    return out + rows_sql("cp_plans", cp) + rows_sql("cin_plans", cin) + \
        rows_sql("strategies", st)


# ------------------------------------------------------------------------------------------
# The reference: RESPONSES.md's "Escalation when nobody answers"

def rule_match(escalate, rule, stage):
    """First match wins: (after_working_days, roles) or None."""
    for e in escalate:
        rules, stages = e.get("rules", "*"), e.get("stages", "*")
        if (rules == "*" or rule in rules) and (stages == "*" or stage in stages):
            return e["after_working_days"] + SHIFT, e["to"]
    return None


def reference(escalate, off, responses, until_day_in_force):
    """{(key, stage): (day, roles, why)} of the alert.unanswered RESPONSES.md sends, and
    {key: [(day, stage, since)]} the stages as recorded, run by run."""
    state = {}
    want = {}
    stages = {}
    by_after = {}
    for r in responses:
        by_after.setdefault(D(r[0]), []).append(r)
    for day in RUN_DAYS:
        for cid, rule, start, _, _ in CHILDREN:
            key = (rule, cid, plan_id(cid, rule))
            stage = stage_on(rule, D(start), day, cid)
            if stage is None:
                continue
            st = state.get(key)
            if st is None:
                st = state[key] = {"stage": stage, "since": day, "acked": None,
                                   "snooze": None, "done": set()}
            elif st["stage"] != stage:
                st["stage"], st["since"] = stage, day
            stages.setdefault(key, []).append((day, stage, st["since"]))
            m = rule_match(escalate, rule, stage)
            if m is None or stage in st["done"] or st["acked"] == stage:
                continue
            sn = st["snooze"]
            if sn is not None and (day < sn or (until_day_in_force and day == sn)):
                continue
            due = nth_working_day_after(st["since"], m[0], off)
            if day >= due:
                st["done"].add(stage)
                want[(key, stage)] = (day, m[1], "first recorded %s, %d working days on %s%s" % (
                    st["since"], m[0], due, ", snooze until %s" % sn if sn else ""), m[0])
        for _, _, cid, kind, kw in by_after.get(day, []):
            key = next(k for k in state if k[1] == cid)
            st = state[key]
            if kind == "acknowledge":
                st["acked"] = st["stage"]
            elif kind == "snooze":
                st["snooze"] = D(kw["until"])
            elif kind == "unsnooze":
                st["snooze"] = None
    return want, stages


# ------------------------------------------------------------------------------------------
# The run of one world

class Notice:
    def __init__(self, req, day):
        self.req, self.day = req, day
        j = req.get("json") if isinstance(req.get("json"), dict) else {}
        self.type = j.get("type")
        self.data = j.get("data") if isinstance(j.get("data"), dict) else {}
        d = self.data
        self.key = (d.get("rule"), d.get("child_id"), d.get("subject_id") or None)
        self.stage = d.get("stage")

    def brief(self):
        return "%s %s %s@%s on %s" % ((self.type or "?").replace("alert.", ""), self.key[1],
                                      self.key[0], self.stage, self.day)


def addresses_in(data):
    """(role, email lower case) of data.recipients and data.unanswered.also_sent_to."""
    out = set()
    for lst in (data.get("recipients"), (data.get("unanswered") or {}).get("also_sent_to")
                if isinstance(data.get("unanswered"), dict) else None):
        for r in lst or []:
            if isinstance(r, dict):
                out.add((r.get("role"), str(r.get("email") or "").lower()))
    return out


def new_mail(smtp, start):
    """The messages the SMTP server took after its first start ones: to, subject, text."""
    out = []
    for f in lib.glob_eml(smtp.maildir)[start:]:
        n = f.split(".")[0]
        msg = BytesParser(policy=policy.default).parse(open(os.path.join(smtp.maildir, f), "rb"))
        meta_path = os.path.join(smtp.maildir, n + ".json")
        meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
        body = msg.get_body(("plain",))
        out.append({"to": (meta.get("rcpt_tos") or [None])[0], "subject": str(msg["Subject"]),
                    "text": body.get_content() if body is not None else ""})
    return out


def unanswered_heads(m, cid):
    """The headings (lower case, one line) of a digest's entries for child cid that say it was
    not answered."""
    out = []
    text = m["text"].replace("\r\n", "\n")
    for block in re.split(r"(?m)^(?=\d+\. )", text):
        head, sep, rest = block.partition("Child: ")
        if not sep or rest.split("\n")[0].strip() != cid:
            continue
        head = " ".join(head.split()).lower()
        if "not answered" in head:
            out.append(head)
    return out


def mentions(m, cid, n_days, escal):
    """Whether a digest's entry for child cid is headed as RESPONSES.md words the notice ("not
    answered in N working days; now also sent to ...") and names the addresses escal."""
    return any(("not answered in %d working days" % n_days) in h and "now also sent to" in h
               and all(a in h for a in escal) for h in unanswered_heads(m, cid))


def role_email(role, worker):
    if role == "service_manager":
        return SERVICE_MANAGER[worker]
    return ADDR[role]


def run_world(procs, tmp, db, recv, name, escalate, cal, responses, smtp=None, ca=None):
    t = tap.Tap()
    t0 = time.monotonic()

    def ok(cond, text, *diags):
        return t.check(cond, "%s: %s" % (name, text), *diags)

    state_schema = "ro_state_" + name
    path = "/" + name
    off = HOLIDAYS[cal.get("region", "england-and-wales")] | {
        D(x) for x in cal.get("closures", [])}
    conf = {
        "database": {"conninfo": db.conninfo("dw-resporacle"), "case_schema": CASE_SCHEMA,
                     "state_schema": state_schema},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": ADDR,
        "webhooks": [{"url": recv.url(path), "secret": lib.new_secret()}],
        "calendar": cal,
    }
    if escalate is not DEFAULT_ESCALATE:
        conf["responses"] = {"escalate": escalate}
    if smtp is not None:   # a digest after every evaluation, so each run's mail is its own
        conf["email"] = lib.email_conf(smtp.port, ca, lib.SmtpServer.password_file(tmp),
                                       digest_time=None)
    cfg = lib.write_config(tmp, name, conf)

    want_a, stages = reference(escalate, off, responses, False)
    want_b, _ = reference(escalate, off, responses, True)
    # run twice: the first day the reference sends something, and the day it sends most
    per_day = {}
    for v in want_a.values():
        per_day[v[0]] = per_day.get(v[0], 0) + 1
    rerun_days = {min(per_day), max(per_day, key=lambda d: (per_day[d], d))}
    worker = {c: w for c, _, _, w, _ in CHILDREN}
    by_after = {}
    for r in responses:
        by_after.setdefault(D(r[0]), []).append(r)

    fps = {}                # key -> fingerprint (from the notices)
    got = {}                # (key, stage) -> [Notice] alert.unanswered
    life = {}               # key -> [(day, type, stage)] firing/escalated/updated/resolved
    resp_notices = []       # (day, Notice) acknowledged/snoozed/unsnoozed
    env_bad, who_bad, resp_bad, mail_bad, webhook_only = [], [], [], [], []
    run_bad = []
    mail = {}               # day -> [message] taken by the SMTP server during its run
    n_before = 0
    n_mail = smtp.count() if smtp is not None else 0   # one server for two worlds
    for day in RUN_DAYS:
        r = lib.run_once(cfg, day.isoformat(), timeout=RUN_TIMEOUT)
        if smtp is not None:
            mail[day] = new_mail(smtp, n_mail)
            n_mail += len(mail[day])
        if r.rc != 0 or r.sanitizer():
            run_bad.append("%s: %s" % (day, r.diag()))
        reqs = recv.requests(path)
        new, n_before = reqs[n_before:], len(reqs)
        if day in rerun_days:   # the same day again: the notices of that day are not sent again
            r2 = lib.run_once(cfg, day.isoformat(), timeout=RUN_TIMEOUT)
            if r2.rc != 0 or r2.sanitizer():
                run_bad.append("%s (again): %s" % (day, r2.diag()))
            reqs = recv.requests(path)
            again, n_before = [Notice(q, day) for q in reqs[n_before:]], len(reqs)
            if smtp is not None:
                n_mail = smtp.count()
            n_first = sum(1 for q in new if Notice(q, day).type == "alert.unanswered")
            ok(n_first > 0 and not any(n.type == "alert.unanswered" for n in again),
               "--once --as-of %s run again: none of that day's %d alert.unanswered is sent "
               "again (RESPONSES.md: 'one notice ... for that stage')" % (day, n_first),
               "again: %s" % [n.brief() for n in again])
        for req in new:
            n = Notice(req, day)
            fp = n.data.get("fingerprint")
            if n.type in ("alert.firing", "alert.escalated", "alert.updated",
                          "alert.resolved"):
                life.setdefault(n.key, []).append((day, n.type, n.stage, n))
                fps.setdefault(n.key, fp)
            elif n.type == "alert.unanswered":
                got.setdefault((n.key, n.stage), []).append(n)
            elif n.type in ("alert.acknowledged", "alert.snoozed", "alert.unsnoozed"):
                resp_notices.append((day, n))
            else:
                env_bad.append("%s: a notice of unknown type %r" % (day, n.type))
        for _, today, cid, kind, kw in by_after.get(day, []):
            key = next((k for k in fps if k[1] == cid), None)
            if key is None:
                resp_bad.append("%s %s %s: no alert of the child was ever notified" % (
                    today, kind, cid))
                continue
            rc, out, err = lib.respond(cfg, today, kind, fps[key], actor="tm1@la.example",
                                       via="link", **kw)
            if rc != 0 or not out.startswith("recorded"):
                resp_bad.append("%s %s %s: exit %s, %r %s" % (today, kind, cid, rc, out,
                                                              err[-300:]))
    ok(not run_bad, "every --once --as-of run (%d, %s .. %s, two of them twice) exits 0 with no "
       "sanitizer report" % (len(RUN_DAYS), RUN_DAYS[0], RUN_DAYS[-1]), "\n".join(run_bad[:3]))

    # ---- the stages the reference counts from are those the daemon recorded ----
    life_bad = []
    for key, seq in stages.items():
        exp = []
        prev = None
        for day, stage, _ in seq:
            if prev is None:
                exp.append((day, "alert.firing", stage))
            elif RANK[stage] > RANK[prev]:
                exp.append((day, "alert.escalated", stage))
            elif RANK[stage] < RANK[prev]:   # ALERTS.md names no type for going down
                exp.append((day, "(lower)", stage))
            prev = stage
        rec = [(d, "(lower)" if (d, "(lower)", s) in exp and ty not in (
            "alert.firing", "alert.resolved") else ty, s) for d, ty, s, _ in life.get(key, [])]
        if rec != exp:
            life_bad.append("%s: RULES.md %s; received %s" % (
                key, [(str(d), ty[6:], s) for d, ty, s in exp],
                [(str(d), ty[6:], s) for d, ty, s in rec]))
    stray = sorted(str(k) for k in life if k not in stages)
    ok(not life_bad and not stray, "the alerts fired and were escalated on the days and at the "
       "stages RULES.md gives (%d alerts): the days stages were first recorded are the "
       "reference's" % len(stages), "\n".join(life_bad[:15] + ["not expected: " + s
                                                               for s in stray[:10]]))

    # ---- alert.unanswered: per alert and stage, the day(s) it came ----
    all_ks = sorted({(k, s) for k, seq in stages.items() for _, s, _ in seq},
                    key=lambda x: (x[0][1], RANK[x[1]]))
    ambiguous = []
    for ks in all_ks:
        key, stage = ks
        a, b = want_a.get(ks), want_b.get(ks)
        days_ok = {x[0] for x in (a, b) if x is not None}
        if (a is None) != (b is None):
            days_ok.add(None)
        recd = [n.day for n in got.get(ks, [])]
        desc = PURPOSE[key[1]] if name == "w1" else "nobody answers"
        if not days_ok:
            ok(not recd, "%s %s %s: no alert.unanswered (%s)" % (key[1], key[0], stage, desc),
               "received on %s" % [str(d) for d in recd])
            continue
        if len(days_ok) > 1:
            ambiguous.append((ks, days_ok, recd))
        ref = a or b
        exp_text = " or ".join(str(d) if d else "none" for d in sorted(
            days_ok, key=lambda d: d or datetime.date.max))
        good = (len(recd) == 1 and recd[0] in days_ok) or (not recd and None in days_ok)
        ok(good, "%s %s %s: one alert.unanswered, at the run of %s (%s; %s)" % (
            key[1], key[0], stage, exp_text, ref[2], desc),
           "received at the runs of %s" % ([str(d) for d in recd] or "none"))
        for n in got.get(ks, []):
            d = n.data
            if d.get("fingerprint") != fps.get(key) or d.get("status") != "firing" or \
                    d.get("as_of") != n.day.isoformat():
                env_bad.append("%s: fingerprint %s (the alert's %s), status %r, as_of %r" % (
                    n.brief(), d.get("fingerprint"), fps.get(key), d.get("status"),
                    d.get("as_of")))
            if smtp is None:
                webhook_only.append("%s: data.unanswered %s" % (
                    n.brief(), json.dumps(d.get("unanswered"), sort_keys=True)))
                continue
            have = addresses_in(d)
            emails = {e for _, e in have}
            escal = {role_email(role, worker[key[1]]) for role in ref[1]}
            for role in ref[1]:
                if role_email(role, worker[key[1]]) not in emails:
                    who_bad.append("%s: escalation role %s (%s) not in data.recipients nor "
                                   "data.unanswered.also_sent_to: %s" % (
                                       n.brief(), role, role_email(role, worker[key[1]]),
                                       sorted(have, key=str)))
            roles = {x.get("role") for x in d.get("recipients") or [] if isinstance(x, dict)}
            if not STAGE_ROLES[(key[0], stage)] <= roles:
                who_bad.append("%s: the alert's own recipients %s are not all in "
                               "data.recipients (roles %s)" % (
                                   n.brief(), sorted(STAGE_ROLES[(key[0], stage)]),
                                   sorted(roles, key=str)))
            own = {str(x.get("email")).lower() for x in d.get("recipients") or []
                   if isinstance(x, dict) and x.get("email")}
            told = {str(m["to"]).lower() for m in mail.get(n.day, [])
                    if unanswered_heads(m, key[1])}
            for addr in sorted(told):
                k = sum(len(unanswered_heads(m, key[1])) for m in mail.get(n.day, [])
                        if str(m["to"]).lower() == addr)
                if k != 1:
                    mail_bad.append("%s: %s got %d entries saying it was not answered, not one "
                                    "(RESPONSES.md: 'one notice')" % (n.brief(), addr, k))
            if told != escal | own:
                mail_bad.append("%s: emails saying the child's alert was not answered went to "
                                "%s; RESPONSES.md: the escalation roles %s and the alert's "
                                "recipients %s" % (n.brief(), sorted(told), sorted(escal),
                                                   sorted(own)))
            for addr in sorted(escal | own):
                hit = [m for m in mail.get(n.day, []) if str(m["to"]).lower() == addr
                       and mentions(m, key[1], ref[3], escal)]
                if not hit:
                    mail_bad.append("%s: no email to %s (%s) at that run naming the child as "
                                    "not answered; its mail then: %s" % (
                                        n.brief(), addr, "escalation role" if addr in escal
                                        else "the alert's recipient",
                                        [m["subject"] for m in mail.get(n.day, [])
                                         if str(m["to"]).lower() == addr] or "none"))
    stray_u = [n.brief() for ks, ns in got.items() if ks not in set(all_ks) for n in ns]
    ok(not stray_u, "no alert.unanswered for an alert or stage the reference does not hold",
       "\n".join(stray_u[:10]))
    n_un = sum(len(v) for v in got.values())
    ok(not env_bad, "each of the %d alert.unanswered names its alert (data.fingerprint as in "
       "its firing notice, rule, child_id, subject_id, stage), status firing, as_of the "
       "run's day" % n_un, "\n".join(env_bad[:10]))
    if smtp is not None:
        ok(not who_bad, "each alert.unanswered's data carries the escalation roles' addresses "
           "(RESPONSES.md: 'to the escalation roles'; in data.recipients or "
           "data.unanswered.also_sent_to) and the alert's own recipient roles ('and to the "
           "alert's recipients')", "\n".join(who_bad[:10]))
        ok(not mail_bad, "at the run of each alert.unanswered, the escalation roles' addresses "
           "(head_of_service; service_manager: the supervisor's supervisor, else "
           "head_of_service) and the alert's own recipients, and nobody else, each got one email "
           "entry for the "
           "child saying 'not answered in N working days; now also sent to' the escalation "
           "addresses (RESPONSES.md's words)", "\n".join(mail_bad[:10]))
    else:
        t.note("%s (webhooks only, no email section): what the alert.unanswered webhooks say of "
               "whom the escalation reached: %s" % (name, "; ".join(webhook_only[:3])))
    if responses:
        ok(not resp_bad, "every one of the %d responses is recorded (responses_driver: "
           "'recorded STAGE')" % len(responses), "\n".join(resp_bad))
        kinds = {"acknowledge": "alert.acknowledged", "snooze": "alert.snoozed",
                 "unsnooze": "alert.unsnoozed"}
        miss = []
        for after, _, cid, kind, _ in responses:
            nxt = next((d for d in RUN_DAYS if d > D(after)), None)
            if nxt is None:
                continue
            hit = [n for d, n in resp_notices if d == nxt and n.key[1] == cid
                   and n.type == kinds[kind]]
            if len(hit) != 1:
                miss.append("%s %s after the run of %s: %d %s at the run of %s" % (
                    cid, kind, after, len(hit), kinds[kind], nxt))
        ok(not miss, "each response reached the webhook once as alert.acknowledged, "
           "alert.snoozed or alert.unsnoozed at the next run (RESPONSES.md)", "\n".join(miss))
    for ks, days_ok, recd in ambiguous:
        t.note("%s: %s %s %s: the reference leaves the day open (%s, the snooze's until day); "
               "the daemon sent at %s" % (
                   name, ks[0][1], ks[0][0], ks[1], sorted(str(d) for d in days_ok if d),
                   [str(d) for d in recd] or "none"))
    t.note("%s: %d alert.unanswered received, %d expected; %.0f s" % (
        name, n_un, len(want_a), time.monotonic() - t0))
    return life, got


def run(procs, tmp):
    t = tap.Tap()
    db = lib.Db(DBNAME)
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"), schema=CASE_SCHEMA)
    db.run("SET search_path = %s;\n%s" % (CASE_SCHEMA, case_sql()))
    recv = lib.Receiver(procs, tmp, "hooks")
    ca = lib.make_ca(tmp)
    smtp = lib.SmtpServer(procs, tmp, "mail", ca)

    # the calendar written here agrees with the spec's example
    ex = nth_working_day_after(D("2026-03-31"), 5, BANK_HOLIDAYS_EW)
    t.check(ex == D("2026-04-09"), "the reference's calendar gives RESPONSES.md's example: "
            "first recorded Tue 31 Mar 2026, 5 working days on Thu 9 Apr 2026", "got %s" % ex)

    life, got = run_world(procs, tmp, db, recv, "w1", DEFAULT_ESCALATE,
                          {"closures": ["2026-04-14", "2026-12-29", "2026-12-30",
                                        "2026-12-31"]}, RESPONSES_W1, smtp, ca)
    # the spec's own example, on the wire
    k01 = ((CP, "RO-01", plan_id("RO-01", CP)), "15m")
    t.check([n.day for n in got.get(k01, [])] == [D("2026-04-09")] and SHIFT == 0,
            "w1: RESPONSES.md's example: RO-01's 15m, first recorded Tue 31 Mar 2026, is "
            "escalated at the run of Thu 9 Apr 2026 (not 8 Apr: Good Friday and Easter Monday "
            "do not count)", "received at %s" % [str(n.day) for n in got.get(k01, [])])
    # a snoozed alert's new stage is still notified, showing the snooze
    k14 = (CP, "RO-14", plan_id("RO-14", CP))
    esc = [n for d, ty, s, n in life.get(k14, []) if ty == "alert.escalated" and s == "15m"]
    resp = esc[0].data.get("response") if len(esc) == 1 else None
    t.check(len(esc) == 1 and esc[0].day == D("2026-12-18") and isinstance(resp, dict)
            and resp.get("state") == "snoozed" and resp.get("until") == "2027-01-09",
            "w1: RO-14, snoozed until 9 Jan, reaches 15m on 18 Dec: one alert.escalated that "
            "day showing the snooze (RESPONSES.md: 'a new stage is still notified, showing the "
            "snooze'; data.response as README shapes it)",
            "got %s" % [(n.brief(), n.data.get("response")) for n in esc])

    run_world(procs, tmp, db, recv, "w2", CUSTOM_ESCALATE,
              {"region": "england-and-wales", "closures": []}, [], smtp, ca)
    run_world(procs, tmp, db, recv, "w3", DEFAULT_ESCALATE, {"region": "scotland"}, [])
    for a in ASSUMPTIONS:
        t.note("assumed: " + a)
    if not os.environ.get("RESPONSES_ORACLE_KEEP"):
        db.drop()


def main():
    t = tap.Tap()
    rc = lib.run_test(t, "responses_oracle", run)
    print("# %d passed, %d failed" % (tap.passed, tap.failures), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
