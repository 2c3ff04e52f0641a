/* smallfile: one careful way to read a configuration or a secret file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driftwatch/errmsg.h"
#include "driftwatch/smallfile.h"

/* What kind of thing it is, when it is not a regular file. */
static const char *smallfile_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "is a directory";
	if (S_ISFIFO(mode))
		return "is a FIFO, not a regular file";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "is a device, not a regular file";
	if (S_ISSOCK(mode))
		return "is a socket, not a regular file";
	return "is not a regular file";
}

static int smallfile_slurp(int fd, size_t size, size_t max, char **out, size_t *len, char *err,
			   size_t errsz)
{
	char *buf;
	size_t got = 0;

	if (size > max) {
		snprintf(err, errsz, "is larger than %zu bytes", max);
		return -1;
	}
	buf = malloc(size + 1);
	if (!buf)
		return errmsg_set(err, errsz, "out of memory");
	/* one byte more than it said, to see it did not grow meanwhile */
	while (got <= size) {
		ssize_t n = read(fd, buf + got, size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return errmsg_set(err, errsz, "%s", strerror(errno));
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > size) {
		free(buf);
		return errmsg_set(err, errsz, "changed while it was read");
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

int smallfile_read(const char *path, size_t max, char **out, size_t *len, char *err,
		   size_t errsz)
{
	struct stat st;
	int fd, rc;

	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errmsg_set(err, errsz, "%s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = errmsg_set(err, errsz, "%s", strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		rc = errmsg_set(err, errsz, "%s", smallfile_kind(st.st_mode));
	} else {
		rc = smallfile_slurp(fd, (size_t)st.st_size, max, out, len, err, errsz);
	}
	close(fd);
	return rc;
}
