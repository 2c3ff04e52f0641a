#!/usr/bin/python3
"""The webhook claim (daemon/sql/outbox_claim_webhook.sql) on statistics taken before a burst.

The outbox is analyzed while every notice in it is delivered, then 5,000 webhook notices are
queued, as after a first evaluation or the benchmark's delivery run. Planned from those stale
statistics, the claim once joined the notices it wanted back to the outbox in a nested loop
over every due notice: 5.7 s a claim at 20,000 due, and the benchmark's 20,000 deliveries went
out at 800 a second instead of several thousand. The check reads EXPLAIN ANALYZE of the claim,
as the daemon sends it, and fails when any node handles more than ten times the due notices in
all its loops (rows times loops): one pass over what is due is the most a claim needs.
Also checks that the claim takes the oldest 1,000 and marks them delivering; that with a
receiver that has been down for a day (50,000 due notices, no room) beside others, a claim reads
none of that backlog and takes from each receiver its oldest claimable notices up to its room
(a lane's, or the default), none of a disabled receiver's, none under a lease still running and
those whose lease ran out (state_v11.sql: before it every claim ranked every due notice, 100 ms
a claim on the dense million's first day); and that the email
claim (outbox_claim_email.sql) resends a digest whose sender died as it was sent: notices queued
since for the same person and digest key wait for a digest of their own, or the resend would
carry them under a new Message-ID while the receiver already has the others under the old one.

Environment: PGHOST PGPORT PGUSER (defaults 127.0.0.1 15432 dwtest), DW_TOP (the source
tree). Uses its own database dwclaim (dropped and created here). Standard library only.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)
from tap import ok  # noqa: E402

TOP = os.environ.get("DW_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PGHOST = os.environ.get("PGHOST") or "127.0.0.1"
PGPORT = os.environ.get("PGPORT") or "15432"
PGUSER = os.environ.get("PGUSER") or "dwtest"
DB = "dwclaim"
STATE = "dwc_state"
DUE = 5000
WANT = 1000


def psql(args, stdin=None, db=DB, timeout=300):
    env = dict(os.environ, PGHOST=PGHOST, PGPORT=PGPORT, PGUSER=PGUSER, PGDATABASE=db)
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + args, input=stdin,
                          capture_output=True, text=True, env=env, timeout=timeout)


def state_sql(name):
    with open(os.path.join(TOP, "daemon", "sql", name)) as f:
        return f.read().replace("@state@", STATE)


def setup():
    r = psql(["-c", "DROP DATABASE IF EXISTS %s" % DB, "-c", "CREATE DATABASE %s" % DB],
             db="postgres")
    if not ok(r.returncode == 0, "create database %s" % DB, r.stderr):
        return False
    # every migration there is: the claims read columns of the latest (first_due_at, v7)
    versions = range(1, 1 + len([f for f in os.listdir(os.path.join(TOP, "daemon", "sql"))
                                 if f.startswith("state_v") and f.endswith(".sql")]))
    schema = "".join(state_sql("state_v%d.sql" % v) for v in versions)
    r = psql([], stdin="CREATE SCHEMA %s;\n%s" % (STATE, schema))
    if not ok(r.returncode == 0, "the state schema, v1 to v%d" % versions[-1], r.stderr):
        return False
    # what a day's work leaves: delivered notices, analyzed; then a burst the statistics miss
    r = psql([], stdin="""
INSERT INTO {s}.outbox (idempotency_key, channel, destination, type, payload, status,
                        delivered_at)
SELECT 'old-' || g, 'webhook', 'https://hooks.example/a', 'alert.firing',
       jsonb_build_object('child_id', 'C-' || g), 'delivered', now()
  FROM generate_series(1, 20000) g;
ANALYZE {s}.outbox;
INSERT INTO {s}.outbox (idempotency_key, channel, destination, type, payload)
SELECT 'new-' || g, 'webhook', 'https://hooks.example/a', 'alert.firing',
       jsonb_build_object('child_id', 'C-' || g)
  FROM generate_series(1, {due}) g;
""".format(s=STATE, due=DUE))
    return ok(r.returncode == 0, "20,000 delivered notices analyzed, then %d queued" % DUE,
              r.stderr)


def heavy_nodes(node, limit, out):
    """Nodes whose rows over all loops exceed limit."""
    total = node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
    if total > limit:
        out.append("%s%s: %d rows x %d loops" % (
            node.get("Node Type"), " on " + node["Relation Name"] if "Relation Name" in node
            else "", node.get("Actual Rows", 0), node.get("Actual Loops", 1)))
    for child in node.get("Plans", []):
        heavy_nodes(child, limit, out)
    return out


def explain_claim(script, what):
    """Runs script (the claim under EXPLAIN (ANALYZE, FORMAT JSON), then one query): (plan,
    the query's line), or None with the failure said."""
    r = psql(["-At"], stdin=script)
    if not ok(r.returncode == 0, "EXPLAIN ANALYZE of the claim" + what, r.stderr):
        return None
    lines = r.stdout.strip().splitlines()
    text = "\n".join(lines[:-1])
    try:
        return json.loads(text[text.index("["):])[0]["Plan"], lines[-1]
    except (ValueError, KeyError, IndexError) as e:
        ok(False, "the plan reads as JSON", "%s: %s" % (e, text[:400]))
        return None


def email_resend():
    """A digest of two notices was claimed by a daemon that died (its lease is over); a third
    notice for the same person and key was queued since. The next claim takes the two, the one
    after the third."""
    claim = state_sql("outbox_claim_email.sql").rstrip().rstrip(";")
    r = psql([], stdin="""
INSERT INTO {s}.outbox (idempotency_key, channel, destination, type, payload, digest_key,
                        status, attempts, lease_until)
VALUES ('mail-a', 'email', 'tm@la.example', 'alert.firing', '{{}}', 'k1', 'delivering', 1,
        now() - interval '1 second'),
       ('mail-b', 'email', 'tm@la.example', 'alert.firing', '{{}}', 'k1', 'delivering', 1,
        now() - interval '1 second'),
       ('mail-c', 'email', 'tm@la.example', 'alert.firing', '{{}}', 'k1', 'pending', 0, NULL);
""".format(s=STATE))
    if not ok(r.returncode == 0, "an email digest under an expired lease, and one notice "
              "queued behind it", r.stderr):
        return
    script = """
PREPARE claim(int, int, timestamptz, boolean, text, bigint[]) AS WITH c AS ({claim}) SELECT coalesce(string_agg(
    idempotency_key, ' ' ORDER BY idempotency_key), '-') FROM c;
EXECUTE claim(10, 300, NULL, false, 'Europe/London', '{{}}');
EXECUTE claim(10, 300, NULL, false, 'Europe/London', '{{}}');
EXECUTE claim(10, 300, NULL, false, 'Europe/London', '{{}}');
""".format(claim=claim)
    r = psql(["-At"], stdin=script)
    got = r.stdout.split()
    ok(r.returncode == 0 and r.stdout.strip().splitlines() == ["mail-a mail-b", "mail-c", "-"],
       "the email claim resends the digest as it was (mail-a mail-b), then the notice queued "
       "behind it alone (mail-c), then nothing", "%r %s" % (got, r.stderr))


BACKLOG = 50000
ROOMS = """
INSERT INTO {s}.outbox (idempotency_key, channel, destination, type, payload, next_attempt_at,
                        status, lease_until)
SELECT 'down-' || g, 'webhook', 'https://hooks.example/down', 'alert.firing', '{{}}'::jsonb,
       now() - interval '1 day', 'pending', NULL::timestamptz FROM generate_series(1, {backlog}) g
UNION ALL
SELECT 'b-' || g, 'webhook', 'https://hooks.example/b', 'alert.firing', '{{}}',
       now() - make_interval(mins => 60 - g), 'pending', NULL FROM generate_series(1, 10) g
UNION ALL
SELECT 'b-later-' || g, 'webhook', 'https://hooks.example/b', 'alert.firing', '{{}}',
       now() + interval '1 hour', 'pending', NULL FROM generate_series(1, 2) g
UNION ALL
SELECT 'b-leased-' || g, 'webhook', 'https://hooks.example/b', 'alert.firing', '{{}}',
       now() - interval '2 hours', 'delivering', now() + interval '5 minutes'
  FROM generate_series(1, 3) g
UNION ALL
SELECT 'b-expired-' || g, 'webhook', 'https://hooks.example/b', 'alert.firing', '{{}}',
       now() - interval '3 hours', 'delivering', now() - interval '1 second'
  FROM generate_series(1, 2) g
UNION ALL
SELECT 'c-' || g, 'webhook', 'https://hooks.example/c', 'alert.firing', '{{}}',
       now() - interval '1 day', 'pending', NULL FROM generate_series(1, 5) g;
INSERT INTO {s}.disabled_endpoints (url, reason) VALUES ('https://hooks.example/c', 'gone');
{analyze}
"""


def claim_rooms(claim, analyze):
    """Four receivers: a (5,000 due, a lane with room 5), down (the backlog, a lane with no
    room), b (no lane: the default room, 3), c (disabled). With analyze, the backlog is in the
    statistics (as after the record step's ANALYZE or autovacuum's); without, they are still
    those of an outbox with nothing due."""
    stats = "statistics that know it" if analyze else "statistics from before it"
    r = psql([], stdin=ROOMS.format(s=STATE, backlog=BACKLOG,
                                    analyze="ANALYZE %s.outbox;" % STATE if analyze else ""))
    if not ok(r.returncode == 0, "a receiver down for a day (%d due), one with leases, one "
              "disabled; %s" % (BACKLOG, stats), r.stderr):
        return
    script = """
BEGIN;
PREPARE claim(int, int, timestamptz, text[], int[], int, int, bigint[]) AS {claim};
EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim(1000, 300, NULL,
    '{{https://hooks.example/a,https://hooks.example/down}}', '{{5,0}}', 3, 259200, '{{}}');
SELECT string_agg(idempotency_key, ' ' ORDER BY idempotency_key) FROM {s}.outbox
 WHERE status = 'delivering' AND lease_until > now() + interval '1 minute';
ROLLBACK;
""".format(claim=claim, s=STATE)
    got = explain_claim(script, " beside the backlog")
    if not got:
        return
    plan, last = got
    heavy = heavy_nodes(plan, 1000, [])
    ok(not heavy, "the claim reads none of the %d notices of a receiver with no room, on %s: "
       "no node handles more than 1,000 rows" % (BACKLOG, stats), "\n".join(heavy))
    want = sorted(["new-%d" % i for i in range(1, 6)] + ["b-expired-1", "b-expired-2", "b-1"] +
                  ["b-leased-%d" % i for i in range(1, 4)])
    ok(sorted(last.split()) == want,
       "each receiver's oldest claimable notices up to its room: a 5, b 3 (the two whose lease "
       "ran out first), down and the disabled c none, leases running kept (%s)" % stats, last)
    psql(["-c", "DELETE FROM %s.outbox WHERE idempotency_key !~ '^(old|new)-'; "
                "DELETE FROM %s.disabled_endpoints" % (STATE, STATE)])


def main():
    if not setup():
        return 1
    claim = state_sql("outbox_claim_webhook.sql").rstrip().rstrip(";")
    # the daemon's parameters: at most WANT, a 60 s lease, due now, no lane with a room of
    # its own, WANT for every other receiver
    script = """
BEGIN;
PREPARE claim(int, int, timestamptz, text[], int[], int, int, bigint[]) AS {claim};
EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim({want}, 60, NULL, '{{}}', '{{}}', {want}, 259200, '{{}}');
SELECT count(*) FILTER (WHERE status = 'delivering') || ' ' ||
       coalesce(max(substr(idempotency_key, 5)::int) FILTER (WHERE status = 'delivering'), 0)
  FROM {s}.outbox WHERE idempotency_key LIKE 'new-%';
ROLLBACK;
""".format(claim=claim, want=WANT, s=STATE)
    got = explain_claim(script, "")
    if not got:
        return 1
    plan, last = got
    heavy = heavy_nodes(plan, 10 * DUE, [])
    ok(not heavy, "the claim handles at most ten times the %d due notices in any node" % DUE,
       "\n".join(heavy))
    ok(last == "%d %d" % (WANT, WANT),
       "it takes the oldest %d and marks them delivering (got: count, newest)" % WANT,
       last)
    claim_rooms(claim, False)
    claim_rooms(claim, True)
    email_resend()
    psql(["-c", "DROP DATABASE IF EXISTS %s" % DB], db="postgres")
    print("# %d passed, %d failed" % (tap.passed, tap.failures), flush=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
