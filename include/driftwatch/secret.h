/* secret: a secret (a signing key, a password) read from its file, the one way every key does. */
#ifndef DRIFTWATCH_SECRET_H
#define DRIFTWATCH_SECRET_H

#include <stddef.h>

/* The largest secret file read: a token list of a few hundred lines fits. */
#define SECRET_MAX_BYTES 65536

/* Reads the secret in path (a regular file: see smallfile.h) into *out (malloc'd), without the
 * line ends that editors and `echo` leave at its end (blanks may be part of a password). An empty secret is an error.
 * Returns 0, or -1 with err saying what is wrong ("PATH: is empty"). */
int secret_read(const char *path, char **out, char *err, size_t errsz);

/* 1 when every user of the machine may read path (mode o+r): worth a warning, not a refusal
 * (a credential systemd hands over is never so). */
int secret_world_readable(const char *path);

#endif
