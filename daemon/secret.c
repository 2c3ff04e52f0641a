/* secret: reads a secret file the one way every configuration key naming one does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "driftwatch/secret.h"
#include "driftwatch/smallfile.h"

int secret_read(const char *path, char **out, char *err, size_t errsz)
{
	char why[256];
	char *buf;
	size_t len;

	*out = NULL;
	if (smallfile_read(path, SECRET_MAX_BYTES, &buf, &len, why, sizeof(why)) < 0) {
		snprintf(err, errsz, "%s: %s", path, why);
		return -1;
	}
	/* only the line end an editor or `echo` adds goes: blanks may be part of a password */
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len == 0 || strlen(buf) != len) {
		snprintf(err, errsz, "%s: %s", path, len == 0 ? "is empty" : "holds a NUL byte");
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

int secret_world_readable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && (st.st_mode & S_IROTH) != 0;
}
