"""tap: result lines for the Python tests and the probes the shell tests run, in the form
tests/run.sh counts: `ok - NAME`, `not ok - NAME` with `#   ` diagnostic lines under it, `# `
notes. tests/lib/tap.sh is the shell side, tests/lib/tap.h the C side.

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    import tap
    tap.ok(cond, "name", diagnostic, ...)   # returns cond
    tap.note("text")                        # a `# text` line per line of text
    sys.exit(1 if tap.failures else 0)

A test that hands a reporter down to its parts makes one `tap.Tap()`: t.check(cond, name,
diag...), t.note(text), t.diag(text), t.passed and t.failed; every Tap and the module functions
count into the same totals.
"""

passed = 0
failures = 0
DIAG_LINES = 60  # of one diagnostic; the rest are counted, not shown


def diag(text):
    """`#   ` lines: the first DIAG_LINES of text (an empty text as one `#   `)."""
    lines = str(text).splitlines() or [""]
    for line in lines[:DIAG_LINES]:
        print("#   " + line, flush=True)
    if len(lines) > DIAG_LINES:
        print("#   ... (%d more lines)" % (len(lines) - DIAG_LINES), flush=True)


def note(text):
    for line in str(text).splitlines() or [""]:
        print("# " + line, flush=True)


def ok(cond, name, *diags):
    """One result line; under a failure each diagnostic given (None, False and "" are left
    out, so that `ok(c, name, d and d.text)` may pass nothing)."""
    global passed, failures
    print(("ok - " if cond else "not ok - ") + name, flush=True)
    if cond:
        passed += 1
        return cond
    failures += 1
    for d in diags:
        if d is None or d is False or d == "":
            continue
        diag(d)
    return cond


class Tap:
    """The module's functions as an object, for tests that pass a reporter to their parts."""

    def check(self, cond, name, *diags):
        return bool(ok(cond, name, *diags))

    @staticmethod
    def diag(text):
        diag(text)

    @staticmethod
    def note(text):
        note(text)

    @property
    def passed(self):
        return passed

    @property
    def failed(self):
        return failures
