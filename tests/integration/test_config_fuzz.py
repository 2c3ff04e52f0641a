#!/usr/bin/python3
"""test_config_fuzz: bad configuration is normal input. Every key of README.md's
"Configuration" section (and ALERTS.md's "Command line", RESPONSES.md's web, responses and
calendar keys), mutated, through `driftwatchd -c FILE --check-config`, and a few of them
through `--once --dry-run`.

It starts from one rich, valid configuration that sets every documented key (`--check-config`
exits 0 on it: checked first; the database is rules/contract.sql and tests/fixtures/daemon.sql),
then makes seeded, deterministic mutants of it: for a key path, deleted, replaced by null (on
every path), by a value of another JSON type (true, 0, -1, 1e308, 2^63, 2^64, "", 100 KB,
"\\u0000", "\\ud800", invalid UTF-8, [], {}, arrays nested deep, ...), an unknown key beside it
(also one of 10 KB), the key twice, the key misspelled; for addresses, URLs, paths, times,
zones, listen addresses, schemas and the like plausible-but-wrong values (an email without "@",
"smtp://", "http://[::1", a missing file, a directory, a FIFO, /dev/null, a secret readable by
everyone, "25:00", "Europe/Nowhere", "right/UTC", ranges' edges, a list of 1000 items,
web.listen on 0.0.0.0 and http.listen's port); documented keys the base leaves out (an inline
password beside password_file, ...); then whole-file mutants (empty, "[]", "null", truncated,
a BOM, 10 MB, nesting 10,000 deep, a FIFO, ...). For each, `--check-config`:
  - exits within 20 s with status 0 or 2 (ALERTS.md: 2 bad usage or configuration); 1 only for
    a connection string that parses but cannot connect (README: 1 "database unreachable");
    never killed by a signal;
  - prints no AddressSanitizer / UndefinedBehaviorSanitizer / LeakSanitizer report;
  - prints no secret of the configuration (an inline webhook secret, a secret file's content, a
    password in a URL or connection string);
  - on exit 2, names the file and the key (its path, its last component, the parent a missing
    member is reported at, or the line of a JSON syntax fault);
  - does not accept (exit 0) a value of a type, or a value, the documented key does not take;
    where the code takes null as "unset" and README does not say so, that is noted, not failed;
    a secret readable by everyone is accepted only with a warning naming the key.
Then 20 refused mutants (and two whole files) through `--once --dry-run`: exit 2 there too, the
fault named; and 10 accepted ones: exit 0. One result line per key path (every mutant of it,
each mutant's message printed under it), one per whole-file mutant, one per dry run; notes list
what was accepted as an undocumented null and the connection strings that gave exit 1.

Environment: DRIFTWATCHD (default build/san/driftwatchd), PGHOST PGPORT PGUSER, DW_TOP,
TEST_TMPDIR; CONFIG_FUZZ_SEED (default 20261121), CONFIG_FUZZ_BUDGET (key mutants, default
1300), CONFIG_FUZZ_JOBS (daemons at once, default 2), CONFIG_FUZZ_VERBOSE=1 prints every mutant's
message under its line (a failing line always shows its failing mutants). Standard library only.
"""

import base64
import concurrent.futures
import copy
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py)
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)

SEED = int(os.environ.get("CONFIG_FUZZ_SEED") or "20261121")
BUDGET = int(os.environ.get("CONFIG_FUZZ_BUDGET") or "1300")
JOBS = max(1, int(os.environ.get("CONFIG_FUZZ_JOBS") or "2"))
QUIET = not os.environ.get("CONFIG_FUZZ_VERBOSE")   # a failing line shows its mutants
TIMEOUT = 20
BUDGET_S = 600     # the whole test's runs; each is bounded by TIMEOUT
DRY_RUNS = 20
AS_OF = "2026-11-21"
DBNAME = "config_fuzz"
MARKER = "S3cr3t-Zq9"   # in every planted secret: never to be printed
SANITIZER = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
             "AddressSanitizer:", "UndefinedBehaviorSanitizer")


# ---------------------------------------------------------------------------------------------
# JSON text with what json.dumps cannot write: raw tokens, repeated keys, and a mark whose line
# is recorded (the line a syntax fault must be reported at)

class Raw:
    """JSON text written as it is (a lone surrogate escape, a nesting, a byte not UTF-8)."""

    def __init__(self, text):
        self.text = text


class Mark:
    """A value or a key whose line is recorded. Hashed by identity, so a Mark of a key may sit
    beside the same key in one dict (a duplicate)."""

    def __init__(self, v):
        self.v = v


def render(node):
    """(the JSON text as bytes, the line the Mark starts on or None). Every member is on a line
    of its own."""
    out, st = [], {"line": 1, "mark": None}

    def emit(s):
        out.append(s)
        st["line"] += s.count("\n")

    def scalar(v):
        if isinstance(v, Raw):
            return v.text
        return json.dumps(v, ensure_ascii=False)

    def rec(n, ind):
        if isinstance(n, Mark):
            st["mark"] = st["line"]
            n = n.v
        if isinstance(n, dict):
            if not n:
                emit("{}")
                return
            emit("{")
            items = list(n.items())
            for i, (k, v) in enumerate(items):
                emit("\n" + " " * (ind + 1))
                if isinstance(k, Mark):
                    st["mark"] = st["line"]
                    k = k.v
                emit(scalar(k) + ": ")
                rec(v, ind + 1)
                if i + 1 < len(items):
                    emit(",")
            emit("\n" + " " * ind + "}")
        elif isinstance(n, list):
            if not n:
                emit("[]")
                return
            emit("[")
            for i, v in enumerate(n):
                emit("\n" + " " * (ind + 1))
                rec(v, ind + 1)
                if i + 1 < len(n):
                    emit(",")
            emit("\n" + " " * ind + "]")
        else:
            emit(scalar(n))

    rec(node, 0)
    # surrogateescape: a Raw "\udcff" is the byte 0xff, not UTF-8
    return ("".join(out) + "\n").encode("utf-8", "surrogateescape"), st["mark"]


# ---------------------------------------------------------------------------------------------
# What each documented key takes (README.md "Configuration"; rule options' ranges from the
# rules' own tables, rules/*.c, which RULES.md's defaults are)

class Kind:
    """t: obj, str, int, bool, list (of strings), arr (of objects), star (\"*\" or a list).
    null: "doc" (README says null is allowed), "undoc" (the code takes it as unset; README does
    not say so), None (refused). sub: what a string is (or a list's items are)."""

    def __init__(self, t, null=None, lo=None, hi=None, sub=None, empty=False, required=False):
        self.t, self.null, self.lo, self.hi, self.sub = t, null, lo, hi, sub
        self.empty, self.required = empty, required


def K(t, **kw):
    return Kind(t, **kw)


KINDS = {
    "database": K("obj", required=True),
    "database.conninfo": K("str", sub="conninfo", required=True),
    "database.case_schema": K("str", sub="schema"),
    "database.state_schema": K("str", sub="state_schema"),
    "database.query_timeout_seconds": K("int", lo=1, hi=86400),
    "state": K("obj"),
    "state.conninfo": K("str", sub="conninfo", required=True),
    "timezone": K("str", sub="tz"),
    "link_template": K("str", sub="link_template", null="doc"),
    "addresses": K("obj", null="undoc"),
    "addresses.*": K("str", sub="email", null="doc"),
    "evaluation": K("obj"),
    "evaluation.interval_seconds": K("int", lo=10, hi=86400),
    "evaluation.takeover_seconds": K("int", lo=1, hi=3600),
    "repeat_after_days": K("int", lo=0, hi=365),
    "email": K("obj", null="undoc"),
    "email.smtp_url": K("str", sub="smtp_url", required=True),
    "email.tls": K("str", sub="tls"),
    "email.from": K("str", sub="email", required=True),
    # required here: password_file is set
    "email.username": K("str", sub="any", required=True),
    "email.password_file": K("str", sub="file_text", null="undoc"),
    "email.ca_file": K("str", sub="file_ca", null="doc"),
    "email.verify": K("bool"),
    "email.send_resolved": K("bool"),
    "email.digest_time": K("str", sub="time", null="doc"),
    "email.urgent_delay_seconds": K("int", lo=0, hi=86400),
    "email.digest_max_items": K("int", lo=1, hi=100000),
    "email.max_message_bytes": K("int", lo=100000, hi=1000000000),
    "webhooks": K("arr", null="undoc", empty=True),
    "webhooks[]": K("obj"),
    "webhooks[].url": K("str", sub="http_url", required=True),
    # each webhook has one of the two: without it the webhook is unsigned, refused
    "webhooks[].secret": K("str", sub="whsec", required=True),
    "webhooks[].secret_file": K("str", sub="file_whsec", required=True),
    "webhooks[].rules": K("list", sub="rule", null="undoc"),
    "webhooks[].rules[]": K("str", sub="rule"),
    "webhooks[].format": K("str", sub="format"),
    "team_webhook_secret_file": K("str", sub="file_whsec", null="doc"),
    "team_webhooks": K("obj"),
    "team_webhooks.allowed_hosts": K("list", sub="host", empty=True),
    "team_webhooks.allowed_hosts[]": K("str", sub="host"),
    "team_webhooks.format": K("str", sub="format"),
    "http": K("obj"),
    "http.listen": K("str", sub="listen", null="doc"),
    "retention": K("obj"),
    "retention.days": K("int", lo=30, hi=3650),
    "health": K("obj"),
    "health.stall_seconds": K("int", lo=10, hi=86400),
    "delivery": K("obj"),
    "delivery.max_age_hours": K("int", lo=1, hi=720),
    "delivery.report_wait_seconds": K("int", lo=0, hi=86400),
    "delivery.lease_seconds": K("int", lo=10, hi=3600),
    "web": K("obj"),
    # "Set together with web.link_secret_file or not at all": null on one of them is a fault
    "web.public_url": K("str", sub="public_url", required=True),
    "web.link_secret_file": K("str", sub="file_link", required=True),
    "web.link_days": K("int", lo=1, hi=365),
    "web.listen": K("str", sub="listen", null="doc"),
    "web.api_tokens_file": K("str", sub="file_tokens", null="doc"),
    "web.user_header": K("str", sub="header"),
    "web.trusted_proxies": K("list", sub="ip", empty=True),
    "web.trusted_proxies[]": K("str", sub="ip"),
    "web.viewers": K("list", sub="email", empty=True),
    "web.viewers[]": K("str", sub="email"),
    "responses": K("obj"),
    "responses.max_snooze_days": K("int", lo=1, hi=365),
    "responses.escalate": K("arr", empty=True),
    "responses.escalate[]": K("obj"),
    "responses.escalate[].rules": K("star", sub="rule"),
    "responses.escalate[].rules[]": K("str", sub="rule"),
    "responses.escalate[].stages": K("star", sub="stage"),
    "responses.escalate[].stages[]": K("str", sub="stage"),
    "responses.escalate[].after_working_days": K("int", lo=1, hi=260, required=True),
    "responses.escalate[].to": K("list", sub="esc_role", required=True),
    "responses.escalate[].to[]": K("str", sub="esc_role"),
    "calendar": K("obj"),
    "calendar.region": K("str", sub="region"),
    "calendar.closures": K("list", sub="date", empty=True, null="undoc"),
    "calendar.closures[]": K("str", sub="date"),
    "rules": K("obj"),
    "rules.*": K("obj"),
    "rules.*.enabled": K("bool"),
    "rules.*.strategy_kinds": K("list", sub="kind", null="doc"),
    "rules.*.strategy_kinds[]": K("str", sub="kind"),
    "rules.*.neglect_categories": K("list", sub="category"),
    "rules.*.neglect_categories[]": K("str", sub="category"),
    "rules.*.stages": K("obj"),
    "rules.*.stages.*": K("obj"),
    "rules.*.stages.*.months": K("int", lo=1, hi=1000),
    "rules.*.stages.*.count": K("int", lo=1, hi=1000),
    "rules.*.stages.*.workers": K("int", lo=1, hi=1000),
    "rules.*.stages.*.recipients": K("list", sub="role"),
    "rules.*.stages.*.recipients[]": K("str", sub="role"),
}

RULE_OPTS = {
    "cin_neglect_duration": {"merge_gap_days": (0, 365)},
    "cp_neglect_duration": {"merge_gap_days": (0, 365), "strategy_months": (1, 60)},
    "repeat_neglect_plan": {"merge_gap_days": (0, 365)},
    "was_not_brought": {"window_months": (1, 60), "infant_months": (1, 60)},
    "worker_change": {"window_days": (1, 366), "history_months": (1, 120),
                      "referral_months": (1, 240), "missed_months": (1, 120)},
    "worker_churn": {"window_months": (1, 120)},
    "re_referral": {"window_months": (1, 120), "cycle_months": (1, 240),
                    "cycle_count": (2, 20)},
}


def pattern(path):
    """The KINDS key of a path: indices as [], rule and stage names as *."""
    out = ""
    for i, p in enumerate(path):
        if isinstance(p, int):
            out += "[]"
            continue
        if path[0] == "rules" and (i == 1 or (i == 3 and path[2] == "stages")) or \
                path[0] == "addresses" and i == 1:
            p = "*"
        out += ("." if out else "") + p
    return out


def kind_of(path):
    if len(path) == 3 and path[0] == "rules" and path[2] in RULE_OPTS.get(path[1], {}):
        lo, hi = RULE_OPTS[path[1]][path[2]]
        return K("int", lo=lo, hi=hi)
    return KINDS.get(pattern(path))


def dotted(path):
    out = ""
    for p in path:
        out += "[%d]" % p if isinstance(p, int) else ("." if out else "") + p
    return out


# ---------------------------------------------------------------------------------------------
# the rich, valid configuration and the files it names

def whsec(n=32):
    return "whsec_" + base64.b64encode(os.urandom(n)).decode()


def write_file(path, data, mode=0o600):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)
    return path


def make_files(tmp):
    """The secret files (0600), the CA, and the wrong files a file key is given: a dict."""
    sec = os.path.join(tmp, "secrets")
    os.makedirs(sec, mode=0o700)
    ca = lib.make_ca(tmp)
    secrets = {
        "text": "pw-%s-smtp" % MARKER,
        "whsec": whsec(),
        "team_whsec": whsec(),
        "link": base64.b64encode(os.urandom(33)).decode() + MARKER,
        "inline_whsec": whsec(),
    }
    f = {"secrets": secrets, "dir": sec}
    f["file_text"] = write_file(os.path.join(sec, "smtp-password"), secrets["text"] + "\n")
    f["file_whsec"] = write_file(os.path.join(sec, "hook-secret"), secrets["whsec"] + "\n")
    f["team_whsec"] = write_file(os.path.join(sec, "team-hook-secret"),
                                 secrets["team_whsec"] + "\n")
    f["file_link"] = write_file(os.path.join(sec, "link-secret"), secrets["link"] + "\n")
    f["file_tokens"] = write_file(
        os.path.join(sec, "api-tokens"),
        "# name sha256(token)\nops %s\n" % hashlib.sha256(MARKER.encode()).hexdigest())
    f["file_ca"] = os.path.join(ca, "ca.pem")
    # the wrong ones
    bad = os.path.join(tmp, "bad")
    os.makedirs(bad)
    f["bad"] = bad
    f["empty"] = write_file(os.path.join(bad, "empty"), b"")
    f["nul"] = write_file(os.path.join(bad, "nul"), b"abc\0def\n")
    f["big"] = write_file(os.path.join(bad, "big"), b"x" * (5 * 1024 * 1024))
    f["fifo"] = os.path.join(bad, "fifo")
    os.mkfifo(f["fifo"], 0o600)
    f["garbage"] = write_file(os.path.join(bad, "garbage"),
                              "not a secret\n")   # under 32 bytes: no link secret either
    f["short"] = write_file(os.path.join(bad, "short"), "whsec_c2hvcnQ=\n")
    for k in ("file_text", "file_whsec", "file_link", "file_tokens", "file_ca"):
        with open(f[k], "rb") as src:
            f["world_" + k] = write_file(os.path.join(bad, "world-" + k), src.read(), 0o644)
    return f


def base_config(db, files):
    return {
        "database": {"conninfo": db.conninfo("config_fuzz"), "case_schema": "casework",
                     "state_schema": "driftwatch", "query_timeout_seconds": 300},
        "state": {"conninfo": db.conninfo("config_fuzz_state")},
        "timezone": "Europe/London",
        "link_template": "https://lcs.example.gov.uk/person/{child_id}",
        "addresses": lib.addresses(),
        "evaluation": {"interval_seconds": 300, "takeover_seconds": 10},
        "repeat_after_days": 14,
        "email": {"smtp_url": "smtp://127.0.0.1:2525", "tls": "starttls",
                  "from": "driftwatch@la.example", "username": "driftwatch",
                  "password_file": files["file_text"], "ca_file": files["file_ca"],
                  "verify": True, "send_resolved": True, "digest_time": "08:00",
                  "urgent_delay_seconds": 300, "digest_max_items": 25,
                  "max_message_bytes": 10240000},
        "webhooks": [
            {"url": "https://hooks.la.example/drift", "secret_file": files["file_whsec"],
             "rules": ["cp_neglect_duration", "repeat_neglect_plan"], "format": "standard"},
            {"url": "https://chat.la.example/workflows/" + MARKER,
             "secret": files["secrets"]["inline_whsec"], "format": "teams"},
        ],
        "team_webhook_secret_file": files["team_whsec"],
        "team_webhooks": {"allowed_hosts": ["hooks.la.example", "*.chat.la.example"],
                          "format": "slack"},
        "http": {"listen": "127.0.0.1:29480"},
        "retention": {"days": 400},
        "health": {"stall_seconds": 120},
        "delivery": {"max_age_hours": 72, "report_wait_seconds": 600, "lease_seconds": 60},
        "web": {"public_url": "https://driftwatch.la.example/dw",
                "link_secret_file": files["file_link"], "link_days": 30,
                "listen": "127.0.0.1:29481", "api_tokens_file": files["file_tokens"],
                "user_header": "X-Forwarded-Email", "trusted_proxies": ["127.0.0.1", "::1"],
                "viewers": ["qa@la.example"]},
        "responses": {"max_snooze_days": 90, "escalate": [
            {"rules": ["cp_neglect_duration"], "stages": ["15m", "18m"],
             "after_working_days": 5, "to": ["head_of_service"]},
            {"rules": "*", "stages": "*", "after_working_days": 10,
             "to": ["service_manager", "cp_manager"]}]},
        "calendar": {"region": "england-and-wales", "closures": ["2026-12-29", "2026-12-30"]},
        "rules": {
            "cin_neglect_duration": {"enabled": True, "merge_gap_days": 28, "stages": {
                "6m": {"months": 6, "recipients": ["supervisor"]}}},
            "cp_neglect_duration": {
                "enabled": True, "merge_gap_days": 28, "strategy_months": 6,
                "strategy_kinds": ["plo", "care_proceedings", "step_down"],
                "neglect_categories": ["NEG", "MUL"],
                "stages": {
                    "9m": {"months": 9, "recipients": ["supervisor"]},
                    "12m": {"months": 12, "recipients": ["supervisor", "cp_chair"]},
                    "15m": {"months": 15,
                            "recipients": ["cp_chair", "cp_manager", "supervisor"]},
                    "18m": {"months": 18,
                            "recipients": ["head_of_service", "cp_chair", "supervisor"]}}},
            "repeat_neglect_plan": {
                "enabled": True, "merge_gap_days": 28, "neglect_categories": ["NEG"],
                "stages": {
                    "any": {"recipients": ["cp_chair", "supervisor"]},
                    "24m": {"months": 24, "recipients": ["cp_chair", "supervisor"]},
                    "12m": {"months": 12, "recipients": ["cp_chair", "supervisor"]}}},
            "was_not_brought": {
                "enabled": True, "window_months": 6, "infant_months": 12,
                "stages": {
                    "vulnerable": {"count": 1, "recipients": ["supervisor",
                                                              "allocated_worker"]},
                    "repeated": {"count": 2, "recipients": ["supervisor",
                                                            "allocated_worker"]}}},
            "worker_change": {
                "enabled": True, "window_days": 14, "history_months": 12,
                "referral_months": 24, "missed_months": 12, "neglect_categories": ["NEG"],
                "stages": {"handover": {"recipients": ["supervisor", "allocated_worker"]}}},
            "worker_churn": {"enabled": True, "window_months": 12, "stages": {
                "churn": {"workers": 3, "recipients": ["supervisor"]}}},
            "re_referral": {
                "enabled": True, "window_months": 12, "cycle_months": 24, "cycle_count": 3,
                "stages": {"12m": {"recipients": ["supervisor"]},
                           "cycle": {"recipients": ["supervisor", "head_of_service"]}}},
        },
    }


# ---------------------------------------------------------------------------------------------
# the mutants

class Mutant:
    def __init__(self, path, op, label, expect, tree=None, tokens=(), secret=None, warn=False):
        self.path, self.op, self.label, self.expect = path, op, label, expect
        # expect: "no" (must be refused), "either", "undoc" (null taken as unset, README
        # silent), "runtime" (exit 1 allowed), "warn" (exit 0 only with a warning naming it)
        self.tree, self.tokens, self.secret, self.warn = tree, list(tokens), secret, warn
        self.line = None
        self.file = None
        self.result = None

    def describe(self):
        where = dotted(self.path) if self.path else "(whole file)"
        return "%s: %s" % (where, self.label)


def short(v, n=70):
    s = v.text if isinstance(v, Raw) else json.dumps(v, ensure_ascii=True)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def walk(node, path=()):
    """Every key path of the tree (not the root), parents first."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path + (k,)
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield path + (i,)
            yield from walk(v, path + (i,))


def get(tree, path):
    for p in path:
        tree = tree[p]
    return tree


def put(tree, path, value):
    """tree with the node at path replaced by value (the root when path is empty)."""
    if not path:
        return value
    get(tree, path[:-1])[path[-1]] = value
    return tree


def rebuild_dict(d, key, fn):
    """A copy of d whose member key is replaced by the members fn(key, value) gives."""
    out = {}
    for k, v in d.items():
        if k == key:
            for k2, v2 in fn(k, v):
                out[k2] = v2
        else:
            out[k] = v
    return out


# Values of every JSON type, and the JSON that is no value (2^63, \u0000, \ud800, too deep)
TYPE_VALUES = [
    ("null", None), ("true", True), ("false", False), ("0", 0), ("-1", -1), ("1e308", 1e308),
    ("2^63", 2 ** 63), ("2^64", 2 ** 64), ('""', ""), ("a 100 KB string", "x" * 102400),
    ("a string holding \\u0000", "ab\0cd"), ('"\\ud800"', Raw('"\\ud800"')),
    ('"\\udc00\\ud800" (a reversed pair)', Raw('"a\\udc00\\ud800b"')),
    ("a string of invalid UTF-8 (0xff)", Raw('"ab\udcffcd"')),
    ("[]", []), ("{}", {}), ('["qa@la.example"]', ["qa@la.example"]), ('{"a": 1}', {"a": 1}),
    ('"300" (a number in a string)', "300"), ("3.0", 3.0), ("1e400", Raw("1e400")),
    ("-9223372036854775808", -2 ** 63),
    ("arrays nested 1000 deep", Raw("[" * 1000 + "]" * 1000)),
    ("arrays nested 3000 deep", Raw("[" * 3000 + "]" * 3000)),
]

# plain words a string key of these kinds may hold ("300" as a schema is a name)
WORDLIKE = {"any", "state_schema", "kind", "category", "host", "header"}


def type_expect(kind, v):
    """'no' (must not be accepted), 'either', or 'undoc' (accepted as unset, not documented)."""
    if isinstance(v, Raw):
        return "no"
    if v is None:
        if kind.null == "doc":
            return "either"
        return "undoc" if kind.null == "undoc" else "no"
    if isinstance(v, bool):
        return "either" if kind.t == "bool" else "no"
    if isinstance(v, int):
        if kind.t != "int" or not -2 ** 63 <= v < 2 ** 63:
            return "no"
        return "either" if kind.lo <= v <= kind.hi else "no"
    if isinstance(v, float):
        return "no"
    if isinstance(v, str):
        if v == "" or "\0" in v:
            return "no"
        if kind.t == "str":
            return "either" if kind.sub in WORDLIKE and len(v) <= 200 or kind.sub == "any" \
                else "no"
        return "no"
    if isinstance(v, list):
        if kind.t not in ("list", "arr", "star"):
            return "no"
        if not v:
            return "either" if kind.empty else "no"
        return "either" if kind.t == "list" and kind.sub == "email" and \
            all(isinstance(x, str) for x in v) else "no"
    if isinstance(v, dict):
        return "either" if kind.t == "obj" and not v else "no"
    return "no"


def semantic_values(sub, files, base):
    """Plausible-but-wrong (and a few plausible-and-right) strings for a kind of string:
    [(value, expect, secret or None)]; expect 'no', 'either', 'runtime' (exit 1 allowed: a
    connection string that parses) or 'warn' (exit 0 only with a warning naming the key)."""
    conn = base["database"]["conninfo"]
    S = MARKER
    tables = {
        "email": [("duty.la.example", "no"), ("duty@la.example, hos@la.example", "no"),
                  ("Duty Team <duty@la.example>", "no"), ("duty@la.example\n", "no"),
                  ("@la.example", "no"), ("duty@", "no"), ("dut\u00ff@la.example", "no"),
                  ("a" * 250 + "@la.example", "no"), ("duty@la.example\r\nBcc: x@y.z", "no"),
                  ("other.person@la.example", "either")],
        "http_url": [("smtp://", "no"), ("http://[::1", "no"), ("https://", "no"),
                     ("hooks.la.example/drift", "no"), ("ftp://hooks.la.example/x", "no"),
                     ("https://hooks.la.example:99999/x", "no"),
                     ("https://hooks la.example/x", "no"),
                     ("https://u:%s@[::1/x" % S, "no", S),
                     ("https://hooks.la.example/%s x" % S, "no", S),
                     ("http://127.0.0.1:8080/hook", "either")],
        "smtp_url": [("smtp://", "no"), ("http://mail.la.example", "no"), ("smtp://[::1", "no"),
                     ("smtp://mail.la.example:0", "no"), ("smtp://mail.la.example:65536", "no"),
                     ("smtps://127.0.0.1:465", "no"), ("mail.la.example:587", "no"),
                     ("smtp://u:%s@[::1:25" % S, "no", S),
                     ("smtp://localhost:2525/dw.la.example", "either")],
        "public_url": [("http://driftwatch.la.example", "no"), ("https://", "no"),
                       ("https://u:%s@dw.la.example" % S, "no", S),
                       ("https://dw.la.example/?a=1", "no"), ("https://dw.la.example/#x", "no"),
                       ("http://[::1", "no"), ("ftp://dw.la.example", "no"),
                       ("http://127.0.0.1:8080/dw/", "either")],
        "link_template": [("https://lcs.example/person/", "no"),
                          ("lcs.example/{child_id}", "no"),
                          ("https://lcs.example/{child_id} x", "no"),
                          ("javascript:alert(1)//{child_id}", "no"),
                          ("https://lcs.example/?id={child_id}", "either")],
        "tz": [("Europe/Nowhere", "no"), ("right/UTC", "no"), ("../../../etc/passwd", "no"),
               ("/usr/share/zoneinfo/UTC", "no"), ("zone.tab", "no"), ("Europe", "no"),
               ("europe/london", "no"), ("Europe/London ", "no"), ("UTC", "either"),
               ("Etc/GMT+5", "either")],
        "time": [("25:00", "no"), ("24:00", "no"), ("08:60", "no"), ("8:00", "no"),
                 ("08:00:00", "no"), ("0800", "no"), ("-1:00", "no"), ("08.00", "no"),
                 ("23:59", "either"), ("00:00", "either")],
        "listen": [("127.0.0.1", "no"), ("127.0.0.1:0", "no"), ("127.0.0.1:65536", "no"),
                   (":9480", "no"), ("::1:9480", "no"), ("[::1:9480", "no"),
                   ("localhost:http", "no"), ("127.0.0.1:99999999999999999999", "no"),
                   ("127.0.0.1: 9480", "no"), ("[::1]:29999", "either")],
        "schema": [("x" * 64, "no"), (" casework", "no"), ("casework ", "no"),
                   ("no_such_schema", "no"), ("case\nwork", "no"), ("Casework", "no"),
                   ("driftwatch", "no"), ('ca"se', "no"), ("x'; DROP SCHEMA casework; --", "no"),
                   ("sch\u00e9ma", "no"), ("y" * 63, "no")],
        "state_schema": [("pg_catalog", "no"), ("information_schema", "no"),
                         ("casework", "no"), ("x" * 64, "no"), ("driftwatch ", "no"),
                         ("dw_other_state", "either"), ('dw"state', "either"),
                         ("x'); DROP SCHEMA casework; --", "either"),
                         ("\u00e9tat", "either"), ("z" * 63, "either")],
        "conninfo": [("host=127.0.0.1 password=%s nonsense" % S, "no", S),
                     ("nonsense", "no"), ("postgresql://[::1", "no"),
                     ("host='127.0.0.1 password=%s" % S, "no", S),
                     (conn + " port=1", "runtime"),
                     (conn + " dbname=no_such_db_cfgfuzz", "runtime"),
                     (conn + " sslmode=bogus", "runtime")],
        "tls": [("STARTTLS", "no"), ("ssl", "no"), ("try", "no"), ("implicit", "no"),
                ("none", "either")],
        "format": [("Standard", "no"), ("msteams", "no"), ("slack ", "no"),
                   ("slack", "either")],
        "region": [("England-and-Wales", "no"), ("wales", "no"), ("england_and_wales", "no"),
                   ("scotland", "either")],
        "header": [("Authorization", "no"), ("host", "no"), ("X Forwarded Email", "no"),
                   ("X-Forwarded-Email:", "no"), ("X" * 65, "no"), ("X-Remote-User", "either")],
        "ip": [("localhost", "no"), ("10.0.0.0/8", "no"), ("127.0.0.1:80", "no"),
               ("[::1]", "no"), ("256.1.1.1", "no"), ("10.0.0.5", "either")],
        "host": [("https://hooks.la.example", "no"), ("hooks.la.example/path", "no"),
                 ("*", "no"), ("hooks.la.example:443", "no"), ("*.", "no"),
                 ("http://*.la.example", "no"), ("http://hooks.la.example", "either")],
        "rule": [("cp_neglect", "no"), ("CP_NEGLECT_DURATION", "no"), ("*", "no"),
                 ("worker_churn", "either")],
        "role": [("manager", "no"), ("Supervisor", "no"), ("service_manager", "no"),
                 ("fallback", "no"), ("head_of_service", "either")],
        "esc_role": [("manager", "no"), ("Service_Manager", "no"), ("fallback", "no"),
                     ("supervisor", "either")],
        "stage": [("16m", "no"), ("15 m", "no"), ("x" * 33, "no"), ("9m", "either")],
        "category": [("neg", "no"), ("NEGLECTED1", "no"), ("N EG", "no"), ("PHY", "either")],
        "kind": [("a" * 201, "no"), ("plo\n", "no"), ("section_47", "either")],
        "date": [("2026-02-30", "no"), ("2026-13-01", "no"), ("29/12/2026", "no"),
                 ("2026-12-29T00:00", "no"), ("2026-1-5", "no"), ("0000-01-01", "no"),
                 ("2027-02-29", "no"), ("2028-02-29", "either")],
        "whsec": [("whsec_", "no"), ("whsec_" + S, "no", S), (S * 4, "no", S),
                  ("whsec_" + base64.b64encode(b"x" * 10).decode(), "no"),
                  ("whsec_" + base64.b64encode(b"x" * 65).decode(), "no"),
                  (" whsec_" + base64.b64encode(b"k" * 32).decode(), "no")],
        "any": [("user name with spaces", "either")],
    }
    if sub.startswith("file_"):
        world = "warn" if sub != "file_ca" else "either"
        vals = [(os.path.join(files["bad"], "missing", "file"), "no"), (files["bad"], "no"),
                ("secrets/relative", "no"), (files["world_" + sub], world),
                (files["empty"], "no"), (files["fifo"], "no"), ("/dev/null", "no"),
                (files["nul"], "no" if sub != "file_text" else "no"), (files["big"], "no"),
                ("credential:fuzz-name", "either"), ("credential:../x", "no"),
                ("credential:", "no"), (files["bad"] + "/new\nline", "no")]
        if sub != "file_text":
            vals.append((files["garbage"], "no"))
        if sub == "file_whsec":
            vals.append((files["short"], "no"))
        return [v if len(v) == 3 else v + (None,) for v in vals]
    return [v if len(v) == 3 else v + (None,) for v in tables.get(sub, [])]


KNOWN_KEYS = set()


def collect_keys(node):
    if isinstance(node, dict):
        for k, v in node.items():
            KNOWN_KEYS.add(k)
            collect_keys(v)
    elif isinstance(node, list):
        for v in node:
            collect_keys(v)


def misspell(key, n):
    """A misspelling of key that is no key the configuration knows."""
    ways = [
        lambda k: k[:-1] + k[-1].upper() if k[-1].isalpha() else k + "x",
        lambda k: k[0].upper() + k[1:],
        lambda k: k + " ",
        lambda k: k.replace("_", "-") if "_" in k else k + "s",
        lambda k: k[1] + k[0] + k[2:] if len(k) > 2 and k[0] != k[1] else k + "_",
        lambda k: k[:len(k) // 2] + "\u0001" + k[len(k) // 2:],
    ]
    for i in range(len(ways)):
        m = ways[(n + i) % len(ways)](key)
        if m != key and m not in KNOWN_KEYS:
            return m
    return key + "_x"


def candidates(base, path, idx, files):
    """Every mutant of one key path: (priority mutants, the rest)."""
    kind = kind_of(path)
    parent = get(base, path[:-1])
    value = get(base, path)
    last = path[-1]
    name = dotted(path)
    pname = dotted(path[:-1])
    first, rest = [], []

    def tokens_for(extra=()):
        t = [("path", name)]
        if isinstance(last, str):
            t.append(("word", last))
        return t + list(extra)

    def replaced(v):
        # built when the mutant is written: most candidates are never chosen
        return lambda: put(copy.deepcopy(base), path, Mark(v))

    # deletion
    tree = copy.deepcopy(base)
    del get(tree, path[:-1])[last]
    if isinstance(parent, list):
        left = len(parent) - 1
        pk = kind_of(path[:-1])
        expect = "no" if left == 0 and pk and not pk.empty else "either"
    else:
        expect = "no" if kind and kind.required else "either"
    first.append(Mutant(path, "delete", "deleted", expect, tree,
                        tokens=tokens_for([("path", pname)] if pname else [])))

    # structural: an unknown key beside it, the key twice, the key misspelled
    structural = []
    if isinstance(parent, dict):
        newkey = "fuzz_unknown_%d" % idx
        t2 = copy.deepcopy(base)
        t2 = put(t2, path[:-1], rebuild_dict(get(t2, path[:-1]), last,
                                             lambda k, v: [(k, v), (Mark(newkey), 1)]))
        structural.append(Mutant(path, "unknown", "an unknown key %r beside it" % newkey, "no",
                                 t2, tokens=[("word", newkey)]))
        t3 = copy.deepcopy(base)
        t3 = put(t3, path[:-1], rebuild_dict(get(t3, path[:-1]), last,
                                             lambda k, v: [(k, v), (Mark(k), copy.deepcopy(v))]))
        structural.append(Mutant(path, "duplicate", "the key given twice", "no", t3,
                                 tokens=tokens_for()))
        wrong = misspell(last, idx)
        t4 = copy.deepcopy(base)
        t4 = put(t4, path[:-1], rebuild_dict(get(t4, path[:-1]), last,
                                             lambda k, v: [(Mark(wrong), v)]))
        shown = "".join("?" if ord(c) < 0x20 else c for c in wrong)
        structural.append(Mutant(path, "misspell", "misspelled as %s" % json.dumps(wrong),
                                 "no", t4, tokens=[("word", shown)]))
    else:
        pk = kind_of(path[:-1])
        t2 = copy.deepcopy(base)
        lst = get(t2, path[:-1])
        lst.insert(last + 1, Mark(copy.deepcopy(value)))
        # a repeated rule, role, host, ... is refused; a repeated day or webhook need not be
        exp = "no" if pk and pk.t in ("list", "star") and pk.sub != "date" else "either"
        structural.append(Mutant(path, "dup_item", "the item given twice", exp, t2,
                                 tokens=[("path", dotted(path[:-1]))]))
        t3 = copy.deepcopy(base)
        get(t3, path[:-1]).insert(last + 1, Mark({"fuzz": [1]} if isinstance(value, str)
                                                 else "fuzz"))
        structural.append(Mutant(path, "add_item", "an item of the wrong type after it",
                                 "no", t3, tokens=[("path", dotted(path[:-1]))]))
    if isinstance(parent, dict):
        longkey = "k%d_" % idx + "k" * 10240
        t5 = copy.deepcopy(base)
        t5 = put(t5, path[:-1], rebuild_dict(get(t5, path[:-1]), last,
                                             lambda k, v: [(k, v), (Mark(longkey), 1)]))
        structural.append(Mutant(path, "unknown", "an unknown key of 10 KB beside it", "no",
                                 t5, tokens=[("sub", longkey[:40])]))
    first.append(structural[idx % len(structural)])
    rest.extend(s for i, s in enumerate(structural) if i != idx % len(structural))

    if kind is None:
        return first, rest

    # other JSON types
    types = []
    for label, v in TYPE_VALUES:
        if not isinstance(v, Raw) and v == value and type(v) is type(value):
            continue
        exp = type_expect(kind, v)
        tok = tokens_for()
        types.append(Mutant(path, "type", "replaced by %s" % label, exp, replaced(v),
                            tokens=tok, secret=None))
    # integers at and beyond the range's ends
    if kind.t == "int":
        for v, exp in ((kind.lo - 1, "no"), (kind.hi + 1, "no"), (kind.lo, "either"),
                       (kind.hi, "either"), (-2 ** 31 - 1, "no"), (2 ** 31, "no")):
            types.append(Mutant(path, "type", "replaced by %d" % v, exp, replaced(v),
                                tokens=tokens_for()))
    # plausible but wrong strings (and the items of a list of them)
    sem = []
    if kind.t == "str" and kind.sub:
        for v, exp, sec in semantic_values(kind.sub, files, base):
            if v == value:
                continue
            if kind.sub == "conninfo" and path[0] == "state" and exp == "runtime":
                exp = "either"
            s = sec or (v if kind.sub == "whsec" and len(v) >= 16 else None)
            sem.append(Mutant(path, "semantic", "replaced by %s" % short(v), exp, replaced(v),
                              tokens=tokens_for(), secret=s, warn=exp == "warn"))
    if name == "web.listen":
        sem.append(Mutant(path, "semantic", "the same as http.listen", "no",
                          replaced(base["http"]["listen"]), tokens=tokens_for()))
    if kind.t in ("list", "star") and kind.sub:
        for v, exp, sec in semantic_values(kind.sub, files, base)[:3]:
            sem.append(Mutant(path, "semantic", "replaced by [%s]" % short(v),
                              exp, replaced([v]), tokens=tokens_for(), secret=sec))
        many = MANY.get(kind.sub)
        if many:
            sem.append(Mutant(path, "semantic", "a list of 1000 distinct, valid items",
                              "either", replaced([many(i) for i in range(1000)]),
                              tokens=tokens_for()))
        sem.append(Mutant(path, "semantic", "a string where a list is wanted",
                          "no", replaced(value[0] if isinstance(value, list) and value
                                         else "x"),
                          tokens=tokens_for()))

    # null on every path (the values that mean "unset" are the ones to check against README);
    # then by rotation one other-type value a path, and each plausible-but-wrong value of a
    # kind on the first path of that kind; the rest are drawn at random up to the budget
    types.sort(key=lambda m: m.label)
    nulls = [m for m in types if m.label == "replaced by null"]
    types = [m for m in types if m not in nulls]
    first.extend(nulls)
    if types:
        first.append(types[idx % len(types)])
        rest.extend(m for i, m in enumerate(types) if i != idx % len(types))
    first.extend(extra_mutants(base, path, files))
    for m in sem:
        (first if m.label not in SEEN_SEM.setdefault(kind.sub, set()) else rest).append(m)
        SEEN_SEM[kind.sub].add(m.label)
    return first, rest


SEEN_SEM = {}

# valid items of a list, as many as wanted: a list of 1000 (README gives no limit)
MANY = {
    "email": lambda i: "viewer%d@la.example" % i,
    "ip": lambda i: "10.0.%d.%d" % (i // 250, i % 250 + 1),
    "host": lambda i: "h%d.la.example" % i,
    "category": lambda i: "C%d" % i,
    "kind": lambda i: "kind_%d" % i,
    "date": lambda i: "%04d-%02d-%02d" % (2030 + i // 300, i % 300 // 25 + 1, i % 25 + 1),
}


def extra_mutants(base, path, files):
    """Documented keys the base leaves out, and documented pairs of keys, beside path."""
    name = dotted(path)
    out = []

    def mk(label, expect, edit, tokens, warn=False, secret=None):
        tree = copy.deepcopy(base)
        edit(tree)
        out.append(Mutant(path, "extra", label, expect, tree, tokens=tokens, warn=warn,
                          secret=secret))

    pw = "pw-%s-inline" % MARKER
    if name == "email.password_file":
        mk('"password" given as well', "no",
           lambda t: t["email"].update(password=Mark(pw)),
           [("path", "email.password"), ("path", "email.password_file")])
        mk('"password" given instead (inline)', "either",
           lambda t: (t["email"].pop("password_file"), t["email"].update(password=Mark(pw))),
           [("path", "email.password")])
        mk('"password" as a number instead', "no",
           lambda t: (t["email"].pop("password_file"), t["email"].update(password=Mark(1234))),
           [("path", "email.password")])
        mk('"password": null instead, and no username', "either",
           lambda t: (t["email"].pop("password_file"), t["email"].pop("username"),
                      t["email"].update(password=Mark(None))), [("path", "email.password")])
    if name == "email.tls":
        mk('"none" to a relay that is not on this host', "warn",
           lambda t: t["email"].update(tls=Mark("none"), smtp_url="smtp://mail.la.example:25"),
           [("path", "email.tls")], warn=True)
        mk('"implicit" with an smtps:// URL', "either",
           lambda t: t["email"].update(tls=Mark("implicit"), smtp_url="smtps://127.0.0.1:465"),
           [("path", "email.tls")])
    if name == "webhooks[0].secret_file":
        mk('"secret" given as well', "no",
           lambda t: t["webhooks"][0].update(secret=Mark(files["secrets"]["whsec"])),
           [("path", "webhooks[0]"), ("path", "webhooks[0].secret")])
        mk('"secret": null beside it', "either",
           lambda t: t["webhooks"][0].update(secret=Mark(None)),
           [("path", "webhooks[0].secret")])
    if name == "web.public_url":
        mk("null, and link_secret_file null too (no links)", "either",
           lambda t: t["web"].update(public_url=Mark(None), link_secret_file=None),
           [("path", "web.public_url")])
        mk("a trailing slash", "either",
           lambda t: t["web"].update(public_url=Mark("https://driftwatch.la.example/dw/")),
           [("path", "web.public_url")])
    # "web.listen ... must differ from http.listen": the same port on every address is the
    # same socket, which the daemon then cannot bind at start (exit 1, and systemd restarts it)
    if name == "web.listen":
        port = base["http"]["listen"].rsplit(":", 1)[1]
        mk("0.0.0.0 on http.listen's port", "no",
           lambda t: t["web"].update(listen=Mark("0.0.0.0:" + port)),
           [("path", "web.listen")])
        mk("localhost on http.listen's port", "either",
           lambda t: t["web"].update(listen=Mark("localhost:" + port)),
           [("path", "web.listen")])
    if name == "http.listen":
        port = base["web"]["listen"].rsplit(":", 1)[1]
        mk("0.0.0.0 on web.listen's port", "no",
           lambda t: t["http"].update(listen=Mark("0.0.0.0:" + port)),
           [("path", "http.listen"), ("path", "web.listen")])
    if name == "state.conninfo":
        mk("the same as database.conninfo", "either",
           lambda t: t["state"].update(conninfo=Mark(t["database"]["conninfo"])),
           [("path", "state.conninfo")])
    if name == "database.conninfo":
        mk("a wrong password and a closed port", "runtime",
           lambda t: t["database"].update(conninfo=Mark(
               t["database"]["conninfo"] + " password=%s port=1" % MARKER)),
           [("path", "database.conninfo")])
        mk("a URI with a password that does not parse", "no",
           lambda t: t["database"].update(conninfo=Mark("postgresql://u:%s@[::1" % MARKER)),
           [("path", "database.conninfo")])
    if name == "rules.cp_neglect_duration.stages.15m.months":
        # RULES.md's stages go up: 15 months below 12 would fire before it
        mk("below the 12m stage's months", "either",
           lambda t: t["rules"]["cp_neglect_duration"]["stages"]["15m"].update(
               months=Mark(11)), [("path", name), ("word", "15m")])
    if name == "rules.repeat_neglect_plan.stages.12m.months":
        mk("above the 24m stage's months", "either",
           lambda t: t["rules"]["repeat_neglect_plan"]["stages"]["12m"].update(
               months=Mark(30)), [("path", name), ("word", "12m")])
    if name == "rules.was_not_brought.stages.repeated.count":
        mk("below the vulnerable stage's count", "either",
           lambda t: t["rules"]["was_not_brought"]["stages"]["repeated"].update(
               count=Mark(1)), [("path", name), ("word", "repeated")])
    return out


def key_mutants(base, files, rng):
    paths = list(walk(base))
    first, rest = [], []
    for i, p in enumerate(paths):
        f, r = candidates(base, p, i, files)
        first += f
        rest += r
    rng.shuffle(rest)
    extra = max(0, BUDGET - len(first))
    chosen = rest[:extra]
    return paths, first + chosen, len(first) + len(rest)


def whole_file_mutants(base_text, files, tmp):
    """(name, expect, bytes or None, path to give or None)."""
    half = base_text[:len(base_text) * 6 // 10]
    pad = len(base_text)
    under = base_text.rstrip(b"\n") + b" " * (1024 * 1024 - pad - 16) + b"\n"
    big = (b'{"padding": "' + b"x" * (10 * 1024 * 1024) + b'",' + base_text.lstrip()[1:])
    loop = os.path.join(tmp, "loop.json")
    if not os.path.lexists(loop):
        os.symlink(loop, loop)
    fifo = os.path.join(tmp, "config-fifo.json")
    if not os.path.exists(fifo):
        os.mkfifo(fifo, 0o600)
    deep_obj = b'{"database": ' * 10000 + b"1" + b"}" * 10000
    return [
        ("an empty file", "no", b"", None),
        ("only white space", "no", b" \n\t\n", None),
        ('"[]"', "no", b"[]", None),
        ('"null"', "no", b"null", None),
        ('"0"', "no", b"0", None),
        ('a string', "no", b'"database"', None),
        ('"{}" (no database)', "no", b"{}", None),
        ("the configuration cut at 60%", "no", half, None),
        ("the configuration cut after its first byte", "no", base_text[:1], None),
        ("a UTF-8 byte-order mark, then the configuration", "either",
         b"\xef\xbb\xbf" + base_text, None),
        ("two byte-order marks", "no", b"\xef\xbb\xbf\xef\xbb\xbf" + base_text, None),
        ("the configuration in UTF-16", "no",
         base_text.decode("utf-8").encode("utf-16"), None),
        ("CRLF line ends", "either", base_text.replace(b"\n", b"\r\n"), None),
        ("padded with spaces to just under 1 MiB", "either", under, None),
        ("10 MB of JSON", "no", big, None),
        ("arrays nested 10,000 deep", "no", b"[" * 10000 + b"]" * 10000, None),
        ("objects nested 10,000 deep", "no", deep_obj, None),
        ("a NUL byte after the object", "no", base_text + b"\0", None),
        ("a second object after it", "no", base_text + b"{}", None),
        ("a // comment", "no", b"// driftwatch\n" + base_text, None),
        ("a trailing comma", "no", base_text.rstrip().rstrip(b"}") + b',}', None),
        ("single quotes", "no", base_text.replace(b'"', b"'"), None),
        ("invalid UTF-8 in a key", "no", base_text.replace(b'"timezone"', b'"time\xffzone"'),
         None),
        ("a byte 0x01 raw in a string", "no",
         base_text.replace(b'"Europe/London"', b'"Europe/\x01London"'), None),
        ("a path that does not exist", "no", None, os.path.join(tmp, "no-such.json")),
        ("a directory", "no", None, tmp),
        ("a FIFO", "no", None, fifo),
        ("/dev/zero", "no", None, "/dev/zero"),
        ("a symbolic link to itself", "no", None, loop),
        ("an empty path", "no", None, ""),
    ]


# ---------------------------------------------------------------------------------------------
# running and judging

def daemon_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    for k in ("CREDENTIALS_DIRECTORY", "TZDIR"):
        env.pop(k, None)
    return env


ENV = None
DEADLINE = [None]   # runs not begun by then are not run: a daemon that hangs on every input


class Result:
    def __init__(self, rc, out, err, secs):
        self.rc, self.out, self.err, self.secs = rc, out, err, secs


def run(cfg, *args):
    t0 = time.monotonic()
    if DEADLINE[0] is not None and t0 > DEADLINE[0]:
        return Result("not run", b"", b"", 0.0)
    try:
        p = subprocess.run([lib.DAEMON, "-c", cfg] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT, env=ENV)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or b"", e.stderr or b""
    return Result(rc, out.decode("utf-8", "replace") if isinstance(out, bytes) else out,
                  err.decode("utf-8", "replace") if isinstance(err, bytes) else err,
                  time.monotonic() - t0)


def bounded(s, a):
    """s appears in line a with no name character either side."""
    for m in re.finditer(re.escape(s), a):
        before = a[m.start() - 1] if m.start() > 0 else " "
        after = a[m.end()] if m.end() < len(a) else " "
        if not (before.isalnum() or before == "_") and \
                not (after.isalnum() or after == "_"):
            return True
    return False


def named_line(m, lines):
    """The first line that names the mutant's fault, or None."""
    for line in lines:
        for how, tok in m.tokens:
            if how == "path" and tok and bounded(tok, line):
                return line
            if how == "sub" and tok in line:
                return line
            if how == "word" and tok and (bounded(tok, line) or
                                          ('"%s"' % tok) in line or ("'%s'" % tok) in line):
                return line
        if m.line is not None:
            for n in re.findall(r"\bline (\d+), column \d+", line):
                if abs(int(n) - m.line) <= 1:
                    return line
    return None


def judge(m, r, secrets):
    """(problems, the line to show, whether accepted only as an undocumented unset)."""
    probs = []
    allowed = (0, 2, 1) if m.expect == "runtime" else (0, 2)
    if r.rc == "timeout":
        probs.append("did not exit within %d s" % TIMEOUT)
    elif r.rc == "not run":
        probs.append("not run: the test's %d s were spent (daemons that hung?)" % BUDGET_S)
    elif r.rc < 0:
        probs.append("killed by signal %d" % -r.rc)
    elif r.rc not in allowed:
        probs.append("exit status %d (expected 0 or 2)" % r.rc)
    both = r.err + r.out
    if any(s in both for s in SANITIZER):
        probs.append("a sanitizer report")
    for s in secrets + ([m.secret] if m.secret else []):
        if s and s in both:
            probs.append("printed a secret (%s...)" % s[:12])
            break
    name = m.file or ""
    lines = [ln for ln in r.err.splitlines() if name in ln]
    faults = [ln for ln in lines if "warning:" not in ln and "checked for its form" not in ln]
    shown = None
    if r.rc == 0:
        if m.expect == "no":
            probs.append("accepted (exit 0) what it must refuse")
        if m.warn:
            w = [ln for ln in lines if "warning" in ln]
            shown = named_line(m, w)
            if not shown:
                probs.append("accepted a secret readable by everyone without a warning "
                             "naming the key")
        shown = shown or "accepted"
    elif r.rc in (1, 2):
        if not faults:
            probs.append("no message names the file %s" % (name or '""'))
        else:
            if m.tokens or m.line is not None:
                shown = named_line(m, faults)
                if not shown:
                    probs.append("no message names the key or the line (looked for %s%s)" % (
                        ", ".join(repr(t) for _, t in m.tokens),
                        ", line %d" % m.line if m.line is not None else ""))
            shown = shown or faults[0]
    if shown and name:
        shown = shown.replace(name, "FILE")
    undoc = r.rc == 0 and m.expect == "undoc"
    return probs, shown, undoc


def fail_diag(m, r, probs):
    err = r.err if len(r.err) < 4000 else r.err[:4000] + "\n... (%d bytes)" % len(r.err)
    return "%s\n  -> %s\n  exit %s; stderr:\n%s" % (m.describe(), "; ".join(probs), r.rc,
                                                    "\n".join("    " + x for x in
                                                              err.splitlines()[:40]))


# ---------------------------------------------------------------------------------------------

def body(t, tmp):
    global ENV
    ENV = daemon_env()
    started = time.monotonic()
    rng = random.Random(SEED)
    t.note("seed %d (CONFIG_FUZZ_SEED), budget %d key mutants, %d at once" %
           (SEED, BUDGET, JOBS))

    db = lib.Db(DBNAME)
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    try:
        fuzz(t, tmp, db, rng, started)
    finally:
        db.drop()


def fuzz(t, tmp, db, rng, started):
    files = make_files(tmp)
    base = base_config(db, files)
    collect_keys(base)
    secrets = [v for v in files["secrets"].values()] + [MARKER]
    base_text, _ = render(base)
    base_path = os.path.join(tmp, "base.json")
    write_file(base_path, base_text)

    # 1. the base is good
    r = run(base_path, "--check-config")
    m0 = Mutant((), "base", "the base configuration", "either")
    m0.file = base_path
    probs, _, _ = judge(m0, r, secrets)
    if r.rc != 0:
        probs.append("exit %s, not 0" % r.rc)
    if not t.check(not probs, "the rich base configuration (every documented key) passes "
                   "--check-config", fail_diag(m0, r, probs)):
        return
    r = run(base_path, "--once", "--dry-run", "--as-of", AS_OF)
    alerts, _ = lib.dry_run_alerts(r.out)
    probs, _, _ = judge(m0, r, secrets)
    t.check(r.rc == 0 and not probs and alerts,
            "the base configuration runs --once --dry-run (exit 0, %d alerts)" % len(alerts),
            fail_diag(m0, r, probs + ["exit %s, %d alerts" % (r.rc, len(alerts))]))

    # 2. the mutants
    unknown = [dotted(p) for p in walk(base) if kind_of(p) is None]
    t.check(not unknown, "every key path of the base configuration has its documented kind",
            "no kind for: " + ", ".join(unknown))
    paths, muts, n_cand = key_mutants(base, files, rng)
    mdir = os.path.join(tmp, "m")
    os.makedirs(mdir)
    for i, m in enumerate(muts):
        data, m.line = render(m.tree() if callable(m.tree) else m.tree)
        if m.op in ("delete",):
            m.line = None    # a member missing has no line
        m.file = os.path.join(mdir, "%04d.json" % i)
        write_file(m.file, data)
        m.tree = None
    whole = []
    for i, (label, exp, data, given) in enumerate(whole_file_mutants(base_text, files, tmp)):
        m = Mutant((), "file", label, exp)
        if data is not None:
            m.file = os.path.join(mdir, "file-%02d.json" % i)
            write_file(m.file, data)
        else:
            m.file = given
        whole.append(m)
    t.note("%d key paths, %d key mutants chosen of %d, %d whole-file mutants" %
           (len(paths), len(muts), n_cand, len(whole)))

    every = muts + whole
    DEADLINE[0] = started + BUDGET_S
    with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as ex:
        for m, r in zip(every, ex.map(lambda m: run(m.file, "--check-config"), every)):
            m.result = r
    slowest = max(every, key=lambda m: m.result.secs)
    t.note("%d runs of --check-config in %.1f s (slowest %.1f s: %s)" % (
        len(every), sum(m.result.secs for m in every), slowest.result.secs,
        slowest.describe()))

    # 3. one result line per key path
    by_path = {}
    for m in muts:
        by_path.setdefault(m.path, []).append(m)
    undocumented, runtime = [], []
    for p in paths:
        ms = by_path.get(p, [])
        if not ms:
            continue
        bad, notes = [], []
        for m in ms:
            probs, shown, undoc = judge(m, m.result, secrets)
            if probs:
                bad.append(fail_diag(m, m.result, probs))
            if undoc:
                undocumented.append(m.describe())
            if m.result.rc == 1:
                runtime.append("%s: %s" % (m.describe(), (shown or "")[:200]))
            notes.append("%s: exit %s: %s" % (m.label, m.result.rc, (shown or "")[:220]))
        t.check(not bad, "%s: %d mutants exit 0 or 2 with no sanitizer report, refused when "
                "wrong, the fault named" % (dotted(p), len(ms)), *bad)
        if not QUIET:
            for n in notes:
                t.note("  " + n)
    for m in whole:
        probs, shown, _ = judge(m, m.result, secrets)
        t.check(not probs, "whole file: %s: exit %s, no sanitizer report%s" % (
            m.label, m.result.rc, ", the file named" if m.result.rc == 2 else ""),
            fail_diag(m, m.result, probs) if probs else None)
        if not QUIET:
            t.note("  %s" % (shown or "")[:220])
    if undocumented:
        t.note("accepted (exit 0) as \"unset\" where README.md does not say null is allowed:")
        for u in undocumented:
            t.note("  " + u)
    if runtime:
        t.note("exit 1 (README: \"database unreachable\"), not 2, for these connection strings:")
        for u in runtime:
            t.note("  " + u)

    # 4. a few refused mutants through the daemon's own start, --once --dry-run: refused there
    # too (exit 2, the fault named); and a few accepted ones, which must run (exit 0)
    def file_kind(m):
        k = kind_of(m.path)
        return bool(k and (k.sub or "").startswith("file_"))

    def pick(pool, n):
        rng.shuffle(pool)
        out, seen = [], set()
        for m in pool:
            if m.path[0] not in seen or len(seen) >= 12:
                out.append(m)
                seen.add(m.path[0])
            if len(out) >= n:
                break
        return out

    refused = pick([m for m in muts if m.expect == "no" and m.result.rc == 2 and
                    m.op in ("type", "semantic", "unknown", "misspell", "duplicate") and
                    m.path[0] not in ("database", "state") and not file_kind(m)], DRY_RUNS)
    refused += [w for w in whole if w.label in ("a FIFO", "arrays nested 10,000 deep")]
    accepted = pick([m for m in muts if m.expect != "no" and m.result.rc == 0 and
                     m.op in ("type", "semantic", "extra") and
                     m.path[0] not in ("database", "state") and not file_kind(m)], 10)
    picked = refused + accepted
    with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as ex:
        runs = list(ex.map(lambda m: run(m.file, "--once", "--dry-run", "--as-of", AS_OF),
                           picked))
    for m, r in zip(picked, runs):
        want = 2 if m in refused else 0
        probs, shown, _ = judge(m, r, secrets)
        if r.rc != want:
            probs.append("--once --dry-run exit %s, expected %d (--check-config's exit)"
                         % (r.rc, want))
        t.check(not probs, "--once --dry-run %s %s (exit %d%s)" % (
            "refuses" if want else "runs with", m.describe()[:120], want,
            ", the fault named" if want else ", no sanitizer report"),
            fail_diag(m, r, probs) if probs else None)
        if not QUIET and shown:
            t.note("  " + shown[:220])
    t.note("took %.1f s" % (time.monotonic() - started))


def main():
    t = tap.Tap()
    rc = lib.run_test(t, "config_fuzz", lambda procs, tmp: body(t, tmp))
    print("# %d passed, %d failed" % (t.passed, t.failed), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
