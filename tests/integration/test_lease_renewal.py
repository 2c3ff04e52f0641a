#!/usr/bin/python3
"""test_lease_renewal: a claimed notice's lease is renewed while it is held, so it can be short.

A deliverer claims a due notice under a lease (delivery.lease_seconds): while the lease runs no
other deliverer takes it, and once it has run out, another does. Before, the lease was 300 s
and never renewed, so it had to outlast any transfer, and the notices held by an instance that
died (claimed ahead, or being sent) waited five minutes for another. Now the lease is renewed a
quarter of it apart while the notice is held, and it is 60 s by default.

Two daemons on one real PostgreSQL (tests/fixtures/daemon.sql, triggers), both delivering,
with delivery.lease_seconds 10 and webhook_receiver.py on loopback:
  1. a receiver that answers each request after 25 s (longer than the lease, within the 30 s
     timeout): while the first evaluation's notices are being sent, their leases are renewed
     past the claim's 10 s; each notice arrives once (one request per webhook-id, no deliverer
     claimed it again) and is delivered at its first attempt. Without the renewals each one
     was claimed again once its lease ran out and sent twice.
  2. an instance that dies holding a notice: the other daemon stopped (SIGSTOP), a change makes
     a notice that the first daemon claims and starts to send to a receiver that holds the
     request; the first daemon is killed (SIGKILL) and the other resumed. The other sends the
     notice, with the same webhook-id, within 30 s of the kill (the lease and a poll; before,
     300 s), and it is delivered at its second attempt.
  3. a notice whose claim another deliverer took while it was being sent (its attempts raised
     in the outbox, as another claim does): the next renewal finds it gone, the daemon says
     the notice may arrive twice, its own result is not recorded over the other's claim, and
     once that claim's lease runs out the notice goes again, with the same webhook-id, and is
     delivered;
  4. SIGTERM ends the surviving daemon with status 0 and no sanitizer report.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwlease is dropped and created here. Standard library only.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in a hostile environment)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

LEASE_S = 10
STALL_S = 25          # the slow receiver's answer: past the lease, within the 30 s timeout
FAILOVER_BOUND_S = 30  # the lease, a 2 s poll and room for a loaded machine; before: 300 s


def config(tmp, name, db, slow, held, http_port, secret):
    return lib.write_config(tmp, name, {
        "database": {"conninfo": db.conninfo("dw-" + name), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "webhooks": [{"url": slow, "secret": secret, "rules": ["cp_neglect_duration"]},
                     {"url": held, "secret": secret, "rules": ["was_not_brought"]}],
        "delivery": {"lease_seconds": LEASE_S},
        "http": {"listen": "127.0.0.1:%d" % http_port}})


def outbox(db, url):
    return db.rows("SELECT notice_id, idempotency_key, status, attempts, "
                   "extract(epoch FROM lease_until - now())::float AS lease_left "
                   "FROM driftwatch.outbox WHERE destination = '%s' ORDER BY notice_id" % url)


def ids_seen(receiver, path):
    seen = {}
    for r in receiver.requests(path):
        key = r["headers"].get("webhook-id")
        seen[key] = seen.get(key, 0) + 1
    return seen


def phase_renewal(t, db, rcv, slow_url, daemons):
    first = lib.wait_for(lambda: rcv.requests("/slow"), 60)
    if not t.check(first, "the first evaluation's notices reach the slow receiver",
                   "\n".join(daemons[0].lines()[-20:])):
        return
    t_first = first[0]["t"]
    # well past the claim's lease, before the receiver answers
    time.sleep(max(0.0, t_first + LEASE_S + 3 - time.time()))
    rows = outbox(db, slow_url)
    held = [r for r in rows if r["status"] == "delivering"]
    t.check(held and all(r["lease_left"] is not None and r["lease_left"] > 0 and
                         r["attempts"] == 1 for r in held),
            "%d s after the first request (a %d s lease), the notices being sent are still "
            "leased to their first claim: renewed, not expired and claimed again"
            % (LEASE_S + 3, LEASE_S), json.dumps(rows, indent=1))
    done = lib.wait_for(lambda: all(r["status"] == "delivered" for r in outbox(db, slow_url)),
                        STALL_S + 60, step=0.5)
    rows = outbox(db, slow_url)
    t.check(done and len(rows) >= 3, "every notice to the slow receiver is delivered (%d)"
            % len(rows), json.dumps(rows, indent=1))
    t.check(all(r["attempts"] == 1 for r in rows), "each one at its first attempt: no "
            "deliverer claimed it again while it was being sent", json.dumps(rows, indent=1))
    seen = ids_seen(rcv, "/slow")
    twice = {k: n for k, n in seen.items() if n > 1}
    t.check(len(seen) == len(rows) and not twice,
            "the slow receiver got each notice once: %d webhook-ids, %d sent more than once"
            % (len(seen), len(twice)), json.dumps(seen, indent=1))


def phase_failover(t, db, rcv, held_url, d1, d2):
    d2.signal(signal.SIGSTOP)
    try:
        t0 = hostile.commit_time(db, "INSERT INTO casework.appointments VALUES ('APT-LEASE-1', "
                                 "'C-INF-01', 'gp', now() - interval '1 hour', "
                                 "'was_not_brought')")
        req = hostile.wait_webhook(rcv, "C-INF-01", 60, after=t0, path="/held")
        if not t.check(req is not None, "the first daemon claims the change's notice and "
                       "starts to send it (the receiver holds the request)",
                       "\n".join(d1.lines()[-20:])):
            return
        d1.signal(signal.SIGKILL)
        t_kill = time.time()
        d1.wait_exit(10)
    finally:
        d2.signal(signal.SIGCONT)
    again = lib.wait_for(lambda: len(rcv.requests("/held")) >= 2, 120, step=0.1)
    reqs = rcv.requests("/held")
    took = reqs[1]["t"] - t_kill if again else None
    t.check(again and took <= FAILOVER_BOUND_S,
            "after the first daemon is killed, the other sends its notice within %d s "
            "(%s; the lease is %d s)" % (FAILOVER_BOUND_S,
                                         "%.1f s" % took if again else "not within 120 s",
                                         LEASE_S),
            "\n".join(d2.lines()[-20:]))
    if again:
        t.check(reqs[0]["headers"].get("webhook-id") == reqs[1]["headers"].get("webhook-id"),
                "with the same webhook-id (%s)" % reqs[1]["headers"].get("webhook-id"))
        t.note("summary: a killed instance's notice was sent again by the other %.1f s after "
               "the kill (lease %d s, poll 2 s)" % (took, LEASE_S))
    ok = lib.wait_for(lambda: [r["status"] for r in outbox(db, held_url)] == ["delivered"], 30)
    rows = outbox(db, held_url)
    t.check(ok and rows[0]["attempts"] == 2, "it is delivered, at its second attempt",
            json.dumps(rows, indent=1))


def phase_lost(t, db, rcv, slow_url, d2):
    t0 = time.time()
    db.run("INSERT INTO driftwatch.outbox (idempotency_key, channel, destination, type, "
           "payload) SELECT 'lease-lost-1', 'webhook', '%s', 'alert.firing', payload "
           "FROM driftwatch.alerts WHERE child_id = 'C-INIT-1' LIMIT 1" % slow_url)
    mark = d2.mark()

    def sent(n):
        """The first n requests to the slow receiver since the insert (one notice)."""
        return [r for r in rcv.requests("/slow") if r["t"] >= t0][:n]
    if not t.check(lib.wait_for(lambda: len(sent(1)) == 1, 30),
                   "a new notice is claimed and sent to the slow receiver",
                   "\n".join(d2.lines()[-20:])):
        return
    db.run("UPDATE driftwatch.outbox SET attempts = attempts + 1 "
           "WHERE idempotency_key = 'lease-lost-1'")
    said = d2.wait_log(r"1 notices being sent had their lease run out before it was renewed, "
                       r"and another deliverer has claimed them: they may arrive twice", 15,
                       since=mark)
    t.check(said is not None, "while it is being sent another claim takes it: the next "
            "renewal finds it gone and the daemon says it may arrive twice",
            "\n".join(d2.since(mark)[-20:]))
    again = lib.wait_for(lambda: len(sent(2)) == 2, STALL_S + LEASE_S + 30, step=0.2)
    ids = [r["headers"].get("webhook-id") for r in sent(2)]
    t.check(again and ids[0] == ids[1], "its own result is not recorded over the other claim: once that claim's "
            "lease runs out the notice goes again, with the same webhook-id (%s)" % ids,
            json.dumps(outbox(db, slow_url), indent=1))
    done = lib.wait_for(lambda: db.value("SELECT status || ' ' || attempts FROM "
                                         "driftwatch.outbox WHERE idempotency_key = "
                                         "'lease-lost-1'") == "delivered 3", STALL_S + 30,
                        step=0.5)
    t.check(done, "and is delivered, at the attempt after the other claim's",
            json.dumps(outbox(db, slow_url), indent=1))


def run(t, procs, tmp):
    db = lib.Db("dwlease")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    rcv = lib.Receiver(procs, tmp, "lease", routes=("/slow=stall:%d" % STALL_S,
                                                     "/held=stall:600,200"))
    slow_url, held_url = rcv.url("/slow"), rcv.url("/held")
    secret = lib.new_secret()
    ports = [lib.free_port()]
    ports.append(lib.free_port(taken=ports))
    cfgs = [config(tmp, "lease%d" % i, db, slow_url, held_url, ports[i], secret)
            for i in (0, 1)]
    r = subprocess.run([hostile.DAEMON, "-c", cfgs[0], "--install-triggers"],
                       capture_output=True, text=True, timeout=60, env=lib.daemon_env())
    t.check(r.returncode == 0, "--install-triggers on the case schema", r.stderr)
    d1 = hostile.Daemon(procs, tmp, cfgs[0], name="daemon1")
    if not t.check(hostile.wait_healthy(ports[0], 60), "the first daemon becomes healthy",
                   "\n".join(d1.lines()[-30:])):
        return
    d2 = hostile.Daemon(procs, tmp, cfgs[1], name="daemon2")
    if not t.check(d2.wait_log(r"another instance evaluates; this one delivers", 60),
                   "the second daemon delivers beside the first, which evaluates",
                   "\n".join(d2.lines()[-30:])):
        return
    phase_renewal(t, db, rcv, slow_url, (d1, d2))
    phase_failover(t, db, rcv, held_url, d1, d2)
    phase_lost(t, db, rcv, slow_url, d2)
    hostile.stop(d2, t, "the surviving daemon")
    rep = d1.sanitizer_report()
    t.check(rep is None, "the killed daemon left no sanitizer report", rep or "")
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "lease-renewal", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
