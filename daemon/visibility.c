/* visibility: who a person is (a configured address, a proxy's header) and what they may see. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "driftwatch/config.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/visibility.h"

char *visibility_person(const char *value)
{
	const char *end, *at;
	size_t n;
	char *s;

	if (!value)
		return NULL;
	while (*value == ' ' || *value == '\t')
		value++;
	end = value + strlen(value);
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - value);
	at = memchr(value, '@', n);
	if (n == 0 || n > VISIBILITY_EMAIL_MAX || !at || at == value || at == end - 1 ||
	    memchr(at + 1, '@', (size_t)(end - at - 1)))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c <= ' ' || c == 0x7f || c == ',' || c == '<' || c == '>' || c == '"')
			return NULL;
	}
	if (!(s = malloc(n + 1)))
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = (char)tolower((unsigned char)value[i]);
	s[n] = '\0';
	return s;
}

static bool same_address(const char *configured, const char *email)
{
	return configured && strcasecmp(configured, email) == 0;
}

bool visibility_sees_all(const struct dw_config *cfg, const char *email)
{
	const struct config_addresses *a = &cfg->addresses;

	if (!email)
		return false;
	if (same_address(a->head_of_service, email) || same_address(a->cp_manager, email) ||
	    same_address(a->operators, email))
		return true;
	for (size_t i = 0; cfg->web.viewers && cfg->web.viewers[i]; i++)
		if (same_address(cfg->web.viewers[i], email))
			return true;
	return false;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its 4 bytes: a peer reached over a dual-stack
 * socket is the IPv4 proxy it is. n is 4 or 16; returns the new length. */
static size_t unmap(unsigned char b[16], size_t n)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (n != 16 || memcmp(b, mapped, sizeof(mapped)) != 0)
		return n;
	memmove(b, b + 12, 4);
	return 4;
}

static size_t peer_bytes(const struct sockaddr *peer, unsigned char out[16])
{
	if (peer->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)peer)->sin_addr, 4);
		return 4;
	}
	if (peer->sa_family != AF_INET6)
		return 0;
	memcpy(out, &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr, 16);
	return unmap(out, 16);
}

static size_t address_bytes(const char *s, unsigned char out[16])
{
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	return inet_pton(AF_INET6, s, out) == 1 ? unmap(out, 16) : 0;
}

bool visibility_trusted_peer(const struct dw_config *cfg, const struct sockaddr *peer)
{
	unsigned char got[16], want[16];
	size_t n = peer ? peer_bytes(peer, got) : 0;

	for (size_t i = 0; n && cfg->web.trusted_proxies && cfg->web.trusted_proxies[i]; i++)
		if (address_bytes(cfg->web.trusted_proxies[i], want) == n &&
		    memcmp(got, want, n) == 0)
			return true;
	return false;
}

const char *visibility_sql_case(void)
{
	return sql_web_visible;
}

const char *visibility_sql_state(void)
{
	return sql_web_visible_state;
}

int visibility_case_read(PGresult *res, struct visibility_case *c)
{
	static const char *const cols[] = { "child_ids", "plan_child_ids", "plan_ids" };
	char **out[] = { &c->child_ids, &c->plan_child_ids, &c->plan_ids };
	int known = PQfnumber(res, "known");

	visibility_case_clear(c);
	if (PQntuples(res) != 1 || known < 0 || PQgetisnull(res, 0, known))
		return -1;
	c->known = PQgetvalue(res, 0, known)[0] == 't';
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		int k = PQfnumber(res, cols[i]);

		if (k < 0 || PQgetisnull(res, 0, k) || !(*out[i] = strdup(PQgetvalue(res, 0, k)))) {
			visibility_case_clear(c);
			return -1;
		}
	}
	return 0;
}

void visibility_state_params(const char *person, const struct visibility_case *c,
			     const char *params[VISIBILITY_STATE_PARAMS])
{
	params[0] = person;
	params[1] = c && c->child_ids ? c->child_ids : "{}";
	params[2] = c && c->plan_child_ids ? c->plan_child_ids : "{}";
	params[3] = c && c->plan_ids ? c->plan_ids : "{}";
	params[4] = c && c->known ? "true" : "false";
}

void visibility_case_clear(struct visibility_case *c)
{
	free(c->child_ids);
	free(c->plan_child_ids);
	free(c->plan_ids);
	memset(c, 0, sizeof(*c));
}

int visibility_read(PGresult *res, struct visibility *v)
{
	int known = PQfnumber(res, "known"), ids = PQfnumber(res, "alert_ids");

	visibility_clear(v);
	if (PQntuples(res) != 1 || known < 0 || ids < 0 || PQgetisnull(res, 0, ids))
		return -1;
	v->known = PQgetvalue(res, 0, known)[0] == 't';
	v->alert_ids = strdup(PQgetvalue(res, 0, ids));
	return v->alert_ids ? 0 : -1;
}

const char *visibility_param(const struct visibility *v)
{
	return v->all ? NULL : v->alert_ids ? v->alert_ids : "{}";
}

void visibility_clear(struct visibility *v)
{
	free(v->alert_ids);
	v->alert_ids = NULL;
	v->known = false;
	v->all = false;
}
