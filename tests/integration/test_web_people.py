#!/usr/bin/python3
"""test_web_people: the JSON API for people signed in by the sign-on proxy (RESPONSES.md, "Who
is who" and "The JSON API"; issue 13): team_id and the team filter, who sees what, 401 and 403.

The real daemon evaluates the fixture below on a real PostgreSQL, delivers its notices to a real
SMTP server, and answers on web.listen with web.trusted_proxies = 127.0.0.1. This test is the
proxy: it sends X-Forwarded-Email from 127.0.0.1, and from 127.0.0.2 (another loopback address,
which is not trusted) to play someone who talks to driftwatch directly.

| team | manager_email | workers                                       | children (9m CP alerts) |
|------|---------------|-----------------------------------------------|-------------------------|
| T-A  | mgra@         | W-SUPA supa@ (team_manager), W-SWA swa@ (sup W-SUPA), W-IDLE idle@ | C-A1, C-A2 -> W-SWA |
| T-B  | mgrb@         | W-SUPB supb@, W-SWB swb@ (sup W-SUPB)         | C-B1, C-B2 -> W-SWB     |
| T-C  |               | W-CH chair@ (cp_chair): chairs C-B2's plan    |                         |
| -    |               |                                               | C-N1: no allocation: its notice goes to the fallback duty@ |
The 9m stage tells the supervisor only, so supa@ and supb@ are recipients too (and keep seeing
what they were sent); swa@, mgra@ and
chair@ see what they see through the case data alone.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR.
"""
import hashlib
import http.client
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402
from tap import Tap  # noqa: E402

S = "dwpeople"

FIXTURE = """
SET search_path = casework;
INSERT INTO teams VALUES ('T-A', 'Team A', 'mgra@la.example', NULL),
                         ('T-B', 'Team B', 'mgrb@la.example', NULL),
                         ('T-C', 'Chairs', NULL, NULL);
INSERT INTO workers VALUES
  ('W-SUPA', 'Sup A',    'supa@la.example',  'T-A', NULL,     'team_manager'),
  ('W-SWA',  'Worker A', 'swa@la.example',   'T-A', 'W-SUPA', 'social_worker'),
  ('W-IDLE', 'Idle',     'idle@la.example',  'T-A', 'W-SUPA', 'social_worker'),
  ('W-SUPB', 'Sup B',    'supb@la.example',  'T-B', NULL,     'team_manager'),
  ('W-SWB',  'Worker B', 'swb@la.example',   'T-B', 'W-SUPB', 'social_worker'),
  ('W-CH',   'Chair',    'chair@la.example', 'T-C', NULL,     'cp_chair');
INSERT INTO children
  SELECT c, 'F-' || c, current_date - interval '7 years', NULL, false
    FROM unnest(ARRAY['C-A1', 'C-A2', 'C-B1', 'C-B2', 'C-N1']) c;
INSERT INTO allocations VALUES
  ('AL-A1', 'C-A1', 'W-SWA', current_date - interval '2 years', NULL),
  ('AL-A2', 'C-A2', 'W-SWA', current_date - interval '2 years', NULL),
  ('AL-B1', 'C-B1', 'W-SWB', current_date - interval '2 years', NULL),
  ('AL-B2', 'C-B2', 'W-SWB', current_date - interval '2 years', NULL);
INSERT INTO cp_plans
  SELECT 'CPP-' || c, c, current_date - interval '10 months', NULL, 'NEG', NULL,
         CASE WHEN c = 'C-B2' THEN 'W-CH' END
    FROM unnest(ARRAY['C-A1', 'C-A2', 'C-B1', 'C-B2', 'C-N1']) c;
"""


def request(port, path, method="GET", body=None, headers=None, source="127.0.0.1"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20,
                                   source_address=(source, 0))
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        text = r.read().decode()
    finally:
        c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def as_person(email):
    return {"X-Forwarded-Email": email}


def children_of(out):
    return sorted(a["child_id"] for a in out.get("alerts", [])) if isinstance(out, dict) else out


def run(t, procs, tmp):
    db = lib.Db("dwpeople")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"))
    db._psql([], stdin=FIXTURE)
    token = "tok-people-" + os.urandom(12).hex()
    tf = os.path.join(tmp, "api.tokens")
    with open(tf, "w") as f:
        f.write("ci %s\n" % hashlib.sha256(token.encode()).hexdigest())
    os.chmod(tf, 0o600)
    ca = lib.make_ca(tmp)
    smtp = lib.SmtpServer(procs, tmp, "mail", ca)
    port = lib.free_port()
    cfg = lib.write_config(tmp, "people", {
        "database": {"conninfo": db.conninfo("dw-people"), "state_schema": S},
        "timezone": "Europe/London", "addresses": lib.addresses(),
        "email": lib.email_conf(smtp.port, ca, lib.SmtpServer.password_file(tmp),
                                digest_time=None),
        "http": {"listen": None},
        "evaluation": {"interval_seconds": 10},
        "web": {"listen": "127.0.0.1:%d" % port, "api_tokens_file": tf,
                "trusted_proxies": ["127.0.0.1"], "viewers": ["QA@la.example"]}})
    log = open(os.path.join(tmp, "daemon.log"), "w")
    p = subprocess.Popen([lib.DAEMON, "-c", cfg], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, env=lib.daemon_env())
    procs.add(p)

    def firing():
        try:
            return int(db.value("SELECT count(*) FROM %s.alerts WHERE status = 'firing'" % S))
        except RuntimeError:  # no schema until the daemon migrates
            return 0
    def notices():
        try:
            return int(db.value("SELECT count(*) FROM %s.outbox WHERE channel = 'email'" % S))
        except RuntimeError:
            return 0
    ok = lib.wait_for(lambda: firing() == 5 and notices() >= 5, 60, step=0.5)
    if not t.check(ok, "the daemon records the five alerts and their email notices",
                   firing(), notices()):
        return
    fps = {r["child_id"]: r["fingerprint"] for r in db.rows(
        "SELECT child_id, fingerprint FROM %s.alerts" % S)}
    bearer = {"Authorization": "Bearer " + token}

    # ---- team_id and the team filter (a bearer token sees everything) ----
    st, out = request(port, "/api/v1/alerts", headers=bearer)
    teams = {a["child_id"]: a.get("team_id", "absent") for a in out.get("alerts", [])} \
        if st == 200 else out
    t.check(teams == {"C-A1": "T-A", "C-A2": "T-A", "C-B1": "T-B", "C-B2": "T-B",
                      "C-N1": None},
            "each alert carries its team_id: the allocated worker's team, null without an "
            "allocation", st, teams)
    st, out = request(port, "/api/v1/alerts?team=T-A", headers=bearer)
    t.check(st == 200 and children_of(out) == ["C-A1", "C-A2"],
            "?team=T-A lists team A's alerts only", st, out)
    st, out = request(port, "/api/v1/alerts?team=T-B&status=open", headers=bearer)
    t.check(st == 200 and children_of(out) == ["C-B1", "C-B2"],
            "?team=T-B&status=open lists team B's", st, out)
    st, out = request(port, "/api/v1/alerts?team=T-NONE", headers=bearer)
    t.check(st == 200 and children_of(out) == [], "an unknown team lists nothing", st, out)
    st, out = request(port, "/api/v1/alerts/" + fps["C-B1"], headers=bearer)
    t.check(st == 200 and out.get("team_id") == "T-B" and "history" in out,
            "one alert carries its team_id", st, out)

    # ---- who is believed ----
    st, out = request(port, "/api/v1/alerts", headers=as_person("supa@la.example"),
                      source="127.0.0.2")
    t.check(st == 401 and "error" in out,
            "the header from a peer not in trusted_proxies gets 401", st, out)
    st, out = request(port, "/api/v1/alerts/" + fps["C-A1"] + "/acknowledge", "POST", b"{}",
                      {"X-Forwarded-Email": "supa@la.example",
                       "Content-Type": "application/json"}, source="127.0.0.2")
    t.check(st == 401, "an untrusted peer cannot answer as someone by sending the header", st,
            out)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.putrequest("GET", "/api/v1/alerts")
    c.putheader("X-Forwarded-Email", "swa@la.example")
    c.putheader("X-Forwarded-Email", "hos@la.example")
    c.endheaders()
    r = c.getresponse()
    twice = r.read().decode()
    c.close()
    t.check(r.status == 401 and "more than once" in twice,
            "the sign-on header sent twice (a proxy that adds its own rather than replacing "
            "the browser's) gets 401, not the first one believed", r.status, twice)
    st, out = request(port, "/api/v1/alerts")
    t.check(st == 401 and "error" in out, "the proxy's request without the header gets 401",
            st, out)
    st, out = request(port, "/api/v1/alerts", headers=as_person("not an address"))
    t.check(st == 401, "a header that is not one email address gets 401", st, out)
    st, out = request(port, "/api/v1/alerts",
                      headers=dict(as_person("hos@la.example"), Authorization="Bearer wrong"))
    t.check(st == 401, "a wrong bearer token is not retried as the person in the header", st,
            out)

    # ---- who sees what ----
    cases = [("supa@la.example", ["C-A1", "C-A2"], "team A's supervisor (supervisor_id)"),
             ("SupA@LA.Example", ["C-A1", "C-A2"], "the same person in another case"),
             ("mgra@la.example", ["C-A1", "C-A2"],
              "team A's manager_email, who is no worker"),
             ("swa@la.example", ["C-A1", "C-A2"], "the worker allocated to C-A1 and C-A2"),
             ("supb@la.example", ["C-B1", "C-B2"], "team B's supervisor"),
             ("chair@la.example", ["C-B2"], "the chair of C-B2's plan"),
             ("duty@la.example", ["C-N1"], "the fallback, sent C-N1's notice"),
             ("idle@la.example", [], "a worker with no children allocated"),
             ("hos@la.example", ["C-A1", "C-A2", "C-B1", "C-B2", "C-N1"],
              "head_of_service"),
             ("qa@la.example", ["C-A1", "C-A2", "C-B1", "C-B2", "C-N1"],
              "a web.viewers address (configured as QA@)")]
    for who, want, why in cases:
        st, out = request(port, "/api/v1/alerts", headers=as_person(who))
        t.check(st == 200 and children_of(out) == want, "%s sees %s: %s" % (who, want, why),
                st, out)
    st, out = request(port, "/api/v1/alerts?team=T-B", headers=as_person("supa@la.example"))
    t.check(st == 200 and children_of(out) == [],
            "team A's supervisor asking for team B's alerts gets none", st, out)
    st, out = request(port, "/api/v1/alerts", headers=as_person("stranger@la.example"))
    t.check(st == 403 and "error" in out, "someone not known gets 403 on the list", st, out)
    st, out = request(port, "/api/v1/alerts/" + fps["C-A1"],
                      headers=as_person("stranger@la.example"))
    t.check(st == 403, "someone not known gets 403 on an alert", st, out)

    # ---- the cross-team case ----
    st, out = request(port, "/api/v1/alerts/" + fps["C-A1"],
                      headers=as_person("supa@la.example"))
    t.check(st == 200 and out.get("child_id") == "C-A1" and out.get("team_id") == "T-A",
            "team A's supervisor opens team A's alert", st, out)
    st, out = request(port, "/api/v1/alerts/" + fps["C-B1"],
                      headers=as_person("supa@la.example"))
    t.check(st == 404 and "error" in out and "C-B1" not in json.dumps(out),
            "team A's supervisor gets 404 on team B's alert, with nothing of it", st, out)
    fp_none = hashlib.sha256(b"was_not_brought\x1fC-NOSUCH\x1f").hexdigest()
    st2, out2 = request(port, "/api/v1/alerts/" + fp_none, headers=as_person("supa@la.example"))
    t.check((st2, out2) == (st, out),
            "... the same answer as for an alert that does not exist: a fingerprint worked out "
            "from a child's id says nothing of the child", (st, out), (st2, out2))
    jh = {"X-Forwarded-Email": "supa@la.example", "Content-Type": "application/json"}
    st, out = request(port, "/api/v1/alerts/%s/acknowledge" % fps["C-B1"], "POST",
                      json.dumps({"note": "not mine"}).encode(), jh)
    acks = db.value("SELECT count(*) FROM %s.alert_events e JOIN %s.alerts a USING (alert_id) "
                    "WHERE a.child_id = 'C-B1' AND e.kind = 'acknowledged'" % (S, S))
    t.check(st == 404 and acks == "0",
            "team A's supervisor cannot acknowledge team B's alert (404, nothing recorded)",
            st, out, acks)
    st, out = request(port, "/api/v1/alerts/%s/acknowledge" % fps["C-A1"], "POST",
                      json.dumps({"note": "in supervision"}).encode(),
                      dict(jh, **{"X-Forwarded-Email": "SupA@la.example"}))
    ev = db.rows("SELECT e.actor, e.via, e.note FROM %s.alert_events e JOIN %s.alerts a "
                 "USING (alert_id) WHERE a.child_id = 'C-A1' AND e.kind = 'acknowledged'"
                 % (S, S))
    t.check(st == 200 and out.get("changed") is True and
            out["alert"]["response"]["by"] == "supa@la.example" and
            ev == [{"actor": "supa@la.example", "via": "api", "note": "in supervision"}],
            "team A's supervisor acknowledges team A's alert, recorded as their email through "
            "api", st, out, ev)
    st, out = request(port, "/api/v1/alerts/%s/snooze" % fps["C-N1"], "POST",
                      json.dumps({"until": "2099-01-01", "reason": "other"}).encode(),
                      dict(jh, **{"X-Forwarded-Email": "duty@la.example"}))
    t.check(st == 400 and out.get("field") in ("until", "note"),
            "the recipient of C-N1's notice may answer it (gets past 403 to the checks)", st,
            out)
    st, out = request(port, "/api/v1/alerts/%s/acknowledge" % fps["C-A1"], "POST", b"{}",
                      dict(jh, **{"X-Forwarded-Email": "duty@la.example"}))
    t.check(st == 404, "but not C-A1's, which it was not sent (404)", st, out)

    # ---- a reallocation moves the alert to the other team at the next evaluation ----
    db.run("UPDATE casework.allocations SET end_date = current_date - 1 WHERE allocation_id = "
           "'AL-A2'; INSERT INTO casework.allocations VALUES ('AL-A2b', 'C-A2', 'W-SWB', "
           "current_date - 1, NULL)")
    moved = lib.wait_for(lambda: db.value("SELECT team_id FROM %s.alerts WHERE child_id = "
                                          "'C-A2' AND rule = 'cp_neglect_duration'" % S)
                         == "T-B", 40, step=0.5)
    cp = "/api/v1/alerts?rule=cp_neglect_duration"
    st, b_out = request(port, cp + "&team=T-B", headers=bearer)
    t.check(moved and "C-A2" in children_of(b_out),
            "after C-A2 is reallocated to team B's worker its alert's team_id is T-B", moved,
            b_out)
    st, out = request(port, cp, headers=as_person("swa@la.example"))
    t.check(st == 200 and children_of(out) == ["C-A1"],
            "the former worker no longer sees C-A2's alert (the case data says whose it is "
            "now)", st, out)
    st, out = request(port, cp, headers=as_person("swb@la.example"))
    t.check(st == 200 and children_of(out) == ["C-A2", "C-B1", "C-B2"],
            "the new worker sees it", st, out)
    st, out = request(port, cp, headers=as_person("supa@la.example"))
    t.check(st == 200 and children_of(out) == ["C-A1"],
            "team A's supervisor no longer sees it, though they were sent its notice: its "
            "notices go to team B now (RESPONSES.md: anyone else sees nothing)", st, out)
    st, out = request(port, "/child/C-A2", headers=as_person("supa@la.example"))
    t.check(st == 403, "... nor C-A2's page, where its chronology goes on (%s)" % st, out)

    # ---- the case data unreadable: what the notices tell still holds ----
    db.run("ALTER TABLE casework.workers RENAME TO workers_away")
    st, out = request(port, cp, headers=as_person("supa@la.example"))
    t.check(st == 200 and children_of(out) == ["C-A1"],
            "with workers unreadable, team A's supervisor still sees the alert whose notices "
            "go to them", st, out)
    st, out = request(port, "/api/v1/alerts", headers=as_person("chair@la.example"))
    t.check(st == 403, "and the chair, known only from the case data, gets 403 meanwhile", st,
            out)
    db.run("ALTER TABLE casework.workers_away RENAME TO workers")
    st, out = request(port, "/api/v1/alerts", headers=as_person("chair@la.example"))
    t.check(st == 200 and children_of(out) == ["C-B2"],
            "once it is back, the chair sees theirs again", st, out)

    p.terminate()
    rc = p.wait(timeout=20)
    log.close()
    text = open(os.path.join(tmp, "daemon.log")).read()
    t.check(rc == 0 and "Sanitizer" not in text and "runtime error" not in text,
            "the daemon stops cleanly with no sanitizer report", text[-2000:])
    t.check("the case data could not be read to find which alerts a person may see" in text,
            "the log says why people saw only their notices meanwhile")


def main():
    t = Tap()
    return lib.run_test(t, "web_people", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
