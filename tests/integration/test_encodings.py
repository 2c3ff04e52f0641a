#!/usr/bin/python3
"""Characters UTF-8 lacks: a WIN1252 case database, where 0x81, 0x8D, 0x8F, 0x90 and 0x9D are
valid characters that have no UTF-8 equivalent, so that PostgreSQL refuses to send a value
holding one to a UTF-8 client (issue 9, "Any bytes"; the brief: "encodings").

Two copies of one generated population go into a WIN1252 database: `clean`, where chosen values
(test_bytes.mutations: ids, codes, names, emails, in every relation) get the suffix "é?", and
`dirty`, where the same values get "é" and 0x81 instead. Before, one such byte failed every rule
that read its row, for every child. Now each is sent as '?' and "é" as "é": the two copies'
dry runs print the same alerts, byte for byte after sorting (fingerprints and links included),
and the same counts; --once records them into a state schema of the same database; the daemon's
page of a child whose referrals, plans and family hold 0x81 shows them with '?', every part.

Environment as tests/integration/test_rules.py (DRIFTWATCHD, DWGEN, PG*, DW_TOP).
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.error
import urllib.request

TOP = os.environ.get("DW_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dwtest  # noqa: E402  (free_port, wait_for)
import tap  # noqa: E402
import test_bytes as bytes_case  # noqa: E402  (its mutations: the values changed)

DB = "dw_win1252"
API_TOKEN = "enc-token-for-test_encodings"
T = bytes_case.T


def psql(args, stdin=None, db=DB, client="UTF8"):
    e = bytes_case.env(db)
    e["PGCLIENTENCODING"] = client
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + args, input=stdin,
                          capture_output=True, env=e, timeout=300)


def setup():
    # E'\xe9' is WIN1252's "é" (UTF-8 has it), E'\x81' a character UTF-8 lacks
    bytes_case.load_copies(DB, "WIN1252", (("clean", "E'\\\\xe9?'"),
                                           ("dirty", "E'\\\\xe9\\\\x81'")))
    r = psql(["-Atc", "SELECT count(*) FROM dirty.children WHERE child_id LIKE E'%\\xe9\\x81'"])
    tap.ok(r.returncode == 0 and int(r.stdout or b"0") > 100,
           "the dirty copy holds child ids ending in WIN1252's 0xE9 0x81",
           r.stderr.decode(errors="replace"), r.stdout)
    r = psql(["-Atc", "SELECT child_id FROM dirty.children WHERE child_id LIKE E'%\\x81'"])
    tap.ok(r.returncode != 0 and b"has no equivalent" in r.stderr,
           "PostgreSQL refuses to send such an id to a UTF-8 client",
           r.stderr.decode(errors="replace")[-300:])


class Daemon:
    """driftwatchd on the dirty copy with its NOTIFY triggers, web.listen for a viewer who
    sees everything, and its log."""

    def __init__(self, cfg_path, state, tmp):
        self.web = dwtest.free_port()
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["database"]["state_schema"] = state
        cfg["http"] = {"listen": "127.0.0.1:%d" % dwtest.free_port((self.web,))}
        tokens = os.path.join(tmp, "api-tokens")
        with open(tokens, "w") as f:
            f.write("enc %s\n" % hashlib.sha256(API_TOKEN.encode()).hexdigest())
        os.chmod(tokens, 0o600)
        cfg["web"] = {"listen": "127.0.0.1:%d" % self.web, "trusted_proxies": ["127.0.0.1"],
                      "viewers": ["hos@la.example"], "api_tokens_file": tokens}
        path = os.path.join(tmp, "web.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.triggers = subprocess.run([bytes_case.DAEMON, "-c", path, "--install-triggers"],
                                       capture_output=True, timeout=60)
        self.log_path = os.path.join(tmp, "daemon.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen([bytes_case.DAEMON, "-c", path], stdout=self.log_file,
                                     stderr=self.log_file, stdin=subprocess.DEVNULL)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def page(self, child_id):
        """/child/{child_id} once the daemon answers it, or None."""
        url = "http://127.0.0.1:%d/child/%s" % (self.web, urllib.parse.quote(child_id, safe=""))
        got = []

        def fetch():
            req = urllib.request.Request(url, headers={"X-Forwarded-Email": "hos@la.example"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    got.append(r.read().decode())
                    return True
            except OSError:
                return False
        dwtest.wait_for(fetch, 60, step=0.5)
        return got[0] if got else None

    def api(self, path, body=None):
        """(status, JSON) of the JSON API as the token "enc"."""
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1/%s" % (self.web, path),
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + API_TOKEN,
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")
        except OSError as e:
            return None, str(e)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log_file.close()


def summary(err):
    """The dry run's counts: each rule's line and the bad rows, not the timing line."""
    return [l for l in err.splitlines()
            if l.startswith("  ") and not l.startswith("  changes") and "s (rules" not in l]


def main():
    setup()
    tmp = tempfile.mkdtemp(prefix="dw-win1252-")
    results = bytes_case.dry_runs(tmp, DB, strict=True)
    for lines, _, _ in results.values():
        lines.sort()
    clean, dirty = results["clean"], results["dirty"]
    tap.ok(len(clean[1]) > 30, "the clean copy yields alerts (%d)" % len(clean[1]))
    shown = [a for a in dirty[1] if a["child_id"].endswith("\u00e9?")]
    tap.ok(len(shown) > 10, "alerts about children whose ids hold 0x81 are there, 'é' as 'é' "
           "and 0x81 as '?' (%d)" % len(shown))
    diff = sorted(set(clean[0]) ^ set(dirty[0]))[:4]
    tap.ok(clean[0] == dirty[0], "every alert of the dirty copy is the clean one's, byte for byte "
           "(%d and %d lines)" % (len(clean[0]), len(dirty[0])), *diff)
    tap.ok(summary(clean[2]) == summary(dirty[2]) and len(summary(clean[2])) > 7,
           "the same counts by rule and the same bad rows",
           "\n".join(summary(clean[2])), "\n".join(summary(dirty[2])))

    cfg = os.path.join(tmp, "dirty.json")
    rc, _, err = bytes_case.run(cfg)
    tap.ok(rc == 0 and "changes: %d new" % len(dirty[1]) in err,
           "--once records every alert into a state schema of the WIN1252 database", err[-3000:])
    r = psql(["-Atc", "SELECT count(*) FROM st_dirty.alerts WHERE status = 'firing' AND "
              "child_id LIKE E'%\\xe9?'"])
    tap.ok(r.returncode == 0 and int(r.stdout or b"0") == len(shown) > 0,
           "the state keeps those alerts with their ids as shown", r.stdout, r.stderr)

    # a child whose own id is clean, with 0x81 in what its page shows (re_referral's facts hold
    # its referrals, family and worker)
    plain = [a for a in dirty[1] if not a["child_id"].endswith("?")
             and "\u00e9?" in json.dumps(a["facts"], ensure_ascii=False)
             and a["family_id"] and a["family_id"].endswith("\u00e9?")]
    tap.ok(bool(plain), "an alert whose child's id is clean and whose facts and family hold "
           "0x81 (%d)" % len(plain))
    d = Daemon(cfg, "st_dirty", tmp)
    try:
        daemon_checks(d, plain)
    finally:
        d.stop()
    sys.exit(1 if tap.failures else 0)


def daemon_checks(d, plain):
    tap.ok(d.triggers.returncode == 0, "--install-triggers on the dirty copy",
           d.triggers.stderr.decode(errors="replace"))
    if plain:
        page = d.page(plain[0]["child_id"])
        tap.ok(page is not None and "could not be read" not in page and
               plain[0]["family_id"] in page and page.count("\u00e9?") > 2,
               "the daemon's page of %s shows every part, 0x81 as '?' (%s)"
               % (plain[0]["child_id"], "no page" if page is None
                  else "%d values with 'é?'" % page.count("\u00e9?")),
               (page or "")[-1500:])
    # a new child whose id holds 0x81: the server would end the listener's connection rather
    # than send its id, so the trigger asks for everyone instead
    r = psql(["-c", "INSERT INTO dirty.children (child_id, family_id) "
              "VALUES (E'C-ENC\\x81', 'F-ENC')"])
    tap.ok(r.returncode == 0, "a child with 0x81 in its id is added", r.stderr)
    said = dwtest.wait_for(lambda: "a child id UTF-8 cannot carry" in d.log(), 30, step=0.2)
    tap.ok(said, "the trigger asks for everyone to be evaluated, naming why",
           d.log()[-2000:])
    tap.ok("notification connection lost" not in d.log(),
           "the listener's connection was never lost", d.log()[-2000:])
    # the state schema shares the WIN1252 database (as it does by default): a note the
    # encoding cannot hold is the person's to correct; one it can is kept as written
    if plain:
        fp = plain[0]["fingerprint"]
        code, got = d.api("alerts/%s/acknowledge" % fp, {"note": "Spoke to \u0141ukasz"})
        tap.ok(code == 400 and isinstance(got, dict) and got.get("field") == "note"
               and "WIN1252" in got.get("error", ""),
               "a note holding a character WIN1252 lacks: 400 naming the note and why (%s)"
               % code, json.dumps(got)[:400])
        note = "Spoke to Mrs W\u00f3jcik \u2013 caf\u00e9"
        code, got = d.api("alerts/%s/acknowledge" % fp, {"note": note})
        tap.ok(code == 200, "a note of characters WIN1252 has is recorded (%s)" % code,
               json.dumps(got)[:400])
        code, got = d.api("alerts/%s" % fp)
        notes = [e.get("note") for e in (got or {}).get("history", [])
                 if e.get("kind") == "acknowledged"] if isinstance(got, dict) else []
        tap.ok(notes == [note], "and read back as written (%s)" % notes)
    # a name no WIN1252 row can hold: nothing has it, not "the database did not answer"
    code, got = d.api("alerts?child_id=" + urllib.parse.quote("\u0141"))
    tap.ok(code == 200 and got == {"alerts": []},
           "the API's list filtered by a child id WIN1252 cannot hold: nothing matches (%s)"
           % code, json.dumps(got)[:300])
    req = urllib.request.Request("http://127.0.0.1:%d/child/%%C5%%81" % d.web,
                                 headers={"X-Forwarded-Email": "hos@la.example"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            code, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        code, text = e.code, e.read().decode()
    tap.ok(code == 404 and "cannot hold a character" in text,
           "the child's page of such an id: 404 saying why (%s)" % code, text[-600:])


if __name__ == "__main__":
    main()
