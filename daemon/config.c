/* config: reads the one JSON configuration file into a struct dw_config, fills every default,
 * and reports every fault (not only the first) as "FILE: KEY.PATH: what is wrong, got ...". */
#include "driftwatch/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "driftwatch/calendar.h"
#include "driftwatch/chat.h"
#include "driftwatch/credentials.h"
#include "driftwatch/escalation.h"
#include "driftwatch/hostmatch.h"
#include "driftwatch/http.h"
#include "driftwatch/mailaddr.h"
#include "driftwatch/smallfile.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/urlcheck.h"
#include "driftwatch/webhook.h"
#include "driftwatch/errlist.h"
#include "driftwatch/rule.h"

#define DEFAULT_CASE_SCHEMA "casework"
#define DEFAULT_STATE_SCHEMA "driftwatch"
#define DEFAULT_TIMEZONE "Europe/London"
#define DEFAULT_HTTP_LISTEN "127.0.0.1:9480"
/* A list of addresses, hosts or codes (web.viewers, trusted_proxies, allowed_hosts, ...): a
 * bound only so that a file of absurd size is refused with a word, not read into memory. */
#define CONFIG_LIST_MAX 10000
#define DEFAULT_QUERY_TIMEOUT_S 300
#define DEFAULT_EVAL_INTERVAL_S 300
#define DEFAULT_TAKEOVER_S 10
#define DEFAULT_NEGLECT_CATEGORY "NEG"
#define DEFAULT_LINK_DAYS 30
#define DEFAULT_USER_HEADER "X-Forwarded-Email"
#define DEFAULT_MAX_SNOOZE_DAYS 90
/* ALERTS.md: notices are retried "up to a configured age"; three days unless configured */
#define DEFAULT_DELIVERY_MAX_AGE_H 72
#define DELIVERY_MAX_AGE_H_MAX (30 * 24)
#define DEFAULT_DELIVERY_REPORT_WAIT_S 600
#define DEFAULT_DELIVERY_LEASE_S 60
#define ESCALATE_DAYS_MAX 260   /* a working year */
#define STAGE_NAME_MAX 32
#define FOREIGN_MSG_MAX 300     /* of a message another module wrote (calendar.c) */
#define ZONEINFO_DIR "/usr/share/zoneinfo"

/* A configuration is a few kilobytes; a file far larger is a mistake (a log, a dump). */
#define MAX_FILE_BYTES (1024 * 1024)
#define PATH_CAP 256            /* a key path in a message; longer ones are cut */
#define MSG_CAP 1024
#define GOT_CAP 96
#define GOT_MAX_BYTES 60        /* of a string value quoted back in a message */
#define LIST_CAP 512            /* "one of: a, b, c" in a message */
#define THRESHOLD_MIN 1
#define THRESHOLD_MAX 1000
#define CATEGORY_MAX_LEN 8
/* PostgreSQL's NAMEDATALEN - 1: a longer name is silently truncated by the server. */
#define SCHEMA_MAX_LEN 63

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* How much of a bad value a message may quote back. */
enum shown {
	SHOW_VALUE,      /* the value itself (quoted, escaped, cut) */
	SHOW_URL_SCHEME, /* only the scheme: URLs carry credentials and tokens */
	SHOW_TYPE        /* only its JSON type: secrets and connection strings */
};

enum take {
	TAKE_ABSENT, /* the member is not there: the default stands */
	TAKE_NULL,   /* null where null is allowed: "not set" */
	TAKE_OK,
	TAKE_BAD     /* a fault was reported */
};

/* One load in progress: where messages go and the key path of the value being read. */
struct loader {
	const char *file;
	struct errlist *errs;
	unsigned flags;         /* CONFIG_LOAD_* */
	struct dw_config *cfg;  /* for its notes */
	size_t faults;          /* counted here too: a fault errlist could not store still fails */
	char path[PATH_CAP];    /* e.g. "rules.cp_neglect_duration.stages" */
	size_t path_len;
	char rule_names[LIST_CAP]; /* "a, b, c" from the registry, for messages */
	char role_names[LIST_CAP];
};

/* A list of strings under one key (recipients, categories, rule names). */
struct list_kind {
	const char *noun;       /* "roles": "must be a non-empty array of roles" */
	bool (*valid)(const char *item);
	const char *expected;   /* for a bad item: "must be EXPECTED, got ..." */
};

typedef const char *(*check_fn)(const char *s);

static void fault(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fault_at(struct loader *ld, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- key paths and messages ---- */

/* Control characters from a user's key would garble the one-line message: shown as '?'. */
static void path_append(struct loader *ld, const char *s)
{
	for (; *s && ld->path_len + 1 < sizeof(ld->path); s++) {
		unsigned char c = (unsigned char)*s;

		ld->path[ld->path_len++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	ld->path[ld->path_len] = '\0';
}

static size_t path_push_key(struct loader *ld, const char *key)
{
	size_t mark = ld->path_len;

	if (ld->path_len > 0)
		path_append(ld, ".");
	path_append(ld, key);
	return mark;
}

static size_t path_push_index(struct loader *ld, size_t i)
{
	char buf[32];
	size_t mark = ld->path_len;

	snprintf(buf, sizeof(buf), "[%zu]", i);
	path_append(ld, buf);
	return mark;
}

static void path_pop(struct loader *ld, size_t mark)
{
	ld->path_len = mark;
	ld->path[mark] = '\0';
}

static void vfault(struct loader *ld, const char *fmt, va_list ap)
{
	char msg[MSG_CAP];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	ld->faults++;
	if (ld->path_len == 0)
		errlist_add(ld->errs, "%s: %s", ld->file, msg);
	else
		errlist_add(ld->errs, "%s: %s: %s", ld->file, ld->path, msg);
}

/* A fault in the value at the current path. */
static void fault(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfault(ld, fmt, ap);
	va_end(ap);
}

/* A fault in member key of the object at the current path. */
static void fault_at(struct loader *ld, const char *key, const char *fmt, ...)
{
	va_list ap;
	size_t mark = path_push_key(ld, key);

	va_start(ap, fmt);
	vfault(ld, fmt, ap);
	va_end(ap);
	path_pop(ld, mark);
}

/* Quotes s as a JSON-ish string, escaping what would garble a log line and cutting it short
 * (on a UTF-8 character boundary) so one bad value cannot flood the journal. */
static void quote(const char *s, char *buf, size_t cap)
{
	size_t n = strlen(s), o = 0, i;
	bool cut = n > GOT_MAX_BYTES;

	if (cut) {
		n = GOT_MAX_BYTES;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	buf[o++] = '"';
	for (i = 0; i < n && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, cap - o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	snprintf(buf + o, cap - o, "%s\"", cut || i < n ? "..." : "");
}

/* A URL's scheme tells what is wrong with it; the rest may hold a password or a token. */
static void describe_url(const char *s, char *buf, size_t cap)
{
	const char *sep = strstr(s, "://");
	size_t n = sep ? (size_t)(sep - s) : 0;

	if (!sep || n == 0 || n > 10 ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") < n) {
		snprintf(buf, cap, "a string without a URL scheme");
		return;
	}
	snprintf(buf, cap, "\"%.*s://%s\"", (int)n, s, sep[3] ? "..." : "");
}

static void describe_str(const char *s, enum shown shown, char *buf, size_t cap)
{
	if (s[0] == '\0' || shown == SHOW_VALUE)
		quote(s, buf, cap);
	else if (shown == SHOW_URL_SCHEME)
		describe_url(s, buf, cap);
	else
		snprintf(buf, cap, "a string");
}

/* What a value is, for "got ..." at the end of a message. */
static void describe(const json_t *v, enum shown shown, char *buf, size_t cap)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		snprintf(buf, cap, "%s", json_object_size(v) ? "an object" : "{}");
		break;
	case JSON_ARRAY:
		snprintf(buf, cap, "%s", json_array_size(v) ? "an array" : "[]");
		break;
	case JSON_STRING:
		describe_str(json_string_value(v), shown, buf, cap);
		break;
	case JSON_INTEGER:
		if (shown == SHOW_VALUE)
			snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else
			snprintf(buf, cap, "a number");
		break;
	case JSON_REAL:
		/* "12.0" said as "12" read as a refusal of 12 itself (audit 16) */
		if (shown == SHOW_VALUE && snprintf(buf, cap, "%.15g", json_real_value(v)) > 0 &&
		    !strpbrk(buf, ".eEni"))
			snprintf(buf + strlen(buf), cap - strlen(buf), ".0");
		else if (shown != SHOW_VALUE)
			snprintf(buf, cap, "a number");
		break;
	case JSON_TRUE:
		snprintf(buf, cap, "true");
		break;
	case JSON_FALSE:
		snprintf(buf, cap, "false");
		break;
	default:
		snprintf(buf, cap, "null");
		break;
	}
}

/* "a, b, c" into buf, cut short if it does not fit. */
static void join(const char *const *items, size_t n, char *buf, size_t cap)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < cap; i++) {
		int w = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", items[i]);

		if (w < 0)
			break;
		o += (size_t)w;
	}
}

static void join_rule_names(char *buf, size_t cap)
{
	const char *names[RULE_REGISTRY_MAX];
	size_t n = 0;

	for (size_t i = 0; i < rule_registry_count() && n < NELEM(names); i++)
		names[n++] = rule_registry_get(i)->name;
	join(names, n, buf, cap);
}

/* rule.h can only answer "is this a role?", so the list in messages is every valid role some
 * rule's stage uses by default, in registry order: in practice the whole set. */
static void join_role_names(char *buf, size_t cap)
{
	const char *names[32];
	size_t n = 0;

	for (size_t i = 0; i < rule_registry_count(); i++) {
		const struct rule_def *def = rule_registry_get(i);

		for (size_t s = 0; s < def->n_stages; s++) {
			for (const char *const *r = def->stages[s].default_roles; *r; r++) {
				size_t k = 0;

				while (k < n && strcmp(names[k], *r) != 0)
					k++;
				if (k == n && n < NELEM(names) && rule_role_valid(*r))
					names[n++] = *r;
			}
		}
	}
	join(names, n, buf, cap);
}

static void join_stage_names(const struct rule_def *def, char *buf, size_t cap)
{
	const char *names[RULE_MAX_STAGES];
	size_t n = 0;

	for (size_t s = 0; s < def->n_stages && n < NELEM(names); s++)
		names[n++] = def->stages[s].name;
	join(names, n, buf, cap);
}

/* ---- owned strings and string vectors ---- */

static bool set_string(struct loader *ld, char **dst, const char *s)
{
	char *copy = NULL;

	if (s && !(copy = strdup(s))) {
		fault(ld, "out of memory");
		return false;
	}
	free(*dst);
	*dst = copy;
	return true;
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static size_t strv_len(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* A NULL-terminated copy of src, or NULL when memory ran out. */
static char **strv_dup(const char *const *src)
{
	size_t n = strv_len(src);
	char **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!(v[i] = strdup(src[i]))) {
			strv_free(v);
			return NULL;
		}
	}
	return v;
}

/* A NULL-terminated copy of the strings arr holds (its items checked to be strings), or NULL
 * when memory ran out. */
static char **strv_from_json(json_t *arr)
{
	size_t n = json_array_size(arr);
	char **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!(v[i] = strdup(json_string_value(json_array_get(arr, i))))) {
			strv_free(v);
			return NULL;
		}
	}
	return v;
}

/* ---- validators: NULL when s is fine, else the start of the message ("must be ...") ---- */

static bool has_space_or_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return true;
	return false;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return true;
	return false;
}

/* Plausible, not RFC 5322: enough to catch a list, a name, a typo'd "@" or a line break that
 * could inject a mail header. */
/* The test the mail composer makes (mailaddr.h): an address it would refuse passed here, and
 * then every digest failed with "email.from: not one plain email address". */
static const char *check_email(const char *s)
{
	if (mailaddr_usable(s, NULL))
		return NULL;
	return "must be one email address (ASCII, one \"@\" with text on both sides, at most 254 "
	       "bytes, no spaces, quotes, brackets, commas or control characters)";
}

/* s starts with scheme followed by something. */
static bool has_scheme(const char *s, const char *scheme)
{
	size_t n = strlen(scheme);

	return strncmp(s, scheme, n) == 0 && s[n] != '\0';
}

static bool is_http_url(const char *s)
{
	return (has_scheme(s, "https://") || has_scheme(s, "http://")) && !has_space_or_control(s);
}

static const char *check_http_url(const char *s)
{
	return is_http_url(s) ? urlcheck_problem(s) :
	       "must be an https:// or http:// URL without spaces";
}

static const char *check_smtp_url(const char *s)
{
	if ((has_scheme(s, "smtp://") || has_scheme(s, "smtps://")) && !has_space_or_control(s))
		return urlcheck_problem(s);
	return "must be an smtp:// or smtps:// URL without spaces";
}

static const char *check_link_template(const char *s)
{
	if (!is_http_url(s))
		return "must be an https:// or http:// URL without spaces";
	if (!strstr(s, "{child_id}"))
		return "must contain {child_id}";
	return NULL;
}

/* Relative paths would depend on the directory systemd starts the daemon in. A credential
 * reference does not come here: take_file hands it to credentials.c. */
static const char *check_abs_path(const char *s)
{
	return s[0] == '/' && !has_control(s) ? NULL
					      : "must be an absolute path or \"" CREDENTIALS_PREFIX
						"NAME\"";
}

static const char *check_schema(const char *s)
{
	size_t n = strlen(s);

	if (n > SCHEMA_MAX_LEN || has_control(s))
		return "must be a schema name of at most 63 bytes without control characters";
	/* "driftwatch " is a schema of its own, legal and surely a slip: the state there was
	 * made anew (alerts announced again as new, the old outbox stranded; audit 16) */
	if (n > 0 && (s[0] == ' ' || s[n - 1] == ' '))
		return "must not begin or end with a space (a schema of that name is another one)";
	return NULL;
}

/* The state is driftwatch's own tables: never in a schema PostgreSQL keeps for itself, where
 * the migration failed at every start and said only the server's refusal (audit 16). */
static const char *check_state_schema(const char *s)
{
	const char *why = check_schema(s);

	if (why)
		return why;
	if (strncmp(s, "pg_", 3) == 0 || strcmp(s, "information_schema") == 0)
		return "must not be one of PostgreSQL's own schemas (pg_*, information_schema)";
	return NULL;
}

/* libpq's own parser, so that what it would refuse at connect time is refused at load, naming
 * the key. Its message is not repeated: it may quote a piece of a password. */
static const char *check_conninfo(const char *s)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(s, &err);

	PQfreemem(err);
	if (!opts)
		return "is not a libpq connection string (key=value pairs, or a postgresql:// URI)";
	PQconninfoFree(opts);
	return NULL;
}

static const char *check_listen(const char *s)
{
	static const char why[] = "must be HOST:PORT with a port from 1 to 65535, like "
				  "\"127.0.0.1:9480\" or \"[::1]:9480\"";
	const char *colon = strrchr(s, ':');
	size_t host_len = colon ? (size_t)(colon - s) : 0;
	long port;
	char *end;

	if (!colon || host_len == 0 || has_space_or_control(s))
		return why;
	if (s[0] == '[') {
		if (host_len < 3 || colon[-1] != ']' || memchr(s + 1, '[', host_len - 1))
			return why;
	} else if (memchr(s, ':', host_len) || memchr(s, '[', host_len) ||
		   memchr(s, ']', host_len)) {
		return why; /* a bare IPv6 address is ambiguous: brackets are required */
	}
	if (strspn(colon + 1, "0123456789") != strlen(colon + 1) || strlen(colon + 1) > 5 ||
	    colon[1] == '\0')
		return why;
	port = strtol(colon + 1, &end, 10);
	return port >= 1 && port <= 65535 ? NULL : why;
}

static bool listen_wildcard(const char *host)
{
	return !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
	       strcmp(host, "*") == 0;
}

/* An IP address exactly as a peer's is written (no port, brackets, prefix or host name): a
 * name or a network would widen whom the user header is believed from. */
static bool ip_address_ok(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Whether two listen addresses could be one socket: the same port, and the same host, a
 * wildcard on either side (0.0.0.0 takes 127.0.0.1's port too), or a name on either side (it
 * may resolve to the other). Only two different numeric addresses can share a port. */
static bool listen_overlap(const char *a, const char *b)
{
	char ha[256], hb[256], pa[8], pb[8], err[256];

	if (http_listen_split(a, ha, sizeof(ha), pa, sizeof(pa), err, sizeof(err)) < 0 ||
	    http_listen_split(b, hb, sizeof(hb), pb, sizeof(pb), err, sizeof(err)) < 0)
		return false; /* check_listen has said what is wrong */
	if (strcmp(pa, pb) != 0)
		return false;
	if (strcasecmp(ha, hb) == 0 || listen_wildcard(ha) || listen_wildcard(hb))
		return true;
	return !ip_address_ok(ha) || !ip_address_ok(hb);
}

/* Standard Webhooks: "whsec_" + standard base64 (padded) of the HMAC key. Checked here (by the
 * same decoder that signs) so a truncated paste fails at start-up, not at the first signature. */
static const char *check_whsec(const char *s)
{
	struct webhook_secret ws;
	char err[256];
	int rc = webhook_secret_parse(s, "secret", &ws, err, sizeof(err));

	webhook_secret_clear(&ws);
	return rc < 0 ? "must be \"whsec_\" followed by the base64 of 24 to 64 bytes" : NULL;
}

/* A zone is a TZif file under TZDIR (or the system's zoneinfo). The name must stay inside
 * that directory: no absolute paths, no "..". Reading the magic rejects the directory's other
 * files (zone.tab, tzdata.zi) and its subdirectories. */
static bool timezone_ok(const char *tz, char *why, size_t cap)
{
	const char *dir = getenv("TZDIR");
	char path[4096], magic[4];
	ssize_t got = -1;
	int fd, n;

	if (!dir || !*dir)
		dir = ZONEINFO_DIR;
	snprintf(why, cap, "must name a time zone in %s, like \"Europe/London\"", dir);
	/* A leap-second zone counts 27 s that PostgreSQL's "AT TIME ZONE" then adds to every
	 * time it converts (it does not list these zones in pg_timezone_names either). */
	if (strncmp(tz, "right/", 6) == 0) {
		snprintf(why, cap, "names a leap-second zone, which PostgreSQL's clock does not keep "
			 "(its times are 27 s off); use \"%s\"", tz + 6);
		return false;
	}
	if (tz[0] == '/' || strstr(tz, "..") ||
	    strspn(tz, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+-.") !=
		    strlen(tz))
		return false;
	n = snprintf(path, sizeof(path), "%s/%s", dir, tz);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	got = read(fd, magic, sizeof(magic));
	close(fd);
	return got == (ssize_t)sizeof(magic) && memcmp(magic, "TZif", sizeof(magic)) == 0;
}

static bool category_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= CATEGORY_MAX_LEN &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

static bool rule_known(const char *s)
{
	return rule_registry_find(s) != NULL;
}

/* An item of a rule's list option (a strategy kind): any text a case system may hold, one
 * line, of reasonable length. */
static bool list_item_ok(const char *s)
{
	size_t n = strlen(s);

	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return n >= 1 && n <= 200;
}

/* ---- typed members ---- */

/* Reports every member of obj not in allowed. */
static void check_keys(struct loader *ld, json_t *obj, const char *const *allowed, size_t n)
{
	const char *key;
	json_t *v;
	char list[LIST_CAP];

	json_object_foreach(obj, key, v) {
		size_t i = 0;

		(void)v;
		while (i < n && strcmp(allowed[i], key) != 0)
			i++;
		if (i < n)
			continue;
		join(allowed, n, list, sizeof(list));
		fault_at(ld, key, "unknown key (expected one of: %s)", list);
	}
}

static enum take take_object(struct loader *ld, json_t *obj, const char *key, bool nullable,
			     json_t **out)
{
	json_t *v = json_object_get(obj, key);
	char got[GOT_CAP];

	*out = NULL;
	if (!v)
		return TAKE_ABSENT;
	if (nullable && json_is_null(v))
		return TAKE_NULL;
	if (json_is_object(v)) {
		*out = v;
		return TAKE_OK;
	}
	describe(v, SHOW_TYPE, got, sizeof(got));
	fault_at(ld, key, "must be an object%s, got %s", nullable ? " or null" : "", got);
	return TAKE_BAD;
}

static enum take take_string(struct loader *ld, json_t *obj, const char *key, bool nullable,
			     enum shown shown, const char **out)
{
	json_t *v = json_object_get(obj, key);
	char got[GOT_CAP];

	*out = NULL;
	if (!v)
		return TAKE_ABSENT;
	if (nullable && json_is_null(v))
		return TAKE_NULL;
	if (json_is_string(v) && json_string_length(v) > 0) {
		*out = json_string_value(v);
		return TAKE_OK;
	}
	describe(v, shown, got, sizeof(got));
	fault_at(ld, key, "must be a non-empty string%s, got %s", nullable ? " or null" : "", got);
	return TAKE_BAD;
}

/* A string member, checked, into *dst: absent keeps the default there, null clears it. */
static enum take take_checked(struct loader *ld, json_t *obj, const char *key, bool nullable,
			      enum shown shown, check_fn check, char **dst)
{
	const char *s, *why;
	char got[GOT_CAP];
	enum take t = take_string(ld, obj, key, nullable, shown, &s);

	if (t == TAKE_NULL)
		set_string(ld, dst, NULL);
	if (t != TAKE_OK)
		return t;
	if (check && (why = check(s)) != NULL) {
		describe_str(s, shown, got, sizeof(got));
		if (shown == SHOW_TYPE)
			fault_at(ld, key, "%s", why);
		else
			fault_at(ld, key, "%s, got %s", why, got);
		return TAKE_BAD;
	}
	return set_string(ld, dst, s) ? TAKE_OK : TAKE_BAD;
}

/* A "credential:NAME" member, resolved now to $CREDENTIALS_DIRECTORY/NAME, which must be there:
 * a reference that cannot work then fails --check-config, the start and a reload, naming the
 * key and the credential, rather than the first delivery. */
static enum take take_credential(struct loader *ld, const char *key, const char *value,
				 char **dst)
{
	char why[MSG_CAP];
	char *path;

	/* --check-config run by hand: the credentials are the service's, and only its form can
	 * be checked here. Said as a note, and the file is not looked at. */
	if ((ld->flags & CONFIG_LOAD_CHECK) && !getenv("CREDENTIALS_DIRECTORY")) {
		if (credentials_check(NULL, value, why, sizeof(why)) < 0) {
			fault_at(ld, key, "%s", why);
			return TAKE_BAD;
		}
		errlist_add(&ld->cfg->notes, "%s: %s%s%s: \"%s\" checked for its form only: "
			    "$CREDENTIALS_DIRECTORY is set only inside the service (LoadCredential=)",
			    ld->file, ld->path, ld->path_len > 0 ? "." : "", key, value);
		return set_string(ld, dst, value) ? TAKE_OK : TAKE_BAD;
	}
	path = credentials_locate(NULL, value, why, sizeof(why));
	if (!path) {
		fault_at(ld, key, "%s", why);
		return TAKE_BAD;
	}
	free(*dst);
	*dst = path;
	return TAKE_OK;
}

/* A member naming a file (a secret, a CA bundle): an absolute path, or "credential:NAME" for
 * what systemd's LoadCredential=NAME:... hands the service. Either way *dst gets a path. */
static enum take take_file(struct loader *ld, json_t *obj, const char *key, char **dst)
{
	const char *value = json_string_value(json_object_get(obj, key));

	if (credentials_is_reference(value))
		return take_credential(ld, key, value, dst);
	return take_checked(ld, obj, key, true, SHOW_VALUE, check_abs_path, dst);
}

static enum take take_int(struct loader *ld, json_t *obj, const char *key, int min, int max,
			  int *dst)
{
	json_t *v = json_object_get(obj, key);
	char got[GOT_CAP];

	if (!v)
		return TAKE_ABSENT;
	if (json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max) {
		*dst = (int)json_integer_value(v);
		return TAKE_OK;
	}
	describe(v, SHOW_VALUE, got, sizeof(got));
	fault_at(ld, key, "must be an integer from %d to %d, got %s", min, max, got);
	return TAKE_BAD;
}

static enum take take_bool(struct loader *ld, json_t *obj, const char *key, bool *dst)
{
	json_t *v = json_object_get(obj, key);
	char got[GOT_CAP];

	if (!v)
		return TAKE_ABSENT;
	if (json_is_boolean(v)) {
		*dst = json_is_true(v);
		return TAKE_OK;
	}
	describe(v, SHOW_VALUE, got, sizeof(got));
	fault_at(ld, key, "must be true or false, got %s", got);
	return TAKE_BAD;
}

/* Index of the first earlier item of arr equal to item i, or i when there is none. */
static size_t first_equal(json_t *arr, size_t i)
{
	const char *s = json_string_value(json_array_get(arr, i));
	size_t j = 0;

	for (; s && j < i; j++) {
		const char *t = json_string_value(json_array_get(arr, j));

		if (t && strcmp(s, t) == 0)
			return j;
	}
	return i;
}

/* Checks the items of a non-empty array of strings under key (the current path is the
 * array's): each valid, none repeated. */
static bool list_items_ok(struct loader *ld, json_t *arr, const char *key,
			  const struct list_kind *kind)
{
	bool ok = true;
	char got[GOT_CAP];

	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *item = json_array_get(arr, i);
		const char *s = json_string_value(item);
		size_t mark = path_push_index(ld, i), j = first_equal(arr, i);

		describe(item, SHOW_VALUE, got, sizeof(got));
		if (!s || !kind->valid(s)) {
			fault(ld, "must be %s, got %s", kind->expected, got);
			ok = false;
		} else if (j < i) {
			fault(ld, "repeats %s[%zu], got %s", key, j, got);
			ok = false;
		}
		path_pop(ld, mark);
	}
	return ok;
}

/* A non-empty array of strings into *dst: absent keeps the default, null (when allowed) clears
 * it. */
static enum take take_list(struct loader *ld, json_t *obj, const char *key, bool nullable,
			   const struct list_kind *kind, char ***dst)
{
	json_t *arr = json_object_get(obj, key);
	char got[GOT_CAP];
	char **copy;
	size_t mark, n;
	bool ok;

	if (!arr)
		return TAKE_ABSENT;
	if (nullable && json_is_null(arr)) {
		strv_free(*dst);
		*dst = NULL;
		return TAKE_NULL;
	}
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		describe(arr, SHOW_VALUE, got, sizeof(got));
		fault_at(ld, key, "must be a non-empty array of %s%s, got %s", kind->noun,
			 nullable ? " or null" : "", got);
		return TAKE_BAD;
	}
	mark = path_push_key(ld, key);
	ok = list_items_ok(ld, arr, key, kind);
	n = json_array_size(arr);
	if (ok && n > CONFIG_LIST_MAX) {
		fault(ld, "must have at most %d items, got %zu", CONFIG_LIST_MAX, n);
		ok = false;
	}
	path_pop(ld, mark);
	if (!ok)
		return TAKE_BAD;
	if (!(copy = strv_from_json(arr))) {
		fault_at(ld, key, "out of memory");
		return TAKE_BAD;
	}
	strv_free(*dst);
	*dst = copy;
	return TAKE_OK;
}

/* ---- defaults ---- */

static void rule_defaults(struct loader *ld, struct config_rule *rc, const struct rule_def *def)
{
	rc->def = def;
	rc->enabled = true;
	if (def->n_opts > RULE_MAX_OPTS || def->n_stages > RULE_MAX_STAGES ||
	    def->n_list_opts > RULE_MAX_LIST_OPTS) {
		fault(ld, "internal error: rule %s has more options or stages than rule.h allows",
		      def->name);
		return;
	}
	for (size_t k = 0; k < def->n_opts; k++)
		rc->opts[k] = def->opts[k].def;
	for (size_t s = 0; s < def->n_stages; s++) {
		rc->thresholds[s] = def->stages[s].threshold_key ? def->stages[s].def_threshold : 0;
		if (!(rc->roles[s] = strv_dup(def->stages[s].default_roles)))
			fault(ld, "out of memory");
	}
}

static void escalate_free(struct config_escalate *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++) {
		strv_free(e[i].rules);
		strv_free(e[i].stages);
		strv_free(e[i].to);
	}
	free(e);
}

/* RESPONSES.md: the 15- and 18-month CP escalations go to the head of service after 5 working
 * days; every other alert to the service manager after 10. */
static void escalate_defaults(struct loader *ld, struct config_responses *r)
{
	static const char *const cp[] = { "cp_neglect_duration", NULL };
	static const char *const cp_stages[] = { "15m", "18m", NULL };
	static const char *const hos[] = { "head_of_service", NULL };
	static const char *const sm[] = { "service_manager", NULL };
	struct config_escalate *e = calloc(2, sizeof(*e));

	r->max_snooze_days = DEFAULT_MAX_SNOOZE_DAYS;
	if (!e) {
		fault(ld, "out of memory");
		return;
	}
	r->escalate = e;
	r->n_escalate = 2;
	e[0].rules = strv_dup(cp);
	e[0].stages = strv_dup(cp_stages);
	e[0].after_working_days = 5;
	e[0].to = strv_dup(hos);
	e[1].after_working_days = 10;
	e[1].to = strv_dup(sm);
	if (!e[0].rules || !e[0].stages || !e[0].to || !e[1].to)
		fault(ld, "out of memory");
}

static void set_defaults(struct loader *ld, struct dw_config *cfg)
{
	size_t n = rule_registry_count();

	set_string(ld, &cfg->case_schema, DEFAULT_CASE_SCHEMA);
	set_string(ld, &cfg->state_schema, DEFAULT_STATE_SCHEMA);
	set_string(ld, &cfg->timezone, DEFAULT_TIMEZONE);
	set_string(ld, &cfg->http_listen, DEFAULT_HTTP_LISTEN);
	cfg->query_timeout_s = DEFAULT_QUERY_TIMEOUT_S;
	cfg->eval_interval_s = DEFAULT_EVAL_INTERVAL_S;
	cfg->takeover_s = DEFAULT_TAKEOVER_S;
	cfg->retention_days = 400;
	cfg->stall_s = 120;
	cfg->delivery_max_age_h = DEFAULT_DELIVERY_MAX_AGE_H;
	cfg->delivery_report_wait_s = DEFAULT_DELIVERY_REPORT_WAIT_S;
	cfg->delivery_lease_s = DEFAULT_DELIVERY_LEASE_S;
	cfg->repeat_after_days = 0;
	cfg->email.tls = CONFIG_TLS_STARTTLS;
	cfg->email.verify_peer = true;
	/* ALERTS.md: a resolution is a notice to each recipient over each channel, and a digest
	 * lists every notice since the last: one line that an alert has ended (audit 19) */
	cfg->email.send_resolved = true;
	cfg->email.digest_minute = 8 * 60;
	cfg->email.urgent_delay_s = 300;
	cfg->email.digest_max_items = 25;
	cfg->email.max_message_bytes = CONFIG_MAX_MESSAGE_BYTES;
	cfg->web.link_days = DEFAULT_LINK_DAYS;
	set_string(ld, &cfg->web.user_header, DEFAULT_USER_HEADER);
	cfg->calendar.region = CALENDAR_ENGLAND_AND_WALES;
	escalate_defaults(ld, &cfg->responses);
	if (n > RULE_REGISTRY_MAX) {
		fault(ld, "internal error: %zu rules registered, rule.h allows %d", n,
		      RULE_REGISTRY_MAX);
		n = RULE_REGISTRY_MAX;
	}
	cfg->n_rules = n;
	for (size_t i = 0; i < n; i++)
		rule_defaults(ld, &cfg->rules[i], rule_registry_get(i));
}

/* ---- sections ---- */

static void load_database(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "conninfo", "case_schema", "state_schema",
					    "query_timeout_seconds" };
	json_t *db;
	size_t mark;
	enum take t = take_object(ld, root, "database", false, &db);

	if (t == TAKE_ABSENT)
		fault_at(ld, "database", "is required (expected an object with \"conninfo\")");
	if (t != TAKE_OK)
		return;
	mark = path_push_key(ld, "database");
	check_keys(ld, db, keys, NELEM(keys));
	/* conninfo may hold password=...: never quoted back. */
	if (take_checked(ld, db, "conninfo", false, SHOW_TYPE, check_conninfo, &cfg->conninfo) ==
	    TAKE_ABSENT)
		fault_at(ld, "conninfo", "is required (expected a libpq connection string)");
	take_checked(ld, db, "case_schema", false, SHOW_VALUE, check_schema, &cfg->case_schema);
	take_checked(ld, db, "state_schema", false, SHOW_VALUE, check_state_schema,
		     &cfg->state_schema);
	take_int(ld, db, "query_timeout_seconds", 1, 86400, &cfg->query_timeout_s);
	/* The daemon creates and migrates its own tables in state_schema. */
	if (cfg->case_schema && cfg->state_schema &&
	    strcmp(cfg->case_schema, cfg->state_schema) == 0)
		fault_at(ld, "state_schema", "must differ from case_schema (the daemon creates its "
			 "own tables there), got \"%s\"", cfg->state_schema);
	path_pop(ld, mark);
}

/* "state": {"conninfo"}: the state schema, the outbox, the leader lock and the web pages' state
 * connection in another database than the case data, which may then be a read-only hot
 * standby. Unset, everything is in database.conninfo's database. */
static void load_state(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "conninfo" };
	json_t *obj;
	size_t mark;

	if (take_object(ld, root, "state", false, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "state");
	check_keys(ld, obj, keys, NELEM(keys));
	/* may hold password=...: never quoted back */
	if (take_checked(ld, obj, "conninfo", false, SHOW_TYPE, check_conninfo,
			 &cfg->state_conninfo) == TAKE_ABSENT)
		fault_at(ld, "conninfo", "is required in \"state\" (expected a libpq connection "
			 "string for the database that keeps driftwatch's state)");
	path_pop(ld, mark);
}

static void load_timezone(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	const char *tz;
	char why[256 + 64], got[GOT_CAP];

	if (take_string(ld, root, "timezone", false, SHOW_VALUE, &tz) != TAKE_OK)
		return;
	if (!timezone_ok(tz, why, sizeof(why))) {
		quote(tz, got, sizeof(got));
		fault_at(ld, "timezone", "%s, got %s", why, got);
		return;
	}
	set_string(ld, &cfg->timezone, tz);
}

static void load_addresses(struct loader *ld, json_t *root, struct config_addresses *a)
{
	static const char *const keys[] = { "fallback", "cp_chair", "cp_manager",
					    "head_of_service", "operators" };
	char **dst[] = { &a->fallback, &a->cp_chair, &a->cp_manager, &a->head_of_service,
			 &a->operators };
	json_t *obj;
	size_t mark;

	if (take_object(ld, root, "addresses", true, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "addresses");
	check_keys(ld, obj, keys, NELEM(keys));
	for (size_t i = 0; i < NELEM(keys); i++)
		take_checked(ld, obj, keys[i], true, SHOW_VALUE, check_email, dst[i]);
	path_pop(ld, mark);
}

static void load_evaluation(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "interval_seconds", "takeover_seconds" };
	json_t *obj;
	size_t mark;

	if (take_object(ld, root, "evaluation", false, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "evaluation");
	check_keys(ld, obj, keys, NELEM(keys));
	take_int(ld, obj, "interval_seconds", 10, 86400, &cfg->eval_interval_s);
	take_int(ld, obj, "takeover_seconds", 1, 3600, &cfg->takeover_s);
	path_pop(ld, mark);
}

static enum take take_tls(struct loader *ld, json_t *obj, enum config_tls *dst)
{
	static const char *const names[] = { "starttls", "implicit", "none" };
	static const enum config_tls values[] = { CONFIG_TLS_STARTTLS, CONFIG_TLS_IMPLICIT,
						  CONFIG_TLS_NONE };
	const char *s;
	char got[GOT_CAP];
	enum take t = take_string(ld, obj, "tls", false, SHOW_VALUE, &s);

	if (t != TAKE_OK)
		return t;
	for (size_t i = 0; i < NELEM(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			*dst = values[i];
			return TAKE_OK;
		}
	}
	quote(s, got, sizeof(got));
	fault_at(ld, "tls", "must be \"starttls\", \"implicit\" or \"none\", got %s", got);
	return TAKE_BAD;
}

/* Implicit TLS is what smtps:// means to libcurl; STARTTLS (or none) runs over smtp://. A
 * mismatch would silently send in clear text or fail to connect. */
bool config_email_tls_agrees(const struct config_email *e)
{
	bool smtps = e->smtp_url && has_scheme(e->smtp_url, "smtps://");

	if (!smtps && !(e->smtp_url && has_scheme(e->smtp_url, "smtp://")))
		return false;
	return smtps == (e->tls == CONFIG_TLS_IMPLICIT);
}

static void check_tls_scheme(struct loader *ld, const struct config_email *e, bool tls_given)
{
	if (config_email_tls_agrees(e))
		return;
	if (e->tls == CONFIG_TLS_IMPLICIT)
		fault_at(ld, "tls", "\"implicit\" needs an smtps:// smtp_url, got smtp://");
	else
		fault_at(ld, "tls", "\"%s\"%s needs an smtp:// smtp_url (use \"implicit\" with "
			 "smtps://), got smtps://", e->tls == CONFIG_TLS_NONE ? "none" : "starttls",
			 tls_given ? "" : " (the default)");
}

/* Strict "HH:MM", 00:00 to 23:59: 0 and minutes after midnight, else -1. */
static int digest_time_parse(const char *s, int *minute)
{
	int h, m;

	if (strlen(s) != 5 || s[2] != ':')
		return -1;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 23 || m > 59)
		return -1;
	*minute = h * 60 + m;
	return 0;
}

/* null: a digest after every evaluation (an authority that wants each change mailed as it is
 * recorded, and tests that wait for mail). */
static enum take take_digest_time(struct loader *ld, json_t *obj, int *minute)
{
	const char *s;
	char got[GOT_CAP];
	enum take t = take_string(ld, obj, "digest_time", true, SHOW_VALUE, &s);

	if (t == TAKE_NULL)
		*minute = CONFIG_DIGEST_EACH;
	if (t != TAKE_OK || digest_time_parse(s, minute) == 0)
		return t;
	describe_str(s, SHOW_VALUE, got, sizeof(got));
	fault_at(ld, "digest_time", "must be a local time \"HH:MM\" from 00:00 to 23:59, or null "
		 "for a digest after every evaluation, got %s", got);
	return TAKE_BAD;
}

static void load_email(struct loader *ld, json_t *root, struct config_email *e)
{
	static const char *const keys[] = { "smtp_url", "tls", "from", "username", "password",
					    "password_file", "ca_file", "verify", "send_resolved",
					    "digest_time", "urgent_delay_seconds",
					    "digest_max_items", "max_message_bytes" };
	json_t *obj;
	size_t mark;
	enum take url, tls;

	if (take_object(ld, root, "email", true, &obj) != TAKE_OK)
		return;
	e->enabled = true;
	mark = path_push_key(ld, "email");
	check_keys(ld, obj, keys, NELEM(keys));
	/* smtp://user:password@host is valid libcurl: only the scheme is ever shown. */
	url = take_checked(ld, obj, "smtp_url", false, SHOW_URL_SCHEME, check_smtp_url,
			   &e->smtp_url);
	if (url == TAKE_ABSENT)
		fault_at(ld, "smtp_url", "is required when \"email\" is present (expected "
			 "smtp://HOST:PORT or smtps://HOST:PORT)");
	tls = take_tls(ld, obj, &e->tls);
	if (url == TAKE_OK && tls != TAKE_BAD)
		check_tls_scheme(ld, e, tls == TAKE_OK);
	if (take_checked(ld, obj, "from", false, SHOW_VALUE, check_email, &e->from) ==
	    TAKE_ABSENT)
		fault_at(ld, "from", "is required when \"email\" is present (expected an email "
			 "address)");
	take_checked(ld, obj, "username", true, SHOW_VALUE, NULL, &e->username);
	take_checked(ld, obj, "password", true, SHOW_TYPE, NULL, &e->password);
	take_file(ld, obj, "password_file", &e->password_file);
	take_file(ld, obj, "ca_file", &e->ca_file);
	take_bool(ld, obj, "verify", &e->verify_peer);
	take_bool(ld, obj, "send_resolved", &e->send_resolved);
	take_digest_time(ld, obj, &e->digest_minute);
	take_int(ld, obj, "urgent_delay_seconds", 0, 86400, &e->urgent_delay_s);
	take_int(ld, obj, "digest_max_items", 1, 100000, &e->digest_max_items);
	take_int(ld, obj, "max_message_bytes", 100000, 1000000000, &e->max_message_bytes);
	if (e->password && e->password_file)
		fault_at(ld, "password", "give \"password\" or \"password_file\", not both");
	if ((e->password || e->password_file) && !e->username)
		fault_at(ld, "username", "is required with \"password\" or \"password_file\"");
	path_pop(ld, mark);
}

/* Present means there and not null: what the one-of-two rule counts. */
static bool present(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return v && !json_is_null(v);
}

/* "format": what the receiver is sent (chat.h); absent: "standard". */
static enum take take_format(struct loader *ld, json_t *obj, enum chat_format *dst)
{
	const char *s;
	char got[GOT_CAP];
	enum take t = take_string(ld, obj, "format", false, SHOW_VALUE, &s);

	if (t != TAKE_OK)
		return t;
	if (chat_format_parse(s, dst) == 0)
		return TAKE_OK;
	quote(s, got, sizeof(got));
	fault_at(ld, "format", "must be \"standard\" (Standard Webhooks JSON), \"teams\" (an "
		 "Adaptive Card for a Teams Workflows webhook) or \"slack\" (Block Kit for an "
		 "incoming webhook), got %s", got);
	return TAKE_BAD;
}

static void load_webhook(struct loader *ld, json_t *obj, struct config_webhook *w)
{
	static const char *const keys[] = { "url", "secret", "secret_file", "rules", "format" };
	struct list_kind rules = { "rule names", rule_known, NULL };
	char expected[LIST_CAP + 32], got[GOT_CAP];
	int n_secrets = present(obj, "secret") + present(obj, "secret_file");

	if (!json_is_object(obj)) {
		describe(obj, SHOW_TYPE, got, sizeof(got));
		fault(ld, "must be an object with \"url\" and \"secret\" or \"secret_file\", got %s",
		      got);
		return;
	}
	check_keys(ld, obj, keys, NELEM(keys));
	/* Webhook URLs (Teams, Slack) carry their token in the path: only the scheme is shown. */
	if (take_checked(ld, obj, "url", false, SHOW_URL_SCHEME, check_http_url, &w->url) ==
	    TAKE_ABSENT)
		fault_at(ld, "url", "is required (expected an https:// URL)");
	take_checked(ld, obj, "secret", true, SHOW_TYPE, check_whsec, &w->secret);
	take_file(ld, obj, "secret_file", &w->secret_file);
	/* Receivers must be able to verify what they are sent: unsigned webhooks are refused. */
	if (n_secrets == 0)
		fault(ld, "needs \"secret\" or \"secret_file\" (webhooks are always signed)");
	else if (n_secrets == 2)
		fault(ld, "give \"secret\" or \"secret_file\", not both");
	snprintf(expected, sizeof(expected), "a rule name (one of: %s)", ld->rule_names);
	rules.expected = expected;
	take_list(ld, obj, "rules", true, &rules, &w->rules);
	take_format(ld, obj, &w->format);
}

static void load_webhooks(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	json_t *arr = json_object_get(root, "webhooks");
	char got[GOT_CAP];
	size_t mark, n;

	if (!arr || json_is_null(arr))
		return;
	if (!json_is_array(arr)) {
		describe(arr, SHOW_TYPE, got, sizeof(got));
		fault_at(ld, "webhooks", "must be an array of webhook objects, got %s", got);
		return;
	}
	if ((n = json_array_size(arr)) == 0)
		return;
	if (!(cfg->webhooks = calloc(n, sizeof(*cfg->webhooks)))) {
		fault_at(ld, "webhooks", "out of memory");
		return;
	}
	cfg->n_webhooks = n;
	mark = path_push_key(ld, "webhooks");
	for (size_t i = 0; i < n; i++) {
		size_t m = path_push_index(ld, i);

		load_webhook(ld, json_array_get(arr, i), &cfg->webhooks[i]);
		path_pop(ld, m);
	}
	path_pop(ld, mark);
}

static void load_http(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "listen" };
	json_t *obj;
	size_t mark;

	if (take_object(ld, root, "http", false, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "http");
	check_keys(ld, obj, keys, NELEM(keys));
	/* null switches the endpoint off; absent keeps the default. */
	take_checked(ld, obj, "listen", true, SHOW_VALUE, check_listen, &cfg->http_listen);
	path_pop(ld, mark);
}

/* How long delivered notices and evaluations are kept (alerts, their history and responses are
 * kept for ever: they are the record). */
static void load_retention(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "days" };
	json_t *obj;
	size_t mark;

	if (take_object(ld, root, "retention", false, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "retention");
	check_keys(ld, obj, keys, NELEM(keys));
	take_int(ld, obj, "days", 30, 3650, &cfg->retention_days);
	path_pop(ld, mark);
}

/* How long recording may make no progress before /healthz says "degraded". */
static void load_health(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "stall_seconds" };
	json_t *obj;
	size_t mark;

	if (take_object(ld, root, "health", false, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "health");
	check_keys(ld, obj, keys, NELEM(keys));
	take_int(ld, obj, "stall_seconds", 10, 86400, &cfg->stall_s);
	path_pop(ld, mark);
}

/* How long a notice is retried, counted from when it was first due (outbox_result.sql), before
 * it is failed and reported to the operators. Whole hours, at least one: the backoff's spacing
 * alone reaches an hour (backoff.h), so less would leave a receiver's outage a try or two. At
 * most 30 days: an alert about a child that nobody has received must reach the operators
 * while it still matters. */
static void load_delivery(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "max_age_hours", "report_wait_seconds",
					    "lease_seconds" };
	json_t *obj;
	size_t mark;

	if (take_object(ld, root, "delivery", false, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "delivery");
	check_keys(ld, obj, keys, NELEM(keys));
	take_int(ld, obj, "max_age_hours", 1, DELIVERY_MAX_AGE_H_MAX, &cfg->delivery_max_age_h);
	/* A report of failed notices waits for the rest of its incident (outbox_result.sql):
	 * a receiver that stays down fails its notices one by one. Up to a day, since the
	 * wait adds to how late the operators hear of notices nobody received. */
	take_int(ld, obj, "report_wait_seconds", 0, 86400, &cfg->delivery_report_wait_s);
	/* A claimed notice is leased and the lease renewed while it is held (deliver.c): this
	 * is how long the notices of an instance that died wait for another. At least 10 s,
	 * so that a renewal a quarter of it apart has time to be answered; at most an hour. */
	take_int(ld, obj, "lease_seconds", 10, 3600, &cfg->delivery_lease_s);
	path_pop(ld, mark);
}

/* ---- rules ---- */

static void load_stage(struct loader *ld, json_t *obj, struct config_rule *rc, size_t si)
{
	const struct rule_stage *st = &rc->def->stages[si];
	struct list_kind roles = { "roles", rule_role_valid, NULL };
	char expected[LIST_CAP + 32], got[GOT_CAP];
	const char *keys[2];
	size_t n = 0;

	if (!json_is_object(obj)) {
		describe(obj, SHOW_VALUE, got, sizeof(got));
		fault(ld, "must be an object, got %s", got);
		return;
	}
	if (st->threshold_key)
		keys[n++] = st->threshold_key;
	keys[n++] = "recipients";
	check_keys(ld, obj, keys, n);
	if (st->threshold_key)
		take_int(ld, obj, st->threshold_key, THRESHOLD_MIN, THRESHOLD_MAX,
			 &rc->thresholds[si]);
	snprintf(expected, sizeof(expected), "a role (one of: %s)", ld->role_names);
	roles.expected = expected;
	take_list(ld, obj, "recipients", false, &roles, &rc->roles[si]);
}

static void load_stages(struct loader *ld, json_t *rule, struct config_rule *rc)
{
	json_t *stages, *v;
	const char *name;
	char list[LIST_CAP], quoted[GOT_CAP];
	size_t mark;

	if (take_object(ld, rule, "stages", false, &stages) != TAKE_OK)
		return;
	mark = path_push_key(ld, "stages");
	json_object_foreach(stages, name, v) {
		int si = rule_stage_index(rc->def, name);
		size_t m = path_push_key(ld, name);

		if (si < 0 || si >= RULE_MAX_STAGES) {
			join_stage_names(rc->def, list, sizeof(list));
			quote(name, quoted, sizeof(quoted));
			fault(ld, "unknown stage %s; stages of %s are: %s", quoted, rc->def->name,
			      list);
		} else {
			load_stage(ld, v, rc, (size_t)si);
		}
		path_pop(ld, m);
	}
	path_pop(ld, mark);
}

/* Returns true when the rule set its own neglect_categories. */
static bool load_rule(struct loader *ld, json_t *obj, struct config_rule *rc)
{
	static const struct list_kind categories = {
		"category codes", category_ok,
		"a category code of 1 to 8 characters A-Z, 0-9 or _, like \"NEG\""
	};
	const struct rule_def *def = rc->def;
	static const struct list_kind items = {
		"strings", list_item_ok, "a string of 1 to 200 characters, no control characters"
	};
	const char *keys[RULE_MAX_OPTS + RULE_MAX_LIST_OPTS + 3];
	char got[GOT_CAP];
	size_t n = 0;

	if (!json_is_object(obj)) {
		describe(obj, SHOW_VALUE, got, sizeof(got));
		fault(ld, "must be an object, got %s", got);
		return false;
	}
	keys[n++] = "enabled";
	for (size_t k = 0; k < def->n_opts && k < RULE_MAX_OPTS; k++)
		keys[n++] = def->opts[k].key;
	for (size_t k = 0; k < def->n_list_opts && k < RULE_MAX_LIST_OPTS; k++)
		keys[n++] = def->list_opts[k].key;
	keys[n++] = "stages";
	if (def->uses_neglect_categories)
		keys[n++] = "neglect_categories";
	check_keys(ld, obj, keys, n);
	take_bool(ld, obj, "enabled", &rc->enabled);
	for (size_t k = 0; k < def->n_opts && k < RULE_MAX_OPTS; k++)
		take_int(ld, obj, def->opts[k].key, def->opts[k].min, def->opts[k].max,
			 &rc->opts[k]);
	/* null is the default too */
	for (size_t k = 0; k < def->n_list_opts && k < RULE_MAX_LIST_OPTS; k++)
		take_list(ld, obj, def->list_opts[k].key, true, &items, &rc->lists[k]);
	load_stages(ld, obj, rc);
	return def->uses_neglect_categories &&
	       take_list(ld, obj, "neglect_categories", false, &categories,
			 &rc->neglect_categories) == TAKE_OK;
}

static size_t rule_slot(const struct dw_config *cfg, const char *name)
{
	size_t i = 0;

	while (i < cfg->n_rules && strcmp(cfg->rules[i].def->name, name) != 0)
		i++;
	return i;
}

/* An authority that adds a category (say MUL) once, on the rule that shares its categories
 * (cp_neglect_duration), gets it in every rule that counts neglect plans; a rule may still set
 * its own. */
static void inherit_categories(struct loader *ld, struct dw_config *cfg, const bool *own)
{
	static const char *const neg[] = { DEFAULT_NEGLECT_CATEGORY, NULL };
	size_t cp = 0;
	const char *const *from = neg;

	while (cp < cfg->n_rules && !cfg->rules[cp].def->shares_neglect_categories)
		cp++;

	if (cp < cfg->n_rules && own[cp] && cfg->rules[cp].neglect_categories)
		from = (const char *const *)cfg->rules[cp].neglect_categories;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		struct config_rule *rc = &cfg->rules[i];

		if (own[i] && rc->neglect_categories)
			continue;
		strv_free(rc->neglect_categories);
		if (!(rc->neglect_categories = strv_dup(from)))
			fault(ld, "out of memory");
	}
}

/* Cross-field checks belong to each rule; they only make sense on values that passed their
 * own checks, so a rule with a fault of its own is not checked again. */
static void run_rule_checks(struct loader *ld, struct dw_config *cfg, const bool *clean)
{
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct rule_def *def = cfg->rules[i].def;
		size_t before = ld->errs->n;

		if (!clean[i] || !def->check)
			continue;
		def->check(&cfg->rules[i], ld->file, ld->errs);
		ld->faults += ld->errs->n - before;
	}
}

static void load_rules(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	bool own[RULE_REGISTRY_MAX] = { false };
	bool clean[RULE_REGISTRY_MAX];
	json_t *rules, *v;
	const char *name;
	char quoted[GOT_CAP];
	size_t mark;

	for (size_t i = 0; i < NELEM(clean); i++)
		clean[i] = true;
	if (take_object(ld, root, "rules", false, &rules) == TAKE_OK) {
		mark = path_push_key(ld, "rules");
		json_object_foreach(rules, name, v) {
			size_t i = rule_slot(cfg, name), m = path_push_key(ld, name);
			size_t before = ld->faults;

			if (i == cfg->n_rules) {
				quote(name, quoted, sizeof(quoted));
				fault(ld, "unknown rule %s; known rules are: %s", quoted,
				      ld->rule_names);
			} else {
				own[i] = load_rule(ld, v, &cfg->rules[i]);
				clean[i] = ld->faults == before;
			}
			path_pop(ld, m);
		}
		path_pop(ld, mark);
	}
	inherit_categories(ld, cfg, own);
	run_rule_checks(ld, cfg, clean);
}

static bool host_pattern_ok(const char *s)
{
	return hostmatch_pattern_ok(s);
}

/* Teams' webhook_url comes from the case data, which its writers control. ALERTS.md has each
 * team's URL receive the team's alerts; an authority that wants to bound where the case data
 * may send them names the hosts here (an empty list: none). Absent: any URL (audit 19). */
static void load_team_webhooks(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "allowed_hosts", "format" };
	static const struct list_kind hosts = {
		"host patterns", host_pattern_ok,
		"a host name, \"*.\" and a domain, or an IP address (IPv6 in brackets)"
	};
	json_t *obj, *arr;
	size_t mark;

	if (take_object(ld, root, "team_webhooks", false, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "team_webhooks");
	check_keys(ld, obj, keys, NELEM(keys));
	arr = json_object_get(obj, "allowed_hosts");
	cfg->team_hosts_limited = arr != NULL && !json_is_null(arr);
	if (!(json_is_array(arr) && json_array_size(arr) == 0))
		take_list(ld, obj, "allowed_hosts", false, &hosts, &cfg->team_allowed_hosts);
	take_format(ld, obj, &cfg->team_webhook_format);
	path_pop(ld, mark);
}

/* ---- web, responses and the calendar (RESPONSES.md) ---- */

static bool host_is_loopback(const char *host, size_t n)
{
	if ((n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
	    (n == 5 && strncmp(host, "[::1]", 5) == 0))
		return true;
	/* 127.0.0.0/8 written as a dotted address */
	return n >= 7 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") >= n;
}

/* The length of the host at the start of an authority that ends at end: "[v6]" whole, else up
 * to a port's ':'. */
static size_t host_length(const char *host, const char *end)
{
	const char *close;

	if (host[0] != '[')
		return strcspn(host, ":/");
	close = memchr(host, ']', (size_t)(end - host));
	return close ? (size_t)(close - host) + 1 : (size_t)(end - host);
}

bool config_email_clear_remote(const struct config_email *e)
{
	const char *host, *end, *at;

	if (!e->enabled || e->tls != CONFIG_TLS_NONE || !e->smtp_url ||
	    !has_scheme(e->smtp_url, "smtp://"))
		return false;
	host = e->smtp_url + strlen("smtp://");
	end = host + strcspn(host, "/");
	at = memchr(host, '@', (size_t)(end - host));
	if (at)
		host = at + 1;
	return !host_is_loopback(host, host_length(host, end));
}

/* A link carries a token that acts as the person it was sent to, so it must not cross a network
 * in clear text: https, or http only to this machine's loopback (a test or a demo), where
 * nothing is on the wire. No user name, query or fragment: "/r/TOKEN" is appended to it. */
static const char *check_public_url(const char *s)
{
	bool https = has_scheme(s, "https://");
	const char *host, *end;

	if ((!https && !has_scheme(s, "http://")) || has_space_or_control(s) || strpbrk(s, "?#"))
		return "must be an https:// URL without spaces, query or fragment";
	host = s + (https ? strlen("https://") : strlen("http://"));
	end = host + strcspn(host, "/");
	if (end == host || memchr(host, '@', (size_t)(end - host)))
		return "must be an https:// URL with a host and no user name";
	if (!https && !host_is_loopback(host, host_length(host, end)))
		return "must be an https:// URL (http:// only to a loopback host such as "
		       "127.0.0.1: a link acts as its recipient and must not cross a network in "
		       "clear text)";
	return NULL;
}

static void strip_trailing_slashes(char *url)
{
	size_t n = strlen(url);

	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
}

/* Links need both an address and a secret to sign them with; one without the other is a
 * half-done setup that would silently send no links. */
static void check_web_links(struct loader *ld, json_t *obj)
{
	bool url = present(obj, "public_url"), secret = present(obj, "link_secret_file");

	if (url && !secret)
		fault_at(ld, "link_secret_file", "is required with \"public_url\" (links in notices "
			 "are signed with it)");
	else if (secret && !url)
		fault_at(ld, "public_url", "is required with \"link_secret_file\" (the address the "
			 "links in notices point at)");
}

/* A header field name (RFC 9110's token), and not one driftwatch reads for something else: the
 * proxy's header carries who the person is, and must not be confused with a bearer token or the
 * request's framing. */
static const char *check_header_name(const char *s)
{
	static const char *const taken[] = { "Authorization", "Host", "Content-Type",
					     "Content-Length", "Cookie", "Connection" };
	size_t n = strlen(s);

	if (n == 0 || n > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789!#$%&'*+-.^_`|~") != n)
		return "must be an HTTP header name (letters, digits and -, at most 64)";
	for (size_t i = 0; i < NELEM(taken); i++)
		if (strcasecmp(s, taken[i]) == 0)
			return "must be a header of its own, not one HTTP or the API uses (such as "
			       "Authorization)";
	return NULL;
}

static bool email_ok(const char *s)
{
	return check_email(s) == NULL;
}

/* An empty list is allowed and means none: believing nobody is the default. */
static void take_list_or_empty(struct loader *ld, json_t *obj, const char *key,
			       const struct list_kind *kind, char ***dst)
{
	json_t *arr = json_object_get(obj, key);

	if (json_is_array(arr) && json_array_size(arr) == 0) {
		strv_free(*dst);
		*dst = NULL;
		return;
	}
	take_list(ld, obj, key, false, kind, dst);
}

/* Who is who (RESPONSES.md): the sign-on proxy's header, the addresses it is believed from,
 * and the people who see everything. */
static void load_web_people(struct loader *ld, json_t *obj, struct config_web *w)
{
	static const struct list_kind proxies = {
		"IP addresses", ip_address_ok,
		"an IP address such as \"10.0.0.5\" or \"::1\" (no host name, port or prefix)"
	};
	static const struct list_kind emails = {
		"email addresses", email_ok,
		"one email address (one \"@\", no spaces, commas or control characters)"
	};

	take_checked(ld, obj, "user_header", false, SHOW_VALUE, check_header_name,
		     &w->user_header);
	take_list_or_empty(ld, obj, "trusted_proxies", &proxies, &w->trusted_proxies);
	take_list_or_empty(ld, obj, "viewers", &emails, &w->viewers);
}

static void load_web(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "public_url", "link_secret_file", "link_days",
					    "listen", "api_tokens_file", "user_header",
					    "trusted_proxies", "viewers" };
	struct config_web *w = &cfg->web;
	json_t *obj;
	size_t mark;

	if (take_object(ld, root, "web", false, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "web");
	check_keys(ld, obj, keys, NELEM(keys));
	/* a URL with a user name would carry a password: only its scheme is shown */
	if (take_checked(ld, obj, "public_url", true, SHOW_URL_SCHEME, check_public_url,
			 &w->public_url) == TAKE_OK)
		strip_trailing_slashes(w->public_url);
	take_file(ld, obj, "link_secret_file", &w->link_secret_file);
	check_web_links(ld, obj);
	take_int(ld, obj, "link_days", 1, 365, &w->link_days);
	take_file(ld, obj, "api_tokens_file", &w->api_tokens_file);
	load_web_people(ld, obj, w);
	/* The API and pages answer people; /metrics answers Prometheus: never one socket. */
	if (take_checked(ld, obj, "listen", true, SHOW_VALUE, check_listen, &w->listen) ==
		    TAKE_OK &&
	    cfg->http_listen && listen_overlap(w->listen, cfg->http_listen))
		fault_at(ld, "listen", "must differ from http.listen (the API and pages are kept "
			 "apart from /healthz and /metrics): \"%s\" and \"%s\" would share a port",
			 w->listen, cfg->http_listen);
	path_pop(ld, mark);
}

static bool stage_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= STAGE_NAME_MAX && !has_space_or_control(s);
}

/* "*" (every one: *dst is NULL) or a non-empty array of kind; absent is "*" too. */
static enum take take_star_list(struct loader *ld, json_t *obj, const char *key,
				const struct list_kind *kind, char ***dst)
{
	json_t *v = json_object_get(obj, key);
	char got[GOT_CAP];

	if (!v)
		return TAKE_ABSENT;
	if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0) {
		strv_free(*dst);
		*dst = NULL;
		return TAKE_OK;
	}
	if (!json_is_array(v) || json_array_size(v) == 0) {
		describe(v, SHOW_VALUE, got, sizeof(got));
		fault_at(ld, key, "must be \"*\" or a non-empty array of %s, got %s", kind->noun,
			 got);
		return TAKE_BAD;
	}
	return take_list(ld, obj, key, false, kind, dst);
}

static bool rule_has_stage(const char *rule, const char *stage)
{
	const struct rule_def *def = rule_registry_find(rule);

	return def && rule_stage_index(def, stage) >= 0;
}

static bool stage_listed(char *const *rules, const char *stage)
{
	if (!rules) {
		for (size_t i = 0; i < rule_registry_count(); i++)
			if (rule_stage_index(rule_registry_get(i), stage) >= 0)
				return true;
		return false;
	}
	for (; *rules; rules++)
		if (rule_has_stage(*rules, stage))
			return true;
	return false;
}

/* "cp_neglect_duration: 9m, 12m, 15m, 18m; re_referral: 12m, cycle" for the rules listed. */
static void join_rules_stages(char *const *rules, char *buf, size_t cap)
{
	size_t o = 0;

	buf[0] = '\0';
	for (; *rules && o < cap; rules++) {
		const struct rule_def *def = rule_registry_find(*rules);
		char stages[LIST_CAP];
		int w;

		if (!def)
			continue;
		join_stage_names(def, stages, sizeof(stages));
		w = snprintf(buf + o, cap - o, "%s%s: %s", o ? "; " : "", def->name, stages);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

/* A stage no rule of the entry has would never match: a typo that silently escalates nothing. */
static void check_escalate_stages(struct loader *ld, const struct config_escalate *e)
{
	char quoted[GOT_CAP], list[LIST_CAP];
	size_t mark = path_push_key(ld, "stages");

	for (size_t j = 0; e->stages && e->stages[j]; j++) {
		size_t m;

		if (stage_listed(e->rules, e->stages[j]))
			continue;
		m = path_push_index(ld, j);
		quote(e->stages[j], quoted, sizeof(quoted));
		if (!e->rules) {
			fault(ld, "%s is not a stage of any rule", quoted);
		} else {
			join_rules_stages(e->rules, list, sizeof(list));
			fault(ld, "%s is not a stage of %s (%s)", quoted,
			      e->rules[1] ? "any rule listed" : e->rules[0], list);
		}
		path_pop(ld, m);
	}
	path_pop(ld, mark);
}

static void load_escalate_entry(struct loader *ld, json_t *obj, struct config_escalate *e)
{
	static const char *const keys[] = { "rules", "stages", "after_working_days", "to" };
	static const struct list_kind stages = {
		"stage names", stage_name_ok, "a stage name (like \"15m\")"
	};
	struct list_kind rules = { "rule names", rule_known, NULL };
	struct list_kind roles = { "roles", escalation_role_valid, NULL };
	char rules_expected[LIST_CAP + 32], roles_expected[LIST_CAP + 32], got[GOT_CAP];
	enum take tr, ts;

	if (!json_is_object(obj)) {
		describe(obj, SHOW_VALUE, got, sizeof(got));
		fault(ld, "must be an object with \"after_working_days\" and \"to\", got %s", got);
		return;
	}
	check_keys(ld, obj, keys, NELEM(keys));
	snprintf(rules_expected, sizeof(rules_expected), "a rule name (one of: %s)",
		 ld->rule_names);
	rules.expected = rules_expected;
	snprintf(roles_expected, sizeof(roles_expected), "a role (one of: %s)",
		 escalation_role_names());
	roles.expected = roles_expected;
	tr = take_star_list(ld, obj, "rules", &rules, &e->rules);
	ts = take_star_list(ld, obj, "stages", &stages, &e->stages);
	if (tr != TAKE_BAD && ts == TAKE_OK)
		check_escalate_stages(ld, e);
	if (take_int(ld, obj, "after_working_days", 1, ESCALATE_DAYS_MAX,
		     &e->after_working_days) == TAKE_ABSENT)
		fault_at(ld, "after_working_days", "is required (expected an integer from 1 to %d)",
			 ESCALATE_DAYS_MAX);
	if (take_list(ld, obj, "to", false, &roles, &e->to) == TAKE_ABSENT)
		fault_at(ld, "to", "is required (expected a non-empty array of roles)");
}

/* The list replaces the defaults whole: an authority that writes it says everything. */
static void load_escalate(struct loader *ld, json_t *obj, struct config_responses *r)
{
	json_t *arr = json_object_get(obj, "escalate");
	struct config_escalate *entries;
	char got[GOT_CAP];
	size_t mark, n;

	if (!arr)
		return;
	if (!json_is_array(arr)) {
		describe(arr, SHOW_VALUE, got, sizeof(got));
		fault_at(ld, "escalate", "must be an array of {\"rules\", \"stages\", "
			 "\"after_working_days\", \"to\"} objects (the first that matches counts), "
			 "got %s", got);
		return;
	}
	n = json_array_size(arr);
	if (!(entries = calloc(n ? n : 1, sizeof(*entries)))) {
		fault_at(ld, "escalate", "out of memory");
		return;
	}
	mark = path_push_key(ld, "escalate");
	for (size_t i = 0; i < n; i++) {
		size_t m = path_push_index(ld, i);

		load_escalate_entry(ld, json_array_get(arr, i), &entries[i]);
		path_pop(ld, m);
	}
	path_pop(ld, mark);
	escalate_free(r->escalate, r->n_escalate);
	r->escalate = entries;
	r->n_escalate = n;
}

static void load_responses(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "max_snooze_days", "escalate" };
	json_t *obj;
	size_t mark;

	if (take_object(ld, root, "responses", false, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "responses");
	check_keys(ld, obj, keys, NELEM(keys));
	take_int(ld, obj, "max_snooze_days", 1, 365, &cfg->responses.max_snooze_days);
	load_escalate(ld, obj, &cfg->responses);
	path_pop(ld, mark);
}

/* calendar.c words its own messages ("calendar.closures[2]: ..."), quoting the value as given:
 * here they get the file's name, and lose control characters and excess length, as ours do. */
static void add_foreign_fault(struct loader *ld, const char *msg)
{
	char safe[FOREIGN_MSG_MAX + 4];
	size_t n = 0;

	for (; msg[n] && n < FOREIGN_MSG_MAX; n++) {
		unsigned char c = (unsigned char)msg[n];

		safe[n] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	snprintf(safe + n, sizeof(safe) - n, "%s", msg[n] ? "..." : "");
	errlist_add(ld->errs, "%s: %s", ld->file, safe);
}

/* The strings of calendar.closures for calendar_config_parse (a non-string as NULL); NULL with
 * *n = 0 when there are none, or when the member is not an array (reported here). */
static const char **closure_items(struct loader *ld, json_t *obj, size_t *n, bool *oom)
{
	json_t *arr = json_object_get(obj, "closures");
	const char **items;
	char got[GOT_CAP];

	*n = 0;
	*oom = false;
	if (!arr || json_is_null(arr))
		return NULL;
	if (!json_is_array(arr)) {
		describe(arr, SHOW_VALUE, got, sizeof(got));
		fault_at(ld, "closures", "must be an array of days (\"YYYY-MM-DD\"), got %s", got);
		return NULL;
	}
	if (json_array_size(arr) == 0)
		return NULL;
	if (!(items = calloc(json_array_size(arr), sizeof(*items)))) {
		*oom = true;
		return NULL;
	}
	*n = json_array_size(arr);
	for (size_t i = 0; i < *n; i++)
		items[i] = json_string_value(json_array_get(arr, i));
	return items;
}

/* Decoded once, here, by calendar.c's own parser: the daemon keeps the days. */
static void load_calendar(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "region", "closures" };
	struct config_calendar *c = &cfg->calendar;
	struct errlist cal_errs = { NULL, 0, 0 };
	const char *region = NULL, **items;
	int32_t *days;
	size_t mark, n;
	bool oom;
	int faults;
	json_t *obj;

	if (take_object(ld, root, "calendar", false, &obj) != TAKE_OK)
		return;
	mark = path_push_key(ld, "calendar");
	check_keys(ld, obj, keys, NELEM(keys));
	take_string(ld, obj, "region", false, SHOW_VALUE, &region);
	items = closure_items(ld, obj, &n, &oom);
	days = calloc(n ? n : 1, sizeof(*days));
	if (oom || !days) {
		fault_at(ld, "closures", "out of memory");
		free(items);
		free(days);
		path_pop(ld, mark);
		return;
	}
	path_pop(ld, mark);
	faults = calendar_config_parse(region, items, n, &c->region, days, &c->n_closures,
				       &cal_errs);
	for (size_t i = 0; i < cal_errs.n; i++)
		add_foreign_fault(ld, cal_errs.msgs[i]);
	/* a message errlist could not store still fails the load */
	ld->faults += faults > 0 ? (size_t)faults : 0;
	errlist_free(&cal_errs);
	free(items);
	free(c->closures);
	c->closures = NULL;
	if (c->n_closures > 0)
		c->closures = days;
	else
		free(days);
}

/* ---- the whole file ---- */

static void load_root(struct loader *ld, json_t *root, struct dw_config *cfg)
{
	static const char *const keys[] = { "database", "state", "timezone", "link_template",
					    "addresses",
					    "evaluation", "repeat_after_days", "email", "webhooks",
					    "team_webhook_secret_file", "team_webhooks", "http",
					    "retention", "health", "rules", "web", "responses",
					    "calendar", "delivery" };
	char got[GOT_CAP];

	if (!json_is_object(root)) {
		describe(root, SHOW_TYPE, got, sizeof(got));
		fault(ld, "must hold one JSON object, got %s", got);
		return;
	}
	check_keys(ld, root, keys, NELEM(keys));
	load_database(ld, root, cfg);
	load_state(ld, root, cfg);
	load_timezone(ld, root, cfg);
	take_checked(ld, root, "link_template", true, SHOW_VALUE, check_link_template,
		     &cfg->link_template);
	load_addresses(ld, root, &cfg->addresses);
	load_evaluation(ld, root, cfg);
	take_int(ld, root, "repeat_after_days", 0, 365, &cfg->repeat_after_days);
	load_email(ld, root, &cfg->email);
	load_webhooks(ld, root, cfg);
	load_delivery(ld, root, cfg);
	take_file(ld, root, "team_webhook_secret_file", &cfg->team_webhook_secret_file);
	load_team_webhooks(ld, root, cfg);
	load_http(ld, root, cfg);
	load_web(ld, root, cfg);
	load_retention(ld, root, cfg);
	load_health(ld, root, cfg);
	load_calendar(ld, root, cfg);
	load_rules(ld, root, cfg);
	load_responses(ld, root, cfg);
}

/* The key a duplicate-key error stopped after, as written: jansson names it only when it is
 * at most 20 bytes long, and a duplicated "team_webhook_secret_file" was then named by line
 * and column alone. The error's position is the end of the key's string; a key that cannot be
 * found there, or holds what cannot be shown, leaves out with nothing. */
static void duplicate_key_at(const char *json, size_t len, size_t pos, char *out, size_t cap)
{
	size_t end, start, n;

	out[0] = '\0';
	if (pos == 0 || pos > len || json[pos - 1] != '"')
		return;
	end = pos - 1;
	for (start = end; start > 0; start--)
		if (json[start - 1] == '"' && (start < 2 || json[start - 2] != '\\'))
			break;
	if (start == 0)
		return;
	n = end - start;
	if (n == 0 || n >= cap)
		return;
	for (size_t i = start; i < end; i++)
		if ((unsigned char)json[i] < 0x20 || json[i] == 0x7f || json[i] == '\\')
			return;
	memcpy(out, json + start, n);
	out[n] = '\0';
}

/* jansson ends its messages with "near 'TOKEN'", and the token may be the start of a
 * password with a stray quote: only a duplicate key's token (a key name) is kept. */
static void report_json_error(struct loader *ld, const json_error_t *jerr, const char *json,
			      size_t len)
{
	char text[sizeof(jerr->text) + 128];
	char key[101];
	char *near;

	snprintf(text, sizeof(text), "%s", jerr->text);
	if (strncmp(text, "duplicate object key", 20) != 0 && (near = strstr(text, " near ")))
		*near = '\0';
	if (strcmp(text, "duplicate object key") == 0 && jerr->position >= 0) {
		duplicate_key_at(json, len, (size_t)jerr->position, key, sizeof(key));
		if (key[0])
			snprintf(text, sizeof(text), "duplicate object key \"%s\"", key);
	}
	fault(ld, "line %d, column %d: invalid JSON: %s%s", jerr->line, jerr->column, text,
	      strcmp(text, "too big integer") == 0 ? " (the largest is 9223372036854775807)" : "");
}

static int load_buffer(const char *name, const char *text, size_t len, struct dw_config *cfg,
		       struct errlist *errs, unsigned flags)
{
	struct loader ld = { .file = name, .errs = errs, .flags = flags, .cfg = cfg };
	json_error_t jerr;
	json_t *root;

	memset(cfg, 0, sizeof(*cfg));
	join_rule_names(ld.rule_names, sizeof(ld.rule_names));
	join_role_names(ld.role_names, sizeof(ld.role_names));
	set_string(&ld, &cfg->path, name);
	set_defaults(&ld, cfg);
	/* A Windows editor's UTF-8 byte-order mark: RFC 8259 lets a parser ignore it, and a
	 * council's file saved in Notepad should not fail as "invalid JSON" at line 1, column 1. */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		text += 3;
		len -= 3;
	}
	/* Duplicate keys are refused: otherwise the last one silently wins. */
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		report_json_error(&ld, &jerr, text, len);
		return -1;
	}
	load_root(&ld, root, cfg);
	json_decref(root);
	return ld.faults ? -1 : 0;
}

int config_load_flags(const char *path, struct dw_config *cfg, struct errlist *errs,
		      unsigned flags)
{
	char *text = NULL, why[256];
	size_t len = 0;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (smallfile_read(path, MAX_FILE_BYTES, &text, &len, why, sizeof(why)) < 0) {
		errlist_add(errs, "%s: cannot read: %s", path, why);
		return -1;
	}
	rc = load_buffer(path, text, len, cfg, errs, flags);
	free(text);
	return rc;
}

int config_load(const char *path, struct dw_config *cfg, struct errlist *errs)
{
	return config_load_flags(path, cfg, errs, 0);
}

int config_load_text(const char *name, const char *text, struct dw_config *cfg,
		     struct errlist *errs)
{
	return load_buffer(name, text, strlen(text), cfg, errs, 0);
}

const struct config_rule *config_categories_rule(const struct dw_config *cfg)
{
	for (size_t i = 0; i < cfg->n_rules; i++)
		if (cfg->rules[i].def->shares_neglect_categories)
			return &cfg->rules[i];
	return NULL;
}

char *config_categories_param(const struct dw_config *cfg, const struct config_rule *rc)
{
	static const char *const neg[] = { DEFAULT_NEGLECT_CATEGORY };
	const char *const *cats;

	if (!rc)
		rc = config_categories_rule(cfg);
	cats = rc ? (const char *const *)rc->neglect_categories : NULL;
	if (!cats)
		return strbuf_text_array(neg, 1);
	return strbuf_text_array(cats, strv_len(cats));
}

void config_free(struct dw_config *cfg)
{
	if (!cfg)
		return;
	errlist_free(&cfg->notes);
	free(cfg->path);
	free(cfg->conninfo);
	free(cfg->state_conninfo);
	free(cfg->case_schema);
	free(cfg->state_schema);
	free(cfg->timezone);
	free(cfg->link_template);
	free(cfg->addresses.fallback);
	free(cfg->addresses.cp_chair);
	free(cfg->addresses.cp_manager);
	free(cfg->addresses.head_of_service);
	free(cfg->addresses.operators);
	free(cfg->email.smtp_url);
	free(cfg->email.from);
	free(cfg->email.username);
	free(cfg->email.password);
	free(cfg->email.password_file);
	free(cfg->email.ca_file);
	for (size_t i = 0; i < cfg->n_webhooks && cfg->webhooks; i++) {
		free(cfg->webhooks[i].url);
		free(cfg->webhooks[i].secret);
		free(cfg->webhooks[i].secret_file);
		strv_free(cfg->webhooks[i].rules);
	}
	free(cfg->webhooks);
	free(cfg->team_webhook_secret_file);
	strv_free(cfg->team_allowed_hosts);
	free(cfg->http_listen);
	free(cfg->web.public_url);
	free(cfg->web.link_secret_file);
	free(cfg->web.listen);
	free(cfg->web.api_tokens_file);
	free(cfg->web.user_header);
	strv_free(cfg->web.trusted_proxies);
	strv_free(cfg->web.viewers);
	escalate_free(cfg->responses.escalate, cfg->responses.n_escalate);
	free(cfg->calendar.closures);
	/* Every slot, not n_rules: a partial load may have filled more than it counted. */
	for (size_t i = 0; i < RULE_REGISTRY_MAX; i++) {
		for (size_t s = 0; s < RULE_MAX_STAGES; s++)
			strv_free(cfg->rules[i].roles[s]);
		for (size_t k = 0; k < RULE_MAX_LIST_OPTS; k++)
			strv_free(cfg->rules[i].lists[k]);
		strv_free(cfg->rules[i].neglect_categories);
	}
	memset(cfg, 0, sizeof(*cfg));
}

struct calendar config_calendar(const struct dw_config *cfg)
{
	struct calendar cal = { cfg->calendar.region, cfg->calendar.closures,
				cfg->calendar.n_closures };

	return cal;
}

const struct config_rule *config_rule_find(const struct dw_config *cfg, const char *name)
{
	size_t i = rule_slot(cfg, name);

	return i < cfg->n_rules ? &cfg->rules[i] : NULL;
}

const char *config_state_conninfo(const struct dw_config *cfg)
{
	return cfg->state_conninfo ? cfg->state_conninfo : cfg->conninfo;
}
