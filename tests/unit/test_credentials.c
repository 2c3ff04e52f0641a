/* Unit tests of daemon/credentials.c: absolute paths, "credential:NAME" references and refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driftwatch/credentials.h"
#include "tap.h"

#define KEY "email.password_file"
#define DIR "/run/credentials/driftwatch.service"

/* Resolves and compares; want NULL means an error is expected and err must name the key. */
static void check_resolve(const char *value, const char *dir, const char *want, const char *what)
{
	char err[512] = "x";
	char *got = credentials_resolve_in(KEY, value, dir, err, sizeof(err));

	tap_str(got, want, "%s", what);
	if (want)
		tap_str(err, "", "%s: no error text", what);
	else
		tap_contains(err, KEY ":", "%s: the error names the key", what);
	free(got);
}

static void test_paths(void)
{
	check_resolve("/etc/driftwatch/credentials/smtp-password", DIR,
		      "/etc/driftwatch/credentials/smtp-password", "an absolute path is used as is");
	check_resolve(DIR "/smtp-password", NULL, DIR "/smtp-password",
		      "the fixed credential path works without $CREDENTIALS_DIRECTORY");
	check_resolve("smtp-password", DIR, NULL, "a relative path is refused");
	check_resolve("./smtp-password", DIR, NULL, "a ./relative path is refused");
	check_resolve("", DIR, NULL, "an empty value is refused");
	check_resolve(NULL, DIR, NULL, "a missing value is refused");
}

static void test_references(void)
{
	char err[512];
	char *got;

	check_resolve("credential:smtp-password", DIR, DIR "/smtp-password",
		      "credential:NAME is NAME in $CREDENTIALS_DIRECTORY");
	check_resolve("credential:hook-secret", DIR "/", DIR "/hook-secret",
		      "a trailing slash on $CREDENTIALS_DIRECTORY is not doubled");
	check_resolve("credential:x", "/", "/x", "a root $CREDENTIALS_DIRECTORY gives /NAME");
	check_resolve("credential:team-hook.secret", "/run/credentials/driftwatch@north.service",
		      "/run/credentials/driftwatch@north.service/team-hook.secret",
		      "the directory follows the unit's name");
	check_resolve("credential:", DIR, NULL, "an empty credential name is refused");
	check_resolve("credential:..", DIR, NULL, "credential:.. is refused");
	check_resolve("credential:.", DIR, NULL, "credential:. is refused");
	check_resolve("credential:../etc/shadow", DIR, NULL, "a name with '/' is refused");
	check_resolve("credential:smtp-password", "run/credentials", NULL,
		      "a relative $CREDENTIALS_DIRECTORY is refused");
	check_resolve("credential:smtp-password", "", NULL,
		      "an empty $CREDENTIALS_DIRECTORY is refused");

	got = credentials_resolve_in(KEY, "credential:smtp-password", NULL, err, sizeof(err));
	tap_ok(got == NULL, "a reference without $CREDENTIALS_DIRECTORY is refused");
	tap_contains(err, "CREDENTIALS_DIRECTORY", "the error names $CREDENTIALS_DIRECTORY");
	tap_contains(err, "\"smtp-password\"", "the error names the credential");
	tap_contains(err, "LoadCredential=smtp-password:", "the error says how to pass it");
	free(got);
}

static void test_name_length(void)
{
	char value[sizeof(CREDENTIALS_PREFIX) + CREDENTIALS_NAME_MAX + 1];
	char err[512];
	size_t p = strlen(CREDENTIALS_PREFIX);

	memcpy(value, CREDENTIALS_PREFIX, p);
	memset(value + p, 'a', CREDENTIALS_NAME_MAX);
	value[p + CREDENTIALS_NAME_MAX] = '\0';
	tap_int(credentials_check(KEY, value, err, sizeof(err)), 0,
		"a name of CREDENTIALS_NAME_MAX bytes is accepted");
	value[p + CREDENTIALS_NAME_MAX] = 'a';
	value[p + CREDENTIALS_NAME_MAX + 1] = '\0';
	tap_int(credentials_check(KEY, value, err, sizeof(err)), -1,
		"a name one byte longer is refused");
}

static void test_check_and_env(void)
{
	char err[512];
	char *got;

	tap_ok(credentials_is_reference("credential:x"), "credential:x is a reference");
	tap_ok(!credentials_is_reference("/run/credentials/x"), "a path is not a reference");
	tap_ok(!credentials_is_reference(NULL), "NULL is not a reference");
	tap_int(credentials_check(KEY, "credential:smtp-password", err, sizeof(err)), 0,
		"credentials_check accepts a reference without the environment");
	tap_int(credentials_check(KEY, "secrets/smtp", err, sizeof(err)), -1,
		"credentials_check refuses a relative path");
	tap_contains(err, "\"secrets/smtp\" is a relative path", "the error quotes the value");

	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/test.service", 1);
	got = credentials_resolve(KEY, "credential:hook-secret", err, sizeof(err));
	tap_str(got, "/run/credentials/test.service/hook-secret",
		"credentials_resolve reads $CREDENTIALS_DIRECTORY");
	free(got);
	unsetenv("CREDENTIALS_DIRECTORY");
	got = credentials_resolve(KEY, "credential:hook-secret", err, sizeof(err));
	tap_ok(got == NULL, "credentials_resolve refuses a reference when it is unset");
	free(got);
}

/* Without a key (config.c adds it), a message starts with the credential it is about. */
static void test_messages(void)
{
	static const char start[] = "credential \"a/b\": is not a credential name";
	char err[512];

	tap_int(credentials_check(NULL, "credential:a/b", err, sizeof(err)), -1,
		"a name with '/' is refused without a key too");
	tap_ok(strncmp(err, start, strlen(start)) == 0,
	       "without a key the message starts with the credential");
	tap_int(credentials_check(NULL, "credential:a\nb\x7f", err, sizeof(err)), -1,
		"a name with control characters is refused");
	tap_contains(err, "credential \"a?b?\"", "control characters are shown as '?'");
	tap_lacks(err, "\n", "the message stays one line");
	free(credentials_resolve_in(NULL, "credential:x", NULL, err, sizeof(err)));
	tap_contains(err, "credential \"x\": $CREDENTIALS_DIRECTORY is unset", "unset is said so");
	free(credentials_resolve_in(NULL, "credential:x", "", err, sizeof(err)));
	tap_contains(err, "credential \"x\": $CREDENTIALS_DIRECTORY is empty", "empty is said so");
}

/* credentials_locate: a reference must be there; a plain path is left to its reader. */
static void test_locate(void)
{
	const char *base = getenv("TEST_TMPDIR");
	char dir[256], file[300], want[400], err[512];
	FILE *f;
	char *got;

	snprintf(dir, sizeof(dir), "%s/test_credentials.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(file, sizeof(file), "%s/hook-secret", dir);
	if (!(f = fopen(file, "w")) || fclose(f) != 0) {
		perror(file);
		exit(2);
	}
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	got = credentials_locate(KEY, "credential:hook-secret", err, sizeof(err));
	tap_str(got, file, "a credential that is there is located");
	free(got);

	got = credentials_locate(KEY, "credential:hook-secrt", err, sizeof(err));
	tap_ok(got == NULL, "a credential that is not there is refused");
	snprintf(want, sizeof(want),
		 KEY ": credential \"hook-secrt\": %s/hook-secrt does not exist", dir);
	tap_contains(err, want, "the error names the key, the credential and the file");
	tap_contains(err, "LoadCredential=hook-secrt:FILE", "the error says what the unit needs");
	free(got);

	got = credentials_locate(KEY, "/nonexistent/hook-secret", err, sizeof(err));
	tap_str(got, "/nonexistent/hook-secret", "a plain path is not looked at");
	free(got);
	got = credentials_locate(KEY, "relative/hook-secret", err, sizeof(err));
	tap_ok(got == NULL, "credentials_locate still refuses a relative path");
	free(got);

	unsetenv("CREDENTIALS_DIRECTORY");
	got = credentials_locate(KEY, "credential:hook-secret", err, sizeof(err));
	tap_ok(got == NULL && strstr(err, "$CREDENTIALS_DIRECTORY is unset"),
	       "credentials_locate without $CREDENTIALS_DIRECTORY is refused");
	free(got);
	remove(file);
	rmdir(dir);
}

int main(void)
{
	test_paths();
	test_references();
	test_name_length();
	test_check_and_env();
	test_messages();
	test_locate();
	return tap_status();
}
