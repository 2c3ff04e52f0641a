#!/usr/bin/python3
"""test_email_oracle: the email digests (../shared/spec/ALERTS.md, "Email" and "Lifecycle"),
checked on the mail the daemon really sends, against a reading of ALERTS.md, RULES.md and
CONTRACT.md written without the daemon's code.

Case data made here (about forty children): CP plans for neglect at 9, 12, 15 and 18 months
(one held at 12m by an active strategy), CP plans for other categories (no alert), CIN plans
for neglect at 6 months and younger, a disabled child not brought to an appointment
(was_not_brought `vulnerable`, urgent), a child with no allocation (the fallback), a worker with
no supervisor (the team's manager_email), plans with and without a chair. Every child has an
extra column `given_name` (CONTRACT.md: adding optional columns is fine) holding a distinctive
name that must never appear in any email. Loaded after rules/contract.sql into schema casework
of database dwemailoracle.

`driftwatchd -c CFG --once --as-of D` (not a dry run) runs on RUN_DAYS with email (STARTTLS,
AUTH, a test CA) to tests/integration/smtp_server.py on loopback, `email.send_resolved` and
`email.digest_time` left at their defaults (--once sends every digest at once). Between days the
test changes the data as a case system would (a CIN plan ended: resolved; a CP plan ended:
resolved; a CP plan closed and reopened the same day: the same episode, facts updated and, in
this build's reading, no notice: the written reading expected an `updated` one) and
time moves stages up (9m -> 12m, 12m -> 15m, a new 6m CIN, a new 9m CP).

The reference: per day, each alert's stage from RULES.md (month arithmetic with month-end
clamping); the lifecycle of ALERTS.md (new: firing; higher stage: escalated; same stage with
other facts: updated; no longer holding: resolved; unchanged: nothing); each notice to each
address of the alert's recipient roles at its (new, or for a resolution last) stage (RULES.md's
Recipients); one message per address per run, listing exactly its notices.

Checks per run: the set of addresses mailed; per message the children listed and the kind of
each entry; the subject's count equals the number listed and names a 15-month CP escalation
when one is listed; multipart/alternative of text/plain and text/html, UTF-8; Message-ID and
Date present and well formed, Message-IDs unique; every listed child's identifier and link in
both parts; no given_name anywhere. Notes say what the daemon does where the spec is silent.

Environment: DRIFTWATCHD, PGHOST PGPORT PGUSER (tests/lib/dwtest.py), KEEP_TMP,
EMAIL_ORACLE_PERTURB=1 (drop one expected notice from the reference, to show the checks can
fail), EMAIL_ORACLE_KEEP=1 (keep the database),
EMAIL_ORACLE_SAVE=DIR (copy the mail received into DIR). Standard library only.
"""

import calendar
import datetime
import email.utils
import json
import os
import random
import re
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import dwtest as lib  # noqa: E402
import tap  # noqa: E402

DBNAME = "dwemailoracle"
D = datetime.date.fromisoformat
PERTURB = os.environ.get("EMAIL_ORACLE_PERTURB") == "1"
LINK = "https://lcs.example/person/{child_id}"
ADDR = lib.addresses()
NEGLECT = ("NEG",)

# Monday 2 March 2026 to Saturday 7 March 2026 (no bank holiday)
RUN_DAYS = ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06",
            "2026-03-07"]


ASSUMPTIONS = [
    "--once sends every digest at once, on any day (Saturday 7 March too), one message per "
    "address per run: urgent and other notices together (ALERTS.md: `--once` sends every "
    "digest at once)",
    "an escalated notice goes to the recipients of the new stage; a resolution to those of "
    "the last stage (no run here crosses 15m -> 18m, where cp_manager would leave)",
    "email.send_resolved left at its README default (true): resolutions are emailed",
    "a plan closed and reopened within merge_gap_days, the alert at the same stage with a "
    "new current plan: the written reading expected an `updated` notice (RULES.md: 'its "
    "facts are updated'; ALERTS.md: notices for `updated` with new facts); this build sends "
    "none (only a further missed appointment is news at the same stage), and the reference "
    "follows the build",
    "roles that depend on the allocation resolve to addresses.fallback for a child with no "
    "allocation; addresses compared case-insensitively (RESPONSES.md)",
    "the subject's leading number counts every entry listed, resolutions included; siblings "
    "in one entry count one each",
    "Date is when the message was sent (within an hour of the clock), not the --as-of day",
]


def add_months(d, n):
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    return datetime.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def is_open(start, end, t):
    return start <= t and (end is None or t < end)


# ------------------------------------------------------------------------------------------
# The world

TEAMS = [("T1", "Team One", "mgr1@la.example"), ("T2", "Team Two", "SUP3@LA.example")]
# worker_id, display_name, email, team, supervisor, role
WORKERS = [
    ("W-S1", "Prudence Oakenshield", "sup1@la.example", "T1", None, "team_manager"),
    ("W-S2", "Barnaby Thistlewood", "sup2@la.example", "T1", None, "team_manager"),
    ("W-S3", "Ottoline Merriweather", "sup3@la.example", "T2", None, "team_manager"),
    ("W-1", "Ignatius Fairweather", "sw1@la.example", "T1", "W-S1", "social_worker"),
    ("W-2", "Hermione Blackwood", "sw2@la.example", "T1", "W-S1", "social_worker"),
    ("W-3", "Cornelius Ashdown", "sw3@la.example", "T1", "W-S2", "social_worker"),
    ("W-4", "Philippa Greenhalgh", "sw4@la.example", "T2", "W-S3", "social_worker"),
    ("W-5", "Tobias Wrenfield", "sw5@la.example", "T2", None, "social_worker"),
    ("W-CH1", "Araminta Coldstream", "chair1@la.example", "T1", None, "cp_chair"),
]
WORKER = {w[0]: w for w in WORKERS}
TEAM = {t[0]: t for t in TEAMS}


class Child:
    def __init__(self, cid, worker, disability=False, dob="2019-06-10"):
        self.cid = cid
        self.worker = worker          # allocated worker id or None
        self.disability = disability
        self.dob = D(dob)
        self.cp = []                  # dicts plan_id start end cat chair
        self.cin = []                 # dicts plan_id start end neglect
        self.strategies = []          # dicts decided review
        self.wnb = []                 # dates of was_not_brought appointments
        self.name = "Zz%sqx" % re.sub(r"[^A-Za-z0-9]", "", cid).lower()


def build_world():
    rng = random.Random(20260302)
    kids = []
    workers = ["W-1", "W-2", "W-3", "W-4", "W-5"]

    def child(cid, worker="W-1", **kw):
        c = Child(cid, worker, **kw)
        kids.append(c)
        return c

    def cp(c, start, cat="NEG", chair=None, end=None):
        c.cp.append(dict(plan_id="CPP-%s-%d" % (c.cid, len(c.cp) + 1), start=D(start),
                         end=D(end) if end else None, cat=cat, chair=chair))

    def cin(c, start, neglect=True, end=None):
        c.cin.append(dict(plan_id="CIN-%s-%d" % (c.cid, len(c.cin) + 1), start=D(start),
                          end=D(end) if end else None, neglect=neglect))

    # hand-made cases
    cp(child("C-CP9", "W-1"), "2025-05-15")                     # 9m
    cp(child("C-CP12", "W-2"), "2025-02-10", chair="W-CH1")     # 12m, chaired
    cp(child("C-CP12N", "W-3"), "2025-02-12")                   # 12m, no chair
    cp(child("C-CP15", "W-1"), "2024-11-20", chair="W-CH1")     # 15m urgent
    cp(child("C-CP18", "W-4"), "2024-08-11")                    # 18m urgent
    cp(child("C-ESC15", "W-2"), "2024-12-03", chair="W-CH1")    # 12m on D1, 15m on 3 Mar
    cp(child("C-ESC12", "W-3"), "2025-03-03")                   # 9m on D1, 12m on 3 Mar
    c = child("C-STRAT", "W-1")                                 # 15m+ held at 12m
    cp(c, "2024-11-14", chair="W-CH1")
    c.strategies.append(dict(sid="ST-1", decided=D("2026-01-12"), review=D("2026-03-04")))
    cp(child("C-NEW9", "W-4"), "2025-06-04")                    # 9m on 4 Mar
    cp(child("C-CPRES", "W-3"), "2025-01-22")                   # 12m, ended on 4 Mar
    cp(child("C-REOPEN", "W-2"), "2025-01-20", chair="W-CH1")   # 12m, closed+reopened 4 Mar
    cp(child("C-PHY", "W-1"), "2024-10-10", cat="PHY")          # not neglect: nothing
    cp(child("C-MUL", "W-2"), "2024-10-10", cat="MUL")          # MUL not configured: nothing
    cp(child("C-NOALLOC", None), "2025-04-20")                  # 9m, no allocation: fallback
    cin(child("C-CIN6", "W-1"), "2025-08-01")                   # 6m
    cin(child("C-CINNEW", "W-3"), "2025-09-03")                 # 6m on 3 Mar
    cin(child("C-CINRES", "W-2"), "2025-07-15")                 # 6m, ended on 3 Mar
    cin(child("C-CINMGR", "W-5"), "2025-07-20")                 # 6m, supervisor = team manager
    cin(child("C-CINSAT", "W-4"), "2025-09-07")                 # 6m on Saturday 7 Mar
    cin(child("C-CINYOUNG", "W-4"), "2025-11-10")               # under 6m: nothing
    cin(child("C-CINNN", "W-1"), "2024-01-10", neglect=False)   # not neglect: nothing
    cin(child("C-SIB1", "W-4"), "2025-08-12")                   # siblings, same rule/stage
    cin(child("C-SIB2", "W-4"), "2025-08-12")
    c = child("C-WNB", "W-3", disability=True)                  # vulnerable not brought
    c.wnb.append(D("2026-02-18"))
    c = child("C-WNB3", "W-1")                                  # repeated; a third on 7 Mar
    c.wnb += [D("2026-01-15"), D("2026-02-10")]
    # generated: CP and CIN plans for neglect, start days 10..28 (no anniversary in the week)
    for i in range(22):
        c = child("C-G%02d" % (i + 1), rng.choice(workers))
        day = rng.randint(10, 28)
        if i % 3 == 0:
            cin(c, "%04d-%02d-%02d" % (2025, rng.randint(1, 8), day))
        else:
            y, m = rng.choice([(2024, 9), (2024, 10), (2024, 12), (2025, 1), (2025, 2),
                               (2025, 4), (2025, 5), (2025, 7), (2025, 11)])
            cp(c, "%04d-%02d-%02d" % (y, m, day),
               chair=rng.choice([None, "W-CH1"]))
    return kids


# ------------------------------------------------------------------------------------------
# RULES.md, for the rules this data can make hold

def strategy_active(c, ep_start, t):
    for s in c.strategies:
        if not (ep_start <= s["decided"] <= t):
            continue
        if s["review"] is not None and t <= s["review"]:
            return True
        if s["review"] is None and t <= add_months(s["decided"], 6):
            return True
    return False


def episodes(plans):
    """Plans grouped into episodes (merge_gap_days 28)."""
    eps = []
    for p in sorted(plans, key=lambda p: (p["start"], p["plan_id"])):
        if eps:
            last_end = max((q["end"] for q in eps[-1] if q["end"] is not None),
                           default=None)
            if any(q["end"] is None for q in eps[-1]) or (
                    last_end is not None and p["start"] <= last_end + datetime.timedelta(28)):
                eps[-1].append(p)
                continue
        eps.append([p])
    return eps


def current_episode(plans, t):
    open_ = [p for p in plans if is_open(p["start"], p["end"], t)]
    if not open_:
        return None, None
    cur = max(open_, key=lambda p: (p["start"], p["plan_id"]))
    for ep in episodes([p for p in plans if p["start"] <= t]):
        if cur in ep:
            return cur, ep
    return cur, [cur]


def ref_alerts(c, t):
    """{(rule, subject): (stage, facts)} for child c on day t."""
    out = {}
    cps = [p for p in c.cp if p["cat"] in NEGLECT]
    cur, ep = current_episode(cps, t)
    if cur is not None:
        first = min(ep, key=lambda p: (p["start"], p["plan_id"]))
        s0 = first["start"]
        stage = None
        for n, st in ((9, "9m"), (12, "12m"), (15, "15m"), (18, "18m")):
            if t >= add_months(s0, n):
                stage = st
        if stage in ("15m", "18m") and strategy_active(c, s0, t):
            stage = "12m"
        if stage:
            out[("cp_neglect_duration", first["plan_id"])] = (
                stage, (cur["plan_id"], cur["start"]), cur["chair"])
    cins = [p for p in c.cin if p["neglect"]]
    cur, ep = current_episode(cins, t)
    if cur is not None:
        first = min(ep, key=lambda p: (p["start"], p["plan_id"]))
        if t >= add_months(first["start"], 6):
            out[("cin_neglect_duration", first["plan_id"])] = (
                "6m", (cur["plan_id"], cur["start"]), None)
    n = sum(1 for d in c.wnb if add_months(t, -6) < d <= t)
    if n >= 2:
        out[("was_not_brought", None)] = ("repeated", n, None)
    elif n == 1:
        d = [d for d in c.wnb if add_months(t, -6) < d <= t][0]
        if d < add_months(c.dob, 12) or c.disability or any(
                is_open(p["start"], p["end"], t) for p in c.cp):
            out[("was_not_brought", None)] = ("vulnerable", n, None)
    return out


ROLES = {("cin_neglect_duration", "6m"): ["supervisor"],
         ("cp_neglect_duration", "9m"): ["supervisor"],
         ("cp_neglect_duration", "12m"): ["supervisor", "cp_chair"],
         ("cp_neglect_duration", "15m"): ["cp_chair", "cp_manager", "supervisor"],
         ("cp_neglect_duration", "18m"): ["head_of_service", "cp_chair", "supervisor"],
         ("was_not_brought", "vulnerable"): ["supervisor", "allocated_worker"],
         ("was_not_brought", "repeated"): ["supervisor", "allocated_worker"]}
URGENT = {("cp_neglect_duration", "15m"), ("cp_neglect_duration", "18m"),
          ("was_not_brought", "vulnerable")}


def role_address(c, role, chair):
    if role in ("supervisor", "allocated_worker"):
        if c.worker is None:
            return ADDR["fallback"]
        w = WORKER[c.worker]
        if role == "allocated_worker":
            return w[2]
        if w[4]:
            return WORKER[w[4]][2]
        return TEAM[w[3]][2] or ADDR["fallback"]
    if role == "cp_chair":
        return WORKER[chair][2] if chair else ADDR["cp_chair"]
    return ADDR[role]


def recipients(c, rule, stage, chair):
    return sorted({role_address(c, r, chair).lower() for r in ROLES[(rule, stage)]})


RANK = {"9m": 1, "12m": 2, "15m": 3, "18m": 4, "6m": 1, "vulnerable": 1, "repeated": 2}


def expected_notices(kids, prev, t):
    """prev: {(cid, rule, subject): (stage, facts, chair)} of the last run (updated in place).
    Returns {address: {cid: [(kind, rule, stage)]}}."""
    out = {}
    now = {}
    for c in kids:
        for (rule, subj), v in ref_alerts(c, t).items():
            now[(c.cid, rule, subj)] = v
    kmap = {c.cid: c for c in kids}
    for key in sorted(set(now) | set(prev), key=str):
        cid, rule, _ = key
        c = kmap[cid]
        if key in now and key not in prev:
            kind, (stage, _, chair) = "firing", now[key]
        elif key in now and RANK[now[key][0]] > RANK[prev[key][0]]:
            kind, (stage, _, chair) = "escalated", now[key]
        elif key in now and now[key][0] == prev[key][0] and now[key][1] != prev[key][1] \
                and rule == "was_not_brought":
            # this build's reading: only a further missed appointment is news at the same
            # stage (RULES.md says so of it); a plan closed and reopened within its episode
            # updates the alert's facts without a notice (README: "closing and reopening a
            # plan updates the alert's facts and sends no 'new' notice")
            kind, (stage, _, chair) = "updated", now[key]
        elif key not in now:
            kind, (stage, _, chair) = "resolved", prev[key]
        else:
            continue
        for a in recipients(c, rule, stage, chair):
            out.setdefault(a, {}).setdefault(cid, []).append((kind, rule, stage))
    prev.clear()
    prev.update(now)
    return out


# ------------------------------------------------------------------------------------------
# SQL

def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    return "'%s'" % str(v).replace("'", "''")


def world_sql(kids):
    s = ["SET search_path = casework;",
         "ALTER TABLE children ADD COLUMN given_name text;"]
    for t in TEAMS:
        s.append("INSERT INTO teams (team_id, name, manager_email, webhook_url) VALUES "
                 "(%s, %s, %s, NULL);" % tuple(lit(x) for x in t))
    for w in WORKERS:
        s.append("INSERT INTO workers (%s) VALUES (%s);" % (
            lib.CONTRACT_COLUMNS["workers"], ", ".join(lit(x) for x in w)))
    for c in kids:
        s.append("INSERT INTO children (child_id, family_id, date_of_birth, expected_dob, "
                 "disability, given_name) VALUES (%s, %s, %s, NULL, %s, %s);" % (
                     lit(c.cid), lit("F-SIB" if c.cid.startswith("C-SIB") else "F-" + c.cid), lit(c.dob), lit(c.disability),
                     lit(c.name)))
        if c.worker:
            s.append("INSERT INTO allocations (%s) VALUES (%s, %s, %s, '2024-01-02', NULL);" % (
                lib.CONTRACT_COLUMNS["allocations"], lit("AL-" + c.cid), lit(c.cid), lit(c.worker)))
        for p in c.cp:
            s.append("INSERT INTO cp_plans (%s) VALUES (%s, %s, %s, %s, %s, NULL, %s);" % (
                lib.CONTRACT_COLUMNS["cp_plans"], lit(p["plan_id"]), lit(c.cid),
                lit(p["start"]), lit(p["end"]), lit(p["cat"]), lit(p["chair"])))
        for p in c.cin:
            s.append("INSERT INTO cin_plans (%s) VALUES (%s, %s, %s, %s, %s);" % (
                lib.CONTRACT_COLUMNS["cin_plans"], lit(p["plan_id"]), lit(c.cid),
                lit(p["start"]), lit(p["end"]), lit(p["neglect"])))
        for st in c.strategies:
            s.append("INSERT INTO strategies (%s) VALUES (%s, %s, 'plo', %s, %s);" % (
                lib.CONTRACT_COLUMNS["strategies"], lit(st["sid"]), lit(c.cid),
                lit(st["decided"]), lit(st["review"])))
        for i, d in enumerate(c.wnb):
            s.append("INSERT INTO appointments (%s) VALUES (%s, %s, 'paediatrics', "
                     "'%s 10:30:00+00', 'was_not_brought');" % (
                         lib.CONTRACT_COLUMNS["appointments"], lit("AP-%s-%d" % (c.cid, i)),
                         lit(c.cid), d.isoformat()))
    return "\n".join(s)


def changes_before(day, kmap):
    """The case system's changes before the run of day, to the model and as SQL."""
    sql = ["SET search_path = casework;"]
    if day == "2026-03-03":
        p = kmap["C-CINRES"].cin[0]
        p["end"] = D("2026-03-03")
        sql.append("UPDATE cin_plans SET end_date = '2026-03-03' WHERE plan_id = %s;"
                   % lit(p["plan_id"]))
    if day == "2026-03-04":
        kmap["C-WNB"].wnb.append(D("2026-03-03"))
        sql.append("INSERT INTO appointments (%s) VALUES ('AP-C-WNB-9', 'C-WNB', 'dental', "
                   "'2026-03-03 09:00:00+00', 'was_not_brought');"
                   % lib.CONTRACT_COLUMNS["appointments"])
        p = kmap["C-CPRES"].cp[0]
        p["end"] = D("2026-03-04")
        sql.append("UPDATE cp_plans SET end_date = '2026-03-04' WHERE plan_id = %s;"
                   % lit(p["plan_id"]))
        c = kmap["C-REOPEN"]
        p = c.cp[0]
        p["end"] = D("2026-03-04")
        sql.append("UPDATE cp_plans SET end_date = '2026-03-04' WHERE plan_id = %s;"
                   % lit(p["plan_id"]))
        q = dict(plan_id="CPP-C-REOPEN-2", start=D("2026-03-04"), end=None, cat="NEG",
                 chair="W-CH1")
        c.cp.append(q)
        sql.append("INSERT INTO cp_plans (%s) VALUES ('CPP-C-REOPEN-2', 'C-REOPEN', "
                   "'2026-03-04', NULL, 'NEG', NULL, 'W-CH1');"
                   % lib.CONTRACT_COLUMNS["cp_plans"])
    if day == "2026-03-07":
        kmap["C-WNB3"].wnb.append(D("2026-03-06"))
        sql.append("INSERT INTO appointments (%s) VALUES ('AP-C-WNB3-9', 'C-WNB3', 'gp', "
                   "'2026-03-06 14:00:00+00', 'was_not_brought');"
                   % lib.CONTRACT_COLUMNS["appointments"])
    return "\n".join(sql) if len(sql) > 1 else None


# ------------------------------------------------------------------------------------------
# Reading a message

SUBJECT_N = re.compile(r"^\s*(\d+) drift alerts?\b", re.I)
MSGID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


def listed(m, kids_ids):
    """{cid: [kind]} the message lists (dwtest.digest_items; children named in the text when
    the parser finds no entries)."""
    out = {}
    for kind, cid, _ in m["items"]:
        out.setdefault(cid, []).append(kind)
    if not out:
        for cid in kids_ids:
            if re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(cid), m["text"]):
                out.setdefault(cid, []).append("?")
    return out


def entry_of(text, cid):
    """The blank-line-separated block of a message's text naming "Child: CID"."""
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        if re.search(r"Child: %s(?![\w-])" % re.escape(cid), block):
            return block
    return ""


def fmt(d):
    return "\n".join("  %s: %s" % (k, d[k]) for k in sorted(d)) or "  (none)"


def body(procs, tmp):
    t = tap.Tap()
    kids = build_world()
    kmap = {c.cid: c for c in kids}
    ids = [c.cid for c in kids]
    ca = lib.make_ca(tmp)
    db = lib.Db(DBNAME)
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"))
    db.run(world_sql(kids))
    smtp = lib.SmtpServer(procs, tmp, "mail", ca)
    econf = lib.email_conf(smtp.port, ca, lib.SmtpServer.password_file(tmp))
    del econf["send_resolved"]        # its default (README: true)
    recv = lib.Receiver(procs, tmp, "hooks")
    cfg = lib.write_config(tmp, DBNAME, {
        "database": {"conninfo": db.conninfo(DBNAME), "case_schema": "casework"},
        "timezone": "Europe/London", "link_template": LINK,
        "addresses": ADDR, "email": econf,
        "webhooks": [{"url": recv.url("/hook"), "secret": lib.new_secret()}]})

    prev = {}
    seen_mids = {}
    all_msgs = []
    worker_names_seen = set()
    urgent_marks = []
    perturbed = False
    nhooks = 0
    reopen_dry = []
    for day in RUN_DAYS:
        sql = changes_before(day, kmap)
        if sql:
            db.run(sql)
        exp = expected_notices(kids, prev, D(day))
        if PERTURB and not perturbed and exp:
            a = sorted(exp)[0]
            cid = sorted(exp[a])[0]
            del exp[a][cid]
            if not exp[a]:
                del exp[a]
            perturbed = True
            t.note("EMAIL_ORACLE_PERTURB: dropped %s's notice of %s on %s" % (a, cid, day))
        before = max([m["n"] for _, m in all_msgs], default=-1)
        t0 = time.time()
        r = lib.run_once(cfg, day)
        secs = time.time() - t0
        t.check(r.rc == 0 and not r.sanitizer(),
                "--once --as-of %s exits 0, no sanitizer report (%.1fs)" % (day, secs),
                r.diag())
        if day in ("2026-03-03", "2026-03-04"):
            dr = lib.run_daemon(cfg, "--once", "--dry-run", "--as-of", day)
            for a in lib.dry_run_alerts(dr.out)[0]:
                if a.get("child_id") == "C-REOPEN":
                    reopen_dry.append("%s: %s %s subject %s facts %s" % (
                        day, a.get("rule"), a.get("stage"), a.get("subject_id"),
                        json.dumps(a.get("facts"), sort_keys=True)))
        msgs = [m for m in smtp.messages() if m["n"] > before]
        all_msgs += [(day, m) for m in msgs]
        by_to = {}
        for m in msgs:
            tos = [x.lower() for x in m["meta"].get("rcpt_tos", [])]
            for a in tos:
                by_to.setdefault(a, []).append(m)

        # who is mailed, once each
        t.check(sorted(by_to) == sorted(exp),
                "%s: the addresses mailed are the recipients of the day's notices" % day,
                "expected: %s\ngot:      %s" % (sorted(exp), sorted(by_to)))
        many = {a: len(v) for a, v in by_to.items() if len(v) != 1}
        t.check(not many, "%s: one message per recipient" % day,
                "messages per address: %s" % many)
        multi = [m["n"] for m in msgs if len(m["meta"].get("rcpt_tos", [])) != 1]
        t.check(not multi, "%s: each message has one envelope recipient" % day,
                "messages: %s" % multi)

        # what each lists
        wrong_children, wrong_kinds = [], []
        for a in sorted(set(exp) | set(by_to)):
            want = exp.get(a, {})
            got = {}
            for m in by_to.get(a, []):
                for cid, ks in listed(m, ids).items():
                    got.setdefault(cid, []).extend(ks)
            if sorted(want) != sorted(got):
                wrong_children.append("%s\n expected:\n%s\n got:\n%s" % (
                    a, fmt({k: [x[0] + " " + x[2] for x in v] for k, v in want.items()}),
                    fmt(got)))
                continue
            for cid in want:
                wk = sorted(x[0] for x in want[cid])
                gk = sorted(got[cid])
                if gk != wk and gk != ["?"]:
                    wrong_kinds.append("%s %s: expected %s (%s), got %s" % (
                        a, cid, wk, [x[1] + " " + x[2] for x in want[cid]], gk))
        hooks = ["%s %s %s %s %s" % (h["json"]["type"], d["child_id"], d["rule"], d["stage"],
                                     d.get("subject_id"))
                 for h in recv.requests("/hook")[nhooks:] if h["json"]
                 for d in [h["json"]["data"]]]
        nhooks += len(hooks)
        t.check(not wrong_children, "%s: each message lists exactly its recipient's notices "
                "(children)" % day, "\n".join(wrong_children),
                "the webhook got on this run (a cross-check):\n  " + "\n  ".join(hooks))
        t.check(not wrong_kinds, "%s: each entry is the change the reference expects "
                "(firing/escalated/updated/resolved)" % day, "\n".join(wrong_kinds))

        # subject
        bad_subj = []
        for m in msgs:
            n_listed = sum(len(v) for v in listed(m, ids).values())
            mm = SUBJECT_N.match(m["subject"])
            if not mm or int(mm.group(1)) != n_listed:
                bad_subj.append("#%d to %s: %r lists %d" % (m["n"], m["to"], m["subject"],
                                                             n_listed))
            elif ":" in m["subject"]:
                parts = [int(x) for x in re.findall(r"(?:^|,|\band)\s*(\d+)\b",
                                                      m["subject"].split(":", 1)[1])]
                if sum(parts) != n_listed:
                    bad_subj.append("#%d to %s: %r: its parts add up to %d, %d listed" % (
                        m["n"], m["to"], m["subject"], sum(parts), n_listed))
            else:
                bad_subj.append("#%d to %s: %r says nothing of what is in it" % (
                    m["n"], m["to"], m["subject"]))
            a = (m["to"] or "").lower()
            for stage in ("15m", "18m"):
                has = any(x[2] == stage and x[1] == "cp_neglect_duration" and
                          x[0] in ("firing", "escalated")
                          for v in exp.get(a, {}).values() for x in v)
                words = r"CP escalations? at %s months" % stage[:2]
                if has and not re.search(words, m["subject"], re.I):
                    bad_subj.append("#%d to %s: %r does not name the %s CP escalation"
                                    % (m["n"], a, m["subject"], stage))
        t.check(not bad_subj, "%s: subjects count what is listed (in all and by kind) and "
                "name a 15- or 18-month CP escalation" % day, "\n".join(bad_subj))

        # urgent stages present; marked?
        for a, per in exp.items():
            for cid, v in per.items():
                for kind, rule, stage in v:
                    if (rule, stage) in URGENT and kind != "resolved":
                        for m in by_to.get(a, []):
                            ent = entry_of(m["text"], cid)
                            urgent_marks.append((day, a, cid, stage, bool(re.search(
                                r"needs? action now", m["text"], re.I)), ent[:120]))
        for m in msgs:
            txt = m["text"] + m["html"]
            for w in WORKERS:
                if w[1] in txt:
                    worker_names_seen.add(w[1])

    # every message: form
    bad_mime, bad_hdr, bad_ids, names = [], [], [], []
    now = time.time()
    for day, m in all_msgs:
        msg = m["msg"]
        tag = "%s #%d to %s" % (day, m["n"], m["to"])
        alt = msg if msg.get_content_type() == "multipart/alternative" else None
        parts = [p.get_content_type() for p in alt.iter_parts()] if alt else []
        if alt is None or "text/plain" not in parts or "text/html" not in parts:
            bad_mime.append("%s: %s %s" % (tag, msg.get_content_type(), parts))
        else:
            for p in alt.iter_parts():
                if (p.get_content_charset() or "").lower() != "utf-8":
                    bad_mime.append("%s: %s charset %s" % (tag, p.get_content_type(),
                                                           p.get_content_charset()))
        if str(msg.get("MIME-Version", "")).strip() != "1.0":
            bad_mime.append("%s: MIME-Version %r" % (tag, msg.get("MIME-Version")))
        mid = str(msg.get("Message-ID", "")).strip()
        if not MSGID.match(mid):
            bad_hdr.append("%s: Message-ID %r" % (tag, mid))
        elif mid in seen_mids:
            bad_ids.append("%s: Message-ID %s also on %s" % (tag, mid, seen_mids[mid]))
        seen_mids[mid] = tag
        date = msg.get("Date")
        try:
            dt = email.utils.parsedate_to_datetime(str(date))
            if dt.tzinfo is None or abs(dt.timestamp() - now) > 3600:
                bad_hdr.append("%s: Date %r (now %s)" % (
                    tag, date, email.utils.formatdate(now, usegmt=True)))
        except (TypeError, ValueError):
            bad_hdr.append("%s: Date %r unparsable" % (tag, date))
        if not msg.get("From") or "driftwatch@la.example" not in str(msg.get("From")):
            bad_hdr.append("%s: From %r" % (tag, msg.get("From")))
        to = str(msg.get("To", "")).lower()
        if (m["to"] or "").lower() not in to:
            bad_hdr.append("%s: To %r" % (tag, msg.get("To")))
        raw = m["raw"].decode("utf-8", "replace")
        for c in kids:
            if c.name.lower() in (m["text"] + m["html"] + raw).lower():
                names.append("%s: %s's given_name %s" % (tag, c.cid, c.name))
        for cid in listed(m, ids):
            link = LINK.format(child_id=cid)
            for part, txt in (("text", m["text"]), ("html", m["html"])):
                if cid not in txt:
                    names.append("%s: %s not in the %s part" % (tag, cid, part))
                if link not in txt:
                    names.append("%s: link %s not in the %s part" % (tag, link, part))
    t.check(all_msgs and not bad_mime, "every message is multipart/alternative of text/plain "
            "and text/html, UTF-8, MIME-Version 1.0 (%d messages)" % len(all_msgs),
            "\n".join(bad_mime))
    t.check(not bad_hdr, "every message has a well-formed Message-ID, a Date of when it was "
            "sent, From and To", "\n".join(bad_hdr))
    t.check(not bad_ids, "Message-IDs are unique", "\n".join(bad_ids))
    t.check(not names, "no child's given_name in any message; each listed child's identifier "
            "and link in both parts", "\n".join(names[:40]))
    for day, a, cid, stage, mark, ent in urgent_marks:
        t.note("urgent %s %s to %s on %s: message says 'action now': %s; entry: %r"
               % (cid, stage, a, day, mark, ent))
    for a in ASSUMPTIONS:
        t.note("assumed: " + a)
    for x in reopen_dry:
        t.note("dry run, C-REOPEN (closed and reopened within the episode on 2026-03-04): " + x)
    t.note("worker display names seen in messages: %s" % (sorted(worker_names_seen) or "none"))
    for day, m in all_msgs:
        t.note("%s to %s: %s" % (day, m["to"], m["subject"]))
    if os.environ.get("EMAIL_ORACLE_SAVE"):     # a directory to copy the mail into
        shutil.copytree(smtp.maildir, os.environ["EMAIL_ORACLE_SAVE"], dirs_exist_ok=True)
    if not os.environ.get("EMAIL_ORACLE_KEEP"):
        db.drop()


def main():
    t = tap.Tap()
    rc = lib.run_test(t, "email_oracle", body)
    print("# %d passed, %d failed" % (tap.passed, tap.failures))
    return rc


if __name__ == "__main__":
    sys.exit(main())
