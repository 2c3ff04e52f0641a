/* urlcheck: whether libcurl can read a configured URL, asked when the configuration is read. */
#ifndef DRIFTWATCH_URLCHECK_H
#define DRIFTWATCH_URLCHECK_H

/* NULL when libcurl parses url with a host and a port from 1 to 65535 (or none given);
 * otherwise what is wrong, in words, for a configuration message ("must be ..."). */
const char *urlcheck_problem(const char *url);

#endif
