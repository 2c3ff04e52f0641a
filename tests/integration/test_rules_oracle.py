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

Part 2 (bad_rows_part, whose docstring has the details and the readings it takes): for seeds
ORACLE_BAD_SEEDS the same clean worlds with bad rows added (RULES.md, "Data quality": a NULL
that should not be, an end before its start, an unknown code, a dangling identifier, a child
with no children row, identical duplicates) in schemas oracle_bN, compared the same way with
the reference computed on the data with the bad rows left out; and the summary's count of bad
rows in each relation.

Environment: DRIFTWATCHD (default build/san/driftwatchd), PGHOST PGPORT PGUSER (defaults
127.0.0.1 15432 dwtest), DW_TOP (the source tree), ORACLE_SEEDS (default 1 2 3 4 5 6 7 8),
ORACLE_CHILDREN (children per seed, default 400), ORACLE_KEEP=1 keeps database dworacle,
ORACLE_BAD_SEEDS (default 1 2 3 4; empty: no part 2), ORACLE_BAD_PER_KIND (bad rows of each
kind a seed, default 4).
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
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the daemon run, its lines)
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)
from tap import ok  # noqa: E402
from spec_rules import CHURN, CIN, CP, REP, ROLES, RR, RULES, WC, WNB  # noqa: E402

TOP, DAEMON, PGHOST, PGPORT, PGUSER = lib.TOP, lib.DAEMON, lib.PGHOST, lib.PGPORT, lib.PGUSER
DBNAME = "dworacle"
RUN_TIMEOUT = int(os.environ.get("DW_RUN_TIMEOUT", "150"))
SEEDS = [int(s) for s in (os.environ.get("ORACLE_SEEDS") or "1 2 3 4 5 6 7 8").split()]
N_CHILDREN = int(os.environ.get("ORACLE_CHILDREN") or "400")

LINK = "https://lcs.example.gov.uk/person/{child_id}"
ADDR = lib.addresses()

# The defaults of RULES.md and CONTRACT.md
MERGE_GAP = 28
NEGLECT_CATEGORIES = ("NEG",)
STRATEGY_MONTHS = 6
RR_WINDOW, RR_CYCLE, RR_COUNT = 12, 24, 3
TZ = zoneinfo.ZoneInfo("Europe/London")
UTC = datetime.timezone.utc

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
    r = lib.run_daemon(cfg, "--once", "--dry-run", "--as-of", day.isoformat(),
                       timeout=RUN_TIMEOUT)
    alerts, bad = lib.dry_run_alerts(r.out)
    return ("timeout after %ds" % RUN_TIMEOUT if r.rc == "timeout" else r.rc), r.err, alerts, bad


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


def load_world(schema, sql):
    """rules/contract.sql and the world's rows into schema: psql's result."""
    return psql(DBNAME, ["-v", "schema=" + schema, "-f", os.path.join(TOP, "rules/contract.sql"),
                         "-f", "-"], stdin="SET search_path = %s;\n" % schema + sql)


def run_worlds(worlds):
    """Every world's dry runs, two at a time: [(world, day, (rc, err, alerts, bad lines))]."""
    jobs = [(w, cfg, day) for w, cfg in worlds for day in w.days]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        results = list(ex.map(lambda j: run_daemon(j[1], j[2]), jobs))
    return [(w, day, r) for (w, _, day), r in zip(jobs, results)]


def check_run(tag, rc, err, alerts, bad):
    """The checks of every dry run: its exit, its lines, one alert per rule and child, only the
    seven rules."""
    san = re.findall(r"(ERROR: (?:Address|Leak|Undefined)Sanitizer[^\n]*|runtime error:"
                     r"[^\n]*)", err)
    ok(rc == 0 and not san and not bad,
       "dry run on %s: exits 0, no sanitizer report, one JSON object a line" % tag,
       "exit status %s; %d bad lines %s; stderr:\n%s" % (rc, len(bad), bad[:3], err[-3000:]))
    keys = [(a.get("rule"), a.get("child_id")) for a in alerts]
    dups = sorted({k for k in keys if keys.count(k) > 1}, key=str)
    ok(not dups, "dry run on %s: at most one alert per rule and child" % tag,
       "duplicates: %s" % dups[:10])
    unknown = sorted({str(a.get("rule")) for a in alerts} - set(RULES))
    ok(not unknown, "dry run on %s: only the seven rules" % tag, "others: %s" % unknown)


def compare(world, day, rule, got_alerts, totals, tag="seed", said="as RULES.md gives"):
    """One TAP check: the children, subjects and stages of one rule on one day; a differing
    child is shown with its rows and the bad rows it carries (part 2)."""
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
    diffs = [cid for cid in sorted(set(want) | set(got), key=str)
             if want.get(cid) is None or got.get(cid) is None
             or got[cid].get("stage") != want[cid].stage
             or not same_subject(want[cid].subject, got[cid].get("subject_id"))]
    name = "rule %s on %s %d as of %s: %d alerts, the same children, subjects and stages %s" % (
        rule, tag, world.seed, day, len(want), said)
    if not ok(not diffs, name, diffs and "%d children differ (daemon: %d alerts, reference: "
              "%d)" % (len(diffs), len(got), len(want))):
        for cid in diffs[:10]:
            c = bychild.get(cid)
            tap.note("  child %s, T %s:" % (cid, day))
            tap.note("    daemon:  %s" % brief(got.get(cid)))
            tap.note("    RULES.md: %s" % want_text(want.get(cid)))
            if c is None:
                tap.note("    (not a generated child)")
                continue
            for line in child_lines(world, c, rule, day):
                tap.note("      " + line)
    return want, got, diffs


def child_lines(world, c, rule, day):
    """The child's rows the rule reads, then the bad rows it carries (part 2)."""
    return show_rows(c, rule, day) + [b.text() for b in getattr(world, "bad", [])
                                      if b.cid == c.cid]


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


def compare_details(world, day, rule, want, got, tag="seed"):
    """One TAP check: since, the named facts and the recipients of the alerts both sides agree
    on. Returns the differing children: (child, [what differs])."""
    probs, checked = details_problems(world, day, rule, want, got)
    name = "rule %s on %s %d as of %s: since, the facts RULES.md names and the recipients " \
           "of %d alerts" % (rule, tag, world.seed, day, checked)
    if not ok(not probs, name, probs and "%d alerts differ" % len(probs)):
        bychild = {c.cid: c for c in world.children}
        for cid, why in probs[:10]:
            tap.note("  child %s, T %s: %s" % (cid, day, "; ".join(why)))
            tap.note("    daemon:  %s" % brief(got.get(cid)))
            tap.note("    RULES.md: %s" % want_text(want.get(cid)))
            for line in child_lines(world, bychild[cid], rule, day):
                tap.note("      " + line)
    return probs


# ==========================================================================================
# Part 2: the same comparison with bad rows in the data

BAD_SEEDS = [int(s) for s in os.environ.get("ORACLE_BAD_SEEDS", "1 2 3 4").split()]
BAD_PER_KIND = int(os.environ.get("ORACLE_BAD_PER_KIND") or "4")
FAR_PAST = datetime.date(1900, 1, 1)      # where a NULL date would sort first, were it used
CASE_RELS = ("cin_plans", "cp_plans", "strategies", "appointments", "allocations", "referrals")
ALL_RELS = ("teams", "workers", "children") + CASE_RELS
ATTR = {"cin_plans": "cin", "cp_plans": "cp", "strategies": "strategies",
        "appointments": "appts", "allocations": "allocs", "referrals": "refs"}
FEEDS = {"cin_plans": (CIN, WC, CHURN), "cp_plans": (CP, REP, WNB, WC, CHURN),
         "strategies": (CP,), "appointments": (WNB, WC), "allocations": (WC, CHURN),
         "referrals": (RR, WC)}
SERVICES = ["health_visiting", "gp", "dental", "paediatrics", "hospital", "camhs"]
KEPT_KINDS = ("children.no_children_row", "cp_plans.dangling_chair_id",
              "workers.dangling_supervisor_id", "referrals.null_neglect")
# kept rows that are the model's own (the reference reads them): not put in again from w.bad
IN_MODEL = ("cp_plans.dangling_chair_id", "referrals.null_neglect")


def sql_row(rel, cid, r):
    """A model row of a case relation as the table's tuple (a dangling chair_id is kept aside
    in "sql_chair": the model has the chair the reference resolves, none)."""
    if rel == "cin_plans":
        return (r["plan_id"], cid, r["start"], r["end"], r["neglect"])
    if rel == "cp_plans":
        return (r["plan_id"], cid, r["start"], r["end"], r["initial"], r["latest"],
                r.get("sql_chair", r["chair"]))
    if rel == "strategies":
        return (r["strategy_id"], cid, r["kind"], r["decided"], r["review"])
    if rel == "appointments":
        return (r["appointment_id"], cid, r["service"], r["ts"], r["outcome"])
    if rel == "allocations":
        return (r["allocation_id"], cid, r["worker"], r["start"], r["end"])
    return (r["referral_id"], cid, r["date"], r["need"], r["neglect"], r["closure"],
            r["reason"])


def show_sql(row):
    out = []
    for v in row:
        if isinstance(v, datetime.datetime):
            out.append(v.astimezone(UTC).isoformat())
        elif isinstance(v, datetime.date):
            out.append(v.isoformat())
        else:
            out.append(json.dumps(v))
    return "(" + ", ".join(out) + ")"


class BadRow:
    """One row put in: its relation, kind, the child it names (None: no child), its tuple,
    whether the reference changes with it used (harmful) and whether the summary counts it."""

    def __init__(self, rel, kind, cid, sql, harmful=False, counted=True, note=""):
        self.rel, self.kind, self.cid, self.sql = rel, kind, cid, sql
        self.harmful, self.counted, self.note = harmful, counted, note

    def text(self):
        return "%s %s.%s%s%s" % ("bad row" if self.counted else "row", self.rel, self.kind,
                                 " " + show_sql(self.sql) if self.sql else "",
                                 " (%s)" % self.note if self.note else "")


def alert_view(c, t, rules):
    """What the reference says for c on t: stage, subject, since and the plain facts."""
    out = []
    for rule in rules:
        wt = REF[rule](c, t)
        out.append(None if wt is None else (
            wt.stage, wt.subject, wt.since,
            sorted((k, json.dumps(v, default=str)) for k, v in wt.facts.items()
                   if not callable(v))))
    return out


def harms(c, rel, would, t):
    """Whether the row `would`, used as a good row of c, changes c's alerts on t."""
    rows = getattr(c, ATTR[rel])
    base = alert_view(c, t, FEEDS[rel])
    rows.append(would)
    try:
        return alert_view(c, t, FEEDS[rel]) != base
    finally:
        rows.pop()


def plan_dates(rng, plans, t):
    """(start, end) of plans that, were they counted with plans, would move or make an episode
    on t: joining it before its start, ended within merge_gap_days of it, a newer current
    plan, an episode from 6 to 18 months ago, an earlier plan 6 to 25 months before."""
    cur, ep = current_episode(plans, t)
    out = []
    if ep is not None:
        e0 = ep[0]["start"]
        out.append((e0 - days(rng.randint(1, MERGE_GAP)), e0 + days(rng.randint(0, 30))))
        pe = e0 - days(rng.randint(0, MERGE_GAP))
        out.append((pe - days(rng.randint(1, 300)), pe))
        out.append((t - days(rng.randint(0, 20)), None))
    else:
        e0 = t
        out.append((add_months(t, -rng.choice([6, 9, 12, 15, 18])) - days(rng.randint(0, 20)),
                    None))
    pe = add_months(e0, -rng.choice([6, 11, 13, 23, 25]))
    out.append((pe - days(rng.randint(30, 300)), pe))
    rng.shuffle(out)
    return out


def ebs_dates(rng, plans, t):
    """(start, end) with the end before the start: joining the episode if counted (start and
    end within merge_gap_days before its first start), or an earlier plan ended before it."""
    cur, ep = current_episode(plans, t)
    e0 = ep[0]["start"] if ep is not None else t
    k = rng.randint(1, MERGE_GAP - 1)
    j = rng.randint(1, MERGE_GAP - k)
    pe = e0 - days(rng.randint(MERGE_GAP + 1, 700))
    out = [(e0 - days(k), e0 - days(k + j)),
           (pe + days(rng.randint(1, MERGE_GAP)), pe),
           (t - days(rng.randint(0, 20)), t - days(rng.randint(21, 60)))]
    rng.shuffle(out)
    return out


class Ids:
    def __init__(self):
        self.n = 0

    def __call__(self, cid, what):
        self.n += 1
        return "%s-%s-BAD%d" % (cid, what, self.n)


def gen_cin(kind, nid):
    def gen(rng, w, c, t):
        plans = [p for p in c.cin if p["neglect"] is True]
        out = []
        pairs = ebs_dates(rng, plans, t) if kind == "end_before_start" else \
            plan_dates(rng, plans, t)
        for s, e in pairs:
            would = dict(plan_id=nid(c.cid, "CIN"), start=s, end=e, neglect=True)
            if kind == "null_key":
                bad = dict(would, plan_id=None)
            elif kind == "null_start_date":
                would["start"] = FAR_PAST
                bad = dict(would, start=None)
            elif kind == "null_neglect":
                bad = dict(would, neglect=None)
            else:
                bad = would
            out.append((bad, would))
        return out
    return gen


def gen_cp(kind, nid):
    def gen(rng, w, c, t):
        plans = [p for p in c.cp if is_neglect_cp(p)]
        chair = rng.choice(["S%d-CH1" % w.seed, "S%d-CH2" % w.seed, None])
        out = []
        if kind == "end_before_start":
            pairs = ebs_dates(rng, plans, t)
        else:
            pairs = plan_dates(rng, plans, t)
        for s, e in pairs:
            would = dict(plan_id=nid(c.cid, "CPP"), start=s, end=e, initial="NEG", latest=None,
                         chair=chair)
            if kind == "null_key":
                bad = dict(would, plan_id=None)
            elif kind == "null_start_date":
                would["start"] = FAR_PAST
                bad = dict(would, start=None)
            elif kind == "null_initial_category":
                would["latest"] = rng.choice(["NEG", None])
                bad = dict(would, initial=None)
            elif kind == "unknown_category":
                code = rng.choice(["XYZ", "OTHER", "N"])
                if rng.random() < 0.5:
                    bad = dict(would, initial=code)          # read as NEG, were it used
                else:
                    bad = dict(would, latest=code)           # its initial NEG, were it used
            else:
                bad = would
            out.append((bad, would))
        if kind == "unknown_category":
            # open on t, were it used: a CP plan open on T (was_not_brought)
            s = t - days(rng.randint(0, 300))
            would = dict(plan_id=nid(c.cid, "CPP"), start=s, end=None, initial="PHY",
                         latest=None, chair=chair)
            out.insert(rng.randint(0, len(out)), (dict(would, initial="XYZ"), would))
        return out
    return gen


def gen_strategy(kind, nid):
    def gen(rng, w, c, t):
        cur, ep = current_episode([p for p in c.cp if is_neglect_cp(p)], t)
        if ep is None:
            return []
        e0 = ep[0]["start"]
        out = []
        for _ in range(2):
            d = max(e0, t - days(rng.randint(0, 150)))
            rev = rng.choice([None, t + days(rng.randint(0, 60))])
            would = dict(strategy_id=nid(c.cid, "ST"), kind=rng.choice(["plo", "step_down"]),
                         decided=d, review=rev)
            if kind == "null_key":
                bad = dict(would, strategy_id=None)
            elif kind == "null_decided_on":
                would["review"] = t + days(rng.randint(0, 60))
                bad = dict(would, decided=None)
            else:   # review_before_decided: the strategy as if it had no review date
                would["review"] = None
                bad = dict(would, review=d - days(rng.randint(1, 60)))
            out.append((bad, would))
        return out
    return gen


def gen_appt(kind, nid):
    def gen(rng, w, c, t):
        lo = add_months(t, -6)
        out = []
        for _ in range(3):
            d = t - days(rng.randint(0, (t - lo).days - 1))
            ts = datetime.datetime.combine(d, datetime.time(rng.randint(8, 17),
                                                            rng.choice([0, 15, 30])), TZ)
            would = dict(appointment_id=nid(c.cid, "AP"), service=rng.choice(SERVICES), ts=ts,
                         outcome="was_not_brought")
            if kind == "null_key":
                bad = dict(would, appointment_id=None)
            elif kind == "null_scheduled_for":
                bad = dict(would, ts=None)
            else:
                bad = dict(would, outcome=rng.choice(["did_not_attend", "dna", "no_show",
                                                      "XYZ"]))
            out.append((bad, would))
        return out
    return gen


def gen_alloc(kind, nid):
    def gen(rng, w, c, t):
        cur = current_alloc(c, t)
        sws = [wid for wid, d in w.workers.items() if d["role"] == "social_worker"
               and wid in w.pool]
        others = [x for x in sws if cur is None or x != cur["worker"]]
        out = []
        if kind == "end_before_start":
            if cur is not None:
                earlier = [a for a in c.allocs if a["start"] < cur["start"]]
                prev = max(earlier, key=lambda a: (a["start"], a["allocation_id"])) \
                    if earlier else None
                if prev is not None and (cur["start"] - prev["start"]).days >= 2:
                    s = prev["start"] + days(rng.randint(1, (cur["start"] - prev["start"]).days
                                                         - 1))
                    wk = cur["worker"] if prev["worker"] != cur["worker"] else rng.choice(others)
                else:
                    s = cur["start"] - days(rng.randint(1, 20))
                    wk = rng.choice(others)
                row = dict(allocation_id=nid(c.cid, "AL"), worker=wk, start=s,
                           end=s - days(rng.randint(1, 30)))
                out.append((row, row))
            s = t - days(rng.randint(0, 13))
            row = dict(allocation_id=nid(c.cid, "AL"), worker=rng.choice(others), start=s,
                       end=s - days(rng.randint(1, 10)))
            out.append((row, row))
            return out
        for s in (t - days(rng.randint(0, 13)), t - days(rng.randint(14, 200))):
            would = dict(allocation_id=nid(c.cid, "AL"), worker=rng.choice(others), start=s,
                         end=None)
            if kind == "null_key":
                bad = dict(would, allocation_id=None)
            elif kind == "null_start_date":
                would["start"] = FAR_PAST
                bad = dict(would, start=None)
            elif kind == "null_worker_id":
                would["worker"] = "(no worker)"
                bad = dict(would, worker=None)
            else:   # dangling_worker_id: used as it is, were it used
                would["worker"] = "S%d-GONE-W%d" % (w.seed, rng.randint(1, 3))
                bad = would
            out.append((bad, would))
        rng.shuffle(out)
        return out
    return gen


def gen_ref(kind, nid):
    def gen(rng, w, c, t):
        cands = [r for r in c.refs if r["date"] <= t]
        cur = max(cands, key=lambda r: (r["date"], r["referral_id"])) if cands else None
        ds = [t - days(rng.randint(0, 10))]       # the latest: the current referral
        if cur is not None:
            ds.append(cur["date"] - days(rng.randint(1, 360)))
            lo, hi = add_months(cur["date"], -24), add_months(cur["date"], -12)
            if (hi - lo).days > 2:
                ds.append(lo + days(rng.randint(1, (hi - lo).days - 1)))
        rng.shuffle(ds)
        out = []
        for d in ds:
            clo = None if d >= t - days(10) else d + days(rng.randint(0, 200))
            would = dict(referral_id=nid(c.cid, "RF"), date=d, need=rng.choice(["N1", "N3", None]),
                         neglect=True, closure=clo, reason=None if clo is None else "RC2")
            if kind == "null_key":
                bad = dict(would, referral_id=None)
            elif kind == "null_referral_date":
                bad = dict(would, date=None)
            else:   # closure_before_referral: used as it is, were it used
                would.update(closure=d - days(rng.randint(1, 30)), reason="RC1")
                bad = would
            out.append((bad, would))
        return out
    return gen


def gen_dup(rel):
    """An identical copy of one of the child's rows; were it counted twice, the copy."""
    def gen(rng, w, c, t):
        rows = list(getattr(c, ATTR[rel]))
        rng.shuffle(rows)
        return [(r, dict(r)) for r in rows[:4]]
    return gen


def place(w, rng, rel, kind, gen, want_rules, counted=True, k=None):
    """Puts k rows of one kind on k free children with alerts in want_rules (others when too
    few), preferring rows that would change an alert on their day if used."""
    k = BAD_PER_KIND if k is None else k
    free = [c for c in w.children if c.cid not in w.kind_of and c.cid not in w.missing]
    first = [c for c in free if w.alerting[c.cid] & set(want_rules)]
    rest = [c for c in free if c not in first and w.alerting[c.cid]]
    rng.shuffle(first)
    rng.shuffle(rest)
    harmful, plain = [], []
    for i, c in enumerate(first + rest):
        if len(harmful) >= k or i >= 120:
            break
        t = rng.choice(w.days)
        variants = gen(rng, w, c, t)
        for bad, would in variants:
            if would is not None and harms(c, rel, would, t):
                harmful.append((c, bad, "would change an alert on %s if used" % t))
                break
        else:
            if variants:
                plain.append((c, variants[0][0], ""))
    for (c, bad, note), h in [(x, True) for x in harmful] + \
            [(x, False) for x in plain[:max(0, k - len(harmful))]]:
        b = BadRow(rel, kind, c.cid, sql_row(rel, c.cid, bad), harmful=h, counted=counted,
                   note=note)
        w.bad.append(b)
        w.kind_of[c.cid] = "%s.%s" % (rel, kind)


def inject_bad(w, rng):
    """Adds bad rows (and the kept oddities) to w, recording them in w.bad; the model (the
    children's lists) holds what the reference reads."""
    nid = Ids()
    w.bad = []
    w.kind_of = {}
    w.missing = set()
    w.pool = [wid for wid, d in w.workers.items() if d["role"] == "social_worker"]
    w.alerting = {c.cid: {rule for t in w.days for rule in RULES if REF[rule](c, t)}
                  for c in w.children}
    p = "S%d" % w.seed

    # children with no children row: every one of their rows counts, details unknown
    free = [c for c in w.children if w.alerting[c.cid]]
    rng.shuffle(free)
    picked = []
    for c in free:
        if len(picked) >= 3:
            break
        row, unknown = c.row, (c.row[0], None, None, None)
        base = [alert_view(c, t, (WNB,)) for t in w.days]
        c.row = unknown
        if [alert_view(c, t, (WNB,)) for t in w.days] != base:
            picked.append((c, True))
        c.row = row
    rest = [c for c in free if c not in [x for x, _ in picked]]
    rules_seen = set()
    for c in rest:     # then children whose alerts cover the rules
        if len(picked) >= 8:
            break
        if not (w.alerting[c.cid] - rules_seen) and len(picked) < 6:
            continue
        rules_seen |= w.alerting[c.cid]
        picked.append((c, False))
    for c, details in picked:
        c.row = (None, None, None, None)
        w.missing.add(c.cid)
        w.kind_of[c.cid] = "children.no_children_row"
        n = sum(len(getattr(c, a)) for a in ATTR.values())
        w.bad.append(BadRow("children", "no_children_row", c.cid, None, harmful=details,
                            counted=False, note="%d rows name it%s" % (
                                n, "; its alerts depend on its details" if details else "")))

    # a CP plan whose chair_id names no worker: the plan counts, the chair is unknown
    free = [c for c in w.children if c.cid not in w.kind_of and w.alerting[c.cid] & {CP, REP}]
    rng.shuffle(free)
    n = 0
    for c in free:
        if n >= BAD_PER_KIND:
            break
        t = rng.choice(w.days)
        cur, _ = current_episode([q for q in c.cp if is_neglect_cp(q)], t)
        if cur is None or cur["chair"] is None:
            continue
        was = cur["chair"]
        base = alert_view(c, t, FEEDS["cp_plans"])
        c.cp.remove(cur)
        dropped = alert_view(c, t, FEEDS["cp_plans"]) != base
        c.cp.append(cur)
        cur["chair"], cur["sql_chair"] = None, "%s-GONE-CH%d" % (p, n + 1)
        w.kind_of[c.cid] = "cp_plans.dangling_chair_id"
        w.bad.append(BadRow("cp_plans", "dangling_chair_id", c.cid, sql_row("cp_plans", c.cid, cur),
                            harmful=dropped, note="current plan on %s, its chair was %s%s" % (
                                t, was, "; leaving the plan out would change an alert"
                                if dropped else "")))
        n += 1

    # a referral with a NULL neglect: kept, counting for neglect only by its primary need
    # (reading 1); rows that change re_referral's alert when kept first, then any
    free = [c for c in w.children if c.cid not in w.kind_of and c.refs]
    rng.shuffle(free)
    n = 0
    for must_matter in (True, False):
        for c in free:
            if n >= BAD_PER_KIND:
                break
            if c.cid in w.kind_of:
                continue
            t = rng.choice(w.days)
            cands = [r for r in c.refs if r["date"] <= t]
            cur = max(cands, key=lambda r: (r["date"], r["referral_id"])) if cands else None
            if cur is None or rng.random() < 0.5:
                d = t - days(rng.randint(0, 10))          # the new, current referral
            else:
                d = cur["date"] - days(rng.randint(1, 360))   # an earlier one
            clo = None if d >= t - days(10) else d + days(rng.randint(0, 200))
            r = dict(referral_id=nid(c.cid, "RF"), date=d, need=rng.choice(["N1", "N3", None]),
                     neglect=None, closure=clo, reason=None if clo is None else "RC2")
            base = alert_view(c, t, (RR,))
            c.refs.append(r)
            matters = alert_view(c, t, (RR,)) != base
            if must_matter and not matters:
                c.refs.pop()
                continue
            w.kind_of[c.cid] = "referrals.null_neglect"
            w.bad.append(BadRow("referrals", "null_neglect", c.cid,
                                sql_row("referrals", c.cid, r), harmful=matters,
                                note="on %s%s" % (t, "; leaving it out would change an alert"
                                                  if matters else "")))
            n += 1

    # workers whose supervisor_id names nobody, holding some children's current allocation
    tA, tB = w.teams[0][0], w.teams[1][0]
    for i, team in ((11, tA), (12, tB)):
        wid = "%s-SW%d" % (p, i)
        w.workers[wid] = dict(name="Worker " + wid, role="social_worker",
                              email="sw%d@la.example" % i, team=team,
                              supervisor="%s-GONE-SUP%d" % (p, i))
        w.bad.append(BadRow("workers", "dangling_supervisor_id", None,
                            (wid, "Worker " + wid, "sw%d@la.example" % i, team,
                             "%s-GONE-SUP%d" % (p, i), "social_worker")))
    free = [c for c in w.children if c.cid not in w.kind_of and w.alerting[c.cid]]
    rng.shuffle(free)
    n = 0
    for c in free:
        if n >= BAD_PER_KIND:
            break
        t = rng.choice(w.days)
        cur = current_alloc(c, t)
        if cur is None:
            continue
        was, cur["worker"] = cur["worker"], "%s-SW%d" % (p, 11 + n % 2)
        w.kind_of[c.cid] = "workers.dangling_supervisor_id"
        w.bad.append(BadRow("workers", "dangling_supervisor_id", c.cid, None, counted=False,
                            note="its allocation %s open on %s moved from %s to %s" % (
                                cur["allocation_id"], t, was, cur["worker"])))
        n += 1

    # the rows left out, kind by kind; the scarce ones first
    plan = [("strategies", k, gen_strategy(k, nid), (CP,))
            for k in ("null_key", "null_decided_on", "review_before_decided")]
    plan += [("cp_plans", k, gen_cp(k, nid), FEEDS["cp_plans"])
             for k in ("null_key", "null_start_date", "end_before_start",
                       "null_initial_category", "unknown_category")]
    plan += [("referrals", k, gen_ref(k, nid), (RR,))
             for k in ("null_key", "null_referral_date", "closure_before_referral")]
    plan += [("cin_plans", k, gen_cin(k, nid), (CIN,))
             for k in ("null_key", "null_start_date", "end_before_start", "null_neglect")]
    plan += [("appointments", k, gen_appt(k, nid), (WNB,))
             for k in ("null_key", "null_scheduled_for", "unknown_outcome")]
    plan += [("allocations", k, gen_alloc(k, nid), (WC, CHURN))
             for k in ("null_key", "null_start_date", "null_worker_id", "end_before_start",
                       "dangling_worker_id")]
    for rel, kind, gen, want in plan:
        place(w, rng, rel, kind, gen, want)
    for rel in CASE_RELS:
        place(w, rng, rel, "identical_duplicate", gen_dup(rel), FEEDS[rel], counted=False)

    # rows of no child (a NULL child_id): two a relation
    t = w.days[0]
    for rel in CASE_RELS:
        for i in range(2):
            cid = "%s-NOCHILD" % p
            r = {"cin_plans": dict(plan_id=nid(cid, "CIN"), start=add_months(t, -8), end=None,
                                   neglect=True),
                 "cp_plans": dict(plan_id=nid(cid, "CPP"), start=add_months(t, -16), end=None,
                                  initial="NEG", latest=None, chair=p + "-CH1"),
                 "strategies": dict(strategy_id=nid(cid, "ST"), kind="plo",
                                    decided=t - days(30), review=None),
                 "appointments": dict(appointment_id=nid(cid, "AP"), service="gp",
                                      ts=datetime.datetime.combine(t - days(20 + i),
                                                                   datetime.time(10), TZ),
                                      outcome="was_not_brought"),
                 "allocations": dict(allocation_id=nid(cid, "AL"), worker=p + "-SW1",
                                     start=t - days(3 + i), end=None),
                 "referrals": dict(referral_id=nid(cid, "RF"), date=t - days(5 + i), need="N1",
                                   neglect=True, closure=None, reason=None)}[rel]
            w.bad.append(BadRow(rel, "null_child_id", None, sql_row(rel, None, r)))

    # identical twins: one bad row of each case relation put in twice (counted once)
    w.twins = []
    for rel in CASE_RELS:
        bs = [b for b in w.bad if b.rel == rel and b.counted and b.cid is not None]
        if bs:
            b = rng.choice(bs)
            w.twins.append(b)
            b.note = (b.note + "; " if b.note else "") + "put in twice, identical"

    # identical duplicates of good rows of teams, workers and children
    w.dup_rows = {"teams": [(tid, n_, m, None) for tid, n_, m in (w.teams[0], w.teams[2])],
                  "workers": [(wid, d["name"], d["email"], d["team"], d["supervisor"], d["role"])
                              for wid, d in w.workers.items()
                              if wid in (p + "-SUP1", p + "-SW1", p + "-CH1", p + "-SW3")],
                  "children": []}
    free = [c for c in w.children if c.cid not in w.kind_of and w.alerting[c.cid]]
    rng.shuffle(free)
    free.sort(key=lambda c: WNB not in w.alerting[c.cid])    # the rule that reads the row
    for c in free[:BAD_PER_KIND]:
        w.dup_rows["children"].append((c.cid,) + c.row)
        w.kind_of[c.cid] = "children.identical_duplicate"
        w.bad.append(BadRow("children", "identical_duplicate", c.cid, (c.cid,) + c.row,
                            counted=False))


def bad_world_sql(w, rng):
    tabs = {rel: [] for rel in ALL_RELS}
    tabs["teams"] = [(t, n, m, None) for t, n, m in w.teams]
    tabs["workers"] = [(wid, d["name"], d["email"], d["team"], d["supervisor"], d["role"])
                       for wid, d in w.workers.items()]
    for c in w.children:
        if c.cid not in w.missing:
            tabs["children"].append((c.cid,) + c.row)
        for rel in CASE_RELS:
            tabs[rel] += [sql_row(rel, c.cid, r) for r in getattr(c, ATTR[rel])]
    for b in w.bad:
        if b.rel in CASE_RELS and b.sql is not None and "%s.%s" % (b.rel, b.kind) not in IN_MODEL:
            tabs[b.rel].append(b.sql)      # the kept rows of IN_MODEL are the model's own
    for b in w.twins:
        tabs[b.rel].append(b.sql)
    for rel, rows in w.dup_rows.items():
        tabs[rel] += rows
    out = []
    for rel in ALL_RELS:
        rows = tabs[rel]
        rng.shuffle(rows)
        out.append(insert(rel, rows))
    return "".join(out)


def expected_counts(w):
    """relation -> the bad rows the summary should count (reading 8)."""
    want = {rel: 0 for rel in ALL_RELS}
    for b in w.bad:
        if b.counted:
            want[b.rel] += 1
    return want


def summary_bad(err):
    """{relation: {kind: n}} from the dry run's summary lines `  bad rows in REL: k=n ...`."""
    out = {}
    for m in re.finditer(r"(?m)^\s*bad rows in (\w+): (.*)$", err):
        kinds = out.setdefault(m.group(1), {})
        for kv in m.group(2).split():
            k, _, v = kv.partition("=")
            try:
                kinds[k] = kinds.get(k, 0) + int(v)
            except ValueError:
                kinds[k] = kinds.get(k, 0)
    return out


def details_problems(world, day, rule, want, got):
    """compare_details' findings as a list: (child, [problems])."""
    bychild = {c.cid: c for c in world.children}
    probs, checked = [], 0
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
                good, desc = g is not MISSING and v(g), v.__doc__
            else:
                good, desc = g == v, json.dumps(v)
            if not good:
                bad.append("facts.%s is %s, RULES.md: %s" % (
                    path, "missing" if g is MISSING else json.dumps(g), desc))
        bad += check_recipients(world, bychild[cid], rule, day, wt.stage, a.get("recipients"))
        if bad:
            probs.append((cid, bad))
    return probs, checked


def bad_rows_part(tmp):
    """Part 2: bad rows (RULES.md, "Data quality"; CONTRACT.md, "Conventions").

    For each seed of ORACLE_BAD_SEEDS (default 1 2 3 4) the clean world of part 1 is generated
    again and bad rows are added to it; it is loaded into schema oracle_bN and the dry run's
    alerts on the seed's four days are compared with the reference computed on the data with
    the bad rows left out, as RULES.md says: "A row that cannot be judged (a NULL that should
    not be, an end before its start, an unknown category, a dangling identifier, a duplicate
    key) is left out of the rule it would feed, counted by kind, and reported in the evaluation
    summary ... A child is never dropped from every rule because one of its rows is bad, and a
    plan whose child has no `children` row still counts: rules that need the child's details
    (age, disability) treat them as unknown. Duplicate identical rows count once."

    What is put in, per seed (ORACLE_BAD_PER_KIND rows of each kind, default 4, each kind on
    children of its own, each such child carrying one kind only, and each a child with alerts
    (in a rule the relation feeds where there are enough), so that dropping the child from a
    rule would show):
      - left out: a NULL key (plan_id, allocation_id, referral_id, appointment_id,
        strategy_id); a NULL child_id (rows of no child: no alert may name a child that is not
        in the data); a NULL start_date (cin_plans, cp_plans, allocations), referral_date,
        scheduled_for, decided_on; a NULL neglect (cin_plans); a NULL
        initial_category (with latest_category NEG or NULL); a NULL worker_id (allocations);
        an end before its start (cin_plans, cp_plans, allocations); a closure before the
        referral; a review_by before decided_on; an unknown CP category (initial_category
        outside NEG PHY EMO SAB MUL with latest NULL, or an unknown latest_category over an
        initial NEG); an unknown appointment outcome; an allocation whose worker_id names no
        worker;
      - kept, with a detail unknown: every row of a child with no children row (8 children a
        seed, some whose alerts depend on their date_of_birth or disability); a CP plan whose
        chair_id names no worker; a worker whose supervisor_id names nobody (two such workers
        hold some children's allocations); a referral with a NULL neglect (reading 1);
      - identical duplicates of good rows in every relation (teams, workers, children and the
        six case relations), and one identical twin of a bad row in each case relation.
    Each row left out is, where it can be, one that would change an alert if it were used:
    the reference is computed with a "would-be" row in its place (the NULL key given an id, a
    NULL date read as 1900-01-01 or the date a NULL would be sorted to, a NULL neglect read as
    true, an unknown category read as NEG or as a known non-neglect category, an unknown
    outcome read as was_not_brought, a bad review_by read as none, a duplicate counted twice,
    the row as it is otherwise), and rows that change an alert on their day are preferred: a
    plan that would start or extend an episode, an allocation that would become the current
    one or a new distinct worker, a missed appointment that would make a second one, a
    strategy that would hold an escalation, a referral that would become the current one or a
    re-referral.

    Readings where RULES.md is not explicit about a kind (the reference follows them):
      1. A NULL in a column CONTRACT.md does not mark ", null" makes the row bad and left out
         where the rule needs the value to judge the row: a CP plan with a NULL
         initial_category and a latest_category NEG is not a neglect plan, and a CIN plan with
         a NULL neglect is left out (the same, for the rules, as not for neglect). One
         exception, the daemon's reading and not RULES.md's literal one: a referral with a
         NULL neglect is kept, counted (null_neglect), and counts for neglect only when its
         primary need is N1. Left out, a child's new referral whose assessment has not yet
         recorded neglect (the usual reason for the NULL) would hide the re-referral at the
         moment it happens, though the rule's 12m stage can be judged without that flag when
         the earlier referral counts for neglect (test_null_columns, audit 13). The first
         version of this part read RULES.md literally and disagreed there alone.
      2. An unknown category anywhere in a CP plan (an initial_category, or a latest_category
         that is not NULL) leaves the plan out of every rule it would feed, was_not_brought's
         "has a CP plan open on T" included.
      3. A strategy whose review_by is before its decided_on is left out (not read as having no
         review date).
      4. An allocation whose worker_id names no worker (or is NULL) is left out: it is not the
         current allocation (for worker_change, and for the recipients), not the previous one,
         and its worker is not one of worker_churn's distinct workers. The worker is what an
         allocation is about and what those rules judge.
      5. A CP plan whose chair_id names no worker still counts (the chair is a recipient, not
         something a rule judges, as the child's details are for a plan with no children row);
         its cp_chair resolves as for a plan with no chair: "the plan's chair_id, else the
         configured CP chairs' address".
      6. A worker whose supervisor_id names nobody still counts (allocations to them are
         good); the supervisor role resolves as for a worker with no supervisor: "else the
         team's manager_email, else the configured fallback".
      7. A child with no children row: all its rows count (plans, allocations, appointments,
         referrals, strategies); its date_of_birth and disability are unknown, so it is not
         under one or disabled for was_not_brought (under_one may be null or false).
      8. Counting (the summary's `bad rows in REL: kind=N ...` lines, kinds named by the
         daemon): each relation's total is the number of rows put in as bad, the kept rows of
         5 and 6 included (a dangling identifier is "counted by kind"), identical duplicates
         not included (a duplicate identical row is the same row, counted once, not a row that
         cannot be judged; an identical twin of a bad row is that one bad row); the children
         with no children row may be counted in `children` once a child or once a row.
    Checks: per run, exit 0 and the summary; per (seed, day, rule), the alerts as part 1
    compares them (children, subjects, stages; since, facts and recipients); per (seed,
    relation), the summary's total; per kind, over all seeds and days, the children that carry
    it (so that a disagreement is put down to one kind), and the children that carry none;
    that the kinds meant to mislead include rows that would change an alert; that the
    children with no children row have alerts.
    """
    worlds = []
    for seed in BAD_SEEDS:
        w = gen_world(seed, N_CHILDREN)
        inject_bad(w, random.Random(7919 * seed + 11))
        schema = "oracle_b%d" % seed
        r = load_world(schema, bad_world_sql(w, random.Random(seed + 100)))
        nbad = sum(1 for b in w.bad if b.counted)
        if not ok(r.returncode == 0, "bad seed %d: load %d children (%d with no children row), "
                  "%d bad rows and %d identical duplicates into %s" % (
                      seed, len(w.children), len(w.missing), nbad,
                      sum(1 for b in w.bad if b.kind == "identical_duplicate") + len(w.twins) +
                      len(w.dup_rows["teams"]) + len(w.dup_rows["workers"]), schema),
                  r.stderr[-2000:]):
            return
        cfg = os.path.join(tmp, "bad%d.json" % seed)
        write_config(cfg, schema)
        worlds.append((w, cfg))

    totals = {}
    trouble = {}          # child -> ["seed/day/rule: what differs"]
    summaries = {}        # (seed, relation) -> [(day, {kind: n})]
    for w, day, (rc, err, alerts, bad) in run_worlds(worlds):
        tag = "bad seed %d as of %s" % (w.seed, day)
        check_run(tag, rc, err, alerts, bad)
        counts = summary_bad(err)
        for rel in ALL_RELS:
            summaries.setdefault((w.seed, rel), []).append((day, counts.get(rel, {})))
        known = {c.cid for c in w.children}
        strangers = sorted({json.dumps(a.get("child_id")) for a in alerts
                            if a.get("child_id") not in known})
        ok(not strangers, "dry run on %s: no alert names a child that is not in the data (the "
           "rows with a NULL child_id are left out)" % tag, "children: %s" % strangers[:10])
        for rule in RULES:
            want, got, diffs = compare(w, day, rule, alerts, totals, "bad seed",
                                       "as RULES.md gives on the data without its bad rows")
            for cid in diffs:
                trouble.setdefault(cid, []).append("%s %s: daemon %s; RULES.md %s" % (
                    day, rule, brief(got.get(cid)), want_text(want.get(cid))))
            probs = compare_details(w, day, rule, want, got, "bad seed")
            for cid, why in probs:
                trouble.setdefault(cid, []).append("%s %s: %s" % (day, rule, "; ".join(why)))

    # the summary: each relation's bad rows, counted once each (reading 8)
    for w, cfg in worlds:
        want = expected_counts(w)
        nmiss = len(w.missing)
        nmiss_rows = sum(len(getattr(c, a)) for c in w.children if c.cid in w.missing
                         for a in ATTR.values())
        for rel in ALL_RELS:
            seen = summaries.get((w.seed, rel), [])
            kinds = sorted({b.kind for b in w.bad if b.rel == rel and b.counted})
            if rel == "children":
                okays = {nmiss, nmiss_rows}
                name = "bad seed %d: the summary reports the %d children with no children row " \
                       "(%d rows name them) in children, once a child or once a row, and no " \
                       "other bad row there (its %d identical duplicates are not bad rows)" % (
                           w.seed, nmiss, nmiss_rows, len(w.dup_rows["children"]))
            else:
                okays = {want[rel]}
                twins = sum(1 for b in w.twins if b.rel == rel)
                name = "bad seed %d: the summary counts %d bad rows in %s (%s)%s" % (
                    w.seed, want[rel], rel, ", ".join(kinds) or "none put in",
                    "; an identical twin of one counts once, identical duplicates of good rows "
                    "not at all" if twins else "; identical duplicates are not bad rows")
            wrong = [(d, k) for d, k in seen if sum(k.values()) not in okays]
            ok(len(seen) == len(w.days) and not wrong, name,
               "\n".join("as of %s: %s (total %d)" % (d, " ".join(
                   "%s=%d" % kv for kv in sorted(k.items())) or "nothing", sum(k.values()))
                   for d, k in wrong))

    # per kind: the children that carry it, on every day and rule
    kinds = {}
    for w, cfg in worlds:
        for b in w.bad:
            kinds.setdefault("%s.%s" % (b.rel, b.kind), []).append((w, b))
    for kind in sorted(kinds):
        rows = kinds[kind]
        cids = sorted({b.cid for _, b in rows if b.cid is not None})
        if not cids:
            continue
        nh = sum(1 for _, b in rows if b.harmful)
        bad_children = [cid for cid in cids if cid in trouble]
        rel = kind.split(".")[0]
        feeds = set(FEEDS.get(rel, RULES))
        alerted = sum(1 for w, b in rows if b.cid is not None and w.alerting.get(b.cid))
        alerted_here = sum(1 for w, b in rows if b.cid is not None and
                           w.alerting.get(b.cid, set()) & feeds)
        how, power = {
            "children.no_children_row": ("kept, the child's details unknown",
                                         "with alerts that depend on those details"),
            "cp_plans.dangling_chair_id": ("kept, cp_chair as for no chair",
                                           "that would change an alert if left out"),
            "workers.dangling_supervisor_id": ("kept, the supervisor as for none", ""),
            "referrals.null_neglect": ("kept, counting for neglect by its primary need alone",
                                       "that would change an alert if left out"),
        }.get(kind, ("counted once", "that would change an alert if counted twice")
              if kind.endswith("identical_duplicate") else
              ("left out", "that would change an alert if used"))
        if kind == "children.no_children_row":
            nrows = sum(len(getattr(c, a)) for w in {w.seed: w for w, _ in rows}.values()
                        for c in w.children if c.cid in w.missing for a in ATTR.values())
            what = "%d children with no children row (%d rows name them; %d with alerts" % (
                len(cids), nrows, alerted)
        elif kind == "workers.dangling_supervisor_id":
            what = "%d workers holding the current allocation of %d children (%d with " \
                   "alerts" % (sum(1 for _, b in rows if b.cid is None), len(cids), alerted)
        elif rel in FEEDS:
            what = "%d rows on %d children (%d with alerts, %d of them in the rules %s " \
                   "feeds" % (len(rows), len(cids), alerted, alerted_here, rel)
        else:
            what = "%d rows on %d children (%d with alerts" % (len(rows), len(cids), alerted)
        name = "kind %s: %s%s), %s: on every seed, day and rule those children's alerts are " \
               "RULES.md's" % (kind, what, "; %d %s" % (nh, power) if power else "", how)
        if not ok(not bad_children, name, "%d children differ" % len(bad_children)):
            byc = {b.cid: (w, b) for w, b in rows}
            for cid in bad_children[:10]:
                w, b = byc[cid]
                tap.note("  child %s: %s" % (cid, b.text()))
                for line in trouble[cid][:6]:
                    tap.note("    " + line)

    # the children that carry no bad row (identical duplicates of teams and workers aside)
    plain = [(w, cid) for w, _ in worlds for cid in sorted(trouble, key=str)
             if cid in {c.cid for c in w.children} and cid not in w.kind_of]
    nplain = sum(1 for w, _ in worlds for c in w.children if c.cid not in w.kind_of)
    if not ok(not plain, "the %d children that carry no bad row: on every seed, day and rule "
              "their alerts are RULES.md's (bad rows of other children, identical duplicates "
              "of teams and workers change nothing)" % nplain,
              "%d children differ" % len(plain)):
        for w, cid in plain[:10]:
            tap.note("  child %s:" % cid)
            for line in trouble[cid][:6]:
                tap.note("    " + line)

    # the kinds meant to mislead do: some of their rows would change an alert if used
    designed = [k for k in sorted(kinds) if not k.endswith(("null_child_id",
                                                             "identical_duplicate"))
                and k not in KEPT_KINDS]
    weak = [k for k in designed if not any(b.harmful for _, b in kinds[k])]
    ok(not weak, "each of the %d kinds left out has rows that would change an alert if they "
       "were used" % len(designed), "none that would: %s" % weak)
    miss = [(w, c) for w, _ in worlds for c in w.children if c.cid in w.missing]
    got_alerts = sum(1 for w, c in miss if any(REF[r](c, t) for t in w.days for r in RULES))
    ok(got_alerts >= len(miss) // 2 and miss, "children with no children row: %d of %d have "
       "alerts in RULES.md's reading, so that their rows counting is compared" % (
           got_alerts, len(miss)))
    for rule in RULES:
        ok(totals.get(rule, 0) >= 5, "rule %s with bad rows: RULES.md gives some alerts "
           "across the seeds (%d), so its comparisons are not empty" % (
               rule, totals.get(rule, 0)))


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
        r = load_world(schema, world_sql(w, random.Random(seed)))
        if not ok(r.returncode == 0, "seed %d: load %d children into %s (days %s)" % (
                seed, len(w.children), schema, ", ".join(map(iso, w.days))), r.stderr[-2000:]):
            return 1
        cfg = os.path.join(tmp, "seed%d.json" % seed)
        write_config(cfg, schema)
        worlds.append((w, cfg))

    totals = {}
    for w, day, (rc, err, alerts, bad) in run_worlds(worlds):
        tag = "seed %d as of %s" % (w.seed, day)
        check_run(tag, rc, err, alerts, bad)
        badrows = [l.strip() for l in err.splitlines() if "bad row" in l and
                   not re.search(r"bad rows?(: none| [\d.]+ ?m?s\b)", l)]
        ok(not badrows, "dry run on %s: the daemon finds no bad rows in the generated data "
           "(it is clean as CONTRACT.md defines it)" % tag, "\n".join(badrows[:10]))
        for rule in RULES:
            want, got, diffs = compare(w, day, rule, alerts, totals)
            compare_details(w, day, rule, want, got)

    for rule in RULES:
        ok(totals.get(rule, 0) >= 5, "rule %s: RULES.md gives some alerts across the seeds "
           "(%d), so its comparisons are not empty" % (rule, totals.get(rule, 0)))

    if BAD_SEEDS:
        bad_rows_part(tmp)

    shutil.rmtree(tmp, ignore_errors=True)
    if not os.environ.get("ORACLE_KEEP"):
        psql("postgres", ["-c", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DBNAME])
    print("# %d passed, %d failed" % (tap.passed, tap.failures), flush=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
