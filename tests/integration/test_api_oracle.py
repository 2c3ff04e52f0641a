#!/usr/bin/python3
"""test_api_oracle: the JSON API and "who may see what", checked against a reading of
../shared/spec/RESPONSES.md ("Who is who", "Responses", "The JSON API", "Pages for people"),
ALERTS.md (the alert object), RULES.md (stages, recipients) and CONTRACT.md, written without the
daemon's code (nor its README's account of the API and pages).

Case data of its own (dates relative to current_date, far from every rule's edge), three teams:
  T-A  manager_email amgr@ (a worker, W-AMGR, whose own supervisor is W-SM); workers A1 (email
       stored in mixed case), A2, A3 (supervised by W-BMGR of team T-B), A4 (no supervisor);
  T-B  manager_email Bmgr@La.Example (the worker bmgr@, in another case); workers B1, B2
       (supervised by W-XSUP of team T-C);
  T-C  manager_email cmgr-only@ (no worker has it); workers C1 (no supervisor), C2 (supervised
       by W-AMGR of team T-A), C3 (chair 1's address in another case), XSUP;
  two CP chairs (workers with no team), W-SM (no team);
21 children, 23 alerts: CP plans for neglect at 9, 12, 15 and 18 months (chair_id set, or
NULL), CIN plans for neglect past 6 months, a missed appointment of a child on a CP plan
(was_not_brought), handovers (worker_change) whose previous allocation ended days ago or today,
a child moved from team T-B to T-A a month ago, a child allocated to nobody, a child whose only
allocation ended, an allocation that starts in 10 days, a CP chair of an ended plan, a child id
that needs escaping ("CH-Q&A 1").

The reference (RESPONSES.md "Who is who"), for a person (an email, compared case-insensitively):
  - a worker sees the alerts of children whose allocation open today is theirs; as a supervisor
    those of children allocated to workers whose supervisor_id is theirs (one level, not
    transitive) or whose team's manager_email is theirs (read here as applying to a
    manager_email that no worker has, too: the team's supervisor); as a CP chair the alerts of
    plans they chair (cp_neglect_duration's alert whose plan has their chair_id);
  - head_of_service, cp_manager, operators and web.viewers see everything;
  - anyone else sees nothing.
  Two readings of this build's own, which the reference follows (README, "Where this build reads
  the specification its own way"; the closing notes argue them), each of which the written
  reading failed on, 17 checks in all: a CP chair sees every alert of a child whose open plan
  they chair, not only the plan's (a missed appointment or a change of worker is what the
  conference must know); and a person the notices of a firing alert go to (email is
  configured, to a port nobody listens on and held for the digest time, so that people's
  notices exist), the cp_chair and fallback addresses included, sees that alert on the pages
  and the API, not only through the link they were sent (a duty team is given the children
  nobody is allocated to, and links may be off).
Checked for 22 people on GET / (X-Forwarded-Email from 127.0.0.1, the trusted proxy), on
/child/{id} for every child, /team/{id} for every team, /service (names no other child) and
GET /api/v1/alerts as the person; again after the responses ("a response never hides an
alert"), after a resolution and after a reallocation. A header from 127.0.0.2 (not trusted), or
none, gets 401; a page's form changed to another alert, or posted by another person, records
nothing.

The API with bearer tokens (web.api_tokens_file, mode 0600): the alert objects carry ALERTS.md's
fields plus response and team_id, recipients as RULES.md resolves them; GET of one alert adds
its history; responses (acknowledge, snooze with each reason, unsnooze) are recorded as api:NAME
via api with the stage, reason and note, and shown in "response"; every invalid request (until
past max_snooze_days, in the past, today's words or other spellings of a date; an unknown or
missing reason; other without a note; a note over 1,000 characters; bad JSON) is a 400 naming
its field and records nothing; 401 without or with a wrong token; 404 for an unknown
fingerprint; 413 over 64 KiB (exactly 64 KiB is taken); 409 on an alert resolved by ending its
plan (triggers installed: the daemon re-evaluates at once); every API error is JSON; the filters
status, rule, team, child_id and their combinations against the states the test's own responses
made; an acknowledgement holds for its stage only, a snooze until its date across a new stage.
Where the specification is silent the daemon's answer is a note, not a check.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwapioracle is dropped and created here. Standard library only.
"""
import datetime
import hashlib
import html
import http.client
import json
import os
import re
import socket
import sys
import urllib.parse
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from spec_rules import ROLES  # noqa: E402  (RULES.md's default recipients by rule and stage)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

DBNAME = "dwapioracle"
TOKEN = "dw-oracle-token-7f3a9c1e5b2d4086"
TOKEN2 = "dw-second-token-0b1c2d3e4f5a6978"
TOKEN_NAME, TOKEN2_NAME = "oracle", "second"
BEARER = {"Authorization": "Bearer " + TOKEN}
BEARER2 = {"Authorization": "Bearer " + TOKEN2}
JSONCT = {"Content-Type": "application/json"}

# head_of_service and the viewer are configured in mixed case, asked for in another
ADDR = {"fallback": "duty@la.example", "cp_chair": "cp-chairs@la.example",
        "cp_manager": "cp-manager@la.example", "head_of_service": "HoS@LA.example",
        "operators": "it-ops@la.example"}
VIEWER = "QA@la.Example"
EVERYTHING = {x.lower() for x in (ADDR["head_of_service"], ADDR["cp_manager"],
                                  ADDR["operators"], VIEWER)}
MAX_SNOOZE = 90

CIN, CP, WNB, WC = ("cin_neglect_duration", "cp_neglect_duration", "was_not_brought",
                    "worker_change")
ALERT_KEYS = ("rule", "stage", "status", "child_id", "subject_id", "family_id", "fingerprint",
              "as_of", "since", "facts", "recipients", "link", "summary")
RESPONSE_KEYS = ("state", "by", "at", "until", "reason", "note")
REASONS = ("strategy_agreed", "legal_planning", "step_down_planned", "case_closing",
           "data_wrong", "other")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

# ---------------------------------------------------------------------------------------------
# The case data, as a model the reference reads and as SQL

TEAMS = [  # team_id, name, manager_email
    ("T-A", "Team Alpha", "amgr@la.example"),
    ("T-B", "Team Beta", "Bmgr@La.Example"),
    ("T-C", "Team Gamma", "cmgr-only@la.example"),
]
WORKERS = [  # worker_id, display_name, email, team_id, supervisor_id, role
    ("W-SM", "Service Manager", "sm@la.example", None, None, "service_manager"),
    ("W-AMGR", "Alpha Manager", "amgr@la.example", "T-A", "W-SM", "team_manager"),
    ("W-BMGR", "Beta Manager", "bmgr@la.example", "T-B", "W-SM", "team_manager"),
    ("W-A1", "Alpha One", "A1.Worker@LA.example", "T-A", "W-AMGR", "social_worker"),
    ("W-A2", "Alpha Two", "a2@la.example", "T-A", "W-AMGR", "social_worker"),
    ("W-A3", "Alpha Three", "a3@la.example", "T-A", "W-BMGR", "social_worker"),
    ("W-A4", "Alpha Four", "a4@la.example", "T-A", None, "social_worker"),
    ("W-B1", "Beta One", "b1@la.example", "T-B", "W-BMGR", "social_worker"),
    ("W-B2", "Beta Two", "b2@la.example", "T-B", "W-XSUP", "social_worker"),
    ("W-XSUP", "Cross Supervisor", "xsup@la.example", "T-C", None, "team_manager"),
    ("W-C1", "Gamma One", "c1@la.example", "T-C", None, "social_worker"),
    ("W-C2", "Gamma Two", "c2@la.example", "T-C", "W-AMGR", "social_worker"),
    ("W-C3", "Gamma Three", "Chair1@LA.Example", "T-C", None, "social_worker"),
    ("W-CHAIR", "Chair One", "chair1@la.example", None, None, "cp_chair"),
    ("W-CHAIR2", "Chair Two", "chair2@la.example", None, None, "cp_chair"),
]
W = {w[0]: dict(zip(("id", "name", "email", "team", "sup", "role"), w)) for w in WORKERS}
TEAM = {t[0]: dict(zip(("id", "name", "manager"), t)) for t in TEAMS}


def ago(n, unit):
    """A date n months or days before current_date, as SQL."""
    return "(current_date - interval '%d %s')::date" % (n, unit)


# Each child: allocations (id, worker, start, end: days before today, negative in the future,
# end None when open-ended), CIN plans (id, start, end), CP plans (id, start, end, chair), missed
# appointments (id, days ago), and the alerts RULES.md yields today [(rule, stage)].
Y2 = 730
CHILDREN = [
    dict(id="CH-A1-CP", alloc=[("AL-1", "W-A1", Y2, None)],
         cp=[("CPP-A1", ago(10, "months"), None, "W-CHAIR")], alerts=[(CP, "9m")]),
    dict(id="CH-A1-CIN", alloc=[("AL-2", "W-A1", Y2, None)],
         cin=[("CIN-A1", ago(8, "months"), None)],
         cp=[("CPP-A1-OLD", ago(3, "years"), ago(2, "years"), "W-CHAIR2")],
         alerts=[(CIN, "6m")]),
    dict(id="CH-A2-CP", alloc=[("AL-3", "W-A2", Y2, None)],
         cp=[("CPP-A2", ago(13, "months"), None, "W-CHAIR2")], alerts=[(CP, "12m")]),
    dict(id="CH-A3-CIN", alloc=[("AL-4", "W-A3", Y2, None)],
         cin=[("CIN-A3", ago(7, "months"), None)], alerts=[(CIN, "6m")]),
    dict(id="CH-A4-CP", alloc=[("AL-5", "W-A4", Y2, None)],
         cp=[("CPP-A4", ago(16, "months"), None, None)], alerts=[(CP, "15m")]),
    # moved from team T-B to T-A 30 days ago (outside worker_change's 14 days)
    dict(id="CH-MOVED", alloc=[("AL-6a", "W-B1", Y2, 30), ("AL-6b", "W-A1", 30, None)],
         cin=[("CIN-MOVED", ago(10, "months"), None)], alerts=[(CIN, "6m")]),
    dict(id="CH-HANDOVER", alloc=[("AL-7a", "W-B2", 365, 5), ("AL-7b", "W-B1", 5, None)],
         cp=[("CPP-HANDOVER", ago(3, "months"), None, "W-CHAIR2")], alerts=[(WC, "handover")]),
    dict(id="CH-B1-CP", alloc=[("AL-8", "W-B1", Y2, None)],
         cp=[("CPP-B1", ago(10, "months"), None, "W-CHAIR")],
         appts=[("AP-B1", 20)], alerts=[(CP, "9m"), (WNB, "vulnerable")]),
    dict(id="CH-B2-CIN", alloc=[("AL-9", "W-B2", Y2, None)],
         cin=[("CIN-B2", ago(8, "months"), None)], alerts=[(CIN, "6m")]),
    dict(id="CH-C1-CP", alloc=[("AL-10", "W-C1", Y2, None)],
         cp=[("CPP-C1", ago(19, "months"), None, "W-CHAIR2")], alerts=[(CP, "18m")]),
    dict(id="CH-C2-CIN", alloc=[("AL-11", "W-C2", Y2, None)],
         cin=[("CIN-C2", ago(9, "months"), None)], alerts=[(CIN, "6m")]),
    dict(id="CH-AMGR", alloc=[("AL-12", "W-AMGR", Y2, None)],
         cin=[("CIN-AMGR", ago(7, "months"), None)], alerts=[(CIN, "6m")]),
    dict(id="CH-NOALLOC", cp=[("CPP-NOALLOC", ago(11, "months"), None, "W-CHAIR")],
         alerts=[(CP, "9m")]),
    dict(id="CH-ENDED-ONLY", alloc=[("AL-14", "W-A2", Y2, 60)],
         cin=[("CIN-ENDED", ago(8, "months"), None)], alerts=[(CIN, "6m")]),
    dict(id="CH-RESOLVE", alloc=[("AL-15", "W-B1", Y2, None)],
         cp=[("CPP-RESOLVE", ago(10, "months"), None, "W-CHAIR2")], alerts=[(CP, "9m")]),
    dict(id="CH-STAGE", alloc=[("AL-16", "W-A2", Y2, None)],
         cp=[("CPP-STAGE", ago(11, "months"), None, None)], alerts=[(CP, "9m")]),
    dict(id="CH-STAGE2", alloc=[("AL-17", "W-A2", Y2, None)],
         cp=[("CPP-STAGE2", ago(11, "months"), None, "W-CHAIR")], alerts=[(CP, "9m")]),
    # an allocation to W-C1 starting in 10 days is not open today
    dict(id="CH-FUTURE", alloc=[("AL-18a", "W-B2", Y2, None), ("AL-18b", "W-C1", -10, None)],
         cin=[("CIN-FUTURE", ago(8, "months"), None)], alerts=[(CIN, "6m")]),
    # W-C2's allocation ended today (not open today: CONTRACT.md); W-A4's started today
    dict(id="CH-ENDS-TODAY", alloc=[("AL-19a", "W-C2", Y2, 0), ("AL-19b", "W-A4", 0, None)],
         cin=[("CIN-ENDS-TODAY", ago(8, "months"), None)],
         alerts=[(CIN, "6m"), (WC, "handover")]),
    # the worker record W-C3 has chair 1's address in another case: one person
    dict(id="CH-DUAL", alloc=[("AL-20", "W-C3", Y2, None)],
         cin=[("CIN-DUAL", ago(8, "months"), None)], alerts=[(CIN, "6m")]),
    # an identifier that needs escaping in a URL and in HTML
    dict(id="CH-Q&A 1", alloc=[("AL-21", "W-B1", Y2, None)],
         cin=[("CIN-QA", ago(7, "months"), None)], alerts=[(CIN, "6m")]),
]
CH = {c["id"]: c for c in CHILDREN}


def lit(v):
    if v is None:
        return "NULL"
    if v.startswith("(current_date"):
        return v
    return "'" + v.replace("'", "''") + "'"


def data_sql():
    out = ["SET search_path = casework;"]
    for t in TEAMS:
        out.append("INSERT INTO teams (team_id, name, manager_email, webhook_url) VALUES "
                   "(%s, %s, %s, NULL);" % tuple(lit(x) for x in t))
    for w in WORKERS:
        out.append("INSERT INTO workers (worker_id, display_name, email, team_id, supervisor_id,"
                   " role) VALUES (%s, %s, %s, %s, %s, %s);" % tuple(lit(x) for x in w))
    for i, c in enumerate(CHILDREN):
        cid = lit(c["id"])
        out.append("INSERT INTO children (child_id, family_id, date_of_birth, expected_dob, "
                   "disability) VALUES (%s, 'FAM-%02d', %s, NULL, false);"
                   % (cid, i + 1, ago(7, "years")))
        for a in c.get("alloc", []):
            out.append("INSERT INTO allocations (allocation_id, child_id, worker_id, start_date,"
                       " end_date) VALUES (%s, %s, %s, current_date - %d, %s);"
                       % (lit(a[0]), cid, lit(a[1]), a[2],
                          "NULL" if a[3] is None else "current_date - %d" % a[3]))
        for p in c.get("cin", []):
            out.append("INSERT INTO cin_plans (plan_id, child_id, start_date, end_date, neglect)"
                       " VALUES (%s, %s, %s, %s, true);" % (lit(p[0]), cid, lit(p[1]), lit(p[2])))
        for p in c.get("cp", []):
            out.append("INSERT INTO cp_plans (plan_id, child_id, start_date, end_date, "
                       "initial_category, latest_category, chair_id) VALUES "
                       "(%s, %s, %s, %s, 'NEG', NULL, %s);"
                       % (lit(p[0]), cid, lit(p[1]), lit(p[2]), lit(p[3])))
        for ap in c.get("appts", []):
            out.append("INSERT INTO appointments (appointment_id, child_id, service, "
                       "scheduled_for, outcome) VALUES (%s, %s, 'gp', current_date - interval "
                       "'%d days' + time '10:00', 'was_not_brought');" % (lit(ap[0]), cid, ap[1]))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# The reference: RULES.md's recipients, RESPONSES.md's "Who is who"

def current_worker(c):
    """The worker of the child's open allocation (the data has at most one open), or None."""
    open_ = [a for a in c.get("alloc", []) if a[2] >= 0 and (a[3] is None or a[3] < 0)]
    assert len(open_) <= 1
    return open_[0][1] if open_ else None


def alert_team(c):
    w = current_worker(c)
    return W[w]["team"] if w else None


def open_cp_chair(c):
    open_ = [p for p in c.get("cp", []) if p[2] is None]
    return open_[-1][3] if open_ else None


def expected_recipients(c, rule, stage):
    """The addresses (lower case) RULES.md's recipient table resolves the stage's roles to."""
    w = current_worker(c)
    out = set()
    for role in ROLES[(rule, stage)]:
        if role == "allocated_worker":
            out.add(W[w]["email"] if w else ADDR["fallback"])
        elif role == "supervisor":
            if not w:
                out.add(ADDR["fallback"])
            elif W[w]["sup"]:
                out.add(W[W[w]["sup"]]["email"])
            elif W[w]["team"] and TEAM[W[w]["team"]]["manager"]:
                out.add(TEAM[W[w]["team"]]["manager"])
            else:
                out.add(ADDR["fallback"])
        elif role == "cp_chair":
            ch = open_cp_chair(c)
            out.add(W[ch]["email"] if ch else ADDR["cp_chair"])
        else:
            out.add(ADDR[role])
    return {e.lower() for e in out}


def all_keys():
    return [(rule, c["id"]) for c in CHILDREN for rule, _ in c["alerts"]]


def visible(person, resolved=()):
    """The alerts (rule, child_id) person may see: RESPONSES.md "Who is who", with this build's
    two readings (the docstring): the chair of a child's open plan sees all its alerts, and
    the people a firing alert's notices go to see it (resolved: the keys no longer firing)."""
    e = person.lower()
    if e in EVERYTHING:
        return set(all_keys())
    mine = {w["id"] for w in W.values() if w["email"].lower() == e}
    managed = {t["id"] for t in TEAM.values() if (t["manager"] or "").lower() == e}
    out = set()
    for c in CHILDREN:
        w = current_worker(c)
        chair = open_cp_chair(c)
        for rule, stage in c["alerts"]:
            if w and (w in mine or W[w]["sup"] in mine or W[w]["team"] in managed):
                out.add((rule, c["id"]))
            elif rule in (CP,) and chair in mine:
                out.add((rule, c["id"]))
            elif chair and chair in mine:
                out.add((rule, c["id"]))  # this build: every alert of the chaired child
            elif (rule, c["id"]) not in resolved and e in expected_recipients(c, rule, stage):
                out.add((rule, c["id"]))  # this build: a recipient of its notices
    return out


# The people asked, each as the header gives it (letter case varied on purpose).
PEOPLE = [
    ("worker A1 (stored in mixed case)", "a1.worker@la.example"),
    ("worker A2", "A2@LA.EXAMPLE"),
    ("worker A3 (supervised from team T-B)", "a3@la.example"),
    ("worker A4 (no supervisor)", "A4@la.example"),
    ("worker B1", "b1@La.Example"),
    ("worker B2 (whose earlier allocation ended)", "b2@la.example"),
    ("worker C1", "c1@la.example"),
    ("worker C2 (supervised from team T-A)", "C2@la.example"),
    ("team manager of T-A (a worker)", "AMGR@la.example"),
    ("team manager of T-B (a worker; manager_email in other case)", "bmgr@la.example"),
    ("team manager of T-C (no worker)", "Cmgr-Only@la.example"),
    ("supervisor in team T-C of a T-B worker", "xsup@LA.example"),
    ("supervisor of the team managers", "sm@la.example"),
    ("CP chair 1", "chair1@la.example"),
    ("CP chair 2 (also chair of an ended plan)", "Chair2@la.example"),
    ("head_of_service", "HOS@la.example"),
    ("cp_manager", "cp-manager@la.example"),
    ("operators", "it-ops@la.example"),
    ("web.viewers", "Qa@La.Example"),
    ("addresses.cp_chair", "cp-chairs@la.example"),
    ("addresses.fallback", "duty@la.example"),
    ("a stranger", "nobody@la.example"),
]


# ---------------------------------------------------------------------------------------------
# HTTP

class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text)
        except ValueError:
            self.json = None

    def error(self):
        """The "error" of a JSON error body, or None when the body is no such thing."""
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), str):
            return self.json["error"]
        return None

    def show(self):
        return "HTTP %s %s\n%s" % (self.status, self.headers.get("Content-Type"), self.text[:600])


class Web:
    def __init__(self, port):
        self.port = port
        self.log = []

    def req(self, method, path, headers=None, body=None, source=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                       source_address=(source, 0) if source else None)
        if isinstance(body, str):
            body = body.encode("utf-8")
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            out = Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        except (OSError, http.client.HTTPException) as e:
            out = Resp(None, {}, ("no answer: %s" % e).encode())
        finally:
            c.close()
        self.log.append((method, path, out.status, len(body or b""), out))
        return out

    def api(self, method, path, body=None, auth=BEARER, headers=None):
        h = dict(auth or {})
        if body is not None:
            h.update(JSONCT)
            if not isinstance(body, (str, bytes)):
                body = json.dumps(body)
        h.update(headers or {})
        return self.req(method, "/api/v1" + path, h, body)

    def alerts(self, query="", auth=BEARER, headers=None):
        r = self.api("GET", "/alerts" + (("?" + query) if query else ""), auth=auth,
                     headers=headers)
        items = None
        if isinstance(r.json, dict) and isinstance(r.json.get("alerts"), list):
            items = r.json["alerts"]
        elif isinstance(r.json, list):
            items = r.json
        return r, items


def child_ids_in(text):
    """The children of the data whose id appears in text as a whole identifier (as it is, or
    escaped for HTML)."""
    out = set()
    for c in CHILDREN:
        for form in {c["id"], html.escape(c["id"]), html.escape(c["id"], quote=False)}:
            if re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(form), text):
                out.add(c["id"])
    return out


def q(v):
    return urllib.parse.quote(v, safe="")


# ---------------------------------------------------------------------------------------------

class World:
    """What the test knows: the alerts the daemon gave (by (rule, child)), the state each of the
    test's responses left (the reference for the filters)."""

    def __init__(self, today):
        self.today = today
        self.fp = {}                 # (rule, child) -> fingerprint
        self.key = {}                # fingerprint -> (rule, child)
        self.state = {k: "open" for k in all_keys()}
        self.stage = {(rule, c["id"]): st for c in CHILDREN for rule, st in c["alerts"]}
        self.status = {k: "firing" for k in all_keys()}

    def expect(self, **flt):
        """The (rule, child) the list filtered by flt must give (flt: status, rule, team,
        child_id); status is the response state, or resolved."""
        out = set()
        for k in all_keys():
            rule, cid = k
            st = "resolved" if self.status[k] == "resolved" else self.state[k]
            if "status" in flt and flt["status"] != st:
                continue
            if "rule" in flt and flt["rule"] != rule:
                continue
            if "team" in flt and flt["team"] != alert_team(CH[cid]):
                continue
            if "child_id" in flt and flt["child_id"] != cid:
                continue
            out.add(k)
        return out


def keys_of(items):
    return {(a.get("rule"), a.get("child_id")) for a in items or []}


def fmt(keys):
    return ", ".join("%s/%s" % (c, r) for r, c in sorted(keys, key=lambda k: (k[1], k[0]))) \
        or "(none)"


def run(t, procs, tmp):
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).date()
    db = lib.Db(DBNAME)
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"))
    db.run(data_sql())

    tokens = os.path.join(tmp, "api-tokens")
    with open(tokens, "w") as f:
        f.write("# the oracle's tokens\n%s %s\n%s %s\n" % (
            TOKEN_NAME, hashlib.sha256(TOKEN.encode()).hexdigest(),
            TOKEN2_NAME, hashlib.sha256(TOKEN2.encode()).hexdigest()))
    os.chmod(tokens, 0o600)
    web_port, http_port, smtp_port = lib.free_port(), lib.free_port(), lib.free_port()
    cfg = lib.write_config(tmp, "api-oracle", {
        "database": {"conninfo": db.conninfo("dwapioracle"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": ADDR,
        "evaluation": {"interval_seconds": 15},
        "http": {"listen": "127.0.0.1:%d" % http_port},
        # people's notices are queued for them (held for the digest time; nothing listens on
        # the port): the recipients are people a notice went to
        "email": {"smtp_url": "smtp://127.0.0.1:%d" % smtp_port, "tls": "none",
                  "from": "driftwatch@la.example"},
        "web": {"listen": "127.0.0.1:%d" % web_port, "trusted_proxies": ["127.0.0.1"],
                "viewers": [VIEWER], "api_tokens_file": tokens}})
    hostile.install_triggers(t, cfg)
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-api-oracle")
    want = len(all_keys())
    n = lib.wait_for(lambda: hostile.firing(db) >= want or None, 60, step=0.3)
    t.check(n, "the first evaluation records the %d alerts of the data" % want,
            "firing: %s\n%s" % (hostile.firing(db), "\n".join(d.lines()[-20:])))
    web = Web(web_port)
    w = World(today)
    lib.wait_for(lambda: web.alerts()[0].status == 200, 20, step=0.3)

    check_alert_objects(t, web, w)
    check_one_alert(t, web, w)
    check_visibility(t, web, w)
    check_untrusted(t, web, w)
    check_auth(t, web, w)
    check_invalid(t, web, w)
    check_responses(t, web, w)
    check_filters(t, web, w, "after the responses")
    check_people_after(t, web, w)
    check_home_order(t, web, w)
    check_forms(t, web, w)
    check_silent(t, web, w)
    check_stage_and_resolve(t, web, w, db)
    check_reallocation(t, web, w, db)
    check_filters(t, web, w, "after a stage change, a resolution and a reallocation")
    check_error_bodies(t, web)
    t.check(d.alive(), "the daemon is still running")
    t.note("requests made: %d; statuses: %s" % (
        len(web.log), sorted({(x[2] or 0) for x in web.log})))
    hostile.stop(d, t, "the daemon")


# ---------------------------------------------------------------------------------------------
# ALERTS.md's object, RULES.md's stages and recipients, team_id

def check_alert_objects(t, web, w):
    r, items = web.alerts()
    if not t.check(r.status == 200 and items is not None,
                   "GET /api/v1/alerts with a valid token answers 200 with a list", r.show()):
        return
    t.note("the list comes as %s" % ("an object {\"alerts\": [...]}" if isinstance(r.json, dict)
                                      else "a bare array"))
    for a in items:
        k = (a.get("rule"), a.get("child_id"))
        w.fp[k] = a.get("fingerprint")
        w.key[a.get("fingerprint")] = k
    got = {(a.get("rule"), a.get("child_id"), a.get("stage")) for a in items}
    exp = {(rule, c["id"], st) for c in CHILDREN for rule, st in c["alerts"]}
    t.check(got == exp, "the alerts are those RULES.md yields on the data (%d)" % len(exp),
            "missing: %s\nextra: %s" % (sorted(exp - got), sorted(got - exp)))
    missing = []
    for a in items:
        lack = [f for f in ALERT_KEYS + ("response", "team_id") if f not in a]
        if lack:
            missing.append("%s/%s lacks %s" % (a.get("child_id"), a.get("rule"), lack))
    t.check(not missing, "every alert object carries ALERTS.md's fields plus response and "
            "team_id", "\n".join(missing))
    bad = []
    for a in items:
        k = (a.get("rule"), a.get("child_id"))
        if k not in w.stage:
            continue
        c = CH[k[1]]
        probs = []
        if a.get("status") != "firing":
            probs.append("status %r" % a.get("status"))
        if not re.fullmatch(r"[0-9a-f]{16,}", a.get("fingerprint") or ""):
            probs.append("fingerprint %r is no hex digest" % a.get("fingerprint"))
        if a.get("team_id") != alert_team(c):
            probs.append("team_id %r, expected %r" % (a.get("team_id"), alert_team(c)))
        if a.get("as_of") != w.today.isoformat():
            probs.append("as_of %r" % a.get("as_of"))
        if a.get("link") not in ("https://lcs.example/person/" + x for x in
                                 (c["id"], q(c["id"]), urllib.parse.quote(c["id"]))):
            probs.append("link %r" % a.get("link"))
        fam = "FAM-%02d" % (CHILDREN.index(c) + 1)
        if a.get("family_id") != fam:
            probs.append("family_id %r, expected %s" % (a.get("family_id"), fam))
        if not isinstance(a.get("facts"), dict) or not isinstance(a.get("summary"), str):
            probs.append("facts/summary")
        resp = a.get("response")
        if not (isinstance(resp, dict) and all(x in resp for x in RESPONSE_KEYS)
                and resp.get("state") == "open"):
            probs.append("response %r (expected state open with %s)" % (resp, RESPONSE_KEYS))
        rec = {(x.get("email") or "").lower() for x in a.get("recipients") or []}
        erec = expected_recipients(c, k[0], a.get("stage"))
        if rec != erec:
            probs.append("recipients %s, expected %s" % (sorted(rec), sorted(erec)))
        if probs:
            bad.append("%s/%s: %s" % (k[1], k[0], "; ".join(probs)))
    t.check(not bad, "each alert: status firing, hex fingerprint, team_id of the allocated "
            "worker's team, as_of today, link, family_id, open response, RULES.md's recipients",
            "\n".join(bad))
    if len(set(w.fp.values())) != len(w.fp):
        t.check(False, "fingerprints are distinct")


def check_one_alert(t, web, w):
    """GET /api/v1/alerts/{fingerprint}: the list's object plus "history" (every event)."""
    r, items = web.alerts()
    bad = []
    for a in items or []:
        one = web.api("GET", "/alerts/%s" % a.get("fingerprint"))
        o = one.json if isinstance(one.json, dict) else {}
        if one.status != 200:
            bad.append("%s: %s" % (a.get("fingerprint"), one.status))
            continue
        h = o.get("history")
        if not isinstance(h, list) or len(h) != 1 or h[0].get("stage") != a.get("stage"):
            bad.append("%s/%s: history %r" % (a.get("child_id"), a.get("rule"), h))
        same = {k: o.get(k) for k in a}
        if same != a:
            bad.append("%s/%s differs from the list: %s" % (
                a.get("child_id"), a.get("rule"),
                [k for k in a if o.get(k) != a.get(k)]))
    t.check(items and not bad, "GET /api/v1/alerts/{fingerprint} of each alert (%d): the list's "
            "object plus a history of one event (its firing, at its stage)" % len(items or []),
            "\n".join(bad[:20]))


# ---------------------------------------------------------------------------------------------
# Who is who

def check_visibility(t, web, w):
    team_children = {tid: {c["id"] for c in CHILDREN if alert_team(c) == tid} for tid in TEAM}
    statuses = {"/ nothing": set(), "/child refused": set(), "/team none": set()}
    for label, email in PEOPLE:
        vis = visible(email)
        vis_children = {cid for _, cid in vis}
        hdr = {"X-Forwarded-Email": email}
        # the person through the API: per alert
        r, items = web.alerts(auth=None, headers=hdr)
        if r.status == 200 and items is not None:
            got = keys_of(items)
            t.check(got == vis, "%s (%s): GET /api/v1/alerts as the person lists exactly the "
                    "alerts they may see (%d)" % (label, email, len(vis)),
                    "expected: %s\ngot: %s\nnot expected: %s\nmissing: %s" % (
                        fmt(vis), fmt(got), fmt(got - vis), fmt(vis - got)))
        else:
            t.check(r.status in (401, 403) and r.error() is not None,
                    "%s (%s): GET /api/v1/alerts as the person answers a list or a JSON 401/403"
                    % (label, email), r.show())
        # GET /
        r = web.req("GET", "/", hdr)
        shown = child_ids_in(r.text)
        if vis_children:
            t.check(r.status == 200 and shown == vis_children,
                    "%s: GET / shows exactly the children of the alerts they may see (%d)"
                    % (label, len(vis_children)),
                    "status %s\nexpected: %s\nshown: %s" % (r.status, sorted(vis_children),
                                                            sorted(shown)))
        else:
            statuses["/ nothing"].add(r.status)
            t.check(r.status in (200, 403, 404) and not shown,
                    "%s: GET / shows no child (status %s)" % (label, r.status),
                    "shown: %s\n%s" % (sorted(shown), r.text[:300]))
        # GET /child/{id}, every child
        ok200, refused, leaks = set(), {}, []
        for c in CHILDREN:
            r = web.req("GET", "/child/%s" % q(c["id"]), hdr)
            if r.status == 200:
                ok200.add(c["id"])
                for rule, _ in c["alerts"]:
                    fp = w.fp.get((rule, c["id"]))
                    if fp and fp in r.text and (rule, c["id"]) not in vis:
                        leaks.append("%s/%s (fingerprint %s on the page)" % (c["id"], rule,
                                                                             fp[:12]))
            else:
                refused[c["id"]] = r.status
                statuses["/child refused"].add(r.status)
        bad_refusal = {k: v for k, v in refused.items() if v not in (403, 404)}
        t.check(ok200 == vis_children and not bad_refusal,
                "%s: /child/{id} answers 200 for exactly their children (%d), 403/404 for the "
                "other %d" % (label, len(vis_children), len(CHILDREN) - len(vis_children)),
                "expected 200: %s\ngot 200: %s\nnot expected: %s\nrefused oddly: %s" % (
                    sorted(vis_children), sorted(ok200), sorted(ok200 - vis_children),
                    bad_refusal))
        if ok200:
            t.check(not leaks, "%s: a child's page shows no alert of the child they may not see"
                    % label, "\n".join(leaks))
        # GET /team/{id}
        team_bad = []
        for tid in TEAM:
            r = web.req("GET", "/team/%s" % tid, hdr)
            shown = child_ids_in(r.text)
            allowed = team_children[tid] & vis_children
            whole = {(rule, cid) for rule, cid in all_keys() if cid in team_children[tid]}
            if r.status != 200:
                statuses["/team none"].add(r.status)
                if allowed and whole <= vis:
                    team_bad.append("%s: status %s, expected 200 (they see all of it)"
                                    % (tid, r.status))
                elif r.status not in (403, 404):
                    team_bad.append("%s: status %s" % (tid, r.status))
                continue
            if shown - allowed:
                team_bad.append("%s shows %s, not theirs to see" % (tid, sorted(shown - allowed)))
            if whole <= vis and shown != team_children[tid]:
                team_bad.append("%s shows %s, expected the whole team %s" % (
                    tid, sorted(shown), sorted(team_children[tid])))
        t.check(not team_bad, "%s: /team/T-A, T-B, T-C show none but their children (and the "
                "whole team where they may see all of it)" % label, "\n".join(team_bad))
        # GET /service: counts are the service's; any child it names must be theirs
        r = web.req("GET", "/service", hdr)
        shown = child_ids_in(r.text)
        statuses.setdefault("/service", set()).add(r.status)
        t.check(r.status in (200, 403) and shown <= vis_children,
                "%s: /service names no child outside theirs (status %s)" % (label, r.status),
                "names %s" % sorted(shown - vis_children))
    t.note("statuses: GET / for a person who may see nothing: %s; /child/{id} refused: %s; "
           "/team/{id} not 200: %s; /service: %s" % tuple(
               sorted(x for x in statuses[k] if x) for k in
               ("/ nothing", "/child refused", "/team none", "/service")))


def check_untrusted(t, web, w):
    hos = {"X-Forwarded-Email": ADDR["head_of_service"]}
    bad = []
    for path in ("/", "/child/CH-A1-CP", "/team/T-A", "/api/v1/alerts"):
        r = web.req("GET", path, hos, source="127.0.0.2")
        if r.status != 401:
            bad.append("%s from 127.0.0.2: %s" % (path, r.status))
    t.check(not bad, "the user header from 127.0.0.2 (not in web.trusted_proxies) is answered "
            "401 on /, /child, /team and the API", "\n".join(bad))
    bad = []
    for path in ("/", "/child/CH-A1-CP", "/team/T-A", "/api/v1/alerts"):
        r = web.req("GET", path, {})
        if r.status != 401:
            bad.append("%s: %s" % (path, r.status))
    t.check(not bad, "from the trusted proxy without the header: 401", "\n".join(bad))
    c = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30,
                                   source_address=("127.0.0.2", 0))
    c.request("GET", "/api/v1/alerts", headers=BEARER)
    r = c.getresponse()
    r.read()
    c.close()
    t.check(r.status == 200, "a bearer token needs no trusted proxy: from 127.0.0.2 it answers "
            "200 (%s)" % r.status)


# ---------------------------------------------------------------------------------------------
# The API: authentication, errors, responses

def history(web, w, key):
    r = web.api("GET", "/alerts/%s" % w.fp[key])
    if r.status != 200 or not isinstance(r.json, dict):
        return r, None
    h = r.json.get("history")
    if isinstance(r.json.get("alert"), dict):
        h = r.json["alert"].get("history")
    return r, h if isinstance(h, list) else None


def names_field(r, field):
    return r.error() is not None and field in r.error()


def check_auth(t, web, w):
    k = (CP, "CH-NOALLOC")
    cases = [("no Authorization", {}), ("a wrong token", {"Authorization": "Bearer nope"}),
             ("the token in upper case", {"Authorization": "Bearer " + TOKEN.upper()}),
             ("the hash itself as the token", {"Authorization": "Bearer " +
                                                hashlib.sha256(TOKEN.encode()).hexdigest()}),
             ("Basic", {"Authorization": "Basic b3JhY2xlOnB3"})]
    for label, auth in cases:
        r = web.api("GET", "/alerts", auth=auth)
        t.check(r.status == 401 and r.error() is not None,
                "GET /api/v1/alerts with %s: 401 with a JSON {\"error\"}" % label, r.show())
    r = web.api("POST", "/alerts/%s/acknowledge" % w.fp[k], {"note": "x"},
                auth={"Authorization": "Bearer nope"})
    t.check(r.status == 401 and r.error() is not None,
            "POST acknowledge with a wrong token: 401 with a JSON error", r.show())
    r = web.api("GET", "/alerts/%s" % w.fp[k], auth={})
    t.check(r.status == 401 and r.error() is not None, "GET one alert without a token: 401",
            r.show())
    unknown = "0" * 64
    for method, path, body in (("GET", "/alerts/" + unknown, None),
                               ("POST", "/alerts/%s/acknowledge" % unknown, {"note": "x"}),
                               ("POST", "/alerts/%s/snooze" % unknown,
                                {"until": (w.today + datetime.timedelta(days=3)).isoformat(),
                                 "reason": "strategy_agreed"}),
                               ("POST", "/alerts/%s/unsnooze" % unknown, None),
                               ("GET", "/alerts/not-a-fingerprint", None)):
        r = web.api(method, path, body)
        t.check(r.status == 404 and r.error() is not None,
                "%s /api/v1%s: 404 with a JSON error" % (method, path[:40]), r.show())


def raw_post(port, path, body):
    """POST body over a socket of its own, reading the answer even when the server stops
    reading first: (status or None, content type, text)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n"
            "\r\n" % (path, TOKEN, len(body))).encode()
    try:
        s.sendall(head + body)
    except OSError:
        pass
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    ct = re.search(rb"(?im)^content-type:\s*([^;\r\n]+)", data)
    text = data.split(b"\r\n\r\n", 1)[-1].decode("utf-8", "replace")
    return (int(m.group(1)) if m else None, ct.group(1).decode().strip() if ct else None,
            text if m else "no answer (%d bytes read)" % len(data))


def check_invalid(t, web, w):
    """Every invalid request on CH-NOALLOC's alert: 400 naming the field; nothing recorded."""
    k = (CP, "CH-NOALLOC")
    fp = w.fp[k]
    day = lambda n: (w.today + datetime.timedelta(days=n)).isoformat()  # noqa: E731
    bad_date = "%d-02-30" % (w.today.year + 1)
    snooze = "/alerts/%s/snooze" % fp
    ack = "/alerts/%s/acknowledge" % fp
    cases = [
        (snooze, {"until": day(MAX_SNOOZE + 1), "reason": "strategy_agreed"}, "until",
         "until %d days ahead (past responses.max_snooze_days)" % (MAX_SNOOZE + 1)),
        (snooze, {"until": day(-1), "reason": "strategy_agreed"}, "until", "until yesterday"),
        (snooze, {"until": bad_date, "reason": "strategy_agreed"}, "until",
         "until %s (no such day)" % bad_date),
        (snooze, {"until": "next week", "reason": "strategy_agreed"}, "until",
         "until 'next week'"),
        (snooze, {"until": day(10).replace("-", "/"), "reason": "strategy_agreed"}, "until",
         "until with slashes"),
        (snooze, {"until": 20270101, "reason": "strategy_agreed"}, "until", "until a number"),
        (snooze, {"reason": "strategy_agreed"}, "until", "no until"),
        (snooze, {"until": day(10), "reason": "holiday"}, "reason", "an unknown reason"),
        (snooze, {"until": day(10), "reason": "STRATEGY_AGREED"}, "reason",
         "a reason in upper case"),
        (snooze, {"until": day(10)}, "reason", "no reason"),
        (snooze, {"until": day(10), "reason": "other"}, "note", "reason other with no note"),
        (snooze, {"until": day(10), "reason": "other", "note": ""}, "note",
         "reason other with an empty note"),
        (snooze, {"until": day(10), "reason": "strategy_agreed", "note": "n" * 1001}, "note",
         "a snooze note of 1,001 characters"),
        (ack, {"note": "n" * 1001}, "note", "an acknowledgement note of 1,001 characters"),
        (ack, {"note": "\u00e9" * 1001}, "note",
         "an acknowledgement note of 1,001 two-byte characters"),
        (ack, {"note": 42}, "note", "a note that is a number"),
        # RESPONSES.md writes the date "YYYY-MM-DD": other spellings of a date are not it
        (snooze, {"until": "tomorrow", "reason": "strategy_agreed"}, "until",
         "until 'tomorrow' (a word PostgreSQL reads as a date)"),
        (snooze, {"until": day(10).replace("-", ""), "reason": "strategy_agreed"}, "until",
         "until %s (no dashes)" % day(10).replace("-", "")),
        (snooze, {"until": "%d-%d-%d" % ((w.today + datetime.timedelta(days=40)).year,
                                         (w.today + datetime.timedelta(days=40)).month,
                                         (w.today + datetime.timedelta(days=40)).day),
                  "reason": "strategy_agreed"}, "until", "until without leading zeros"),
        (snooze, {"until": day(10) + "T00:00:00", "reason": "strategy_agreed"}, "until",
         "until with a time of day"),
        (snooze, {"until": " " + day(10), "reason": "strategy_agreed"}, "until",
         "until with a leading space"),
        (snooze, {"until": "infinity", "reason": "strategy_agreed"}, "until",
         "until 'infinity'"),
        (snooze, {"until": "9999-12-31", "reason": "strategy_agreed"}, "until",
         "until 9999-12-31"),
        (snooze, {"until": None, "reason": "strategy_agreed"}, "until", "until null"),
        (snooze, {"until": day(10), "reason": None}, "reason", "reason null"),
    ]
    for path, body, field, label in cases:
        r = web.api("POST", path, body)
        t.check(r.status == 400 and names_field(r, field),
                "%s: 400 with a JSON error naming %r" % (label, field), r.show())
    for body, label in (("{not json", "a body that is not JSON"), ("[]", "a JSON array"),
                        ('"ack"', "a JSON string")):
        r = web.api("POST", ack, body)
        t.check(r.status == 400 and r.error() is not None,
                "acknowledge with %s: 400 with a JSON error" % label, r.show())
    big = json.dumps({"note": "x"}) + " " * (64 * 1024 + 1 - len(json.dumps({"note": "x"})))
    r = web.api("POST", ack, big)
    t.check(r.status == 413 and r.error() is not None,
            "a body of 64 KiB + 1 byte: 413 with a JSON error", r.show())
    huge = (json.dumps({"note": "x"}) + " " * (2 * 1024 * 1024)).encode()
    status, ctype, text = raw_post(web.port, "/api/v1" + ack, huge)
    # A body past 1 MiB is not read at all: libevent answers its own 413 (README, "Not built
    # yet"); up to 1 MiB the API's JSON one (above).
    t.check(status in (413, None), "a body of 2 MiB: refused, 413 or the connection closed "
            "before it is read (status %s, Content-Type %s)" % (status, ctype), text[:300])
    r, h = history(web, w, k)
    one = r.json if isinstance(r.json, dict) else {}
    t.check(h is not None and len(h) == 1 and (one.get("response") or {}).get("state") == "open",
            "after those refusals the alert is unanswered: one event in its history (firing), "
            "response open", r.show())
    if (one.get("response") or {}).get("state") == "snoozed":
        web.api("POST", "/alerts/%s/unsnooze" % fp, {})
        t.note("CH-NOALLOC was snoozed by a request refused here: unsnoozed again")
    # what PostgreSQL's text cannot hold, and bytes that are not UTF-8: an answer, never a 5xx
    odd = [(b'{"note": "a\\u0000b"}', "a note holding \\u0000"),
           (b'{"note": "\xff\xfe"}', "a body that is not UTF-8"),
           (b'{"note": "\\ud800"}', "a note holding a lone surrogate \\ud800")]
    for body, label in odd:
        r = web.api("POST", ack, body)
        t.check(r.status in (200, 400) and (r.status == 200 or r.error() is not None),
                "acknowledge with %s: 200 or a JSON 400, nothing else (%s)" % (label, r.status),
                r.show())
        if r.status == 200:
            t.note("%s was taken: %s" % (label, r.text[:200]))
            w.state[k] = "acknowledged"


def respond(t, web, w, key, kind, body, label, auth=BEARER, expect=200):
    r = web.api("POST", "/alerts/%s/%s" % (w.fp[key], kind), body, auth=auth)
    t.check(r.status == expect, "%s: POST %s answers %d (%s)" % (label, kind, expect, r.status),
            r.show())
    return r


def last_response_event(h):
    """The latest event of a history that is not the rule's (firing, escalated...)."""
    for e in reversed(h or []):
        if e.get("via") is not None or e.get("actor") is not None or e.get("by") is not None:
            return e
    return None


def event_has(e, **want):
    probs = []
    vals = json.dumps(e)
    for k, v in want.items():
        if v is None:
            continue
        if v not in (e or {}).values() and json.dumps(v) not in vals:
            probs.append("%s %r not in the event" % (k, v))
    return probs


def check_response_recorded(t, web, w, key, label, kind_word, state, actor, stage, note=None,
                            reason=None, until=None, via="api"):
    r, h = history(web, w, key)
    e = last_response_event(h)
    probs = []
    if e is None:
        probs.append("no response event in the history")
    else:
        if kind_word not in json.dumps(e.get("kind") or e.get("type") or e):
            probs.append("the event is not a %s: %r" % (kind_word, e))
        if e.get("via") != via:
            probs.append("via %r, expected %s" % (e.get("via"), via))
        probs += event_has(e, actor=actor, stage=stage, note=note, reason=reason, until=until)
        if not any(isinstance(v, str) and RFC3339.match(v) for v in e.values()):
            probs.append("no RFC 3339 time in the event")
    resp = (r.json or {}).get("response") if isinstance(r.json, dict) else None
    if not isinstance(resp, dict) or resp.get("state") != state:
        probs.append("response %r, expected state %s" % (resp, state))
    elif state != "open":
        if (resp.get("by") or "").lower() != actor.lower():
            probs.append("response.by %r, expected %s" % (resp.get("by"), actor))
        if not RFC3339.match(resp.get("at") or ""):
            probs.append("response.at %r" % resp.get("at"))
        for f, v in (("note", note), ("reason", reason), ("until", until)):
            if v is not None and resp.get(f) != v:
                probs.append("response.%s %r, expected %r" % (f, resp.get(f), v))
    t.check(not probs, "%s: the history records it (%s, actor %s, via %s, stage %s) and the "
            "response is %s" % (label, kind_word, actor, via, stage, state),
            "\n".join(probs) + "\nevent: %s" % json.dumps(e))


def check_responses(t, web, w):
    day = lambda n: (w.today + datetime.timedelta(days=n)).isoformat()  # noqa: E731
    me = "api:" + TOKEN_NAME
    # acknowledge with a note
    k = (CP, "CH-A1-CP")
    respond(t, web, w, k, "acknowledge", {"note": "Discussed in supervision"}, "CH-A1-CP")
    w.state[k] = "acknowledged"
    check_response_recorded(t, web, w, k, "CH-A1-CP acknowledged", "acknowledg", "acknowledged",
                            me, "9m", note="Discussed in supervision")
    # acknowledge with no note, by the second token
    k = (CP, "CH-B1-CP")
    respond(t, web, w, k, "acknowledge", {}, "CH-B1-CP (second token, body {})", auth=BEARER2)
    w.state[k] = "acknowledged"
    check_response_recorded(t, web, w, k, "CH-B1-CP acknowledged by the second token",
                            "acknowledg", "acknowledged", "api:" + TOKEN2_NAME, "9m")
    # a note of exactly 1,000 two-byte characters is allowed
    k = (CP, "CH-C1-CP")
    note = "\u00e9" * 1000
    respond(t, web, w, k, "acknowledge", {"note": note}, "CH-C1-CP (note of 1,000 characters)")
    w.state[k] = "acknowledged"
    check_response_recorded(t, web, w, k, "CH-C1-CP acknowledged", "acknowledg", "acknowledged",
                            me, "18m", note=note)
    # a body of exactly 64 KiB is allowed
    k = (CIN, "CH-ENDED-ONLY")
    body = json.dumps({"note": "at the limit"})
    body += " " * (64 * 1024 - len(body))
    respond(t, web, w, k, "acknowledge", body, "CH-ENDED-ONLY (a body of exactly 64 KiB)")
    w.state[k] = "acknowledged"
    # snoozes, one for each reason
    plan = [((CIN, "CH-A1-CIN"), "strategy_agreed", MAX_SNOOZE, "Strategy agreed at review"),
            ((CP, "CH-A2-CP"), "legal_planning", 30, "PLO letter sent"),
            ((CIN, "CH-A3-CIN"), "step_down_planned", 10, None),
            ((CIN, "CH-B2-CIN"), "other", 14, "Family moving away; transfer in"),
            ((CIN, "CH-C2-CIN"), "case_closing", 1, "Closing next week")]
    for k, reason, days, note in plan:
        body = {"until": day(days), "reason": reason}
        if note is not None:
            body["note"] = note
        respond(t, web, w, k, "snooze", body, "%s snoozed %d days (%s)" % (k[1], days, reason))
        w.state[k] = "snoozed"
        check_response_recorded(t, web, w, k, "%s snoozed" % k[1], "snooz", "snoozed", me,
                                w.stage[k], note=note, reason=reason, until=day(days))
    # snooze then unsnooze: open again (data_wrong's reason here)
    k = (CIN, "CH-MOVED")
    respond(t, web, w, k, "snooze", {"until": day(20), "reason": "data_wrong",
                                     "note": "Allocation date wrong"}, "CH-MOVED (data_wrong)")
    check_response_recorded(t, web, w, k, "CH-MOVED snoozed", "snooz", "snoozed", me, "6m",
                            note="Allocation date wrong", reason="data_wrong", until=day(20))
    respond(t, web, w, k, "unsnooze", None, "CH-MOVED unsnoozed (no body)")
    check_response_recorded(t, web, w, k, "CH-MOVED unsnoozed", "unsnooz", "open", me, "6m")
    r, h = history(web, w, k)
    kinds = [e.get("kind") for e in h or []]
    ats = [e.get("at") or "" for e in h or []]
    t.check(len(kinds) == 3 and "snooz" in (kinds[1] or "") and "unsnooz" in (kinds[2] or "")
            and ats == sorted(ats) and all(RFC3339.match(a) for a in ats),
            "CH-MOVED's history is every event in order: firing, snoozed, unsnoozed (%s)" % kinds,
            json.dumps(h)[:600])
    # acknowledged, then snoozed, then unsnoozed: "as if never snoozed", so acknowledged again
    k = (WC, "CH-HANDOVER")
    respond(t, web, w, k, "acknowledge", {"note": "New worker briefed"}, "CH-HANDOVER")
    respond(t, web, w, k, "snooze", {"until": day(5), "reason": "case_closing"},
            "CH-HANDOVER (after its acknowledgement)")
    r = web.api("GET", "/alerts/%s" % w.fp[k])
    st = ((r.json or {}).get("response") or {}).get("state") if isinstance(r.json, dict) else None
    t.check(st == "snoozed", "CH-HANDOVER acknowledged then snoozed: the response is snoozed "
            "(%s)" % st, r.show())
    respond(t, web, w, k, "unsnooze", {}, "CH-HANDOVER unsnoozed")
    w.state[k] = "acknowledged"
    r = web.api("GET", "/alerts/%s" % w.fp[k])
    resp = (r.json or {}).get("response") if isinstance(r.json, dict) else None
    t.check(isinstance(resp, dict) and resp.get("state") == "acknowledged",
            "CH-HANDOVER acknowledged, snoozed, unsnoozed: \"as if never snoozed\", so its "
            "acknowledgement for the stage stands (state acknowledged)",
            "response: %r" % resp)
    # the person's own answer through the API, and one they may not give
    k = (CIN, "CH-AMGR")
    r = web.api("POST", "/alerts/%s/acknowledge" % w.fp[k], {"note": "mine"}, auth=None,
                headers={"X-Forwarded-Email": "AMGR@la.example"})
    if r.status == 200:
        w.state[k] = "acknowledged"
        check_response_recorded(t, web, w, k, "CH-AMGR acknowledged by its allocated worker "
                                "through the API", "acknowledg", "acknowledged",
                                "amgr@la.example", "6m", note="mine")
    else:
        t.note("a person's POST through the API (no token) answered %s: %s" % (
            r.status, r.text[:200]))
    k = (CIN, "CH-A1-CIN")
    r = web.api("POST", "/alerts/%s/unsnooze" % w.fp[k], None, auth=None,
                headers={"X-Forwarded-Email": "b2@la.example"})
    t.check(r.status in (401, 403, 404) and r.error() is not None,
            "a person who may not see CH-A1-CIN unsnoozing it through the API: refused with a "
            "JSON error (%s)" % r.status, r.show())
    r = web.api("GET", "/alerts/%s" % w.fp[k])
    st = ((r.json or {}).get("response") or {}).get("state") if isinstance(r.json, dict) else None
    t.check(st == "snoozed", "... and CH-A1-CIN is still snoozed (%s)" % st)
    k = (CIN, "CH-ENDED-ONLY")
    r = web.api("GET", "/alerts/%s" % w.fp[k], auth=None,
                headers={"X-Forwarded-Email": "a2@la.example"})
    t.check(r.status in (401, 403, 404),
            "the worker whose allocation of CH-ENDED-ONLY ended may not GET its alert (%s)"
            % r.status, r.show())


def check_filters(t, web, w, when):
    queries = [
        ("", {}),
        ("status=open", {"status": "open"}),
        ("status=acknowledged", {"status": "acknowledged"}),
        ("status=snoozed", {"status": "snoozed"}),
        ("status=resolved", {"status": "resolved"}),
        ("rule=" + CP, {"rule": CP}),
        ("rule=" + CIN, {"rule": CIN}),
        ("rule=" + WNB, {"rule": WNB}),
        ("rule=" + WC, {"rule": WC}),
        ("team=T-A", {"team": "T-A"}),
        ("team=T-B", {"team": "T-B"}),
        ("team=T-C", {"team": "T-C"}),
        ("team=T-NONE", {"team": "T-NONE"}),
        ("child_id=CH-B1-CP", {"child_id": "CH-B1-CP"}),
        ("child_id=CH-NOBODY", {"child_id": "CH-NOBODY"}),
        ("child_id=" + q("CH-Q&A 1"), {"child_id": "CH-Q&A 1"}),
        ("team=T-B&child_id=" + q("CH-Q&A 1"), {"team": "T-B", "child_id": "CH-Q&A 1"}),
        ("rule=%s&status=snoozed" % CIN, {"rule": CIN, "status": "snoozed"}),
        ("team=T-A&status=open", {"team": "T-A", "status": "open"}),
        ("team=T-B&rule=%s&status=acknowledged" % CP,
         {"team": "T-B", "rule": CP, "status": "acknowledged"}),
        ("child_id=CH-B1-CP&rule=%s" % WNB, {"child_id": "CH-B1-CP", "rule": WNB}),
        ("team=T-A&child_id=CH-B1-CP", {"team": "T-A", "child_id": "CH-B1-CP"}),
        ("status=resolved&team=T-B", {"status": "resolved", "team": "T-B"}),
        ("rule=%s&team=T-C&status=acknowledged" % CP,
         {"rule": CP, "team": "T-C", "status": "acknowledged"}),
    ]
    for query, flt in queries:
        r, items = web.alerts(query)
        exp = w.expect(**flt)
        got = keys_of(items)
        t.check(r.status == 200 and got == exp and len(items or []) == len(exp),
                "%s: GET /api/v1/alerts?%s gives %d alert(s)" % (when, query, len(exp)),
                "status %s\nexpected: %s\ngot: %s" % (r.status, fmt(exp), fmt(got)))
    r, items = web.alerts()
    bad = []
    for a in items or []:
        k = (a.get("rule"), a.get("child_id"))
        if k not in w.state:
            continue
        st = (a.get("response") or {}).get("state")
        want = w.state[k]
        if a.get("status") != w.status[k]:
            bad.append("%s/%s status %r, expected %s" % (k[1], k[0], a.get("status"),
                                                          w.status[k]))
        if w.status[k] == "firing" and st != want:
            bad.append("%s/%s response.state %r, expected %s" % (k[1], k[0], st, want))
    t.check(not bad, "%s: every alert's status and response.state in the list are what the "
            "responses made" % when, "\n".join(bad))
    bad = []
    for a in items or []:
        one = web.api("GET", "/alerts/%s" % a.get("fingerprint"))
        o = one.json if isinstance(one.json, dict) else {}
        if o.get("response") != a.get("response") or o.get("team_id") != a.get("team_id"):
            bad.append("%s/%s: list %r, alone %r" % (a.get("child_id"), a.get("rule"),
                                                     a.get("response"), o.get("response")))
    t.check(items and not bad, "%s: each alert's response and team_id in the list are those of "
            "GET /api/v1/alerts/{fingerprint}" % when, "\n".join(bad))
    r, _ = web.alerts("status=bogus")
    t.check(r.status == 400 and names_field(r, "status"),
            "GET /api/v1/alerts?status=bogus: 400 naming status", r.show())


def check_people_after(t, web, w):
    """RESPONSES.md: "A response never hides an alert from the record or the pages": after the
    responses each person's / still shows every child of theirs, and their own API list
    filtered by status gives their alerts in that state."""
    for label, email in PEOPLE:
        vis = visible(email)
        if not vis:
            continue
        hdr = {"X-Forwarded-Email": email}
        probs = []
        r = web.req("GET", "/", hdr)
        want = {cid for _, cid in vis}
        if r.status != 200 or child_ids_in(r.text) != want:
            probs.append("GET /: status %s, shows %s, expected %s" % (
                r.status, sorted(child_ids_in(r.text)), sorted(want)))
        for st in ("open", "acknowledged", "snoozed"):
            r, items = web.alerts("status=" + st, auth=None, headers=hdr)
            if r.status != 200:
                probs.append("status=%s: HTTP %s" % (st, r.status))
                continue
            exp = {k for k in vis if w.state[k] == st}
            if keys_of(items) != exp:
                probs.append("status=%s: got %s, expected %s" % (st, fmt(keys_of(items)),
                                                                 fmt(exp)))
        t.check(not probs, "%s: after the responses GET / still shows all %d children of theirs,"
                " and their API list by status is theirs in that state" % (label, len(want)),
                "\n".join(probs))


def forms_of(page):
    """The POST forms of a page: [{hidden input name: value}]."""
    out = []
    for body in re.findall(r'(?s)<form method="post"[^>]*>(.*?)</form>', page):
        out.append({html.unescape(n): html.unescape(v) for n, v in re.findall(
            r'<input type="hidden" name="([^"]*)" value="([^"]*)"', body)})
    return out


def check_home_order(t, web, w):
    """RESPONSES.md: / is "what I must answer first (unanswered, oldest stage first), then the
    rest": each child with only unanswered alerts comes before each child with only answered
    ones (first mention), on the team manager of T-A's page."""
    email = "amgr@la.example"
    vis = visible(email)
    kids = {}
    for rule, cid in vis:
        kids.setdefault(cid, set()).add(w.state[(rule, cid)] == "open")
    unanswered = {c for c, v in kids.items() if v == {True}}
    answered = {c for c, v in kids.items() if v == {False}}
    r = web.req("GET", "/", {"X-Forwarded-Email": email})
    pos = {c: m.start() for c in kids for m in [re.search(
        r"(?<![\w-])%s(?![\w-])" % re.escape(html.escape(c)), r.text)] if m}
    late = [(u, a) for u in unanswered for a in answered
            if u in pos and a in pos and pos[u] > pos[a]]
    t.check(r.status == 200 and unanswered and answered and not late,
            "the T-A manager's / lists the children with unanswered alerts (%d) before those "
            "whose alerts are all answered (%d)" % (len(unanswered), len(answered)),
            "after an answered one: %s" % sorted(late)[:10])


def check_forms(t, web, w):
    """A page's form acts only as it was made: for that alert and that person."""
    a1 = {"X-Forwarded-Email": "a1.worker@la.example"}
    km, kc = (CIN, "CH-MOVED"), (CP, "CH-C1-CP")
    r = web.req("GET", "/", a1)
    form = next((f for f in forms_of(r.text) if f.get("alert") == w.fp[km]
                 and f.get("action") == "acknowledge"), None)
    if not t.check(form is not None, "worker A1's / has an acknowledge form for CH-MOVED",
                   r.text[:300]):
        return
    hc = len(history(web, w, kc)[1] or [])
    hm = len(history(web, w, km)[1] or [])

    def post(fields, who):
        body = urllib.parse.urlencode(fields)
        return web.req("POST", "/answer", dict(who, **{
            "Content-Type": "application/x-www-form-urlencoded"}), body)
    forged = dict(form, alert=w.fp[kc], stage="18m", note="forged")
    r1 = post(forged, a1)
    r2 = post(dict(form, note="replayed by B2"), {"X-Forwarded-Email": "b2@la.example"})
    r3 = post({k: v for k, v in form.items() if k != "form"}, a1)
    t.check(len(history(web, w, kc)[1] or []) == hc,
            "worker A1's form for CH-MOVED with the alert changed to CH-C1-CP's (not theirs) "
            "records nothing on CH-C1-CP (%s)" % r1.status, r1.text[:300])
    t.check(len(history(web, w, km)[1] or []) == hm,
            "the same form posted by worker B2 (who may not see CH-MOVED), or without its "
            "anti-forgery token, records nothing (%s, %s)" % (r2.status, r3.status),
            r2.text[:300])
    r = post(dict(form, note="seen on the page"), a1)
    t.check(r.status in (200, 303), "worker A1 acknowledges CH-MOVED through the page (%s)"
            % r.status, r.text[:300])
    w.state[km] = "acknowledged"
    check_response_recorded(t, web, w, km, "CH-MOVED acknowledged on the page", "acknowledg",
                            "acknowledged", "a1.worker@la.example", "6m",
                            note="seen on the page", via="page")


def check_silent(t, web, w):
    """Where the specification is silent: what the daemon does is noted, not judged; an alert
    whose state depends on it takes the state the daemon says."""
    def state_of(k):
        r = web.api("GET", "/alerts/%s" % w.fp[k])
        return ((r.json or {}).get("response") or {}).get("state") \
            if isinstance(r.json, dict) else None
    k = (CP, "CH-A4-CP")
    r = web.api("POST", "/alerts/%s/unsnooze" % w.fp[k], {})
    t.note("spec silent: unsnooze of an alert never snoozed answers %s %s; its state is then %s"
           % (r.status, r.text[:160], state_of(k)))
    k2 = (CP, "CH-A1-CP")
    r = web.api("POST", "/alerts/%s/acknowledge" % w.fp[k2], {"note": "again"})
    t.note("spec silent: a second acknowledgement of the same stage answers %s %s" % (
        r.status, r.text[:100]))
    r = web.api("POST", "/alerts/%s/snooze" % w.fp[k], {"until": w.today.isoformat(),
                                                        "reason": "strategy_agreed"})
    w.state[k] = state_of(k)
    w.state[k2] = state_of(k2)
    t.note("spec silent: a snooze until today answers %s %s; the alert's state is then %s" % (
        r.status, r.text[:160], w.state[k]))
    r, items = web.alerts("rule=no_such_rule")
    t.note("spec silent: GET /api/v1/alerts?rule=no_such_rule answers %s (%s alerts) %s" % (
        r.status, len(items) if items is not None else "no", r.text[:120] if r.status != 200
        else ""))
    r, items = web.alerts("team=")
    t.note("spec silent: GET /api/v1/alerts?team= answers %s (%s alerts)" % (
        r.status, len(items) if items is not None else "no"))
    c = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    c.putrequest("GET", "/")
    c.putheader("X-Forwarded-Email", "hos@la.example")
    c.putheader("X-Forwarded-Email", "nobody@la.example")
    c.endheaders()
    st = c.getresponse().status
    c.close()
    t.note("spec silent: the user header given twice from the trusted proxy answers %s" % st)
    r = web.api("GET", "/alerts", auth={"Authorization": "bearer " + TOKEN})
    t.note("spec silent (RFC 6750 has the scheme case-insensitive): 'bearer' in lower case "
           "answers %s" % r.status)
    r, items = web.alerts("stauts=open")
    t.note("spec silent: an unknown query parameter (stauts=open) answers %s (%s alerts) %s" % (
        r.status, len(items) if items is not None else "no", r.text[:100] if r.status != 200
        else ""))
    r = web.api("GET", "/alerts/%s" % w.fp[(CP, "CH-A1-CP")].upper())
    t.note("spec silent: a fingerprint in upper case answers %s" % r.status)


def check_error_bodies(t, web):
    """RESPONSES.md: "Errors are JSON {"error": "..."}" -- every API answer of 400 or more the
    test received (bodies over 1 MiB left out: checked on their own above)."""
    bad = []
    n = 0
    for method, path, status, size, r in web.log:
        if not path.startswith("/api/") or not status or status < 400 or size > 1024 * 1024:
            continue
        n += 1
        ct = (r.headers.get("content-type") or "").split(";")[0].strip()
        if ct != "application/json" or r.error() is None:
            bad.append("%s %s -> %s %s %s" % (method, path[:60], status, ct, r.text[:80]))
    t.check(n > 0 and not bad, "every API error the test received (%d) is application/json "
            "{\"error\": ...}" % n, "\n".join(bad))


# ---------------------------------------------------------------------------------------------
# A stage change (an acknowledgement holds for its stage) and a resolution (409)

def wait_alert(web, w, key, pred, timeout):
    def get():
        r = web.api("GET", "/alerts/%s" % w.fp[key])
        return r if r.status == 200 and isinstance(r.json, dict) and pred(r.json) else None
    return lib.wait_for(get, timeout, step=0.5)


def check_stage_and_resolve(t, web, w, db):
    me = "api:" + TOKEN_NAME
    ks, kr, k2 = (CP, "CH-STAGE"), (CP, "CH-RESOLVE"), (CP, "CH-STAGE2")
    until2 = (w.today + datetime.timedelta(days=30)).isoformat()
    respond(t, web, w, k2, "snooze", {"until": until2, "reason": "legal_planning",
                                      "note": "PLO"}, "CH-STAGE2 at 9m")
    w.state[k2] = "snoozed"
    respond(t, web, w, ks, "acknowledge", {"note": "at 9m"}, "CH-STAGE at 9m")
    respond(t, web, w, kr, "acknowledge", {"note": "plan ending"}, "CH-RESOLVE")
    w.state[ks] = w.state[kr] = "acknowledged"
    check_response_recorded(t, web, w, ks, "CH-STAGE acknowledged", "acknowledg",
                            "acknowledged", me, "9m", note="at 9m")
    db.run("UPDATE casework.cp_plans SET start_date = (current_date - interval '13 months')::date"
           " WHERE plan_id IN ('CPP-STAGE', 'CPP-STAGE2'); UPDATE casework.cp_plans SET "
           "end_date = current_date WHERE plan_id = 'CPP-RESOLVE';")
    r = wait_alert(web, w, k2, lambda a: a.get("stage") == "12m", 40)
    w.stage[k2] = "12m"
    resp = ((r.json if r else {}) or {}).get("response") or {}
    t.check(r is not None and resp.get("state") == "snoozed" and resp.get("until") == until2,
            "CH-STAGE2 snoozed at 9m reaches 12m and stays snoozed until %s (a snooze is until "
            "a date; a new stage is notified, showing it)" % until2,
            r.show() if r else "no 12m within 40 s")
    r = wait_alert(web, w, ks, lambda a: a.get("stage") == "12m", 40)
    t.check(r is not None, "CH-STAGE's plan backdated to 13 months: the alert reaches 12m")
    w.stage[ks] = "12m"
    w.state[ks] = "open"
    if r is not None:
        resp = r.json.get("response") or {}
        t.check(resp.get("state") == "open", "an acknowledgement holds for its stage only: at "
                "12m CH-STAGE is open again (%s)" % resp.get("state"), r.show())
        kinds = [e.get("kind") for e in r.json.get("history") or []]
        t.check(any("ack" in (x or "") for x in kinds) and len(kinds) >= 3,
                "CH-STAGE's history keeps the firing, the acknowledgement at 9m and the new "
                "stage (%s)" % kinds)
        respond(t, web, w, ks, "acknowledge", {"note": "at 12m"}, "CH-STAGE at 12m")
        w.state[ks] = "acknowledged"
        check_response_recorded(t, web, w, ks, "CH-STAGE acknowledged again", "acknowledg",
                                "acknowledged", me, "12m", note="at 12m")
    r = wait_alert(web, w, kr, lambda a: a.get("status") == "resolved", 40)
    t.check(r is not None, "CH-RESOLVE's plan ended today: the alert is resolved")
    w.status[kr] = "resolved"
    for kind, body in (("acknowledge", {"note": "late"}),
                       ("snooze", {"until": (w.today + datetime.timedelta(days=7)).isoformat(),
                                   "reason": "strategy_agreed"}),
                       ("unsnooze", None)):
        r = web.api("POST", "/alerts/%s/%s" % (w.fp[kr], kind), body)
        t.check(r.status == 409 and r.error() is not None,
                "%s on the resolved alert: 409 with a JSON error" % kind, r.show())
    r, h = history(web, w, kr)
    t.check(r.status == 200 and (r.json or {}).get("status") == "resolved" and h
            and not any("late" in json.dumps(e) for e in h),
            "the resolved alert still answers GET, and the refused answers recorded nothing",
            r.show())
    # who sees the resolved alert: the same people as before (its child is still allocated to
    # B1; its plan's chair is still chair_id of that plan)
    probs = []
    for label, email in PEOPLE:
        r, items = web.alerts("status=resolved", auth=None,
                              headers={"X-Forwarded-Email": email})
        exp = {kr} & visible(email, resolved={kr})
        if not visible(email, resolved={kr}) and r.status in (401, 403) \
                and r.error() is not None:
            continue
        if r.status != 200 or keys_of(items) != exp:
            probs.append("%s (%s): status %s, got %s, expected %s" % (
                label, email, r.status, fmt(keys_of(items)), fmt(exp)))
    t.check(not probs, "after the resolution, GET /api/v1/alerts?status=resolved as each person "
            "gives CH-RESOLVE to exactly those who may see it", "\n".join(probs))


def check_reallocation(t, web, w, db):
    """CH-A3-CIN handed from W-A3 (team T-A, supervised by W-BMGR) to W-C1 (team T-C, no
    supervisor) today: who may see it follows the open allocation; a worker_change alert is
    born; the alert's team_id becomes T-C."""
    c = CH["CH-A3-CIN"]
    db.run("UPDATE casework.allocations SET end_date = current_date WHERE allocation_id = "
           "'AL-4'; INSERT INTO casework.allocations (allocation_id, child_id, worker_id, "
           "start_date, end_date) VALUES ('AL-4b', 'CH-A3-CIN', 'W-C1', current_date, NULL);")
    c["alloc"] = [("AL-4", "W-A3", Y2, 0), ("AL-4b", "W-C1", 0, None)]
    c["alerts"] = [(CIN, "6m"), (WC, "handover")]
    kw = (WC, "CH-A3-CIN")

    def born():
        r, items = web.alerts("child_id=CH-A3-CIN")
        got = {a.get("rule"): a for a in items or []}
        if WC in got and (got.get(CIN) or {}).get("team_id") == "T-C":
            return got
        return None
    got = lib.wait_for(born, 40, step=0.5)
    if not t.check(got is not None, "CH-A3-CIN reallocated to W-C1 today: a worker_change alert "
                   "is born and the CIN alert's team_id becomes T-C", repr(web.alerts(
                       "child_id=CH-A3-CIN")[1])):
        return
    w.fp[kw] = got[WC]["fingerprint"]
    w.key[w.fp[kw]] = kw
    w.state[kw], w.status[kw], w.stage[kw] = "open", "firing", "handover"
    rec = {(x.get("email") or "").lower() for x in got[WC].get("recipients") or []}
    t.check(rec == expected_recipients(c, WC, "handover"), "the handover's recipients are "
            "RULES.md's (%s)" % sorted(rec), "expected %s" % sorted(
                expected_recipients(c, WC, "handover")))
    keys = {(CIN, "CH-A3-CIN"), kw}
    probs = []
    for email in ("a3@la.example", "c1@la.example", "cmgr-only@la.example", "amgr@la.example",
                  "bmgr@la.example", "xsup@la.example", "b2@la.example"):
        exp = visible(email) & keys
        r, items = web.alerts(auth=None, headers={"X-Forwarded-Email": email})
        got = keys_of(items) & keys if r.status == 200 else set()
        if got != exp:
            probs.append("%s: API %s, expected %s" % (email, fmt(got), fmt(exp)))
        r = web.req("GET", "/child/CH-A3-CIN", {"X-Forwarded-Email": email})
        if (r.status == 200) != bool(exp):
            probs.append("%s: /child/CH-A3-CIN %s" % (email, r.status))
    t.check(not probs, "after the reallocation CH-A3-CIN's alerts are seen by W-C1 and T-C's "
            "manager, no longer by W-A3, T-A's manager or W-A3's supervisor", "\n".join(probs))


def main():
    t = Tap()
    return lib.run_test(t, "api_oracle", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
