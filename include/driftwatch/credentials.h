/* credentials: where a configured file (a secret, a CA bundle) is, including systemd's
 * LoadCredential= credentials. */
#ifndef DRIFTWATCH_CREDENTIALS_H
#define DRIFTWATCH_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

/* The rule, for every configuration key that names a file (email.password_file, email.ca_file,
 * webhooks[].secret_file, team_webhook_secret_file, web.link_secret_file):
 *
 *   "/abs/path"          that file, as written. Under systemd this is usually the credential's
 *                        fixed path, e.g. "/run/credentials/driftwatch.service/smtp-password".
 *   "credential:NAME"    the credential NAME that LoadCredential=NAME:... handed to the service:
 *                        the file $CREDENTIALS_DIRECTORY/NAME. Unlike the fixed path it does not
 *                        depend on the unit's name (driftwatch@north.service) and also works for
 *                        user services. NAME is a plain file name: not empty, not "." or "..",
 *                        no '/' and no control characters, at most CREDENTIALS_NAME_MAX bytes.
 *
 * Anything else (a relative path) is an error: the daemon's working directory is "/" under
 * systemd, so a relative path would silently mean something else there. */

#define CREDENTIALS_PREFIX "credential:"
#define CREDENTIALS_NAME_MAX 255

/* value starts with "credential:" (whether or not the name after it is valid). */
bool credentials_is_reference(const char *value);

/* Every function here that fills err starts the message with "KEY: " when key is not NULL
 * (a loader that adds the key itself passes NULL); a message about a reference goes on
 * "credential \"NAME\": what is wrong". */

/* Checks value's form without looking at the environment or the file system. Returns 0, or -1
 * with err filled. */
int credentials_check(const char *key, const char *value, char *err, size_t errsz);

/* The path to read for value, malloc'd; credentials_directory is what $CREDENTIALS_DIRECTORY
 * holds (NULL when unset). Returns NULL with err filled (naming key, and for a credential the
 * name and CREDENTIALS_DIRECTORY) when value is malformed, or is a credential reference and
 * credentials_directory is unset, empty or not absolute, or memory ran out. */
char *credentials_resolve_in(const char *key, const char *value,
			     const char *credentials_directory, char *err, size_t errsz);

/* credentials_resolve_in() with getenv("CREDENTIALS_DIRECTORY"). */
char *credentials_resolve(const char *key, const char *value, char *err, size_t errsz);

/* credentials_resolve(), and for a credential reference also a check that the file is there to
 * read: systemd puts every LoadCredential= file in place before the service starts, so a
 * missing one means the unit lacks the line or NAME is misspelt, which is better said when the
 * configuration is loaded than at the first delivery. A plain path is not looked at (it is read
 * when it is used). */
char *credentials_locate(const char *key, const char *value, char *err, size_t errsz);

#endif
