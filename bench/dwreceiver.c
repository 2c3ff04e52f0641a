/*
 * dwreceiver: a small, fast webhook receiver for the benchmark (bench/bench.sh).
 *
 *   dwreceiver --port N --log FILE [--ready-file FILE] [--lifetime SECONDS]
 *
 * Listens on 127.0.0.1:N (0 = any free port), answers every HTTP/1.1 request with 200 and
 * keeps the connection open (libcurl reuses it), and appends one line per request to FILE:
 *
 *   <arrival, Unix time with microseconds>\t<webhook-id>\t<data.child_id>\t<type>\n
 *
 * The arrival time is taken when the whole request (headers and body) has been read, from
 * CLOCK_REALTIME, the same clock the benchmark reads commit times from. One thread, epoll, no
 * allocation per request beyond the connection's buffer, so it can take tens of thousands of
 * requests a second on one core and is never what limits deliveries_per_s. The port is written
 * to --ready-file once listening. SIGTERM/SIGINT or --lifetime end it; the log is flushed after
 * every batch of events.
 *
 * The Python receiver in tests/integration/ checks signatures and answers per path; this one
 * only counts and timestamps, as fast as it can.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define MAX_EVENTS 64
#define MAX_REQUEST (4 * 1024 * 1024)

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL, 0);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The value of header NAME in the header block [h, end), copied into out (at most outsz-1). */
static void header_value(const char *h, const char *end, const char *name, char *out, size_t outsz)
{
	size_t nlen = strlen(name);
	const char *p = h;

	out[0] = '\0';
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			size_t n;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			n = (size_t)(eol - v);
			while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' '))
				n--;
			if (n >= outsz)
				n = outsz - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return;
		}
		p = eol + 1;
	}
}

/* The first JSON string value of "key" in the body (no unescaping: ids and types are plain). */
static void json_string_of(const char *body, size_t len, const char *key, char *out, size_t outsz)
{
	char pat[64];
	size_t plen;
	const char *p = body, *end = body + len;

	out[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	plen = strlen(pat);
	while (p + plen <= end) {
		const char *hit = memchr(p, '"', (size_t)(end - p));

		if (!hit || hit + plen > end)
			return;
		if (memcmp(hit, pat, plen) == 0) {
			const char *v = hit + plen, *q = v;
			size_t n;

			while (q < end && *q != '"')
				q++;
			n = (size_t)(q - v);
			if (n >= outsz)
				n = outsz - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return;
		}
		p = hit + 1;
	}
}

/* The end of the header block ("\r\n\r\n"), or NULL (memmem is a GNU extension). */
static char *find_header_end(char *buf, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++)
		if (buf[i] == '\r' && memcmp(buf + i, "\r\n\r\n", 4) == 0)
			return buf + i;
	return NULL;
}

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	free(c);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* A 40-byte answer into an empty loopback socket: wait briefly. */
				struct timespec ts = { 0, 100000 };

				nanosleep(&ts, NULL);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Handles every complete request in the buffer; returns -1 when the connection must close. */
static int conn_process(struct conn *c, FILE *log, unsigned long long *count)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				    "Content-Length: 2\r\n\r\nok";

	for (;;) {
		char *hend = NULL, clen[32], id[256], child[256], type[64];
		size_t hlen, blen, total;

		hend = find_header_end(c->buf, c->len);
		if (!hend)
			return c->len > MAX_REQUEST ? -1 : 0;
		hlen = (size_t)(hend - c->buf) + 4;
		header_value(c->buf, hend, "content-length", clen, sizeof(clen));
		blen = clen[0] ? strtoul(clen, NULL, 10) : 0;
		if (blen > MAX_REQUEST)
			return -1;
		total = hlen + blen;
		if (c->len < total)
			return 0;
		header_value(c->buf, hend, "webhook-id", id, sizeof(id));
		json_string_of(c->buf + hlen, blen, "child_id", child, sizeof(child));
		json_string_of(c->buf + hlen, blen, "type", type, sizeof(type));
		fprintf(log, "%.6f\t%s\t%s\t%s\n", now_real(), id[0] ? id : "-",
			child[0] ? child : "-", type[0] ? type : "-");
		(*count)++;
		if (write_all(c->fd, reply, sizeof(reply) - 1) < 0)
			return -1;
		memmove(c->buf, c->buf + total, c->len - total);
		c->len -= total;
	}
}

int main(int argc, char **argv)
{
	const char *log_path = NULL, *ready = NULL;
	int port = -1, lfd, ep, one = 1;
	double lifetime = 3600, t_end;
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct epoll_event ev, evs[MAX_EVENTS];
	struct sigaction sact;
	unsigned long long count = 0;
	FILE *log;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc)
			log_path = argv[++i];
		else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc)
			ready = argv[++i];
		else if (strcmp(argv[i], "--lifetime") == 0 && i + 1 < argc)
			lifetime = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: dwreceiver --port N --log FILE [--ready-file FILE] "
				"[--lifetime SECONDS]\n");
			return 2;
		}
	}
	if (port < 0 || !log_path) {
		fprintf(stderr, "dwreceiver: --port and --log are required\n");
		return 2;
	}
	log = fopen(log_path, "a");
	if (!log) {
		perror(log_path);
		return 1;
	}
	setvbuf(log, NULL, _IOFBF, 1 << 16);
	memset(&sact, 0, sizeof(sact));
	sact.sa_handler = on_signal;
	sigaction(SIGTERM, &sact, NULL);
	sigaction(SIGINT, &sact, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0) {
		perror("socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 512) < 0 ||
	    set_nonblock(lfd) < 0 || getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		perror("dwreceiver: listen");
		return 1;
	}
	ep = epoll_create1(0);
	if (ep < 0) {
		perror("epoll_create1");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	if (ready) {
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
		f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", ntohs(sa.sin_port)) < 0 || fclose(f) != 0 ||
		    rename(tmp, ready) < 0) {
			perror(ready);
			return 1;
		}
	}
	t_end = now_real() + lifetime;

	while (!stop_flag && now_real() < t_end) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, 200);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (!c) {
				int fd;

				while ((fd = accept(lfd, NULL, NULL)) >= 0) {
					struct conn *nc = calloc(1, sizeof(*nc));

					if (!nc || set_nonblock(fd) < 0) {
						free(nc);
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					nc->fd = fd;
					ev.events = EPOLLIN;
					ev.data.ptr = nc;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
						close(fd);
						free(nc);
					}
				}
				continue;
			}
			for (;;) {
				ssize_t r;

				if (c->cap - c->len < 8192) {
					size_t cap = c->cap ? c->cap * 2 : 16384;
					char *b = realloc(c->buf, cap);

					if (!b)
						break;
					c->buf = b;
					c->cap = cap;
				}
				r = read(c->fd, c->buf + c->len, c->cap - c->len);
				if (r > 0) {
					c->len += (size_t)r;
					continue;
				}
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
					if (conn_process(c, log, &count) < 0)
						conn_close(ep, c);
					break;
				}
				/* EOF or error: answer what is complete, then close. */
				conn_process(c, log, &count);
				conn_close(ep, c);
				break;
			}
		}
		fflush(log);
	}
	fflush(log);
	fclose(log);
	fprintf(stderr, "dwreceiver: %llu requests\n", count);
	return 0;
}
