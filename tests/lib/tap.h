/* tap: a tiny TAP-like helper for the C tests, unit and integration. Each check prints one line,
 * "ok - NAME" or "not ok - NAME"; a failure adds "#" lines with file:line and the values.
 * tests/run.sh counts the lines, so there is no plan and no summary. main() ends with
 * "return tap_status();".
 *
 *   tap_ok(cond, "name %d", i)             cond is true
 *   tap_int(got, want, "name")             two integers are equal
 *   tap_str(got, want, "name")             two strings (or NULLs) are equal
 *   tap_contains(hay, needle, "name")      hay (non-NULL) contains needle
 *   tap_lacks(hay, needle, "name")         hay (NULL counts as empty) does not contain needle
 *   tap_survives(fn, arg, "name")          fn(arg), run in a child process, returns: no crash,
 *                                          no sanitizer report (for "takes NULL" checks)
 *   tap_diag("fmt", ...)                   a "# ..." line
 *
 * The *_at forms take the file and line, for helpers that check on their caller's behalf. */
#ifndef DRIFTWATCH_TAP_H
#define DRIFTWATCH_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Failures so far; only tests include this, so the one global is theirs. */
static int tap_failures;

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline bool tap_ok_at(const char *file, int line, bool cond, const char *expr,
			     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static inline bool tap_int_at(const char *file, int line, long long got, long long want,
			      const char *expr, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static inline bool tap_str_at(const char *file, int line, const char *got, const char *want,
			      const char *expr, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static inline bool tap_contains_at(const char *file, int line, const char *hay,
				   const char *needle, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static inline bool tap_lacks_at(const char *file, int line, const char *hay, const char *needle,
				const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static inline bool tap_survives_at(const char *file, int line, void (*fn)(void *), void *arg,
				   const char *expr, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Prints the result line; flushed at once so a crash later keeps every line before it. */
static inline void tap_result(bool pass, const char *fmt, va_list ap)
{
	fputs(pass ? "ok - " : "not ok - ", stdout);
	vfprintf(stdout, fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	if (!pass)
		tap_failures++;
}

static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* A labelled value ("got:"), one "#" line per line of it so a multi-line value stays a
 * diagnostic; the label is on the first line only. */
static inline void tap_diag_value(const char *label, const char *s)
{
	if (!s) {
		tap_diag("  %-5s NULL", label);
		return;
	}
	do {
		const char *nl = strchr(s, '\n');
		int n = nl ? (int)(nl - s) : (int)strlen(s);

		tap_diag("  %-5s \"%.*s\"", label, n, s);
		label = "";
		s = nl ? nl + 1 : NULL;
	} while (s);
}

static inline bool tap_ok_at(const char *file, int line, bool cond, const char *expr,
			     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_result(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		tap_diag("  at %s:%d: %s", file, line, expr);
	return cond;
}

static inline bool tap_int_at(const char *file, int line, long long got, long long want,
			      const char *expr, const char *fmt, ...)
{
	va_list ap;
	bool pass = got == want;

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		tap_diag("  at %s:%d: %s is %lld, want %lld", file, line, expr, got, want);
	return pass;
}

static inline bool tap_str_at(const char *file, int line, const char *got, const char *want,
			      const char *expr, const char *fmt, ...)
{
	va_list ap;
	bool pass = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		tap_diag("  at %s:%d: %s", file, line, expr);
		tap_diag_value("got:", got);
		tap_diag_value("want:", want);
	}
	return pass;
}

static inline bool tap_contains_at(const char *file, int line, const char *hay,
				   const char *needle, const char *fmt, ...)
{
	va_list ap;
	bool pass = hay && strstr(hay, needle) != NULL;

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		tap_diag("  at %s:%d: missing text", file, line);
		tap_diag_value("in:", hay);
		tap_diag_value("want:", needle);
	}
	return pass;
}

static inline bool tap_lacks_at(const char *file, int line, const char *hay, const char *needle,
				const char *fmt, ...)
{
	va_list ap;
	bool pass = !hay || strstr(hay, needle) == NULL;

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		tap_diag("  at %s:%d: unwanted text", file, line);
		tap_diag_value("in:", hay);
		tap_diag_value("text:", needle);
	}
	return pass;
}

/* In a child so that a crash is this check's failure and the checks after it still run. A
 * sanitizer's report ends the child with a non-zero status; _exit skips the leak check, which
 * the whole test's own exit still makes. */
static inline bool tap_survives_at(const char *file, int line, void (*fn)(void *), void *arg,
				   const char *expr, const char *fmt, ...)
{
	va_list ap;
	int st = 0;
	pid_t pid;
	bool pass;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	pass = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (pass)
		return true;
	if (pid < 0)
		tap_diag("  at %s:%d: %s: fork failed", file, line, expr);
	else if (WIFSIGNALED(st))
		tap_diag("  at %s:%d: %s: killed by signal %d", file, line, expr, WTERMSIG(st));
	else
		tap_diag("  at %s:%d: %s: exited with status %d", file, line, expr, WEXITSTATUS(st));
	return false;
}

/* What main returns: run.sh also counts a non-zero exit without "not ok" as a failure. */
static inline int tap_status(void)
{
	return tap_failures ? 1 : 0;
}

#define tap_ok(cond, ...) tap_ok_at(__FILE__, __LINE__, (cond), #cond, __VA_ARGS__)
#define tap_int(got, want, ...) \
	tap_int_at(__FILE__, __LINE__, (long long)(got), (long long)(want), #got, __VA_ARGS__)
#define tap_str(got, want, ...) tap_str_at(__FILE__, __LINE__, (got), (want), #got, __VA_ARGS__)
#define tap_contains(hay, needle, ...) \
	tap_contains_at(__FILE__, __LINE__, (hay), (needle), __VA_ARGS__)
#define tap_lacks(hay, needle, ...) tap_lacks_at(__FILE__, __LINE__, (hay), (needle), __VA_ARGS__)
#define tap_survives(fn, arg, ...) \
	tap_survives_at(__FILE__, __LINE__, (fn), (arg), #fn, __VA_ARGS__)

#endif
