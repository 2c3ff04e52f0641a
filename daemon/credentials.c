/* credentials: turns "/path" or "credential:NAME" into the file a secret is read from. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driftwatch/credentials.h"
#include "driftwatch/errmsg.h"

/* Of a name, path or value quoted back in a message: enough to recognise it, not a flood. */
#define CREDENTIALS_SHOW_MAX 120

/* s for a one-line message: control characters (which would garble the log line or forge
 * another) as '?', cut on a UTF-8 character boundary with "..." when long. */
static const char *credentials_show(const char *s, char *buf, size_t cap)
{
	size_t n = strlen(s), o;
	bool cut = n > CREDENTIALS_SHOW_MAX;

	if (cut) {
		n = CREDENTIALS_SHOW_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	for (o = 0; o < n && o + 4 < cap; o++) {
		unsigned char c = (unsigned char)s[o];

		buf[o] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	snprintf(buf + o, cap - o, "%s", cut || o < n ? "..." : "");
	return buf;
}

bool credentials_is_reference(const char *value)
{
	return value && strncmp(value, CREDENTIALS_PREFIX, strlen(CREDENTIALS_PREFIX)) == 0;
}

/* The test systemd applies to a credential ID (a valid file name in one directory), and no
 * control characters, which no real credential has and every message would have to hide. */
static bool credentials_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > CREDENTIALS_NAME_MAX)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return strchr(name, '/') == NULL;
}

static int credentials_check_name(const char *key, const char *name, char *err, size_t errsz)
{
	char shown[CREDENTIALS_SHOW_MAX + 8];

	if (credentials_name_valid(name))
		return 0;
	errmsg_prefixed(err, errsz, key,
			 "credential \"%s\": is not a credential name: NAME in \""
			 CREDENTIALS_PREFIX "NAME\" must be 1 to %d bytes without '/' or control "
			 "characters, and not \".\" or \"..\"",
			 credentials_show(name, shown, sizeof(shown)), CREDENTIALS_NAME_MAX);
	return -1;
}

int credentials_check(const char *key, const char *value, char *err, size_t errsz)
{
	char shown[CREDENTIALS_SHOW_MAX + 8];

	if (err && errsz)
		err[0] = '\0';
	if (!value || !*value) {
		errmsg_prefixed(err, errsz, key, "is empty; give an absolute path or \""
				 CREDENTIALS_PREFIX "NAME\"");
		return -1;
	}
	if (credentials_is_reference(value))
		return credentials_check_name(key, value + strlen(CREDENTIALS_PREFIX), err, errsz);
	if (value[0] != '/') {
		errmsg_prefixed(err, errsz, key,
				 "\"%s\" is a relative path; give an absolute path or \""
				 CREDENTIALS_PREFIX "NAME\" for a systemd credential",
				 credentials_show(value, shown, sizeof(shown)));
		return -1;
	}
	return 0;
}

/* Whether credentials_directory can hold credential name; fills err when it cannot. */
static bool credentials_directory_usable(const char *key, const char *name,
					 const char *credentials_directory, char *err,
					 size_t errsz)
{
	const char *dir = credentials_directory;
	char shown[CREDENTIALS_SHOW_MAX + 8];

	if (!dir || !*dir) {
		errmsg_prefixed(err, errsz, key,
				 "credential \"%s\": $CREDENTIALS_DIRECTORY is %s: run under "
				 "systemd with LoadCredential=%s:FILE in the unit, or give the "
				 "file's absolute path", name, dir ? "empty" : "unset", name);
		return false;
	}
	if (dir[0] != '/') {
		errmsg_prefixed(err, errsz, key,
				 "credential \"%s\": $CREDENTIALS_DIRECTORY \"%s\" is not an "
				 "absolute path", name,
				 credentials_show(dir, shown, sizeof(shown)));
		return false;
	}
	return true;
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
			errmsg_prefixed(err, errsz, key, "out of memory");
		return path;
	}
	name = value + strlen(CREDENTIALS_PREFIX);
	if (!credentials_directory_usable(key, name, credentials_directory, err, errsz))
		return NULL;
	dlen = strlen(credentials_directory);
	/* "/run/credentials/x.service/" and "/run/credentials/x.service" name the same place. */
	while (dlen > 1 && credentials_directory[dlen - 1] == '/')
		dlen--;
	path = malloc(dlen + 1 + strlen(name) + 1);
	if (!path) {
		errmsg_prefixed(err, errsz, key, "out of memory");
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

char *credentials_locate(const char *key, const char *value, char *err, size_t errsz)
{
	char *path = credentials_resolve(key, value, err, errsz);
	char shown[CREDENTIALS_SHOW_MAX + 8];
	const char *name;
	int e;

	if (!path || !credentials_is_reference(value) || access(path, R_OK) == 0)
		return path;
	e = errno;
	name = value + strlen(CREDENTIALS_PREFIX);
	if (e == ENOENT)
		errmsg_prefixed(err, errsz, key,
				 "credential \"%s\": %s does not exist: the unit needs "
				 "LoadCredential=%s:FILE", name,
				 credentials_show(path, shown, sizeof(shown)), name);
	else
		errmsg_prefixed(err, errsz, key, "credential \"%s\": %s: %s", name,
				 credentials_show(path, shown, sizeof(shown)), strerror(e));
	free(path);
	return NULL;
}
