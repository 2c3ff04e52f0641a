/* credentials: turns "/path" or "credential:NAME" into the file a secret is read from. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/credentials.h"

static void credentials_fail(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void credentials_fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (!err || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

bool credentials_is_reference(const char *value)
{
	return value && strncmp(value, CREDENTIALS_PREFIX, strlen(CREDENTIALS_PREFIX)) == 0;
}

/* The same test systemd applies to a credential ID: a valid file name in one directory. */
static bool credentials_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > CREDENTIALS_NAME_MAX)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return strchr(name, '/') == NULL;
}

int credentials_check(const char *key, const char *value, char *err, size_t errsz)
{
	const char *name;

	if (err && errsz)
		err[0] = '\0';
	if (!value || !*value) {
		credentials_fail(err, errsz, "%s: is empty; give an absolute path or "
				 "\"" CREDENTIALS_PREFIX "NAME\"", key);
		return -1;
	}
	if (credentials_is_reference(value)) {
		name = value + strlen(CREDENTIALS_PREFIX);
		if (!credentials_name_valid(name)) {
			credentials_fail(err, errsz,
					 "%s: \"%s\" does not name a credential: NAME after \""
					 CREDENTIALS_PREFIX "\" must be 1 to %d bytes, not \".\" or "
					 "\"..\", and without '/'", key, value, CREDENTIALS_NAME_MAX);
			return -1;
		}
		return 0;
	}
	if (value[0] != '/') {
		credentials_fail(err, errsz,
				 "%s: \"%s\" is a relative path; give an absolute path or \""
				 CREDENTIALS_PREFIX "NAME\" for a systemd credential", key, value);
		return -1;
	}
	return 0;
}

char *credentials_resolve_in(const char *key, const char *value,
			     const char *credentials_directory, char *err, size_t errsz)
{
	const char *name;
	char *path;
	size_t dlen;

	if (credentials_check(key, value, err, errsz) < 0)
		return NULL;
	if (!credentials_is_reference(value)) {
		path = strdup(value);
		if (!path)
			credentials_fail(err, errsz, "%s: out of memory", key);
		return path;
	}
	name = value + strlen(CREDENTIALS_PREFIX);
	if (!credentials_directory || !*credentials_directory) {
		credentials_fail(err, errsz,
				 "%s: credential \"%s\" needs $CREDENTIALS_DIRECTORY, which is unset: "
				 "run under systemd with LoadCredential=%s:FILE, or give the file's "
				 "absolute path", key, name, name);
		return NULL;
	}
	if (credentials_directory[0] != '/') {
		credentials_fail(err, errsz,
				 "%s: $CREDENTIALS_DIRECTORY \"%s\" is not an absolute path", key,
				 credentials_directory);
		return NULL;
	}
	dlen = strlen(credentials_directory);
	/* "/run/credentials/x.service/" and "/run/credentials/x.service" name the same place. */
	while (dlen > 1 && credentials_directory[dlen - 1] == '/')
		dlen--;
	path = malloc(dlen + 1 + strlen(name) + 1);
	if (!path) {
		credentials_fail(err, errsz, "%s: out of memory", key);
		return NULL;
	}
	memcpy(path, credentials_directory, dlen);
	if (path[dlen - 1] != '/') /* only "/" itself still ends in one */
		path[dlen++] = '/';
	strcpy(path + dlen, name);
	return path;
}

char *credentials_resolve(const char *key, const char *value, char *err, size_t errsz)
{
	return credentials_resolve_in(key, value, getenv("CREDENTIALS_DIRECTORY"), err, errsz);
}
