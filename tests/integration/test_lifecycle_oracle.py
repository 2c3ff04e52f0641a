#!/usr/bin/python3
"""test_lifecycle_oracle: the alert lifecycle across days (../shared/spec/ALERTS.md,
"Lifecycle" and "The notice as data"), checked on the webhooks the daemon really sends.

The case data is test_rules_oracle's: its generator (imported, not copied) makes a world of
LIFECYCLE_CHILDREN children (default 300) for each seed of LIFECYCLE_SEEDS (default 1 2), whose
rows crowd the rules' boundaries around that seed's four days. Each world is loaded into schema
lc_case_N of database dwlifecycle, and `driftwatchd -c CFG --once --as-of D` (not a dry run:
alerts are recorded in a fresh state schema lc_state_N and their notices delivered) runs for
twelve days D over 18 to 28 months, the seed's days and the day after some of them among them,
with one Standard Webhooks webhook (every rule, every stage; no email) to a real HTTP receiver
on loopback (tests/integration/webhook_receiver.py). One day is run twice. Between two days the
test changes the case data as a case system would, in the model and in the database alike:
a strategy recorded for a child at 15 or 18 months (the stage goes down to 12m, and up again
when it runs out), CIN and CP plans for neglect ended (resolved) and some reopened within
merge_gap_days (the same episode: the same alert holds again), a plan entered late that starts
before the episode's first plan (the episode, so the subject, is another plan), a CP plan
recategorised, missed appointments added (escalated, or news at the same stage), a new
allocation to another worker (a handover), referrals closed (resolved), new referrals (a new
subject).

The reference is test_rules_oracle's REF[rule](child, day) (RULES.md read in Python) on the data
as it stood at each run, and ALERTS.md's lifecycle over the identities (rule, child_id,
subject_id):
  - holding for the first time: one alert.firing with its stage;
  - holding at a higher stage than at the last run: one alert.escalated with the new stage;
  - holding at the same stage: no firing, escalated or resolved; at most one alert.updated, with
    that stage and facts other than those last sent for the alert ("`updated` with new facts");
    a new missed appointment (was_not_brought) is one alert.updated with the new count (RULES.md:
    "A new missed appointment while the alert fires is news: it is notified again with the new
    count");
  - holding at a lower stage: ALERTS.md says only that an alert "changes stage when a higher
    stage is reached", so the test asserts only that the alert keeps its identity (no firing,
    no resolved) and gets at most one notice, with the new stage; what the daemon sends is
    reported;
  - no longer holding: one alert.resolved (status resolved);
  - holding again after it was resolved: one notice, status firing, the stage it now has; its
    type is reported (ALERTS.md: "born `firing` the first time");
  - not holding and not held: nothing.
Every notice but a resolution has status firing (nobody answers here).
One check per (seed, day, rule) compares every alert of the rule with this; on a failure each
alert that differs is shown with its history (the reference's stage on each day, the notices
received, the changes made to the child's data, its rows), and an alert whose subject changed
without a resolution and a firing is named as such. Then, per seed: the day run twice sends
nothing; a receiver's view (the first notice of each fingerprint is alert.firing; after the
last day the fingerprints told firing and never resolved are exactly the alerts RULES.md
yields); every request verified with HMAC-SHA256 as ALERTS.md says (`v1,` + base64 over
`id.timestamp.body`, the key the base64 part of the whsec_ secret; a tampered body must fail)
with a webhook-timestamp of when it was sent; every webhook-id unique; never two notices of one
type about one alert on one day; the fingerprint one hex digest per (rule, child_id, subject_id)
on every day, no two identities sharing one; `as_of` the run's day; the envelope (type,
timestamp in RFC 3339, data) and ALERTS.md's fields in data. A webhook gets each notice once,
whatever the alert's recipients (README: "one request per alert and change"). RESPONSES.md's
alert.unanswered notices (responses.escalate is left at its defaults) are kept apart from the
lifecycle: each for the alert's stage that day, once per stage while it fires. Notes at the end
count the transitions and say what the daemon sends where ALERTS.md is silent.

Environment: DRIFTWATCHD (default build/san/driftwatchd), PGHOST PGPORT PGUSER of a running
server (defaults 127.0.0.1 15432 dwtest), DW_TOP, TEST_TMPDIR, LIFECYCLE_SEEDS ("1 2"),
LIFECYCLE_CHILDREN (300), KEEP_TMP=1 (keep the scratch directory: configurations and the
receivers' logs), LIFECYCLE_KEEP=1 (keep database dwlifecycle). Standard library only.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: receiver, daemon runs)
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)
import test_rules_oracle as oracle  # noqa: E402  (the generator and RULES.md's reference)
from spec_rules import CIN, CP, WNB, RR, RULES, STAGES  # noqa: E402

SEEDS = [int(x) for x in (os.environ.get("LIFECYCLE_SEEDS") or "1 2").split()]
N_CHILDREN = int(os.environ.get("LIFECYCLE_CHILDREN") or "300")
DBNAME = "dwlifecycle"
PATH = "/lifecycle"
RUN_TIMEOUT = int(os.environ.get("DW_RUN_TIMEOUT", "150"))
D = datetime.date.fromisoformat
ONE = oracle.ONE
days = oracle.days

# Twelve days a seed, over 18 (seed 1) and 28 months (seed 2). The generator puts the boundaries
# of each child near one of its seed's four days (seed 1: 2025-09-30, 2026-02-28, 2026-03-29,
# 2026-08-31); a day and the day after it catch the stages crossed on that day; the gaps let
# windows pass. Another seed gets its four days, each with the next, and two more.
DAYS_BY_SEED = {
    1: ["2025-09-16", "2025-09-30", "2025-10-01", "2025-11-20", "2026-01-15", "2026-02-27",
        "2026-02-28", "2026-03-29", "2026-05-10", "2026-08-31", "2026-09-10", "2027-03-15"],
    # seed 2: 2026-09-29, 2026-10-25 (the end of BST), 2028-02-29, 2028-08-31
    2: ["2026-09-15", "2026-09-29", "2026-09-30", "2026-10-25", "2026-10-26", "2027-03-01",
        "2027-08-16", "2028-01-10", "2028-02-29", "2028-03-01", "2028-08-31", "2029-01-31"],
}

LIFECYCLE_TYPES = ("alert.firing", "alert.escalated", "alert.updated", "alert.resolved")
OTHER_TYPES = ("alert.unanswered",)     # RESPONSES.md: escalation when nobody answers
RANK = {(rule, st): i for rule in RULES for i, st in enumerate(STAGES[rule])}
ALERT_KEYS = {"rule", "stage", "status", "child_id", "subject_id", "family_id", "fingerprint",
              "as_of", "since", "facts", "recipients", "link", "summary"}   # ALERTS.md's object
RERUN_INDEX = 6        # the day run twice: the second run must send nothing
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def eval_days(seed):
    if seed in DAYS_BY_SEED:
        return [D(x) for x in DAYS_BY_SEED[seed]]
    sd = sorted(oracle.seed_days(seed))
    out = {sd[0] - days(14), sd[-1] + days(180)}
    for d in sd:
        out |= {d, d + ONE}
    return sorted(out)


def norm_subject(s):
    return None if s is None or s == "" else s


# ------------------------------------------------------------------------------------------
# Changing the case data between days, in the model and in the database alike

class Changer:
    """Changes made before a run: each applied to the model (oracle.Child) and as SQL."""

    def __init__(self, world):
        self.w = world
        self.sql = []
        self.log = {}              # child -> [(day, text)]
        self.reopen = []           # (child, kind, plan dict, the last day it may start)
        self.n = 0

    def new_id(self, c, what):
        self.n += 1
        return "%s-%s-LC%d" % (c.cid, what, self.n)

    def note(self, c, day, text):
        self.log.setdefault(c.cid, []).append((day, text))

    def update(self, table, key, kid, c, col, value):
        self.sql.append("UPDATE %s SET %s = %s WHERE %s = %s AND child_id = %s;" % (
            table, col, oracle.lit(value), key, oracle.lit(kid), oracle.lit(c.cid)))

    def insert(self, table, row):
        self.sql.append(oracle.insert(table, [row]))

    def take(self):
        out, self.sql = self.sql, []
        return "".join(s if s.endswith("\n") else s + "\n" for s in out)


def pick(rng, items, n):
    items = sorted(items, key=lambda c: c.cid)
    return rng.sample(items, min(n, len(items)))


def day_in(rng, lo, hi):
    """A day d with lo < d <= hi."""
    return lo + days(rng.randint(1, (hi - lo).days))


def change_data(ch, rng, prev, cur, nxt):
    """The changes made between the runs of prev and cur (nxt: the next day, or None), chosen
    by what the reference says of prev, so that alerts go down, resolve, hold again, escalate,
    change subject."""
    w = ch.w
    holds = {rule: [c for c in w.children if oracle.REF[rule](c, prev) is not None]
             for rule in (CIN, CP, WNB, RR)}

    # plans ended on a day in (prev, cur] are reopened before the next day: same episode
    due, ch.reopen = ch.reopen, []
    for c, kind, plan, last in due:
        s = day_in(rng, prev, min(last, cur)) if last > prev else None
        if s is None:
            continue
        plan = dict(plan, start=s, end=None)
        if kind == "cin":
            plan["plan_id"] = ch.new_id(c, "CIN")
            c.cin.append(plan)
            ch.insert("cin_plans", (plan["plan_id"], c.cid, s, None, True))
        else:
            plan["plan_id"] = ch.new_id(c, "CPP")
            c.cp.append(plan)
            ch.insert("cp_plans", (plan["plan_id"], c.cid, s, None, plan["initial"],
                                   plan["latest"], plan["chair"]))
        ch.note(c, cur, "%s plan %s opened, starting %s (within merge_gap_days of the last "
                "end)" % (kind.upper(), plan["plan_id"], s))

    # a strategy recorded at 15 or 18 months: the alert goes down to 12m while it is active
    at15 = [c for c in holds[CP] if oracle.REF[CP](c, prev).stage in ("15m", "18m")]
    for c in pick(rng, at15, 6):
        _, ep = oracle.current_episode([p for p in c.cp if oracle.is_neglect_cp(p)], prev)
        dec = day_in(rng, prev, cur)
        if dec < ep[0]["start"]:
            continue
        rev = rng.choice([None, cur + days(rng.randint(0, 120)), cur])
        s = dict(strategy_id=ch.new_id(c, "ST"), kind=rng.choice(["plo", "step_down"]),
                 decided=dec, review=rev)
        c.strategies.append(s)
        ch.insert("strategies", (s["strategy_id"], c.cid, s["kind"], dec, rev))
        ch.note(c, cur, "strategy %s decided on %s, review by %s" % (
            s["strategy_id"], dec, oracle.iso(rev)))

    # plans ended: the alert resolves; half of them reopened within merge_gap_days
    for kind, rule in (("cin", CIN), ("cp", CP)):
        for c in pick(rng, holds[rule], 5):
            e = cur - days(rng.randint(0, min(5, (cur - prev).days - 1)))
            plans = c.cin if kind == "cin" else c.cp
            counted = [p for p in plans if (p["neglect"] is True if kind == "cin"
                                            else oracle.is_neglect_cp(p))]
            ended = []
            for p in counted:
                if p["start"] <= e and (p["end"] is None or p["end"] > e):
                    p["end"] = e
                    ch.update("cin_plans" if kind == "cin" else "cp_plans", "plan_id",
                              p["plan_id"], c, "end_date", e)
                    ended.append(p)
            if not ended:
                continue
            ch.note(c, cur, "%s plans %s ended on %s" % (
                kind.upper(), [p["plan_id"] for p in ended], e))
            if nxt is not None and rng.random() < 0.6:
                last = min(e + days(oracle.MERGE_GAP), nxt)
                if last > cur:
                    ch.reopen.append((c, kind, dict(ended[-1]), last))

    # a plan entered late, starting before the episode's first plan: the episode starts
    # earlier, under another plan (a new subject), maybe at a higher stage
    for kind, rule in (("cin", CIN), ("cp", CP)):
        for c in pick(rng, holds[rule], 3):
            plans = [p for p in c.cin if p["neglect"] is True] if kind == "cin" else \
                [p for p in c.cp if oracle.is_neglect_cp(p)]
            _, ep = oracle.current_episode(plans, prev)
            first = ep[0]["start"]
            s, e = first - days(rng.randint(1, 40)), first + days(rng.randint(0, 10))
            if kind == "cin":
                p = dict(plan_id=ch.new_id(c, "CIN"), start=s, end=e, neglect=True)
                c.cin.append(p)
                ch.insert("cin_plans", (p["plan_id"], c.cid, s, e, True))
            else:
                p = dict(plan_id=ch.new_id(c, "CPP"), start=s, end=e, initial="NEG",
                         latest=None, chair=ep[0]["chair"])
                c.cp.append(p)
                ch.insert("cp_plans", (p["plan_id"], c.cid, s, e, "NEG", None, p["chair"]))
            ch.note(c, cur, "%s plan %s entered: %s .. %s, before the episode's first plan "
                    "(%s)" % (kind.upper(), p["plan_id"], s, e, first))

    # a CP plan's latest category no longer neglect: it stops counting
    for c in pick(rng, holds[CP], 2):
        cur_p, _ = oracle.current_episode([p for p in c.cp if oracle.is_neglect_cp(p)], prev)
        cur_p["latest"] = "PHY"
        ch.update("cp_plans", "plan_id", cur_p["plan_id"], c, "latest_category", "PHY")
        ch.note(c, cur, "CP plan %s recategorised PHY" % cur_p["plan_id"])

    # missed appointments: escalated (vulnerable -> repeated) or news at the same stage
    cands = holds[WNB] + pick(rng, [c for c in w.children if oracle.neglect_open(c, prev)], 6)
    for c in pick(rng, cands, 12):
        d = day_in(rng, max(prev, cur - days(150)), cur)
        ts = datetime.datetime.combine(d, datetime.time(rng.randint(8, 17), 30), oracle.TZ)
        a = dict(appointment_id=ch.new_id(c, "AP"), service=rng.choice(oracle.SERVICES),
                 ts=ts, outcome="was_not_brought")
        c.appts.append(a)
        ch.insert("appointments", (a["appointment_id"], c.cid, a["service"], ts,
                                   "was_not_brought"))
        ch.note(c, cur, "appointment %s (%s) on %s not brought" % (
            a["appointment_id"], a["service"], d))

    # a new allocation to another worker within 14 days before cur: a handover
    handover = [c for c in w.children if oracle.neglect_open(c, cur)]
    for c in pick(rng, handover, 8):
        a_day = cur - days(rng.randint(0, 13))
        if a_day <= prev:
            continue
        old = oracle.current_alloc(c, a_day)
        if old is None or old["start"] >= a_day:
            continue
        workers = sorted(wid for wid, x in w.workers.items() if x["role"] == "social_worker"
                         and wid != old["worker"])
        new = dict(allocation_id=ch.new_id(c, "AL"), worker=rng.choice(workers), start=a_day,
                   end=None)
        old["end"] = a_day
        ch.update("allocations", "allocation_id", old["allocation_id"], c, "end_date", a_day)
        c.allocs.append(new)
        ch.insert("allocations", (new["allocation_id"], c.cid, new["worker"], a_day, None))
        ch.note(c, cur, "allocation %s (%s) ended on %s; %s to %s from that day" % (
            old["allocation_id"], old["worker"], a_day, new["allocation_id"], new["worker"]))

    # referrals closed (resolved), or a new referral (a new subject)
    for c in pick(rng, holds[RR], 8):
        cur_ref = max((r for r in c.refs if r["date"] <= prev),
                      key=lambda r: (r["date"], r["referral_id"]))
        if rng.random() < 0.6:
            clo = max(day_in(rng, prev, cur), cur_ref["date"])
            cur_ref["closure"], cur_ref["reason"] = clo, "RC8"
            ch.update("referrals", "referral_id", cur_ref["referral_id"], c, "closure_date",
                      clo)
            ch.update("referrals", "referral_id", cur_ref["referral_id"], c, "closure_reason",
                      "RC8")
            ch.note(c, cur, "referral %s closed on %s" % (cur_ref["referral_id"], clo))
        else:
            r = dict(referral_id=ch.new_id(c, "RF"), date=day_in(rng, prev, cur), need="N1",
                     neglect=True, closure=None, reason=None)
            c.refs.append(r)
            ch.insert("referrals", (r["referral_id"], c.cid, r["date"], "N1", True, None,
                                    None))
            ch.note(c, cur, "referral %s received on %s" % (r["referral_id"], r["date"]))


# ------------------------------------------------------------------------------------------
# The notices a run delivered

class Notice:
    def __init__(self, req, day):
        self.req, self.day = req, day
        j = req.get("json") if isinstance(req.get("json"), dict) else {}
        self.env = j
        self.type = j.get("type")
        self.data = j.get("data") if isinstance(j.get("data"), dict) else {}
        d = self.data
        self.rule, self.child = d.get("rule"), d.get("child_id")
        self.subject = norm_subject(d.get("subject_id"))
        self.stage, self.status = d.get("stage"), d.get("status")
        self.key = (self.rule, self.child, self.subject)
        self.wid = req["headers"].get("webhook-id")

    def brief(self):
        return "%s(stage %s, status %s)" % ((self.type or "?").replace("alert.", ""),
                                            self.stage, self.status)


def verify(req, key):
    """(ok, why): the Standard Webhooks signature of one request, as ALERTS.md says."""
    h = req["headers"]
    wid, ts, sig = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not (wid and ts and sig):
        return False, "headers webhook-id %r webhook-timestamp %r webhook-signature %r" % (
            wid, ts, sig)
    if not re.fullmatch(r"\d+", ts):
        return False, "webhook-timestamp %r is not Unix seconds" % ts
    if abs(int(ts) - req["t"]) > 300:
        return False, "webhook-timestamp %s is %d s from the time it was received" % (
            ts, int(ts) - req["t"])
    mac = hmac.new(key, ("%s.%s.%s" % (wid, ts, req["body"])).encode("utf-8"),
                   hashlib.sha256).digest()
    want = "v1," + base64.b64encode(mac).decode()
    if not any(hmac.compare_digest(s, want) for s in sig.split()):
        return False, "webhook-signature %r; HMAC-SHA256 over id.timestamp.body gives %s" % (
            sig, want)
    return True, ""


# ------------------------------------------------------------------------------------------
# The reference: ALERTS.md's lifecycle over REF's alerts

class History:
    """What one alert identity went through: per day, the reference's stage and the notices
    received."""

    def __init__(self):
        self.days = []             # (day, stage or None, [Notice])
        self.ever = False          # held on an earlier day
        self.last_facts = None     # data.facts of the last notice
        self.period = 0            # how many times it began to hold (first, or again)
        self.lowered = False       # went down a stage once


def check_transition(rule, prev, stage, notices, ever, last_facts, new_missed, want):
    """What is wrong with the notices of one alert on one run: [reasons]; and the kind of
    transition ('first', 'again', 'up', 'same', 'down', 'gone', None)."""
    types = [n.type for n in notices]
    bad = []
    for n in notices:
        if n.type == "alert.resolved":
            if n.status != "resolved":
                bad.append("alert.resolved with status %r" % n.status)
        elif n.status != "firing":
            bad.append("%s with status %r, not firing (a holding alert nobody answered)" % (
                n.type, n.status))
    if prev is None and stage is None:
        if notices:
            bad.append("the rule holds on neither day, yet notices came: %s" % types)
        return bad, None
    if prev is None:
        kind = "again" if ever else "first"
        if kind == "first":
            if types != ["alert.firing"] or notices[0].stage != stage:
                bad.append("holds for the first time at %s: one alert.firing at %s, not %s" % (
                    stage, stage, [n.brief() for n in notices]))
        elif len(notices) != 1 or types[0] == "alert.resolved" or notices[0].stage != stage:
            bad.append("holds again (resolved before) at %s: one notice, status firing, at "
                       "%s, not %s" % (stage, stage, [n.brief() for n in notices]))
        return bad, kind
    if stage is None:
        if types != ["alert.resolved"]:
            bad.append("no longer holds (was %s): one alert.resolved, not %s" % (
                prev, [n.brief() for n in notices]))
        return bad, "gone"
    up = RANK[(rule, stage)] - RANK[(rule, prev)]
    if up > 0:
        if types != ["alert.escalated"] or notices[0].stage != stage:
            bad.append("%s -> %s (higher): one alert.escalated at %s, not %s" % (
                prev, stage, stage, [n.brief() for n in notices]))
        return bad, "up"
    if up < 0:
        if len(notices) > 1 or any(t in ("alert.firing", "alert.resolved") for t in types) \
                or any(n.stage != stage for n in notices):
            bad.append("%s -> %s (lower, still holding): keeps its identity (no firing, no "
                       "resolved), at most one notice, at %s; got %s" % (
                           prev, stage, stage, [n.brief() for n in notices]))
        return bad, "down"
    if any(t != "alert.updated" for t in types) or len(notices) > 1 \
            or any(n.stage != stage for n in notices):
        bad.append("still %s: nothing, or one alert.updated at %s; got %s" % (
            stage, stage, [n.brief() for n in notices]))
    elif notices and last_facts is not None and notices[0].data.get("facts") == last_facts:
        bad.append("alert.updated at the same stage with the facts last sent: %s" % (
            json.dumps(last_facts, sort_keys=True)[:400]))
    if rule == WNB and new_missed and not bad:
        count = want.facts.get("count")
        if types != ["alert.updated"] or (notices[0].data.get("facts") or {}).get(
                "count") != count:
            bad.append("still %s with %d new missed appointment(s) %s: one alert.updated with "
                       "count %s (RULES.md: notified again with the new count), not %s" % (
                           stage, len(new_missed), new_missed, count,
                           [(n.brief(), (n.data.get("facts") or {}).get("count"))
                            for n in notices]))
    return bad, "same"


def new_missed_appointments(c, prev, cur):
    """Distinct missed appointments whose local date is in (prev, cur]: not in prev's window,
    in cur's."""
    return sorted(oracle.iso(d) for d in oracle.missed(c, prev, cur).values())


def renames(wrong, state, want, by_key, fps):
    """Lines naming the children of wrong whose alert left one subject with no alert.resolved
    while another subject of the same rule began to hold with no alert.firing: the alert
    renamed in place."""
    gone, born = {}, {}
    for key_, _ in wrong:
        ns = by_key.get(key_, [])
        if key_ in state and key_ not in want and not ns:
            gone.setdefault(key_[1], []).append(key_)
        if key_ in want and key_ not in state and [n.type for n in ns] != ["alert.firing"]:
            born.setdefault(key_[1], []).append(key_)
    out = []
    for cid in sorted(set(gone) & set(born), key=str):
        for a, b in zip(gone[cid], born[cid]):
            out.append("child %s: subject %s (fingerprint %s) became %s (fingerprint %s) with "
                       "no alert.resolved and no alert.firing; the new subject got %s" % (
                           json.dumps(cid), json.dumps(a[2]),
                           ",".join(str(f)[:12] for f in fps.get(a, ())),
                           json.dumps(b[2]), ",".join(str(f)[:12] for f in fps.get(b, ()))
                           or "-", [n.brief() for n in by_key.get(b, [])] or "nothing"))
    return out


def history_lines(key, hist, log):
    rule, cid, subject = key
    out = ["alert %s child %s subject %s:" % (rule, json.dumps(cid), json.dumps(subject))]
    for day, stage, notices in hist.days:
        out.append("  %s: RULES.md %s; received %s" % (
            day, stage or "-", ", ".join(n.brief() for n in notices) or "nothing"))
    for day, text in log.get(cid, []):
        out.append("  change before %s: %s" % (day, text))
    return out


# ------------------------------------------------------------------------------------------

def fact_changes(a, b):
    """The reference's named facts that differ between two Wants (callables left out)."""
    fa = {k: v for k, v in a.facts.items() if not callable(v)}
    fb = {k: v for k, v in b.facts.items() if not callable(v)}
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def run_seed(procs, tmp, db, seed):
    """The whole sequence of days on one seed's world, in schemas of its own."""
    def ok(cond, name, *diags):
        return tap.ok(cond, "seed %d: %s" % (seed, name), *diags)
    t0 = time.monotonic()
    schema, state_schema = "lc_case_%d" % seed, "lc_state_%d" % seed
    w = oracle.gen_world(seed, N_CHILDREN)
    load = oracle.psql(DBNAME, ["-v", "schema=" + schema, "-f",
                                os.path.join(lib.TOP, "rules", "contract.sql"), "-f", "-"],
                       stdin="SET search_path = %s;\n" % schema +
                       oracle.world_sql(w, random.Random(seed)))
    if not ok(load.returncode == 0, "%d children loaded into %s.%s" % (
            len(w.children), DBNAME, schema), load.stderr[-2000:]):
        return
    recv = lib.Receiver(procs, tmp, "hooks%d" % seed)
    secret = lib.new_secret()
    key = base64.b64decode(secret[len("whsec_"):])
    cfg = lib.write_config(tmp, "lifecycle%d" % seed, {
        "database": {"conninfo": db.conninfo("dw-lifecycle"), "case_schema": schema,
                     "state_schema": state_schema},
        "timezone": "Europe/London",
        "link_template": oracle.LINK,
        "addresses": lib.addresses(),
        "webhooks": [{"url": recv.url(PATH), "secret": secret}],
    })
    eval_d = eval_days(seed)
    ch = Changer(w)
    byc = {c.cid: c for c in w.children}
    hists = {}                 # key -> History
    state = {}                 # key -> stage at the last run
    wants = {}                 # key -> Want at the last run
    seen_ids = {}              # webhook-id -> (day, Notice)
    fps = {}                   # key -> {fingerprint}
    per_day_dups = []          # (day, key, type, n)
    req_bad = []               # (day, why)
    asof_bad = []
    others = []                # (day, Notice) of OTHER_TYPES
    unans = {}                 # (key, stage, firing period) -> [day] of alert.unanswered
    unans_bad = []
    unknown = []               # (day, Notice) of no known type
    stray = []                 # (day, Notice): a lifecycle notice naming a rule not known
    kinds = {}                 # transition kind -> count
    kind_types = {}            # (transition kind, types received) -> count
    lower_seen = []            # (day, key, prev, stage, [briefs])
    up_again = []              # the same, for a stage reached again after going down
    data_bad = []              # (day, Notice, missing keys)
    rerun = None               # the requests of a second run on one day
    by_fp = {}                 # fingerprint -> [Notice] in the order received
    again_seen = []
    gone_stage = {}            # (resolved notice's stage == last stage) -> count
    facts_seen = {}            # (rule, fact changed) -> [updated sent, not sent]
    n_before = 0
    rng_base = 7919 * seed

    for k, day in enumerate(eval_d):
        if k > 0:
            prev = eval_d[k - 1]
            change_data(ch, random.Random(rng_base + k), prev, day,
                        eval_d[k + 1] if k + 1 < len(eval_d) else None)
            sql = ch.take()
            if sql:
                r = oracle.psql(DBNAME, ["-f", "-"], stdin="SET search_path = %s;\n" % schema
                                + sql)
                if not ok(r.returncode == 0, "changes to the case data before %s" % day,
                          r.stderr[-2000:]):
                    return
        want = {}
        for c in w.children:
            for rule in RULES:
                wt = oracle.REF[rule](c, day)
                if wt is not None:
                    want[(rule, c.cid, norm_subject(wt.subject))] = wt
        r = lib.run_once(cfg, day.isoformat(), timeout=RUN_TIMEOUT)
        reqs = recv.requests()
        got, n_before = reqs[n_before:], len(reqs)
        if not ok(r.rc == 0 and not r.sanitizer(), "--once --as-of %s: exits 0, no sanitizer "
                  "report (%d requests to the receiver, %d alerts in RULES.md's reading)" % (
                      day, len(got), len(want)), r.diag()):
            return
        notices, day_others = [], []
        for req in got:
            good, why = verify(req, key)
            if not good:
                req_bad.append((day, why + " (%s)" % req["body"][:200]))
            n = Notice(req, day)
            env_ok = (req["method"] == "POST" and req["path"] == PATH
                      and set(n.env) == {"type", "timestamp", "data"}
                      and isinstance(n.env.get("timestamp"), str)
                      and RFC3339.fullmatch(n.env["timestamp"]) is not None)
            if not env_ok:
                req_bad.append((day, "not a POST of {type, timestamp (RFC 3339), data}: %s %s "
                                "%s" % (req["method"], req["path"], req["body"][:300])))
            if n.wid in seen_ids:
                d0, n0 = seen_ids[n.wid]
                req_bad.append((day, "webhook-id %s again: first %s %s on %s, now %s" % (
                    n.wid, n0.brief(), n0.key, d0, n.brief())))
            seen_ids.setdefault(n.wid, (day, n))
            if n.data.get("as_of") != day.isoformat():
                asof_bad.append((day, n))
            if n.type in OTHER_TYPES:
                others.append((day, n))
                day_others.append(n)
                continue
            if n.type not in LIFECYCLE_TYPES:
                unknown.append((day, n))
                continue
            if n.rule not in RULES:
                stray.append((day, n))
                continue
            missing = sorted(ALERT_KEYS - set(n.data))
            if missing:
                data_bad.append((day, n, missing))
            fp = n.data.get("fingerprint")
            fps.setdefault(n.key, set()).add(fp)
            notices.append(n)
        # a receiver's view: each fingerprint's notices in order
        for n in sorted(notices, key=lambda n: str(n.env.get("timestamp"))):
            by_fp.setdefault(n.data.get("fingerprint"), []).append(n)
        by_key = {}
        for n in notices:
            by_key.setdefault(n.key, []).append(n)
        for key_, ns in by_key.items():
            cnt = {}
            for n in ns:
                cnt[n.type] = cnt.get(n.type, 0) + 1
            per_day_dups.extend((day, key_, ty, m) for ty, m in cnt.items() if m > 1)

        for rule in RULES:
            keys = sorted({x for x in set(want) | set(state) | set(by_key) if x[0] == rule},
                          key=lambda x: json.dumps(x))
            wrong = []
            for key_ in keys:
                hist = hists.setdefault(key_, History())
                ns = by_key.get(key_, [])
                prev_stage = state.get(key_)
                wt = want.get(key_)
                stage = wt.stage if wt else None
                nm = []
                if rule == WNB and wt is not None and prev_stage is not None and k > 0:
                    nm = new_missed_appointments(byc[key_[1]], eval_d[k - 1], day)
                bad, kind = check_transition(rule, prev_stage, stage, ns, hist.ever,
                                             hist.last_facts, nm, wt)
                hist.days.append((day, stage, ns))
                if kind is not None:
                    kinds[(rule, kind)] = kinds.get((rule, kind), 0) + 1
                    tk = (kind, tuple(sorted(n.type for n in ns)))
                    kind_types[tk] = kind_types.get(tk, 0) + 1
                if kind == "down":
                    lower_seen.append((day, key_, prev_stage, stage, [n.brief() for n in ns]))
                if kind == "again":
                    again_seen.append((day, key_, stage, [n.brief() for n in ns]))
                if kind == "gone" and len(ns) == 1:
                    same = ns[0].stage == prev_stage
                    gone_stage[same] = gone_stage.get(same, 0) + 1
                if kind == "same" and wants.get(key_) is not None:
                    changed = fact_changes(wants[key_], wt)
                    c = byc[key_[1]]
                    a0 = oracle.current_alloc(c, eval_d[k - 1])
                    a1 = oracle.current_alloc(c, day)
                    if (a0 and a0["worker"]) != (a1 and a1["worker"]):
                        changed.append("(the allocated worker, whom recipients follow)")
                    for f in changed:
                        v = facts_seen.setdefault((rule, f), [0, 0])
                        v[0 if ns else 1] += 1
                if kind == "down":
                    hist.lowered = True
                if kind == "up" and hist.lowered:
                    up_again.append((day, key_, prev_stage, stage, [n.brief() for n in ns]))
                if kind in ("first", "again"):
                    hist.period += 1
                if ns:
                    hist.last_facts = ns[-1].data.get("facts")
                if stage is not None:
                    hist.ever = True
                if bad:
                    wrong.append((key_, bad))
            n_here = sum(len(by_key.get(x, [])) for x in keys)
            name = "as of %s, rule %s: the %d notices received are ALERTS.md's lifecycle of " \
                   "its %d alerts (%d held the day before)" % (
                       day, rule, n_here, sum(1 for x in want if x[0] == rule),
                       sum(1 for x in state if x[0] == rule))
            if not ok(not wrong, name, wrong and "%d alerts differ" % len(wrong)):
                for line in renames(wrong, state, want, by_key, fps):
                    tap.diag(line)
                for key_, bad in wrong[:10]:
                    tap.diag("; ".join(bad))
                    for line in history_lines(key_, hists[key_], ch.log):
                        tap.diag("  " + line)
                    c = byc.get(key_[1])
                    if c is not None:
                        for line in oracle.show_rows(c, rule, day)[:20]:
                            tap.diag("      " + line)
        # RESPONSES.md's alert.unanswered: for the alert's current stage, once while it fires
        for n in day_others:
            wt = want.get(n.key)
            if wt is None or wt.stage != n.stage:
                unans_bad.append("%s: %s %s, but RULES.md has %s" % (
                    day, n.brief(), json.dumps(n.key), wt.stage if wt else "no alert"))
            period = hists[n.key].period if n.key in hists else 0
            unans.setdefault((n.key, n.stage, period), []).append(day)
        state = {x: wt.stage for x, wt in want.items()}
        wants = want
        if k == RERUN_INDEX:
            r = lib.run_once(cfg, day.isoformat(), timeout=RUN_TIMEOUT)
            reqs = recv.requests()
            rerun, n_before = reqs[n_before:], len(reqs)
            ok(r.rc == 0 and not r.sanitizer() and not rerun, "--once --as-of %s again, the "
               "case data unchanged: exits 0 and sends nothing (ALERTS.md: an unchanged alert "
               "is not notified again; never twice for the same change)" % day,
               r.diag() if r.rc != 0 or r.sanitizer() else
               "\n".join("%s %s" % (Notice(q, day).brief(), json.dumps(Notice(q, day).key))
                         for q in rerun[:10]))

    # ---- a receiver's view: what it was told of each fingerprint ----
    unborn = [(fp, ns) for fp, ns in by_fp.items() if ns[0].type != "alert.firing"]
    ok(not unborn, "the first notice a receiver gets of each fingerprint (%d) is alert.firing "
       "(ALERTS.md: an alert is born firing the first time its rule holds for its (rule, "
       "child_id, subject_id))" % len(by_fp),
       "%d fingerprints first seen in another notice:\n" % len(unborn) + "\n".join(
           "%s..: first %s of %s on %s" % (str(fp)[:12], ns[0].brief(), json.dumps(ns[0].key),
                                          ns[0].day) for fp, ns in unborn[:10]))
    last_day = eval_d[-1]
    open_fp = {fp: ns[-1] for fp, ns in by_fp.items() if ns[-1].type != "alert.resolved"}
    open_keys = {n.key for n in open_fp.values()}
    stale = [(fp, n) for fp, n in open_fp.items() if n.key not in wants]
    untold = sorted((x for x in wants if x not in open_keys), key=json.dumps)
    ok(not stale and not untold, "after the last day (%s) the alerts a receiver was told are "
       "firing and never told resolved are those RULES.md yields that day (%d)" % (
           last_day, len(wants)),
       "\n".join(["told firing, never resolved, not yielded: %s.. %s, last %s on %s" % (
           str(fp)[:12], json.dumps(n.key), n.brief(), n.day) for fp, n in stale[:10]] +
                 ["yielded, never announced (or announced resolved): %s" % json.dumps(x)
                  for x in untold[:10]]))

    # ---- the invariants over every request ----
    nreq = len(seen_ids)
    if seen_ids:
        first = next(iter(seen_ids.values()))[1].req
        forged = dict(first, body=first["body"].replace('"stage"', '"stage" ', 1))
        if verify(forged, key)[0]:
            req_bad.append(("-", "the HMAC check here takes a tampered body: it proves nothing"))
    ok(not req_bad, "every one of the %d requests is a POST of {type, timestamp, data} with a "
       "valid Standard Webhooks signature (HMAC-SHA256 over id.timestamp.body, keyed with the "
       "secret's base64 part), a webhook-timestamp of when it was sent, and its own webhook-id"
       % nreq, "\n".join("%s: %s" % x for x in req_bad[:15]))
    ok(not per_day_dups, "never two notices of one type about one alert on one day",
       "\n".join("%s %s: %d x %s" % (d, json.dumps(k_), m, ty) for d, k_, ty, m in
                 per_day_dups[:15]))
    multi = {k_: v for k_, v in fps.items() if len(v) != 1}
    badhex = sorted({f for v in fps.values() for f in v
                     if not (isinstance(f, str) and re.fullmatch(r"[0-9a-f]{16,}", f))},
                    key=str)
    owners = {}
    for k_, v in fps.items():
        for f in v:
            owners.setdefault(f, set()).add(k_)
    shared = {f: o for f, o in owners.items() if len(o) > 1}
    ok(not multi and not badhex and not shared,
       "the fingerprint is one lower-case hex digest per (rule, child_id, subject_id) on every "
       "day (%d identities), and no two identities share one" % len(fps),
       "\n".join(["%s: %s" % (json.dumps(k_), sorted(v, key=str)) for k_, v in
                  list(multi.items())[:8]] + ["not hex: %s" % badhex[:5]] +
                 ["%s shared by %s" % (f, sorted(o, key=str)) for f, o in
                  list(shared.items())[:5]]))
    ok(not asof_bad, "every notice's as_of is the day of the run that sent it",
       "\n".join("run %s: %s %s as_of %r" % (d, n.brief(), json.dumps(n.key),
                                             n.data.get("as_of")) for d, n in asof_bad[:10]))
    ok(not data_bad, "every notice's data has the fields of ALERTS.md's alert object (%s)" %
       ", ".join(sorted(ALERT_KEYS)), "\n".join("%s: %s %s lacks %s" % (
           d, n.brief(), json.dumps(n.key), m) for d, n, m in data_bad[:10]))
    ok(not unknown and not stray, "every notice is of ALERTS.md's four types (or RESPONSES.md's "
       "alert.unanswered) and names one of the seven rules",
       "\n".join("%s: %s %s" % (d, n.type, n.req["body"][:200]) for d, n in
                 (unknown + stray)[:10]))
    twice = {k_: v for k_, v in unans.items() if len(v) > 1}
    ok(not twice and not unans_bad, "RESPONSES.md's alert.unanswered: %d notices, each for the "
       "alert's stage on that day, at most one per alert and stage while it fires (a firing "
       "after a resolution starts again)" % len(others),
       "\n".join(unans_bad[:10] + ["%s: %s" % (json.dumps(k_), [str(d) for d in v])
                                   for k_, v in list(twice.items())[:10]]))

    # ---- coverage: the lifecycle was exercised ----
    tot = {}
    for (rule, kind), m in kinds.items():
        tot[kind] = tot.get(kind, 0) + m
    need = {"first": 50, "up": 10, "same": 50, "down": 1, "gone": 20, "again": 1}
    short = {kk: tot.get(kk, 0) for kk, m in need.items() if tot.get(kk, 0) < m}
    ok(not short, "the lifecycle was exercised: %s" % ", ".join(
        "%s %d" % (kk, tot.get(kk, 0)) for kk in ("first", "up", "same", "down", "gone",
                                                  "again")),
       "too few: %s (at least %s)" % (short, need))
    per_rule = {rule: sum(m for (r_, kk), m in kinds.items() if r_ == rule and kk != "same")
                for rule in RULES}
    ok(all(v > 0 for v in per_rule.values()), "every rule had alerts fire or change: %s" % (
        ", ".join("%s %d" % kv for kv in per_rule.items())))

    # ---- what the daemon does where ALERTS.md is silent ----
    def note(text):
        tap.note("seed %d: %s" % (seed, text))
    note("transitions (first, again: began to hold, again after a resolution; up, down, same: "
         "the stage against the last run's; gone: no longer holds), notices received -> "
         "alerts:")
    for (kind, types), m in sorted(kind_types.items()):
        note("  %-6s %-40s %d" % (kind, ", ".join(types) or "nothing", m))
    for day, key_, p, s_, b in lower_seen[:3]:
        note("a lower stage: %s %s %s -> %s: %s" % (day, json.dumps(key_), p, s_, b))
    for day, key_, p, s_, b in up_again[:3]:
        note("a stage reached again after going down: %s %s %s -> %s: %s" % (
            day, json.dumps(key_), p, s_, b))
    for day, key_, s_, b in again_seen[:3]:
        note("holding again after a resolution: %s %s at %s: %s" % (
            day, json.dumps(key_), s_, b))
    note("alert.resolved carrying the last stage held: %d, another stage: %d" % (
        gone_stage.get(True, 0), gone_stage.get(False, 0)))
    note("at the same stage, a fact RULES.md names changed (rule, fact: alerts with "
         "alert.updated / without):")
    for (rule, f), (y, n) in sorted(facts_seen.items()):
        note("  %s %s: %d / %d" % (rule, f, y, n))
    note("%d alert.unanswered notices; %d requests in all; %.0f s" % (
        len(others), nreq, time.monotonic() - t0))


def run(procs, tmp):
    db = lib.Db(DBNAME)
    db.recreate()
    for seed in SEEDS:
        run_seed(procs, tmp, db, seed)
    if not os.environ.get("LIFECYCLE_KEEP"):
        db.drop()


def main():
    t = tap.Tap()
    rc = lib.run_test(t, "lifecycle_oracle", run)
    print("# %d passed, %d failed" % (tap.passed, tap.failures), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
