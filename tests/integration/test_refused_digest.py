#!/usr/bin/python3
"""test_refused_digest: a digest the mail server refuses for good is logged in one line.

On the dense million's first day the head of service's digest of 48,517 notices was refused
with "552 Error: Too much mail data" (bench/README.md), and the log said it 48,517 times, a line
a notice: an operator reading the journal saw one failure drowned in its own copies. Now the
notices of one result statement that failed for the same receiver and reason are one line,
naming the count and the first notice; the operators' report still lists every notice.

On tests/fixtures/daemon.sql (three children on neglect CP plans, so each recipient's digest
has three notices), with the tests' SMTP server answering every message with 552 after DATA,
`driftwatchd --once`:
  - exits 0, and every email notice failed for good;
  - logs one "failed for good" line for each digest refused, saying how many notices it held
    and the server's answer, and no line a notice;
  - queues the operators' report, one item per failed notice (not reported again: the report
    to the operators is refused too, and is failed without a report of its own).

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwrefused is dropped and created here. Standard library only.
"""
import datetime
import os
import re
import sys
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

REPLY = "552 5.3.4 Error: message too big for this test"


def run(t, procs, tmp):
    db = lib.Db("dwrefused")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    ca = lib.make_ca(tmp)
    smtp = lib.SmtpServer(procs, tmp, "smtp", ca, extra=["--data-reply", REPLY])
    cfg = lib.write_config(tmp, "refused", {
        "database": {"conninfo": db.conninfo("dw-refused"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "email": lib.email_conf(smtp.port, ca, lib.SmtpServer.password_file(tmp),
                                digest_time=None)})
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).strftime("%Y-%m-%d")
    r = lib.run_once(cfg, today)
    t.check(r.rc == 0 and not r.sanitizer(), "--once with every message refused exits 0",
            r.diag())
    digests = db.rows("SELECT destination, count(*) AS n, min(notice_id) AS first, "
                      "bool_and(status = 'failed') AS failed FROM driftwatch.outbox "
                      "WHERE channel = 'email' AND type <> 'delivery.failed' "
                      "GROUP BY 1 ORDER BY 1")
    t.check(digests and all(d["failed"] for d in digests) and
            any(d["n"] > 1 for d in digests),
            "every digest was refused and its notices failed for good, some of several "
            "notices (%s)" % ", ".join("%s %d" % (d["destination"], d["n"]) for d in digests))
    said = [x for x in r.err.splitlines() if "failed for good" in x]
    for d in digests:
        lines = [x for x in said if " email %s " % d["destination"] in x]
        if d["n"] == 1:
            want = r"^<3>outbox: notice %d to email \S+ failed for good: .*552" % d["first"]
        else:
            want = (r"^<3>outbox: %d notices to email \S+ failed for good \(notice %d and %d "
                    r"more\): .*552" % (d["n"], d["first"], d["n"] - 1))
        t.check(len(lines) == 1 and re.search(want, lines[0]),
                "%s: its refused digest of %d notices is one line of the log"
                % (d["destination"], d["n"]), "\n".join(lines) or r.err[-2000:])
    reports = int(db.value("SELECT count(*) FROM driftwatch.outbox "
                           "WHERE type = 'delivery.failed'"))
    failed = sum(d["n"] for d in digests)
    t.check(reports == failed,
            "the operators' report has an item for each of the %d failed notices (%d)"
            % (failed, reports))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "refused-digest", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
