/* utf8: text from a case database is bytes; what driftwatch shows or sends must be UTF-8. */
#ifndef DRIFTWATCH_UTF8_H
#define DRIFTWATCH_UTF8_H

#include <stddef.h>

/* 1 when s (NUL-terminated) is well-formed UTF-8 (no overlongs, no surrogates, nothing past
 * U+10FFFF), else 0. */
int utf8_valid(const char *s);

/* The length (1 to 4) of the well-formed UTF-8 sequence at s, reading no more than n bytes; 0
 * when n is 0 or s starts an ill-formed or cut-short sequence. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* A malloc'd copy of s with every byte that does not start or continue a well-formed sequence
 * replaced by U+FFFD, as the Unicode standard recommends ("maximal subparts"); NULL when memory
 * ran out. *repaired (may be NULL) gets the number of replacements made. */
char *utf8_repair(const char *s, size_t *repaired);

#endif
