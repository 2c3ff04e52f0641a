#!/usr/bin/python3
"""test_once_crash: kill -9 `driftwatchd --once` at many points of a delivery, then count what the
receivers got (ALERTS.md "Lifecycle": at least once, never twice except with the same idempotency
key; issue 3 item 2).

On tests/fixtures/once_crash.sql, with two webhook receivers (one answers at once, one stalls a
second before answering 200, so transfers are in flight) and the SMTP server of the tests
(STARTTLS and AUTH required), the daemon is killed with SIGKILL:
  - after the outbox write, before any webhook is sent (the webhook claim is held back by a lock
    the test takes on driftwatch.disabled_endpoints, which only it reads; the email claims, on a
    connection of their own, go on meanwhile);
  - after every send, before any result is recorded (the result statement is held back by a lock
    on driftwatch.delivery_attempts, which only it writes); the receivers have everything;
  - in the middle of a send (the stalling receiver has the request and has not answered);
  - at random moments in ROUNDS runs, each of which first adds new alerts to the case data.
A killed client's statement may still be running in its backend; the test ends that backend
(pg_terminate_backend), as the server does when it notices the connection is gone.
Then --once runs until the outbox is empty, and the test checks: every notice delivered and
received at least once; every webhook request carries its notice's webhook-id and a notice never
arrives under two ids; every email notice arrives in digests of one Message-ID; each alert has
one firing event and one set of notices.

Two stand-ins for the passing of time, said in diagnostics: the lease of notices claimed by a
killed daemon (delivery.lease_seconds, 60 s) is expired by setting lease_until in the past, and
next_attempt_at is set to now() for pending notices.

Environment as test_once_lifecycle.py (DRIFTWATCHD, PGHOST PGPORT PGUSER, DW_TOP, TEST_TMPDIR),
plus CRASH_ROUNDS (default 20) and CRASH_SEED (default: random, printed). Uses database
dwonce_crash (dropped and created here) and loopback ports 20000-29999.
"""
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

D1 = "2026-11-21"
APP = "dwonce-crash"
STALL_S = 1


class Crash:
    def __init__(self, t, procs, tmp, ca, pwfile):
        self.t = t
        self.db = lib.Db("dwonce_crash")
        self.db.recreate()
        self.db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
                     os.path.join(lib.TOP, "tests", "fixtures", "once_crash.sql"))
        self.smtp = lib.SmtpServer(procs, tmp, "crash-mail", ca)
        self.hooks = lib.Receiver(procs, tmp, "crash-hooks",
                                  routes=["/slow=stall:%d" % STALL_S, "/fast=200"])
        self.secret = lib.new_secret()
        self.cfg = lib.write_config(tmp, "crash", {
            "database": {"conninfo": self.db.conninfo(APP)},
            "link_template": "https://lcs.example.gov.uk/person/{child_id}",
            "addresses": lib.addresses(),
            "email": lib.email_conf(self.smtp.port, ca, pwfile),
            "webhooks": [{"url": self.hooks.url("/fast"), "secret": self.secret},
                         {"url": self.hooks.url("/slow"), "secret": self.secret}]})
        self.phases = {}
        self.kills = 0
        self.random_landed = 0

    # ---- the daemon ----

    def start(self, as_of=D1):
        return subprocess.Popen([lib.DAEMON, "-c", self.cfg, "--once", "--as-of", as_of],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=lib.daemon_env())

    def backends(self, where="true"):
        return int(self.db.value("SELECT count(*) FROM pg_stat_activity WHERE "
                                 "application_name = '%s' AND %s" % (APP, where)))

    def kill(self, p):
        """SIGKILL, then end its backend: True when it was still running."""
        running = p.poll() is None
        if running:
            os.kill(p.pid, signal.SIGKILL)
            self.kills += 1
        p.communicate(timeout=30)
        self.db.value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      "WHERE application_name = '%s'" % APP)
        lib.wait_for(lambda: self.backends() == 0, 15, 0.1)
        return running

    def finish(self, p, timeout=120):
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        return lib.Run(p.returncode, "", err)

    def expire_leases(self):
        n = self.db.value("WITH u AS (UPDATE driftwatch.outbox SET lease_until = now() - "
                          "interval '1 second' WHERE status = 'delivering' RETURNING 1) "
                          "SELECT count(*) FROM u")
        m = self.db.value("WITH u AS (UPDATE driftwatch.outbox SET next_attempt_at = now() "
                          "WHERE status = 'pending' AND next_attempt_at > now() RETURNING 1) "
                          "SELECT count(*) FROM u")
        return int(n), int(m)

    # ---- what the outbox and the receivers say ----

    def outbox_state(self):
        rows = self.db.rows("SELECT status, count(*) AS n FROM driftwatch.outbox GROUP BY 1")
        return {r["status"]: r["n"] for r in rows}

    def received(self):
        return len(self.hooks.requests()), self.smtp.count()

    def add_alerts(self, k):
        """Two new children on neglect CP plans for 10 months: two new alerts."""
        for x in ("a", "b"):
            c = "C-R-%02d-%s" % (k, x)
            w = "W-KSW%d" % random.randint(1, 4)
            self.db.run("INSERT INTO casework.children VALUES ('{c}', 'F-{c}', '2016-01-01', "
                        "NULL, false); INSERT INTO casework.allocations VALUES ('A-{c}', '{c}', "
                        "'{w}', '2024-01-01', NULL); INSERT INTO casework.cp_plans VALUES "
                        "('CPP-{c}', '{c}', '2026-01-15', NULL, 'NEG', NULL, NULL)"
                        .format(c=c, w=w))

    def phase_after_kill(self, evals_before):
        """Where a random kill landed, judged from the state it left."""
        evals = int(self.db.value("SELECT count(*) FROM driftwatch.evaluations"))
        st = self.outbox_state()
        if evals == evals_before:
            return "before the evaluation was recorded"
        if st.get("delivering"):
            return "during delivery (claimed, results not all recorded)"
        if st.get("pending"):
            return "after the outbox write, before the claim"
        return "after every result was recorded"

    # ---- the kill points ----

    def migrate(self):
        p = self.start("2020-01-01")  # a day without alerts: creates the state schema only
        r = self.finish(p)
        self.t.check(r.rc == 0 and not r.sanitizer(),
                     "crash: a first run on a day without alerts creates the state schema",
                     r.diag())

    def kill_before_send(self):
        lock = lib.hold(self.db, "LOCK TABLE driftwatch.disabled_endpoints "
                        "IN ACCESS EXCLUSIVE MODE")
        p = self.start()
        try:
            waiting = lib.wait_for(lambda: self.backends("wait_event_type = 'Lock'") > 0, 60,
                                   0.1)
        finally:
            self.kill(p)
            lock.close()
        st = self.outbox_state()
        hooks = {r["status"]: r["n"] for r in self.db.rows(
            "SELECT status, count(*) AS n FROM driftwatch.outbox WHERE channel = 'webhook' "
            "GROUP BY 1")}
        got = self.received()
        self.t.check(waiting and hooks.get("pending", 0) > 0 and set(hooks) == {"pending"}
                     and got[0] == 0,
                     "crash: killed after the outbox write, before the webhook claim: %d webhook "
                     "notices pending, none sent" % hooks.get("pending", 0),
                     "claim blocked %s; webhook notices %s; outbox %s; received (webhooks, "
                     "emails) %s" % (waiting, hooks, st, got))
        self.t.note("killed before the webhook claim: the outbox %s, %d emails sent meanwhile "
                    "on the email claims' connection" % (st, got[1]))
        self.phases["after the outbox write, before the webhook claim (lock)"] = 1

    def kill_after_send(self):
        # The run killed before the webhook claim may have claimed email digests first (the
        # email claims have a connection of their own): they stay leased for 60 s, and this
        # run could not send every digest. End those leases, as the passing of time would, and
        # count what arrives from here on.
        self.expire_leases()
        base = self.received()
        n_hooks = int(self.db.value("SELECT count(*) FROM driftwatch.outbox WHERE "
                                    "channel = 'webhook'"))
        n_mail = int(self.db.value("SELECT count(DISTINCT (destination, digest_key)) FROM "
                                   "driftwatch.outbox WHERE channel = 'email'"))
        lock = lib.hold(self.db, "LOCK TABLE driftwatch.delivery_attempts "
                        "IN ACCESS EXCLUSIVE MODE")
        p = self.start()
        try:
            sent = lib.wait_for(lambda: self.received() == (base[0] + n_hooks,
                                                            base[1] + n_mail), 60, 0.1)
            # every request is in; the stalled ones are answered STALL_S seconds later
            lib.wait_for(lambda: False, STALL_S + 1)
            blocked = self.backends("wait_event_type = 'Lock'") > 0
        finally:
            self.kill(p)
            lock.close()
        st = self.outbox_state()
        attempts = self.db.value("SELECT count(*) FROM driftwatch.delivery_attempts")
        self.t.check(sent and blocked and set(st) == {"delivering"} and attempts == "0",
                     "crash: killed after every send (%d webhooks, %d emails), before any "
                     "result was recorded" % (n_hooks, n_mail),
                     "all received %s; result blocked %s; outbox %s; attempts %s"
                     % (sent, blocked, st, attempts))
        self.phases["after the sends, before the results (lock)"] = 1

    def kill_mid_send(self):
        before = len(self.hooks.requests("/slow"))
        p = self.start()
        try:
            midway = lib.wait_for(lambda: len(self.hooks.requests("/slow")) > before, 60, 0.05)
        finally:
            running = self.kill(p)
        st = self.outbox_state()
        self.t.check(midway and running and st.get("delivering", 0) > 0,
                     "crash: killed while the stalling receiver held a request",
                     "request seen %s; still running %s; outbox %s" % (midway, running, st))
        self.phases["in the middle of a send (stalled receiver)"] = 1

    def random_kills(self, rounds):
        """Each round: two new alerts, then a run killed after a random delay, drawn over
        the length of a whole run (learnt from the runs that finish before their kill)."""
        span = 2.0 + STALL_S
        for k in range(1, rounds + 1):
            self.add_alerts(k)
            self.expire_leases()
            evals = int(self.db.value("SELECT count(*) FROM driftwatch.evaluations"))
            delay = random.uniform(0.0, span)
            p = self.start()
            t0 = time.monotonic()
            lib.wait_for(lambda: p.poll() is not None, delay, 0.01)
            took = time.monotonic() - t0
            if self.kill(p):
                phase = "random: " + self.phase_after_kill(evals)
                self.random_landed += 1
            else:
                phase = "random: none, the run finished first"
                span = took
            self.phases[phase] = self.phases.get(phase, 0) + 1

    def recover(self):
        for i in range(1, 11):
            leases, due = self.expire_leases()
            if leases or due:
                self.t.note("recovery run %d: expired %d leases of killed runs (standing in "
                            "for 60 s), made %d pending notices due now" % (i, leases, due))
            r = self.finish(self.start())
            if r.rc != 0 or r.sanitizer():
                self.t.check(False, "crash: recovery run %d exits 0" % i, r.diag())
                return False
            st = self.outbox_state()
            if set(st) <= {"delivered"}:
                self.t.check(True, "crash: the outbox is empty after %d recovery runs" % i)
                return True
        self.t.check(False, "crash: the outbox is empty after 10 recovery runs",
                     str(self.outbox_state()))
        return False

    # ---- the count ----

    def count(self):
        t, db = self.t, self.db
        notices = db.rows("SELECT o.notice_id, o.idempotency_key, o.channel, o.destination, "
                          "o.type, o.status, o.payload->>'fingerprint' AS fp, "
                          "o.payload->>'child_id' AS child, o.attempts FROM driftwatch.outbox o "
                          "ORDER BY o.notice_id")
        hooks = [n for n in notices if n["channel"] == "webhook"]
        mails = [n for n in notices if n["channel"] == "email"]
        t.check(notices and all(n["status"] == "delivered" for n in notices),
                "crash: all %d notices are marked delivered" % len(notices))

        # webhooks: by idempotency key
        reqs = self.hooks.requests()
        by_id = {}
        for r in reqs:
            by_id.setdefault(r["headers"].get("webhook-id"), []).append(r)
        known = {n["idempotency_key"]: n for n in hooks}
        lost = [n["idempotency_key"] for n in hooks if not any(
            self.hooks.url(r["path"]) == n["destination"] for r in by_id.get(
                n["idempotency_key"], []))]
        t.check(not lost, "crash: every webhook notice was received at least once "
                "(%d notices, %d requests)" % (len(hooks), len(reqs)),
                "never received: %s" % lost[:20])
        strangers = [i for i in by_id if i not in known]
        t.check(not strangers, "crash: every request carries the webhook-id of a notice",
                str(strangers[:10]))
        inconsistent = [i for i, rs in by_id.items() if i in known and any(
            self.hooks.url(r["path"]) != known[i]["destination"] or not r["json"]
            or r["json"]["type"] != known[i]["type"]
            or r["json"]["data"]["fingerprint"] != known[i]["fp"] for r in rs)]
        t.check(not inconsistent, "crash: each resend under a webhook-id is the same notice "
                "(destination, type, alert)", str(inconsistent[:10]))
        per_notice = {}
        for r in reqs:
            if r["json"]:
                key = (r["path"], r["json"]["type"], r["json"]["data"]["fingerprint"])
                per_notice.setdefault(key, set()).add(r["headers"].get("webhook-id"))
        two_ids = {k: v for k, v in per_notice.items() if len(v) > 1}
        t.check(not two_ids, "crash: no notice reached a receiver under two webhook-ids",
                str(list(two_ids.items())[:5]))
        dup_hooks = len(reqs) - len(by_id)
        ok, _, out = lib.verify_signatures(self.hooks, self.secret, "/fast",
                                           len(self.hooks.requests("/fast")))
        t.check(ok, "crash: npm standardwebhooks verifies every request to /fast, resends "
                "included", out[-1500:])

        # email: by recipient and notice, and by Message-ID
        msgs = self.smtp.messages()
        items_by_mid = {}
        mids_by_item = {}
        for m in msgs:
            items = frozenset((k, c) for k, c, _ in m["items"])
            items_by_mid.setdefault((m["to"], m["mid"]), set()).add(items)
            for it in items:
                mids_by_item.setdefault((m["to"],) + it, set()).add(m["mid"])
        lost = [(n["destination"], n["type"], n["child"]) for n in mails
                if (n["destination"], n["type"].split(".")[1], n["child"]) not in mids_by_item]
        t.check(not lost, "crash: every email notice was received at least once (%d notices, "
                "%d messages)" % (len(mails), len(msgs)), str(lost[:20]))
        want = {(n["destination"], n["type"].split(".")[1], n["child"]) for n in mails}
        extra = [k for k in mids_by_item if k not in want]
        t.check(not extra, "crash: no email carried a notice the outbox does not have",
                str(extra[:10]))
        two_mids = {k: v for k, v in mids_by_item.items() if len(v) > 1}
        t.check(not two_mids, "crash: no email notice arrived under two Message-IDs",
                str(list(two_mids.items())[:5]))
        changed = {k: v for k, v in items_by_mid.items() if len(v) > 1}
        t.check(not changed, "crash: a resent digest has the same notices as the first send",
                str(list(changed.items())[:3]))
        dup_mail = len(msgs) - len(items_by_mid)

        # the alert state: one firing event per alert, one set of notices
        n_alerts = int(db.value("SELECT count(*) FROM driftwatch.alerts"))
        twice = db.rows("SELECT alert_id, count(*) AS n FROM driftwatch.alert_events "
                        "WHERE kind = 'firing' GROUP BY alert_id HAVING count(*) <> 1")
        others = db.value("SELECT count(*) FROM driftwatch.alert_events WHERE kind <> 'firing'")
        no_event = db.value("SELECT count(*) FROM driftwatch.alerts a WHERE NOT EXISTS ("
                            "SELECT 1 FROM driftwatch.alert_events e WHERE e.alert_id = "
                            "a.alert_id)")
        t.check(not twice and others == "0" and no_event == "0",
                "crash: each of the %d alerts has exactly one firing event, and no other"
                % n_alerts, "twice %s, other events %s, without %s" % (twice, others, no_event))
        short = db.rows("SELECT a.child_id, jsonb_array_length(a.destinations) AS want, "
                        "(SELECT count(*) FROM driftwatch.outbox o WHERE o.alert_id = "
                        "a.alert_id) AS got FROM driftwatch.alerts a "
                        "WHERE jsonb_array_length(a.destinations) <> (SELECT count(*) FROM "
                        "driftwatch.outbox o WHERE o.alert_id = a.alert_id)")
        t.check(not short, "crash: each alert has one notice per destination, no more, no less",
                str(short[:10]))
        expected_alerts = 18 + 2 * self.rounds
        t.check(n_alerts == expected_alerts, "crash: %d alerts recorded (18 of the fixture, "
                "2 per round)" % expected_alerts, "got %d" % n_alerts)
        att = db.rows("SELECT max(attempts) AS most, sum(attempts) AS total FROM "
                      "driftwatch.outbox")
        t.note("figures: %d kills (3 placed, %d of %d random delays landed before the run "
               "ended); %d notices (%d webhook, %d email) arrived as %d requests and %d "
               "emails: %d requests and %d emails were resends, each under its notice's key; "
               "claims per notice: at most %s, %s in all"
               % (self.kills, self.random_landed, self.rounds, len(notices), len(hooks),
                  len(mails), len(reqs), len(msgs), dup_hooks, dup_mail, att[0]["most"],
                  att[0]["total"]))
        for phase, n in sorted(self.phases.items()):
            t.note("  kills landing %s: %d" % (phase, n))


def main():
    t = Tap()
    seed = int(os.environ.get("CRASH_SEED") or random.randrange(1 << 30))
    random.seed(seed)
    rounds = int(os.environ.get("CRASH_ROUNDS") or 20)
    t.note("CRASH_SEED=%d CRASH_ROUNDS=%d" % (seed, rounds))

    def body(procs, tmp):
        ca = lib.make_ca(tmp)
        pwfile = lib.SmtpServer.password_file(tmp)
        c = Crash(t, procs, tmp, ca, pwfile)
        c.rounds = rounds
        c.migrate()
        c.kill_before_send()
        c.kill_after_send()
        c.expire_leases()
        c.kill_mid_send()
        c.random_kills(rounds)
        if c.recover():
            c.count()
        c.db.drop()
    return lib.run_test(t, "once-crash", body)


if __name__ == "__main__":
    sys.exit(main())
