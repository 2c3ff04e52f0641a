#!/usr/bin/python3
"""test_long_lists: "/" lists a long list of alerts a page at a time, brothers and sisters together.

A head of service, a viewer or a cp_manager sees every open alert on "/". On the dense million
(203,000 open alerts) the page took eight minutes of the event loop (families were found by
scanning the rest of the list for each alert) and was never sent: the instance lost its
leadership meanwhile and its evaluation was thrown away. Then, grouped by one sort, it was a page
of 639 MB built in 8.5 s. "/" now shows 200 alerts a page (web_paging.h) and finds families with
one sort.

The real daemon with the pages on, over case data of its own: team T-L's 450 children on CP
plans for neglect of ten months (cp_neglect_duration 9m), the first and the last of them
(C-L000, C-L449) brothers in family F-SPLIT; team T-S's three children. Checks, as the viewer:
  - page 1: 200 alerts and the last one's brother (201 cards), "Alerts 1 to 200 of 450",
    "Page 1 of 3", a link to the next page and none to the previous, F-SPLIT whole;
  - page 2: 200 alerts, links both ways; page 3: the 49 left, C-L449 not again, no next link;
  - every alert on exactly one page; a page past the end is the last; ?page=abc is page 1;
  - team T-S's manager (three alerts): no paging at all.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwlonglists is dropped and created here. Standard library only.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon in the background)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

N = 450
DATA = """
SET search_path = casework;
INSERT INTO teams VALUES ('T-L', 'Long list team', 'mgr-l@la.example', NULL),
                         ('T-S', 'Short list team', 'mgr-s@la.example', NULL);
INSERT INTO workers VALUES
  ('W-L', 'Worker Long', 'wl@la.example', 'T-L', NULL, 'social_worker'),
  ('W-S', 'Worker Short', 'ws@la.example', 'T-S', NULL, 'social_worker');
INSERT INTO children
  SELECT 'C-L' || lpad(i::text, 3, '0'),
         CASE WHEN i IN (0, %(last)d) THEN 'F-SPLIT' ELSE 'F-L' || i END,
         current_date - interval '6 years', NULL, false
    FROM generate_series(0, %(last)d) AS i;
INSERT INTO children
  SELECT 'C-S' || i, 'F-S' || i, current_date - interval '6 years', NULL, false
    FROM generate_series(1, 3) AS i;
INSERT INTO allocations
  SELECT 'A-' || child_id, child_id, CASE WHEN child_id LIKE 'C-L%%' THEN 'W-L' ELSE 'W-S' END,
         current_date - interval '2 years', NULL
    FROM children;
INSERT INTO cp_plans
  SELECT 'CPP-' || child_id, child_id, current_date - interval '10 months', NULL, 'NEG', NULL,
         NULL
    FROM children;
""" % {"last": N - 1}
VIEWER = {"X-Forwarded-Email": "viewer@la.example"}
CARD = re.compile(r'<article class="alert [^"]*"[^>]*>\s*<h[34] id="alert-[0-9]+">Child '
                  r'<a href="[^"]*">([^<]+)</a>')


def cards(body):
    return CARD.findall(body)


def check_page(t, port, page, want_cards, said, links):
    st, body = hostile.page(port, "/?page=%d" % page if page else "/", VIEWER)
    got = cards(body)
    t.check(st == 200 and len(got) == want_cards,
            "page %s: %d alerts (%s, %d)" % (page or "/", want_cards, st, len(got)), body[:600])
    t.check(said in body, "page %s says \"%s\"" % (page or "/", said),
            "\n".join(re.findall(r"<p>Alerts [^<]*</p>|Page [0-9]+ of [0-9]+", body)))
    for rel, present in links.items():
        found = re.search(r'href="\?page=[0-9]+" rel="%s"' % rel, body) is not None
        t.check(found == present, "page %s: %s link to the %s page" %
                (page or "/", "has a" if present else "has no", rel))
    return got, body


def run(t, procs, tmp):
    db = lib.Db("dwlonglists")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"))
    db._psql([], stdin=DATA)
    port = lib.free_port()
    cfg = lib.write_config(tmp, "long-lists", {
        "database": {"conninfo": db.conninfo("dwlonglists")},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example/person/{child_id}",
        "addresses": lib.addresses(),
        "evaluation": {"interval_seconds": 3600},
        "web": {"listen": "127.0.0.1:%d" % port, "trusted_proxies": ["127.0.0.1"],
                "viewers": ["viewer@la.example"]}})
    d = hostile.Daemon(procs, tmp, cfg, name="daemon-long-lists")
    n = lib.wait_for(lambda: hostile.firing(db) >= N + 3 or None, 90, step=0.5)
    t.check(n, "the daemon records %d alerts" % (N + 3), "\n".join(d.lines()[-20:]))
    p1, body1 = check_page(t, port, 0, 201, "Alerts 1 to 200 of %d" % (N + 3),
                           {"next": True, "prev": False})
    t.check("Page 1 of 3" in body1, "page 1 says it is page 1 of 3")
    t.check("Family F-SPLIT: 2 alerts" in body1 and "C-L000" in p1 and "C-L449" in p1,
            "page 1: family F-SPLIT whole, its last brother pulled up from the third page",
            [c for c in p1 if c in ("C-L000", "C-L449")])
    p2, _ = check_page(t, port, 2, 200, "Alerts 201 to 400 of %d" % (N + 3),
                       {"next": True, "prev": True})
    p3, _ = check_page(t, port, 3, 52, "Alerts 401 to 453 of %d" % (N + 3),
                       {"next": False, "prev": True})
    t.check("C-L449" not in p3, "page 3: C-L449, shown with its brother, is not shown again")
    every = p1 + p2 + p3
    t.check(len(every) == N + 3 and len(set(every)) == N + 3,
            "every alert is on exactly one page (%d cards, %d children)"
            % (len(every), len(set(every))))
    _, body = check_page(t, port, 9, 52, "Page 3 of 3", {"next": False, "prev": True})
    _, body = check_page(t, port, 0, 201, "Page 1 of 3", {"prev": False})
    st, body = hostile.page(port, "/?page=abc", VIEWER)
    t.check(st == 200 and len(cards(body)) == 201 and "Page 1 of 3" in body,
            "?page=abc is page 1 (%s)" % st)
    st, body = hostile.page(port, "/", {"X-Forwarded-Email": "mgr-s@la.example"})
    got = cards(body)
    t.check(st == 200 and sorted(got) == ["C-S1", "C-S2", "C-S3"] and "Page " not in body
            and "rel=\"next\"" not in body,
            "team T-S's manager: three alerts and no paging (%s)" % st, got)
    hostile.stop(d, t, "the daemon")
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "long_lists", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
