/* mailaddr: whether an address from the case data can be put in an envelope and a header. */
#ifndef DRIFTWATCH_MAILADDR_H
#define DRIFTWATCH_MAILADDR_H

/* 1 when a is a plain addr-spec driftwatch will send to (ASCII, one @ with text on both sides,
 * at most 254 bytes, nothing that could end a header or smuggle in another: no control
 * characters, spaces, quotes, brackets or separators); else 0, with *why (may be NULL) saying
 * what is wrong in words that fit "the address ...". */
int mailaddr_usable(const char *a, const char **why);

#endif
