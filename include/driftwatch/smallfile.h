/* smallfile: reads a small file (a configuration, a secret) whole, never blocking on a FIFO. */
#ifndef DRIFTWATCH_SMALLFILE_H
#define DRIFTWATCH_SMALLFILE_H

#include <stddef.h>

/* Reads path whole into *out (malloc'd, NUL-terminated; *len bytes before the NUL). Only a
 * regular file is read: a directory, a FIFO or a device is refused without opening it for
 * long (a FIFO with no writer would block a read for ever). Returns 0, or -1 with err saying
 * what is wrong in words that follow the path ("is a directory", "is larger than 65536
 * bytes", "No such file or directory"). */
int smallfile_read(const char *path, size_t max, char **out, size_t *len, char *err,
		   size_t errsz);

#endif
