#!/usr/bin/python3
"""Differential oracle for the seven rules: an independent reading of ../shared/spec (RULES.md,
CONTRACT.md) in Python, compared with the daemon's dry run on random case data it never saw.

For each of several seeds, generates a few hundred children whose rows crowd the places where
the rules decide (dates exactly N months after a start and a day either side, month ends and
Feb 29, plans closed and reopened merge_gap_days - 1, merge_gap_days and merge_gap_days + 1 days
after the latest end of all earlier plans, ties on start dates, several open plans, strategies
decided and reviewed around T, appointments a minute either side of local midnight in
Europe/London on both sides of the BST changes, resent appointments, allocations starting
T - 14 and T - 13 days, referrals exactly 12 and 24 months apart, ...). The data is clean as
CONTRACT.md defines it (unique keys, no NULL where a column is not nullable, no end before its
start, known codes, no dangling identifiers), so that a difference is about the rules themselves.

Loads rules/contract.sql and the generated rows into schema oracle_sN of database dworacle, runs
`$DRIFTWATCHD -c CFG --once --dry-run --as-of T` for four days T per seed, and compares, per
(seed, T, rule), the children alerted, their subjects and stages with what the reference reading
of RULES.md gives (defaults: merge_gap_days 28, neglect_categories ["NEG"], strategy_months 6,
re_referral 12 / 24 / 3, time zone Europe/London). Then, per (seed, T, rule), `since` and the
facts RULES.md names, and the recipients: their roles (RULES.md's tables) and addresses
(RULES.md's Recipients). A mismatch lists up to 10 children with their rows and both answers as
`# ` lines. Each rule must give some alerts across the seeds, so that no comparison is empty.

Where RULES.md names a fact without defining it, the reference takes the plain reading: `months`
is the greatest N with T >= episode start + N months; repeat_neglect_plan's `gap_days` runs from
the previous plan's end to this episode's start (what its stages measure) and `plan_number` is
the current plan's place among all the child's CP plans by start; worker_change's "in the last
12/24 months" are the windows T - N months < day <= T (local dates, resent appointments once) and
its distinct workers are worker_churn's. Where RULES.md leaves a choice open the reference accepts
either answer: a supervisor (or a CP chair) with no address may resolve to the team's
manager_email (the CP chairs' address) or to the fallback, and with no open allocation the
supervisor and the allocated worker may be one recipient at the fallback address. Identifier ties
are broken in byte order, the order of the tests' C.UTF-8 database.

Environment: DRIFTWATCHD (default build/san/driftwatchd), PGHOST PGPORT PGUSER (defaults
127.0.0.1 15432 dwtest), DW_TOP (the source tree), ORACLE_SEEDS (default 1 2 3 4 5 6 7 8),
ORACLE_CHILDREN (children per seed, default 400), ORACLE_KEEP=1 keeps database dworacle.
Standard library only; PostgreSQL is reached with psql.
"""

import calendar
import concurrent.futures
import datetime
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
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
DBNAME = "dworacle"
RUN_TIMEOUT = int(os.environ.get("DW_RUN_TIMEOUT", "150"))
SEEDS = [int(s) for s in (os.environ.get("ORACLE_SEEDS") or "1 2 3 4 5 6 7 8").split()]
N_CHILDREN = int(os.environ.get("ORACLE_CHILDREN") or "400")

LINK = "https://lcs.example.gov.uk/person/{child_id}"
ADDR = {
    "fallback": "duty@la.example",
    "cp_chair": "cp-chairs@la.example",
    "cp_manager": "cp-manager@la.example",
    "head_of_service": "hos@la.example",
    "operators": "it-ops@la.example",
}

# The defaults of RULES.md and CONTRACT.md
MERGE_GAP = 28
NEGLECT_CATEGORIES = ("NEG",)
STRATEGY_MONTHS = 6
RR_WINDOW, RR_CYCLE, RR_COUNT = 12, 24, 3
TZ = zoneinfo.ZoneInfo("Europe/London")
UTC = datetime.timezone.utc

CIN, CP, REP, WNB, WC, CHURN, RR = ("cin_neglect_duration", "cp_neglect_duration",
                                    "repeat_neglect_plan", "was_not_brought", "worker_change",
                                    "worker_churn", "re_referral")
RULES = [CIN, CP, REP, WNB, WC, CHURN, RR]
ROLES = {
    (CIN, "6m"): {"supervisor"},
    (CP, "9m"): {"supervisor"},
    (CP, "12m"): {"supervisor", "cp_chair"},
    (CP, "15m"): {"cp_chair", "cp_manager", "supervisor"},
    (CP, "18m"): {"head_of_service", "cp_chair", "supervisor"},
    (REP, "any"): {"cp_chair", "supervisor"},
    (REP, "24m"): {"cp_chair", "supervisor"},
    (REP, "12m"): {"cp_chair", "supervisor"},
    (WNB, "vulnerable"): {"supervisor", "allocated_worker"},
    (WNB, "repeated"): {"supervisor", "allocated_worker"},
    (WC, "handover"): {"supervisor", "allocated_worker"},
    (CHURN, "churn"): {"supervisor"},
    (RR, "12m"): {"supervisor"},
    (RR, "cycle"): {"supervisor", "head_of_service"},
}

# Evaluation days: month ends (Feb 28 and 29, 31st), the days of the BST changes, and days
# whose T - 6 months (the missed-appointment window) or T - 12 months falls on one of them.
DAYS = [
    ["2026-02-28", "2026-08-31", "2026-03-29", "2025-09-30"],
    ["2028-02-29", "2026-10-25", "2026-09-29", "2028-08-31"],   # 2026-09-29 - 6 months: BST
    ["2027-02-28", "2026-04-26", "2025-12-31", "2027-03-31"],   # 2026-04-26 - 6 months: GMT
    ["2026-11-21", "2027-03-28", "2026-05-31", "2027-09-28"],
    ["2028-02-28", "2027-01-31", "2026-10-26", "2027-04-30"],
    ["2026-06-30", "2027-10-31", "2026-03-30", "2029-02-28"],
    ["2027-08-31", "2026-12-31", "2027-04-25", "2029-03-01"],
    ["2026-07-31", "2025-10-27", "2027-11-30", "2028-03-26"],
]


def seed_days(seed):
    return [datetime.date.fromisoformat(d) for d in DAYS[(seed - 1) % len(DAYS)]]


# ------------------------------------------------------------------------------------------
# Dates

ONE = datetime.timedelta(days=1)


def days(n):
    return datetime.timedelta(days=n)


def add_months(d, n):
    """d + interval 'n months' as PostgreSQL computes it: clamped to the month's end."""
    m0 = d.month - 1 + n
    y, m = d.year + m0 // 12, m0 % 12 + 1
    return datetime.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def open_on(start, end, t):
    """CONTRACT.md: open on T when start_date <= T and (end_date IS NULL or T < end_date)."""
    return start <= t and (end is None or t < end)


def local_date(ts):
    return ts.astimezone(TZ).date()


def iso(d):
    return None if d is None else d.isoformat()


# ------------------------------------------------------------------------------------------
# The generator

class Child:
    def __init__(self, cid):
        self.cid = cid
        self.row = None          # (family_id, date_of_birth, expected_dob, disability)
        self.cin = []            # dicts: plan_id start end neglect
        self.cp = []             # dicts: plan_id start end initial latest chair
        self.strategies = []     # dicts: strategy_id kind decided review
        self.appts = []          # dicts: appointment_id service ts outcome
        self.allocs = []         # dicts: allocation_id worker start end
        self.refs = []           # dicts: referral_id date need neglect closure reason


class World:
    """One seed's case data."""

    def __init__(self, seed):
        self.seed = seed
        self.days = seed_days(seed)
        self.teams = []          # (team_id, name, manager_email)
        self.workers = {}        # worker_id -> dict(email, team, supervisor, role, name)
        self.children = []


def pick_w(rng, pairs):
    """A weighted choice from [(weight, value), ...]."""
    total = sum(w for w, _ in pairs)
    x = rng.random() * total
    for w, v in pairs:
        x -= w
        if x < 0:
            return v
    return pairs[-1][1]


def near(rng, d):
    """A day at, or just around, d (mostly within a day)."""
    return d + days(pick_w(rng, [(5, 0), (3, -1), (3, 1), (1, -2), (1, 2),
                                 (2, rng.randint(-40, 40))]))


def months_before(rng, t, n):
    """A day whose n-month anniversary is at or just around t, month-end variants included."""
    base = add_months(t, -n)
    if rng.random() < 0.3:
        # the days of base's month from the 28th on: t + clamping may map several onto t
        last = calendar.monthrange(base.year, base.month)[1]
        return base.replace(day=rng.randint(min(28, last), last))
    return near(rng, base)


def ids(prefix, n, rng):
    """n identifiers whose text order is neither their creation order nor their numbers'
    order ("-10" sorts before "-9"); now and then GUIDs, or codes in mixed case and
    separators (byte order: "A" < "_" < "a", the order of the tests' C.UTF-8 database)."""
    ks = rng.sample(range(1, 13), n) if n <= 12 else rng.sample(range(1, 10 * n), n)
    style = pick_w(rng, [(14, "num"), (3, "guid"), (3, "mixed")])
    if style == "guid":
        return ["%08x-%04x-4%03x-a%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16),
                                                 rng.getrandbits(12), rng.getrandbits(12),
                                                 rng.getrandbits(48)) for _ in ks]
    if style == "mixed":
        return [rng.choice(["%s-%d", "%s_%d", "%s/%d", "%s.%d"]) % (
            rng.choice([prefix, prefix.lower(), prefix.upper()]), k) for k in ks]
    return ["%s-%d" % (prefix, k) for k in ks]


def gen_chain(rng, t0, thresholds, is_cp):
    """Plans (start, end) of one kind: a chain starting near a threshold before t0, closed and
    reopened around merge_gap_days, overlapping, tied; sometimes an earlier episode."""
    plans = []
    n = rng.choice(thresholds) if rng.random() < 0.85 else rng.randint(0, 30)
    e0 = months_before(rng, t0, n)
    k = pick_w(rng, [(40, 1), (30, 2), (20, 3), (10, 4), (4, 6)])
    latest = None   # the latest end so far; "open" for an open plan
    prev_start = None
    for i in range(k):
        if i == 0:
            s = e0
        else:
            mode = pick_w(rng, [(5, "gap"), (3, "overlap"), (1, "tie")])
            if latest == "open" and mode == "gap":
                mode = "overlap"
            if mode == "gap":
                s = latest + days(pick_w(rng, [(3, MERGE_GAP - 1), (4, MERGE_GAP),
                                               (4, MERGE_GAP + 1), (1, 0), (1, 1),
                                               (1, MERGE_GAP + 2), (1, rng.randint(2, 26))]))
            elif mode == "overlap":
                hi = t0 if latest == "open" else latest
                lo = prev_start
                s = lo + days(rng.randint(0, max(0, (hi - lo).days)))
            else:
                s = prev_start
        last = i == k - 1
        r = rng.random()
        if r < (0.5 if last else 0.08):
            e = None
        elif r < (0.75 if last else 0.25):
            e = t0 + days(rng.choice([0, 0, 1, -1, 2]))
        elif r < (0.82 if last else 0.4):
            e = s + days(rng.choice([0, 1, 2]))
        else:
            e = s + days(rng.randint(5, 420))
        if e is not None and e < s:
            e = s + days(rng.randint(0, 60))
        if e is None and last and rng.random() < 0.08:
            e = datetime.date(2099, 12, 31)     # a far end some systems write for none
        plans.append([s, e])
        prev_start = s
        if e is None or latest == "open":
            latest = "open"
        else:
            latest = e if latest is None else max(latest, e)
    # an earlier episode: a plan that ended 12 or 24 months (or merge_gap_days) before this one
    if rng.random() < (0.6 if is_cp else 0.25):
        for _ in range(pick_w(rng, [(3, 1), (1, 2)])):
            kind = pick_w(rng, [(3, 12), (3, 24), (2, "gap"), (1, "far")])
            if kind == "gap":
                pe = e0 - days(rng.choice([MERGE_GAP - 1, MERGE_GAP, MERGE_GAP + 1,
                                           MERGE_GAP + 2]))
            elif kind == "far":
                pe = e0 - days(rng.randint(30, 1200))
            else:
                pe = months_before(rng, e0, kind)
            ps = pe - days(pick_w(rng, [(4, rng.randint(30, 500)), (1, 0)]))
            plans.append([ps, pe])
    return plans


def gen_world(seed, n_children):
    rng = random.Random(1000003 * seed + 17)
    w = World(seed)
    p = "S%d" % seed
    w.teams = [(p + "-TM-A", "Team A", "mgr-a@la.example"),
               (p + "-TM-B", "Team B", None),
               (p + "-TM-C", "Team C", "mgr-c@la.example")]
    tA, tB, tC = (t[0] for t in w.teams)

    def worker(wid, role, email, team, sup):
        w.workers[wid] = dict(name="Worker " + wid, role=role, email=email, team=team,
                              supervisor=sup)
    worker(p + "-HOS", "head_of_service", "hos-person@la.example", None, None)
    worker(p + "-SUP1", "team_manager", "sup1@la.example", tA, p + "-HOS")
    worker(p + "-SUP2", "team_manager", "sup2@la.example", tB, None)
    worker(p + "-SUP3", "team_manager", None, tC, p + "-HOS")
    worker(p + "-CH1", "cp_chair", "chair1@la.example", None, None)
    worker(p + "-CH2", "cp_chair", "chair2@la.example", None, p + "-HOS")
    # (supervisor, team, email) of each social worker: every way RULES.md's Recipients table
    # resolves the supervisor and the allocated worker
    sws = []
    for i, (sup, team, email) in enumerate([
            ("SUP1", tA, True),     # the supervisor's address
            ("SUP2", tB, True),
            ("SUP3", tA, True),     # a supervisor with no address, a team manager
            ("SUP3", tB, True),     # a supervisor with no address, no team manager
            (None, tA, True),       # no supervisor: the team manager
            (None, tB, True),       # no supervisor, no team manager: the fallback
            (None, None, True),     # no supervisor, no team: the fallback
            ("SUP1", None, False),  # no address of their own
            (None, tC, False),
            ("SUP2", tC, True)], start=1):
        wid = "%s-SW%d" % (p, i)
        worker(wid, "social_worker", "sw%d@la.example" % i if email else None, team,
               p + "-" + sup if sup else None)
        sws.append(wid)

    pool = sws * 4 + [p + "-SUP3", p + "-SUP1"]   # now and then a manager holds the case
    for idx in range(1, n_children + 1):
        # identifiers are text (CONTRACT.md): a few with quotes, a backslash, spaces, accents
        c = Child("%s-C%04d" % (p, idx) + pick_w(rng, [(40, ""), (1, " O'Brien"), (1, '"q"'),
                                                      (1, "\\x"), (1, " é ü-ß"),
                                                      (1, " (twin)")]))
        t0 = rng.choice(w.days)
        gen_child(rng, w, c, t0, pool)
        w.children.append(c)
    return w


def gen_child(rng, w, c, t0, sws):
    cid = c.cid
    # CIN plans
    if rng.random() < 0.45:
        chain = gen_chain(rng, t0, [6], False)
        for pid, (s, e) in zip(ids(cid + "-CIN", len(chain), rng), chain):
            c.cin.append(dict(plan_id=pid, start=s, end=e, neglect=rng.random() < 0.82))
    # CP plans
    if rng.random() < 0.5:
        chain = gen_chain(rng, t0, [9, 12, 15, 18, 15, 18], True)
        cats = ["NEG", "PHY", "EMO", "SAB", "MUL"]
        for pid, (s, e) in zip(ids(cid + "-CPP", len(chain), rng), chain):
            if rng.random() < 0.7:
                init, latest = pick_w(rng, [(5, ("NEG", None)), (2, ("NEG", "NEG")),
                                            (2, (rng.choice(cats[1:]), "NEG"))])
            else:
                init, latest = pick_w(rng, [(3, (rng.choice(cats[1:]), None)),
                                            (2, ("NEG", rng.choice(cats[1:]))),
                                            (1, (rng.choice(cats[1:]), rng.choice(cats)))])
            chair = pick_w(rng, [(4, "S%d-CH1" % w.seed), (2, "S%d-CH2" % w.seed),
                                 (2, None), (1, "S%d-SW8" % w.seed)])
            c.cp.append(dict(plan_id=pid, start=s, end=e, initial=init, latest=latest,
                             chair=chair))
        # strategies
        if rng.random() < 0.6:
            n = pick_w(rng, [(3, 1), (1, 2), (1, 3)])
            starts = sorted(pl["start"] for pl in c.cp)
            for sid in ids(cid + "-ST", n, rng):
                anchor = rng.choice(starts)
                dec = pick_w(rng, [(2, anchor - ONE), (2, anchor), (2, t0), (1, t0 + ONE),
                                   (3, months_before(rng, t0, STRATEGY_MONTHS)),
                                   (3, anchor + days(rng.randint(1, 600)))])
                rev = pick_w(rng, [(4, None), (2, t0 - ONE), (2, t0), (2, t0 + ONE),
                                   (1, dec), (2, dec + days(rng.randint(1, 300)))])
                if rev is not None and rev < dec:
                    rev = pick_w(rng, [(1, None), (1, dec)])
                c.strategies.append(dict(strategy_id=sid, kind=rng.choice(
                    ["plo", "care_proceedings", "step_down", "family_group_conference"]),
                    decided=dec, review=rev))
    # appointments
    if rng.random() < 0.5:
        win = add_months(t0, -6)
        n = pick_w(rng, [(4, 1), (3, 2), (2, 3), (1, 4)])
        rows = []
        for _ in range(n):
            d = pick_w(rng, [(3, win), (3, win + ONE), (3, t0), (2, t0 + ONE),
                             (2, win - ONE),
                             (4, win + days(rng.randint(1, max(1, (t0 - win).days)))),
                             (1, win - days(rng.randint(2, 90)))])
            midnight = datetime.datetime.combine(d, datetime.time(0, 0), TZ).astimezone(UTC)
            minutes = pick_w(rng, [(2, -61), (3, -60), (2, -59), (2, -1), (3, 0), (2, 1),
                                   (2, 59), (3, 60), (2, 61), (2, 600), (1, 1439)])
            ts = midnight + datetime.timedelta(minutes=minutes) + pick_w(rng, [
                (8, datetime.timedelta(0)), (1, datetime.timedelta(microseconds=-1)),
                (1, datetime.timedelta(seconds=-1)), (1, datetime.timedelta(seconds=59))])
            outcome = pick_w(rng, [(13, "was_not_brought"), (2, "attended"),
                                   (1, "cancelled_by_family"), (1, "cancelled_by_service"),
                                   (1, "pending")])
            service = rng.choice(["health_visiting", "gp", "dental", "paediatrics",
                                  "hospital", "camhs"])
            rows.append((service, ts, outcome))
            r = rng.random()
            if r < 0.2:      # a resend: the same service and time under another id
                rows.append((service, ts, outcome))
                if rng.random() < 0.3:
                    rows.append((service, ts, outcome))
            elif r < 0.3:    # the same time at another service: two appointments
                rows.append((rng.choice(["dental", "camhs"]) if service == "gp" else "gp", ts,
                             outcome))
            elif r < 0.4:    # the same service another time (maybe the same local day)
                rows.append((service, ts + datetime.timedelta(
                    minutes=rng.choice([30, 60, 90, -30])), outcome))
        for aid, (service, ts, outcome) in zip(ids(cid + "-AP", len(rows), rng), rows):
            c.appts.append(dict(appointment_id=aid, service=service, ts=ts, outcome=outcome))
    # the child
    first_appt = min((local_date(a["ts"]) for a in c.appts), default=t0)
    wnb_days = [local_date(a["ts"]) for a in c.appts if a["outcome"] == "was_not_brought"]
    r = rng.random()
    expected = None
    if r < 0.1:
        dob = None
        expected = t0 + days(rng.randint(10, 200))
    elif r < 0.45 and wnb_days:
        # the first birthday on, or a day either side of, a missed appointment's day
        dob = add_months(rng.choice(wnb_days), -12) + days(rng.choice([-1, 0, 0, 1, 1]))
    elif r < 0.5:
        dob = first_appt - days(rng.randint(100, 400))
    elif r < 0.53 and wnb_days:
        # born after a missed appointment: under one on its date (date < date_of_birth + 1 year)
        dob = min(wnb_days) + days(rng.randint(1, 60))
    else:
        dob = first_appt - days(rng.randint(30, 6200))
    if dob is not None and rng.random() < 0.1 and calendar.isleap(dob.year) and dob.month == 2:
        dob = dob.replace(day=29)
    c.row = ("F-%s" % cid if rng.random() < 0.7 else None, dob, expected, rng.random() < 0.2)
    # allocations
    if rng.random() < 0.85:
        rows = []
        cur_w = rng.choice(sws)
        cs = pick_w(rng, [(3, t0 - days(14)), (3, t0 - days(13)), (2, t0 - days(15)),
                          (2, t0), (1, t0 - ONE), (1, t0 + ONE),
                          (4, t0 - days(rng.randint(16, 500)))])
        ce = pick_w(rng, [(8, None), (1, t0), (1, t0 + ONE), (1, cs)])
        if ce is not None and ce < cs:
            ce = cs
        rows.append((cur_w, cs, ce))
        if rng.random() < 0.85:
            pw = cur_w if rng.random() < 0.3 else rng.choice(sws)
            ps = cs - days(pick_w(rng, [(1, 0), (6, rng.randint(1, 400))]))
            pe = pick_w(rng, [(4, cs), (2, cs - days(rng.randint(1, 30))), (1, None),
                              (1, cs + days(rng.randint(1, 10))), (1, ps)])
            if pe is not None and pe < ps:
                pe = ps
            rows.append((pw, ps, pe))
        if rng.random() < 0.12:      # the same start as the current one
            rows.append((rng.choice(sws), cs, pick_w(rng, [(2, None), (1, t0 + ONE)])))
        w12 = add_months(t0, -12)
        for _ in range(pick_w(rng, [(3, 0), (3, 1), (2, 2), (1, 3)])):
            s = w12 - days(rng.randint(0, 200))
            e = pick_w(rng, [(2, w12), (2, w12 + ONE), (2, w12 + days(2)),
                             (2, s + days(rng.randint(0, 300)))])
            if e < s:
                e = s
            rows.append((rng.choice(sws), s, e))
        for aid, (wid, s, e) in zip(ids(cid + "-AL", len(rows), rng), rows):
            c.allocs.append(dict(allocation_id=aid, worker=wid, start=s, end=e))
    # referrals
    if rng.random() < 0.5:
        rows = []
        cur = t0 - days(pick_w(rng, [(2, 0), (1, 1), (1, -1), (4, rng.randint(2, 400))]))
        clo = pick_w(rng, [(6, None), (2, t0), (1, t0 - ONE), (1, t0 + ONE), (1, cur),
                           (1, cur + days(rng.randint(1, 400)))])
        rows.append((cur, clo if clo is None or clo >= cur else cur))
        for _ in range(pick_w(rng, [(1, 0), (3, 1), (3, 2), (2, 3), (1, 4)])):
            d = pick_w(rng, [(3, months_before(rng, cur, 12)), (3, months_before(rng, cur, 24)),
                             (1, cur), (2, cur - days(rng.randint(1, 900)))])
            clo = pick_w(rng, [(1, None), (4, d + days(rng.randint(0, 300)))])
            rows.append((d, clo))
        for rid, (d, clo) in zip(ids(cid + "-RF", len(rows), rng), rows):
            # CONTRACT.md: neglect is not nullable (a NULL is a bad row, left out here)
            neg = rng.random() < 0.38
            need = pick_w(rng, [(25, "N1"), (60, "N%d" % rng.randint(2, 9)), (15, None)])
            c.refs.append(dict(referral_id=rid, date=d, need=need, neglect=neg, closure=clo,
                               reason=None if clo is None else "RC%d" % rng.randint(1, 9)))


# ------------------------------------------------------------------------------------------
# SQL

def lit(v, rng=random.Random(7)):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        # one instant, spelt in UTC or with the local offset
        return "'%s'::timestamptz" % v.astimezone(rng.choice([UTC, TZ])).isoformat()
    if isinstance(v, datetime.date):
        return "'%s'::date" % v.isoformat()
    return "'" + str(v).replace("'", "''") + "'"


def insert(table, rows):
    if not rows:
        return ""
    return "INSERT INTO %s VALUES\n%s;\n" % (table, ",\n".join(
        "(" + ", ".join(lit(v) for v in r) + ")" for r in rows))


def world_sql(w, rng):
    out = [insert("teams", [(t, n, m, None) for t, n, m in w.teams]),
           insert("workers", [(wid, d["name"], d["email"], d["team"], d["supervisor"], d["role"])
                              for wid, d in w.workers.items()])]
    tabs = {k: [] for k in ("children", "allocations", "referrals", "cin_plans", "cp_plans",
                            "appointments", "strategies")}
    for c in w.children:
        tabs["children"].append((c.cid,) + c.row)
        tabs["allocations"] += [(a["allocation_id"], c.cid, a["worker"], a["start"], a["end"])
                                for a in c.allocs]
        tabs["referrals"] += [(r["referral_id"], c.cid, r["date"], r["need"], r["neglect"],
                               r["closure"], r["reason"]) for r in c.refs]
        tabs["cin_plans"] += [(p["plan_id"], c.cid, p["start"], p["end"], p["neglect"])
                              for p in c.cin]
        tabs["cp_plans"] += [(p["plan_id"], c.cid, p["start"], p["end"], p["initial"],
                              p["latest"], p["chair"]) for p in c.cp]
        tabs["appointments"] += [(a["appointment_id"], c.cid, a["service"], a["ts"],
                                  a["outcome"]) for a in c.appts]
        tabs["strategies"] += [(s["strategy_id"], c.cid, s["kind"], s["decided"], s["review"])
                               for s in c.strategies]
    for t, rows in tabs.items():
        rng.shuffle(rows)   # no help from the order rows were inserted in
        out.append(insert(t, rows))
    return "".join(out)


# ------------------------------------------------------------------------------------------
# The reference: RULES.md read on its own

def is_neglect_cp(p):
    return (p["latest"] if p["latest"] is not None else p["initial"]) in NEGLECT_CATEGORIES


def episodes(plans):
    """RULES.md, Episodes: plans in order of start (ties: plan_id); a plan joins the episode
    when it starts no more than merge_gap_days after the latest end among the plans before it
    (an open plan: no end)."""
    eps = []
    latest = None          # date, or "open"
    for p in sorted(plans, key=lambda p: (p["start"], p["plan_id"])):
        if eps and (latest == "open" or p["start"] <= latest + days(MERGE_GAP)):
            eps[-1].append(p)
        else:
            eps.append([p])
        if p["end"] is None or latest == "open":
            latest = "open"
        else:
            latest = p["end"] if latest is None else max(latest, p["end"])
    return eps


def current_episode(plans, t):
    """(current plan, its episode) among the plans that count, or (None, None)."""
    open_ = [p for p in plans if open_on(p["start"], p["end"], t)]
    if not open_:
        return None, None
    cur = max(open_, key=lambda p: (p["start"], p["plan_id"]))
    for ep in episodes(plans):
        if any(p is cur for p in ep):
            return cur, ep
    raise AssertionError("plan in no episode")


class Want:
    """What the reference says for one rule and child."""

    def __init__(self, subject, stage, since=None, facts=None, why=""):
        self.subject, self.stage, self.since = subject, stage, since
        self.facts = facts or {}   # path -> value or predicate (callable)
        self.why = why


def whole_months(e, t):
    """The greatest N with T >= e + N months: how many months RULES.md's thresholds reached."""
    n = 0
    while add_months(e, n + 1) <= t:
        n += 1
    return n


def ref_cin(c, t):
    plans = [p for p in c.cin if p["neglect"] is True]
    cur, ep = current_episode(plans, t)
    if cur is None:
        return None
    first = ep[0]
    if t < add_months(first["start"], 6):
        return None
    return Want(first["plan_id"], "6m", since=first["start"],
                facts={"episode_start": iso(first["start"]), "plan_start": iso(cur["start"]),
                       "current_plan_id": cur["plan_id"],
                       "months": whole_months(first["start"], t)},
                why="current plan %s, episode %s from %s (+6 months: %s)" % (
                    cur["plan_id"], [p["plan_id"] for p in ep], first["start"],
                    add_months(first["start"], 6)))


def active_strategies(c, ep_start, t):
    """CONTRACT.md: episode_start <= decided_on <= T, and T <= review_by, or, when review_by is
    NULL, T <= decided_on + 6 months."""
    out = []
    for s in c.strategies:
        if not (ep_start <= s["decided"] <= t):
            continue
        until = s["review"] if s["review"] is not None else add_months(s["decided"],
                                                                        STRATEGY_MONTHS)
        if t <= until:
            out.append(s)
    return out


def ref_cp(c, t):
    plans = [p for p in c.cp if is_neglect_cp(p)]
    cur, ep = current_episode(plans, t)
    if cur is None:
        return None
    first = ep[0]
    e = first["start"]
    active = active_strategies(c, e, t)
    stage = None
    for n, st, needs_no_strategy in ((9, "9m", False), (12, "12m", False), (15, "15m", True),
                                     (18, "18m", True)):
        if t >= add_months(e, n) and not (needs_no_strategy and active):
            stage = st
    if stage is None:
        return None
    facts = {"episode_start": iso(e), "plan_start": iso(cur["start"]),
             "current_plan_id": cur["plan_id"], "months": whole_months(e, t)}
    act_ids = sorted(s["strategy_id"] for s in active)
    if t >= add_months(e, 15):
        if active:
            def strat_ok(v, act_ids=act_ids):
                return isinstance(v, dict) and v.get("strategy_id") in act_ids
            strat_ok.__doc__ = "an active strategy: one of %s" % act_ids
            facts["strategy"] = strat_ok
        else:
            facts["strategy"] = None
    return Want(first["plan_id"], stage, since=e, facts=facts,
                why="current plan %s, episode %s from %s; 9/12/15/18 months on %s; "
                    "active strategies on T: %s" % (
                        cur["plan_id"], [p["plan_id"] for p in ep], e,
                        [iso(add_months(e, n)) for n in (9, 12, 15, 18)], act_ids or "none"))


def ref_rep(c, t):
    plans = [p for p in c.cp if is_neglect_cp(p)]
    cur, ep = current_episode(plans, t)
    if cur is None:
        return None
    e = ep[0]["start"]
    before = [p for p in plans if p["end"] is not None and p["end"] < e]
    if not before:
        return None
    pe = max(p["end"] for p in before)
    stage = "any"
    if e <= add_months(pe, 24):
        stage = "24m"
    if e <= add_months(pe, 12):
        stage = "12m"
    prev_ids = sorted(p["plan_id"] for p in before if p["end"] == pe)
    # "the previous plan's dates, the gap in days, and this plan's number among the child's CP
    # plans": the gap is what the stages measure (previous end to this episode's start)
    facts = {"previous_plan_end": iso(pe), "episode_start": iso(e), "gap_days": (e - pe).days,
             "plan_number": sorted(c.cp, key=lambda p: (p["start"], p["plan_id"])).index(cur)
             + 1}
    if len(prev_ids) == 1:
        facts["previous_plan_id"] = prev_ids[0]
        facts["previous_plan_start"] = iso([p for p in before if p["end"] == pe][0]["start"])
    return Want(ep[0]["plan_id"], stage, since=e, facts=facts,
                why="current plan %s, episode from %s (%s); previous neglect plan %s ended %s "
                    "(+12 months %s, +24 months %s)" % (
                        cur["plan_id"], e, ep[0]["plan_id"], prev_ids, pe,
                        add_months(pe, 12), add_months(pe, 24)))


def missed(c, lo, t):
    """Missed appointments with lo < local date <= T: (service, scheduled_for) -> date."""
    seen = {}
    for a in c.appts:
        if a["outcome"] != "was_not_brought":
            continue
        d = local_date(a["ts"])
        if lo < d <= t:
            seen.setdefault((a["service"], a["ts"]), d)
    return seen


def ref_wnb(c, t):
    lo = add_months(t, -6)
    seen = missed(c, lo, t)
    n = len(seen)
    if n == 0:
        return None
    dob, disability = c.row[1], c.row[3]
    under_one = dob is not None and any(d < add_months(dob, 12) for d in seen.values())
    on_cp = any(open_on(p["start"], p["end"], t) for p in c.cp)
    if n >= 2:
        stage = "repeated"
    elif under_one or on_cp or disability is True:
        stage = "vulnerable"
    else:
        return None
    facts = {"count": n, "on_cp_plan": on_cp, "latest": iso(max(seen.values()))}
    if n == 1 and dob is not None:
        facts["under_one"] = under_one
    elif n == 1:
        def unknown(v):
            return v is None or v is False
        unknown.__doc__ = "unknown (null) or false: no date_of_birth"
        facts["under_one"] = unknown
    return Want(None, stage, facts=facts,
                why="window %s < local date <= %s: %d appointment(s) %s; under one: %s, CP plan "
                    "open on T: %s, disability: %s" % (
                        lo, t, n, sorted(iso(d) for d in seen.values()), under_one, on_cp,
                        disability))


def neglect_open(c, t):
    return any(p["neglect"] is True and open_on(p["start"], p["end"], t) for p in c.cin) or \
        any(is_neglect_cp(p) and open_on(p["start"], p["end"], t) for p in c.cp)


def current_alloc(c, t):
    open_ = [a for a in c.allocs if open_on(a["start"], a["end"], t)]
    if not open_:
        return None
    return max(open_, key=lambda a: (a["start"], a["allocation_id"]))


def ref_wc(c, t):
    cur = current_alloc(c, t)
    if cur is None or not (t - days(14) < cur["start"] <= t):
        return None
    earlier = [a for a in c.allocs if a["start"] < cur["start"]]
    if not earlier:
        return None
    prev = max(earlier, key=lambda a: (a["start"], a["allocation_id"]))
    if prev["worker"] == cur["worker"]:
        return None
    if not neglect_open(c, t):
        return None
    firsts = [p["start"] for p in c.cin if p["neglect"] is True and p["start"] <= t] + \
        [p["start"] for p in c.cp if is_neglect_cp(p) and p["start"] <= t]
    return Want(cur["allocation_id"], "handover", since=cur["start"],
                facts={"previous_worker_id": prev["worker"], "new_worker_id": cur["worker"],
                       "allocation_start": iso(cur["start"]),
                       "first_neglect_plan": iso(min(firsts)),
                       "distinct_workers_12m": len(churn_workers(c, t)),
                       "referrals_24m": len([r for r in c.refs
                                             if add_months(t, -24) < r["date"] <= t]),
                       "missed_appointments_12m": len(missed(c, add_months(t, -12), t))},
                why="current allocation %s (%s from %s), previous %s (%s from %s)" % (
                    cur["allocation_id"], cur["worker"], cur["start"], prev["allocation_id"],
                    prev["worker"], prev["start"]))


def churn_workers(c, t):
    lo = add_months(t, -12) + ONE        # the first day D of the window
    out = set()
    for a in c.allocs:
        first = max(a["start"], lo)
        if first <= t and (a["end"] is None or first < a["end"]):
            out.add(a["worker"])
    return out


def ref_churn(c, t):
    if not neglect_open(c, t):
        return None
    ws = churn_workers(c, t)
    if len(ws) < 3:
        return None
    return Want(None, "churn", facts={"distinct_workers": len(ws), "workers": sorted(ws)},
                why="workers of allocations open on a day in (%s, %s]: %s" % (
                    add_months(t, -12), t, sorted(ws)))


def counts_neglect(r):
    return r["neglect"] is True or r["need"] == "N1"


def ref_rr(c, t):
    cands = [r for r in c.refs if r["date"] <= t]
    if not cands:
        return None
    cur = max(cands, key=lambda r: (r["date"], r["referral_id"]))
    if not (cur["closure"] is None or cur["closure"] > t):
        return None
    earlier = [r for r in c.refs if r["date"] < cur["date"]]
    w12 = add_months(cur["date"], -RR_WINDOW)
    w24 = add_months(cur["date"], -RR_CYCLE)
    stage = None
    if any(r["date"] >= w12 and (counts_neglect(cur) or counts_neglect(r)) for r in earlier):
        stage = "12m"
    in24 = [r for r in earlier if r["date"] > w24]
    if len(in24) + 1 >= RR_COUNT and any(counts_neglect(r) for r in in24 + [cur]):
        stage = "cycle"
    if stage is None:
        return None
    prev = max(earlier, key=lambda r: (r["date"], r["referral_id"]))
    facts = {"referral_date": iso(cur["date"]), "primary_need": cur["need"],
             "counts_for_neglect": counts_neglect(cur),
             "previous_referral_date": iso(prev["date"]), "referrals_24m": len(in24) + 1}
    if len([r for r in earlier if r["date"] == prev["date"]]) == 1:
        facts.update(previous_referral_id=prev["referral_id"],
                     previous_closure_date=iso(prev["closure"]),
                     previous_closure_reason=prev["reason"],
                     previous_counts_for_neglect=counts_neglect(prev))
    return Want(cur["referral_id"], stage, since=cur["date"], facts=facts,
                why="current referral %s of %s (closure %s); earlier: %s; 12 months before: %s, "
                    "24 months before: %s" % (
                        cur["referral_id"], cur["date"], cur["closure"],
                        [(r["referral_id"], iso(r["date"])) for r in
                         sorted(earlier, key=lambda r: r["date"])], w12, w24))


REF = {CIN: ref_cin, CP: ref_cp, REP: ref_rep, WNB: ref_wnb, WC: ref_wc, CHURN: ref_churn,
       RR: ref_rr}


# ------------------------------------------------------------------------------------------
# Showing a child's rows

def show_rows(c, rule, t):
    lines = []
    dob, dis = c.row[1], c.row[3]
    if rule in (WNB,):
        lines.append("children: date_of_birth=%s disability=%s" % (iso(dob), dis))
    if rule in (CIN, WC, CHURN):
        for p in sorted(c.cin, key=lambda p: (p["start"], p["plan_id"])):
            lines.append("cin_plans %s: %s .. %s neglect=%s" % (p["plan_id"], p["start"],
                                                                iso(p["end"]), p["neglect"]))
    if rule in (CP, REP, WNB, WC, CHURN):
        for p in sorted(c.cp, key=lambda p: (p["start"], p["plan_id"])):
            lines.append("cp_plans %s: %s .. %s initial=%s latest=%s chair=%s" % (
                p["plan_id"], p["start"], iso(p["end"]), p["initial"], p["latest"], p["chair"]))
    if rule == CP:
        for s in sorted(c.strategies, key=lambda s: s["decided"]):
            lines.append("strategies %s: %s decided_on=%s review_by=%s" % (
                s["strategy_id"], s["kind"], s["decided"], iso(s["review"])))
    if rule == WNB:
        for a in sorted(c.appts, key=lambda a: a["ts"]):
            lines.append("appointments %s: %s %s (local %s) %s" % (
                a["appointment_id"], a["service"], a["ts"].astimezone(UTC).isoformat(),
                a["ts"].astimezone(TZ).isoformat(), a["outcome"]))
    if rule in (WC, CHURN):
        for a in sorted(c.allocs, key=lambda a: (a["start"], a["allocation_id"])):
            lines.append("allocations %s: %s %s .. %s" % (a["allocation_id"], a["worker"],
                                                         a["start"], iso(a["end"])))
    if rule == RR:
        for r in sorted(c.refs, key=lambda r: (r["date"], r["referral_id"])):
            lines.append("referrals %s: %s need=%s neglect=%s closure=%s %s" % (
                r["referral_id"], r["date"], r["need"], r["neglect"], iso(r["closure"]),
                r["reason"]))
    return lines or ["(no rows of the relations this rule reads)"]


def brief(a):
    if a is None:
        return "no alert"
    return "stage %s, subject %s, since %s, facts %s" % (
        a.get("stage"), json.dumps(a.get("subject_id")), a.get("since"),
        json.dumps(a.get("facts"), sort_keys=True)[:700])


def want_text(wt):
    if wt is None:
        return "no alert"
    return "stage %s, subject %s%s" % (wt.stage, json.dumps(wt.subject),
                                       " (%s)" % wt.why if wt.why else "")


# ------------------------------------------------------------------------------------------
# PostgreSQL and the daemon

def pg_env(db):
    env = dict(os.environ)
    env.update(PGHOST=PGHOST, PGPORT=PGPORT, PGUSER=PGUSER, PGDATABASE=db,
               PGOPTIONS="-c client_min_messages=warning")
    return env


def psql(db, args, stdin=None):
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + args
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=pg_env(db),
                          timeout=300)


def write_config(path, schema):
    cfg = {
        "database": {
            "conninfo": "host=%s port=%s dbname=%s user=%s" % (PGHOST, PGPORT, DBNAME, PGUSER),
            "case_schema": schema,
            "state_schema": "oracle_state",
        },
        "addresses": dict(ADDR),
        "link_template": LINK,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent=2)


def run_daemon(cfg, day):
    cmd = [DAEMON, "-c", cfg, "--once", "--dry-run", "--as-of", day.isoformat()]
    try:
        r = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL,
                           timeout=RUN_TIMEOUT)
        rc, out, err = r.returncode, r.stdout.decode(errors="replace"), \
            r.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc = "timeout after %ds" % RUN_TIMEOUT
        out = (e.stdout or b"").decode(errors="replace")
        err = (e.stderr or b"").decode(errors="replace")
    alerts, bad = [], []
    for line in out.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        (alerts if isinstance(obj, dict) else bad).append(obj if isinstance(obj, dict)
                                                          else line)
    return rc, err, alerts, bad


# ------------------------------------------------------------------------------------------
# Comparing

MISSING = object()


def fact(facts, path):
    v = facts
    for part in path.split("."):
        if not isinstance(v, dict) or part not in v:
            return MISSING
        v = v[part]
    return v


def no_subject(v):
    return v is None or v == ""


def same_subject(want, got):
    if want is None:
        return no_subject(got)
    return got == want


def compare(world, day, rule, got_alerts, totals):
    """One TAP check: the children, subjects and stages of one rule on one day."""
    want = {}
    for c in world.children:
        wt = REF[rule](c, day)
        if wt is not None:
            want[c.cid] = wt
    got = {}
    for a in got_alerts:
        if a.get("rule") == rule:
            got.setdefault(a.get("child_id"), a)
    totals[rule] = totals.get(rule, 0) + len(want)
    bychild = {c.cid: c for c in world.children}
    diffs = []
    for cid in sorted(set(want) | set(got)):
        wt, a = want.get(cid), got.get(cid)
        if wt is None or a is None or a.get("stage") != wt.stage or \
                not same_subject(wt.subject, a.get("subject_id")):
            diffs.append(cid)
    name = "rule %s on seed %d as of %s: %d alerts, the same children, subjects and stages " \
           "as RULES.md gives" % (rule, world.seed, day, len(want))
    good = ok(not diffs, name, diffs and "%d children differ (daemon: %d alerts, reference: %d)"
              % (len(diffs), len(got), len(want)))
    if not good:
        for cid in diffs[:10]:
            c = bychild.get(cid)
            tap.note("  child %s, T %s:" % (cid, day))
            tap.note("    daemon:  %s" % brief(got.get(cid)))
            tap.note("    RULES.md: %s" % want_text(want.get(cid)))
            if c is None:
                tap.note("    (not a generated child)")
                continue
            for line in show_rows(c, rule, day):
                tap.note("      " + line)
    return want, got, diffs


def recipient_addresses(world, c, rule, t):
    """RULES.md, Recipients: role -> the addresses it may resolve to, or None when the child has
    no open allocation (then supervisor and allocated_worker go to the fallback)."""
    out = {"cp_manager": {ADDR["cp_manager"]}, "head_of_service": {ADDR["head_of_service"]}}
    fb = ADDR["fallback"]
    cur = current_alloc(c, t)
    if cur is None:
        out["supervisor"] = out["allocated_worker"] = {fb}
    else:
        wk = world.workers[cur["worker"]]
        out["allocated_worker"] = {wk["email"] or fb}
        team = dict((tid, m) for tid, _, m in world.teams).get(wk["team"])
        sup = world.workers.get(wk["supervisor"]) if wk["supervisor"] else None
        if sup is not None and sup["email"]:
            out["supervisor"] = {sup["email"]}
        elif sup is not None:
            # a supervisor with no address: the team's manager_email or the fallback (RULES.md
            # does not say which)
            out["supervisor"] = {team or fb, fb}
        else:
            out["supervisor"] = {team or fb}
    plans = [p for p in c.cp if is_neglect_cp(p)]
    cp_cur, _ = current_episode(plans, t)
    if cp_cur is None or cp_cur["chair"] is None:
        out["cp_chair"] = {ADDR["cp_chair"]}
    elif world.workers[cp_cur["chair"]]["email"]:
        out["cp_chair"] = {world.workers[cp_cur["chair"]]["email"]}
    else:
        # a chair with no address: the CP chairs' address or the fallback (RULES.md does not
        # say which)
        out["cp_chair"] = {ADDR["cp_chair"], ADDR["fallback"]}
    return out, cur is not None


def check_recipients(world, c, rule, t, stage, recips):
    want_roles = ROLES[(rule, stage)]
    if not isinstance(recips, list) or not all(isinstance(r, dict) for r in recips):
        return ["recipients is not a list of objects: %s" % json.dumps(recips)]
    roles = [r.get("role") for r in recips]
    addrs, allocated = recipient_addresses(world, c, rule, t)
    bad = []
    if allocated:
        if sorted(roles) != sorted(want_roles):
            bad.append("recipient roles %s, RULES.md: %s" % (sorted(map(str, roles)),
                                                            sorted(want_roles)))
    else:
        # "A child with no open allocation goes to the configured fallback": the supervisor and
        # the allocated worker may be one recipient at the fallback address
        need = want_roles - {"supervisor", "allocated_worker"}
        if not (set(roles) <= want_roles and need <= set(roles) and len(roles) == len(set(roles))
                and set(roles) & {"supervisor", "allocated_worker"}):
            bad.append("recipient roles %s (no open allocation), RULES.md: %s" % (
                sorted(map(str, roles)), sorted(want_roles)))
    for r in recips:
        role = r.get("role")
        if role in addrs and role in want_roles and r.get("email") not in addrs[role]:
            bad.append("%s is %s, RULES.md's Recipients: %s" % (
                role, r.get("email"), " or ".join(sorted(addrs[role]))))
    return bad


def compare_details(world, day, rule, want, got):
    """One TAP check: since and the named facts of the alerts both sides agree on."""
    bychild = {c.cid: c for c in world.children}
    probs = []
    checked = 0
    for cid, wt in sorted(want.items()):
        a = got.get(cid)
        if a is None or a.get("stage") != wt.stage or \
                not same_subject(wt.subject, a.get("subject_id")):
            continue
        checked += 1
        bad = []
        if wt.since is not None and a.get("since") != iso(wt.since):
            bad.append("since %s, RULES.md: %s" % (a.get("since"), iso(wt.since)))
        facts = a.get("facts") if isinstance(a.get("facts"), dict) else {}
        for path, v in wt.facts.items():
            g = fact(facts, path)
            if callable(v):
                good = g is not MISSING and v(g)
                desc = v.__doc__
            else:
                good = g == v
                desc = json.dumps(v)
            if not good:
                bad.append("facts.%s is %s, RULES.md: %s" % (
                    path, "missing" if g is MISSING else json.dumps(g), desc))
        bad += check_recipients(world, bychild[cid], rule, day, wt.stage,
                                a.get("recipients"))
        if bad:
            probs.append((cid, bad))
    name = "rule %s on seed %d as of %s: since, the facts RULES.md names and the recipients " \
           "of %d alerts" % (rule, world.seed, day, checked)
    if not ok(not probs, name, probs and "%d alerts differ" % len(probs)):
        for cid, bad in probs[:10]:
            tap.note("  child %s, T %s: %s" % (cid, day, "; ".join(bad)))
            tap.note("    daemon:  %s" % brief(got.get(cid)))
            tap.note("    RULES.md: %s" % want_text(want.get(cid)))
            for line in show_rows(bychild[cid], rule, day):
                tap.note("      " + line)


def main():
    if not (os.path.isfile(DAEMON) and os.access(DAEMON, os.X_OK)):
        ok(False, "driftwatchd is built", "%s is not an executable (set DRIFTWATCHD)" % DAEMON)
        return 1
    r = psql("postgres", ["-c", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DBNAME])
    if r.returncode == 0:
        r = psql("postgres", ["-c", 'CREATE DATABASE "%s"' % DBNAME])
    if not ok(r.returncode == 0, "create database " + DBNAME, r.stderr):
        return 1

    tmp = tempfile.mkdtemp(prefix="dw-oracle-", dir=os.environ.get("TEST_TMPDIR"))
    worlds = []
    for seed in SEEDS:
        w = gen_world(seed, N_CHILDREN)
        schema = "oracle_s%d" % seed
        sql = "SET search_path = %s;\n" % schema + world_sql(w, random.Random(seed))
        r = psql(DBNAME, ["-v", "schema=" + schema, "-f", os.path.join(TOP, "rules/contract.sql"),
                          "-f", "-"], stdin=sql)
        if not ok(r.returncode == 0, "seed %d: load %d children into %s (days %s)" % (
                seed, len(w.children), schema, ", ".join(map(iso, w.days))), r.stderr[-2000:]):
            return 1
        cfg = os.path.join(tmp, "seed%d.json" % seed)
        write_config(cfg, schema)
        worlds.append((w, cfg))

    jobs = [(w, cfg, day) for w, cfg in worlds for day in w.days]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        results = list(ex.map(lambda j: run_daemon(j[1], j[2]), jobs))

    totals = {}
    for (w, cfg, day), (rc, err, alerts, bad) in zip(jobs, results):
        tag = "seed %d as of %s" % (w.seed, day)
        san = re.findall(r"(ERROR: (?:Address|Leak|Undefined)Sanitizer[^\n]*|runtime error:"
                         r"[^\n]*)", err)
        ok(rc == 0 and not san and not bad,
           "dry run on %s: exits 0, no sanitizer report, one JSON object a line" % tag,
           "exit status %s; %d bad lines %s; stderr:\n%s" % (rc, len(bad), bad[:3], err[-3000:]))
        badrows = [l.strip() for l in err.splitlines() if "bad row" in l and
                   not re.search(r"bad rows?(: none| [\d.]+ ?m?s\b)", l)]
        ok(not badrows, "dry run on %s: the daemon finds no bad rows in the generated data "
           "(it is clean as CONTRACT.md defines it)" % tag, "\n".join(badrows[:10]))
        keys = [(a.get("rule"), a.get("child_id")) for a in alerts]
        dups = sorted({k for k in keys if keys.count(k) > 1})
        ok(not dups, "dry run on %s: at most one alert per rule and child" % tag,
           "duplicates: %s" % dups[:10])
        unknown = sorted({str(a.get("rule")) for a in alerts} - set(RULES))
        ok(not unknown, "dry run on %s: only the seven rules" % tag, "others: %s" % unknown)
        for rule in RULES:
            want, got, diffs = compare(w, day, rule, alerts, totals)
            compare_details(w, day, rule, want, got)

    for rule in RULES:
        ok(totals.get(rule, 0) >= 5, "rule %s: RULES.md gives some alerts across the seeds "
           "(%d), so its comparisons are not empty" % (rule, totals.get(rule, 0)))

    shutil.rmtree(tmp, ignore_errors=True)
    if not os.environ.get("ORACLE_KEEP"):
        psql("postgres", ["-c", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DBNAME])
    print("# %d passed, %d failed" % (tap.passed, tap.failures), flush=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
