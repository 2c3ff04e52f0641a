/* sdnotify: READY/STATUS/RELOADING/STOPPING/WATCHDOG datagrams to $NOTIFY_SOCKET, never blocking. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "driftwatch/errmsg.h"
#include "driftwatch/sdnotify.h"

struct sdnotify {
	int fd;
	struct sockaddr_un addr;
	socklen_t addr_len;
};

/* Fills addr from "/path" or "@abstract". Returns 0, or -1 with err filled. */
static int sdnotify_parse_address(const char *address, struct sockaddr_un *addr,
				  socklen_t *addr_len, char *err, size_t errsz)
{
	size_t len = strlen(address);

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (address[0] == '@') {
		/* Abstract namespace: a leading NUL byte, the name, and no terminator; the length
		 * given to the kernel is what delimits the name. */
		if (len < 2 || len > sizeof(addr->sun_path)) {
			errmsg_set(err, errsz,
				      "NOTIFY_SOCKET: abstract socket name \"%s\" must have 1 to %zu "
				      "characters after '@'", address, sizeof(addr->sun_path) - 1);
			return -1;
		}
		memcpy(addr->sun_path + 1, address + 1, len - 1);
		*addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
		return 0;
	}
	if (address[0] != '/') {
		/* systemd 253 and later may also hand out "vsock:CID:PORT"; 252 never does, and a
		 * daemon inside a VM is not what this unit describes. */
		errmsg_set(err, errsz,
			      "NOTIFY_SOCKET: \"%s\" is neither an absolute path nor an abstract "
			      "socket name (\"@...\")", address);
		return -1;
	}
	if (len >= sizeof(addr->sun_path)) {
		errmsg_set(err, errsz, "NOTIFY_SOCKET: path \"%s\" is longer than %zu bytes",
			      address, sizeof(addr->sun_path) - 1);
		return -1;
	}
	memcpy(addr->sun_path, address, len + 1);
	*addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

struct sdnotify *sdnotify_open_address(const char *address, char *err, size_t errsz)
{
	struct sdnotify *n;

	if (err && errsz)
		err[0] = '\0';
	if (!address || !*address)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n) {
		errmsg_set(err, errsz, "NOTIFY_SOCKET: out of memory");
		return NULL;
	}
	if (sdnotify_parse_address(address, &n->addr, &n->addr_len, err, errsz) < 0) {
		free(n);
		return NULL;
	}
	/* Non-blocking as well as MSG_DONTWAIT on each send: belt and braces, since a wedged
	 * service manager must never stall the event loop. */
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0) {
		errmsg_set(err, errsz, "NOTIFY_SOCKET: cannot create a datagram socket: %s",
			      strerror(errno));
		free(n);
		return NULL;
	}
	return n;
}

struct sdnotify *sdnotify_open(char *err, size_t errsz)
{
	return sdnotify_open_address(getenv("NOTIFY_SOCKET"), err, errsz);
}

void sdnotify_close(struct sdnotify *n)
{
	if (!n)
		return;
	close(n->fd);
	free(n);
}

/* sendto() on every message rather than connect() once: when the service manager re-executes
 * (systemctl daemon-reexec) it binds the socket anew, and a connected socket would keep
 * pointing at the old one. */
static int sdnotify_send_len(struct sdnotify *n, const char *msg, size_t len)
{
	ssize_t sent;

	if (!n)
		return 0;
	do
		sent = sendto(n->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL,
			      (const struct sockaddr *)&n->addr, n->addr_len);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return -1;
	if ((size_t)sent != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int sdnotify_send(struct sdnotify *n, const char *state)
{
	if (!n)
		return 0;
	if (!state) {
		errno = EINVAL;
		return -1;
	}
	return sdnotify_send_len(n, state, strlen(state));
}

int sdnotify_ready(struct sdnotify *n)
{
	return sdnotify_send(n, "READY=1");
}

int sdnotify_stopping(struct sdnotify *n)
{
	return sdnotify_send(n, "STOPPING=1");
}

int sdnotify_watchdog(struct sdnotify *n)
{
	return sdnotify_send(n, "WATCHDOG=1");
}

/* Cuts len back so that msg[0..len) does not end inside a UTF-8 sequence (vsnprintf cuts at
 * a byte, and journald would show a broken character). */
static size_t sdnotify_utf8_cut(const char *msg, size_t len)
{
	size_t lead = len;
	unsigned char c;
	size_t need;

	while (lead > 0 && ((unsigned char)msg[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead == 0)
		return len;
	lead--; /* msg[lead] starts the last sequence */
	c = (unsigned char)msg[lead];
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	return len - lead < need ? lead : len;
}

int sdnotify_status(struct sdnotify *n, const char *fmt, ...)
{
	static const char prefix[] = "STATUS=";
	char msg[SDNOTIFY_MSG_MAX];
	size_t len, i;
	va_list ap;
	int w;

	if (!n)
		return 0;
	memcpy(msg, prefix, sizeof(prefix) - 1);
	va_start(ap, fmt);
	w = vsnprintf(msg + sizeof(prefix) - 1, sizeof(msg) - (sizeof(prefix) - 1), fmt, ap);
	va_end(ap);
	if (w < 0) {
		errno = EINVAL;
		return -1;
	}
	len = strlen(msg);
	if ((size_t)w > len - (sizeof(prefix) - 1))
		len = sdnotify_utf8_cut(msg, len);
	for (i = sizeof(prefix) - 1; i < len; i++)
		if (msg[i] == '\n' || msg[i] == '\r')
			msg[i] = ' ';
	return sdnotify_send_len(n, msg, len);
}

int sdnotify_reloading(struct sdnotify *n)
{
	char msg[64];
	struct timespec ts;
	unsigned long long usec;

	if (!n)
		return 0;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return sdnotify_send(n, "RELOADING=1");
	usec = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000U;
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
	return sdnotify_send(n, msg);
}

/* Parses a decimal number made of digits only (no sign, no blanks, no suffix). */
static int sdnotify_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

uint64_t sdnotify_watchdog_interval_usec(void)
{
	const char *pid_text = getenv("WATCHDOG_PID");
	uint64_t usec, pid;

	if (sdnotify_parse_u64(getenv("WATCHDOG_USEC"), &usec) < 0 || usec == 0)
		return 0;
	/* WATCHDOG_PID names the process systemd watches; any other process that inherited the
	 * environment (a child, a test harness) must not ping on its behalf. */
	if (pid_text && *pid_text) {
		if (sdnotify_parse_u64(pid_text, &pid) < 0 || pid != (uint64_t)getpid())
			return 0;
	}
	return usec;
}
