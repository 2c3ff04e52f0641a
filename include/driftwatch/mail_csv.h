/* mail_csv: every item of a digest as a CSV list (RFC 4180, UTF-8) to sort in a spreadsheet. */
#ifndef DRIFTWATCH_MAIL_CSV_H
#define DRIFTWATCH_MAIL_CSV_H

struct strbuf;
struct mail_digest;

/* The list attached to a capped digest when the pages are not there to hold the rest: a UTF-8
 * byte order mark (Excel reads the file as UTF-8 only with it), a header row, then one row per
 * item (one alert of one child) in reading order, CRLF line ends; as many rows as fit in
 * max_bytes (0: every row), counted in *rows. Columns: Entry (its number
 * in the mail), Section, Action now, Change, Child, Family, Meaning, Rule, Stage, Since
 * (YYYY-MM-DD), Summary, Facts, Expected of you, Why you, Record link, In full in the mail.
 * NULL when out of memory. */
char *mail_csv_list(const struct mail_digest *d, size_t max_bytes, size_t *rows);

/* One cell: quoted when it holds a comma, a double quote, a CR or a LF (its quotes doubled),
 * and led by a single quote when it starts with = + - @ (after any spaces, a tab or a CR),
 * which a spreadsheet would otherwise run as a formula (CSV injection). Control characters
 * become spaces. */
void mail_csv_cell(struct strbuf *out, const char *s);

#endif
