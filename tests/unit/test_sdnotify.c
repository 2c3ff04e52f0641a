/* Unit tests of daemon/sdnotify.c: a datagram socket bound in a temporary directory (and one in
 * the abstract namespace) stands in for systemd and receives what the module sends. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "driftwatch/sdnotify.h"
#include "tap.h"

/* A receiving socket, as the service manager binds it. */
struct receiver {
	int fd;
	char address[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
};

/* Binds a datagram socket at address ("/path" or "@abstract"). Returns 0 or -1. */
static int receiver_bind(struct receiver *r, const char *address)
{
	struct sockaddr_un sa;
	size_t len = strlen(address);
	socklen_t sl;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (len >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, address, len);
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (address[0] == '@')
		sa.sun_path[0] = '\0';
	else
		sl++;
	r->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		return -1;
	if (bind(r->fd, (struct sockaddr *)&sa, sl) < 0) {
		close(r->fd);
		return -1;
	}
	snprintf(r->address, sizeof(r->address), "%s", address);
	return 0;
}

static void receiver_close(struct receiver *r)
{
	close(r->fd);
	if (r->address[0] == '/')
		unlink(r->address);
}

/* Receives one datagram into buf (NUL-terminated), waiting at most 2 s. Returns its length,
 * or -1 if none came. */
static ssize_t receiver_get(struct receiver *r, char *buf, size_t size)
{
	struct pollfd p = { .fd = r->fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, 2000) != 1)
		return -1;
	n = recv(r->fd, buf, size - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* Drops whatever is queued. */
static void receiver_drain(struct receiver *r)
{
	char buf[SDNOTIFY_MSG_MAX * 2];

	while (recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

static unsigned long long monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000U;
}

static void close_null(void *unused)
{
	(void)unused;
	sdnotify_close(NULL);
}

static void test_null_object(void)
{
	char err[256] = "x";

	tap_ok(sdnotify_open_address(NULL, err, sizeof(err)) == NULL, "no address gives NULL");
	tap_str(err, "", "no address is not an error");
	tap_ok(sdnotify_open_address("", err, sizeof(err)) == NULL, "an empty address gives NULL");
	tap_str(err, "", "an empty address is not an error");
	unsetenv("NOTIFY_SOCKET");
	strcpy(err, "x");
	tap_ok(sdnotify_open(err, sizeof(err)) == NULL, "without NOTIFY_SOCKET sdnotify_open is NULL");
	tap_str(err, "", "without NOTIFY_SOCKET there is no error");

	tap_int(sdnotify_ready(NULL), 0, "ready on NULL is a no-op");
	tap_int(sdnotify_status(NULL, "x %d", 1), 0, "status on NULL is a no-op");
	tap_int(sdnotify_reloading(NULL), 0, "reloading on NULL is a no-op");
	tap_int(sdnotify_stopping(NULL), 0, "stopping on NULL is a no-op");
	tap_int(sdnotify_watchdog(NULL), 0, "watchdog on NULL is a no-op");
	tap_int(sdnotify_send(NULL, "X=1"), 0, "send on NULL is a no-op");
	tap_survives(close_null, NULL, "close on NULL is a no-op");
}

static void test_bad_addresses(void)
{
	char err[256], longpath[200];

	tap_ok(sdnotify_open_address("run/systemd/notify", err, sizeof(err)) == NULL,
	       "a relative path is refused");
	tap_contains(err, "NOTIFY_SOCKET", "the error names NOTIFY_SOCKET");
	tap_contains(err, "run/systemd/notify", "the error quotes the address");
	tap_ok(sdnotify_open_address("vsock:2:1234", err, sizeof(err)) == NULL,
	       "a vsock address is refused");
	tap_ok(sdnotify_open_address("@", err, sizeof(err)) == NULL,
	       "an empty abstract name is refused");
	tap_contains(err, "abstract", "the error says abstract");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	tap_ok(sdnotify_open_address(longpath, err, sizeof(err)) == NULL,
	       "a path longer than sun_path is refused");
	tap_contains(err, "longer than", "the error says it is too long");
}

/* Each function's datagram, through $NOTIFY_SOCKET as the daemon uses it. */
static void test_messages(const char *dir)
{
	struct receiver r;
	struct sdnotify *n;
	char path[512], err[256], buf[SDNOTIFY_MSG_MAX * 2];
	unsigned long long before, after, stamp;
	const char *p;

	snprintf(path, sizeof(path), "%s/notify", dir);
	if (!tap_int(receiver_bind(&r, path), 0, "the test socket binds at %s", path))
		return;
	setenv("NOTIFY_SOCKET", path, 1);
	n = sdnotify_open(err, sizeof(err));
	unsetenv("NOTIFY_SOCKET");
	if (!tap_ok(n != NULL, "sdnotify_open uses NOTIFY_SOCKET")) {
		tap_diag("%s", err);
		receiver_close(&r);
		return;
	}

	tap_int(sdnotify_ready(n), 0, "ready sends");
	receiver_get(&r, buf, sizeof(buf));
	tap_str(buf, "READY=1", "ready sends READY=1");

	tap_int(sdnotify_status(n, "last evaluation %s: %d alerts\nin %.1f s", "2026-11-22", 42, 1.5),
		0, "status sends");
	receiver_get(&r, buf, sizeof(buf));
	tap_str(buf, "STATUS=last evaluation 2026-11-22: 42 alerts in 1.5 s",
		"status formats and turns the newline into a space");

	tap_int(sdnotify_stopping(n), 0, "stopping sends");
	receiver_get(&r, buf, sizeof(buf));
	tap_str(buf, "STOPPING=1", "stopping sends STOPPING=1");

	tap_int(sdnotify_watchdog(n), 0, "watchdog sends");
	receiver_get(&r, buf, sizeof(buf));
	tap_str(buf, "WATCHDOG=1", "watchdog sends WATCHDOG=1");

	tap_int(sdnotify_send(n, "READY=1\nSTATUS=ok"), 0, "send sends");
	receiver_get(&r, buf, sizeof(buf));
	tap_str(buf, "READY=1\nSTATUS=ok", "send passes several assignments in one datagram");

	before = monotonic_usec();
	tap_int(sdnotify_reloading(n), 0, "reloading sends");
	after = monotonic_usec();
	receiver_get(&r, buf, sizeof(buf));
	tap_ok(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0,
	       "reloading sends RELOADING=1 then MONOTONIC_USEC=");
	p = buf + 27;
	stamp = strtoull(p, NULL, 10);
	tap_ok(*p >= '0' && *p <= '9' && stamp >= before && stamp <= after,
	       "MONOTONIC_USEC is CLOCK_MONOTONIC at the call, in microseconds");
	if (stamp < before || stamp > after)
		tap_diag("  %llu not within [%llu, %llu]", stamp, before, after);

	sdnotify_close(n);
	receiver_close(&r);
}

/* A STATUS longer than a message is cut, and not in the middle of a UTF-8 character. */
static void test_long_status(const char *dir)
{
	struct receiver r;
	struct sdnotify *n;
	char path[512], err[256], buf[SDNOTIFY_MSG_MAX * 2], text[SDNOTIFY_MSG_MAX * 2];
	size_t i, len;
	ssize_t got;

	snprintf(path, sizeof(path), "%s/notify-long", dir);
	if (!tap_int(receiver_bind(&r, path), 0, "the second test socket binds"))
		return;
	n = sdnotify_open_address(path, err, sizeof(err));
	/* "x" then two-byte characters: the byte limit falls inside one of them. */
	text[0] = 'x';
	for (i = 1; i + 2 < sizeof(text); i += 2)
		memcpy(text + i, "\xc3\xa9", 2);
	text[i] = '\0';
	tap_int(sdnotify_status(n, "%s", text), 0, "a long status sends");
	got = receiver_get(&r, buf, sizeof(buf));
	len = strlen("STATUS=") + 1 + 2 * ((SDNOTIFY_MSG_MAX - 1 - strlen("STATUS=") - 1) / 2);
	tap_int(got, (long long)len, "a long status is cut before the character that does not fit");
	tap_ok(got > 2 && memcmp(buf + got - 2, "\xc3\xa9", 2) == 0,
	       "the cut status ends with a whole character");
	sdnotify_close(n);
	receiver_close(&r);
}

static void test_abstract(void)
{
	struct receiver r;
	struct sdnotify *n;
	char name[64], err[256], buf[256];

	snprintf(name, sizeof(name), "@driftwatch-test-sdnotify-%ld", (long)getpid());
	if (!tap_int(receiver_bind(&r, name), 0, "the abstract test socket binds"))
		return;
	n = sdnotify_open_address(name, err, sizeof(err));
	tap_ok(n != NULL, "an abstract address opens");
	tap_int(sdnotify_ready(n), 0, "ready sends to the abstract socket");
	receiver_get(&r, buf, sizeof(buf));
	tap_str(buf, "READY=1", "the abstract socket receives READY=1");
	sdnotify_close(n);
	receiver_close(&r);
}

/* The service manager gone, or its queue full: sending fails fast and never blocks. */
static void test_never_blocks(const char *dir)
{
	struct receiver r;
	struct sdnotify *n;
	char path[512], err[256];
	int i, failed = 0, eagain = 0;
	time_t start;

	snprintf(path, sizeof(path), "%s/gone", dir);
	n = sdnotify_open_address(path, err, sizeof(err));
	tap_ok(n != NULL, "an address with no socket behind it still opens");
	errno = 0;
	tap_int(sdnotify_ready(n), -1, "sending to no socket fails");
	tap_ok(errno == ENOENT || errno == ECONNREFUSED, "and says why (errno %d)", errno);
	sdnotify_close(n);

	snprintf(path, sizeof(path), "%s/full", dir);
	if (!tap_int(receiver_bind(&r, path), 0, "the never-read test socket binds"))
		return;
	n = sdnotify_open_address(path, err, sizeof(err));
	/* If a send blocked, the alarm would end the test and run.sh would count a failure. */
	alarm(20);
	start = time(NULL);
	for (i = 0; i < 20000; i++) {
		if (sdnotify_status(n, "ping %d", i) < 0) {
			failed++;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				eagain++;
		}
	}
	alarm(0);
	tap_ok(failed > 0 && eagain == failed,
	       "a full queue gives EAGAIN instead of blocking (%d of 20000 refused)", failed);
	tap_ok(time(NULL) - start < 10, "20000 sends to a full queue return at once");
	receiver_drain(&r);
	tap_int(sdnotify_watchdog(n), 0, "sending works again once the queue drains");
	sdnotify_close(n);
	receiver_close(&r);
}

static uint64_t interval_with(const char *usec, const char *pid)
{
	if (usec)
		setenv("WATCHDOG_USEC", usec, 1);
	else
		unsetenv("WATCHDOG_USEC");
	if (pid)
		setenv("WATCHDOG_PID", pid, 1);
	else
		unsetenv("WATCHDOG_PID");
	return sdnotify_watchdog_interval_usec();
}

static void test_watchdog_interval(void)
{
	char self[32], other[32];

	snprintf(self, sizeof(self), "%ld", (long)getpid());
	snprintf(other, sizeof(other), "%ld", (long)getpid() + 1);
	tap_int(interval_with(NULL, NULL), 0, "no WATCHDOG_USEC: no watchdog");
	tap_int(interval_with("60000000", NULL), 60000000, "WATCHDOG_USEC alone is the interval");
	tap_int(interval_with("60000000", self), 60000000, "WATCHDOG_PID naming us: the interval");
	tap_int(interval_with("60000000", other), 0, "WATCHDOG_PID naming another process: none");
	tap_int(interval_with("60000000", "12x"), 0, "a malformed WATCHDOG_PID: none");
	tap_int(interval_with("60000000", ""), 60000000, "an empty WATCHDOG_PID is ignored");
	tap_int(interval_with("0", NULL), 0, "WATCHDOG_USEC=0: none");
	tap_int(interval_with("-5", NULL), 0, "a negative WATCHDOG_USEC: none");
	tap_int(interval_with(" 5", NULL), 0, "a WATCHDOG_USEC with a blank: none");
	tap_int(interval_with("60s", NULL), 0, "a WATCHDOG_USEC with a unit: none");
	tap_int(interval_with("99999999999999999999999", NULL), 0, "an overflowing WATCHDOG_USEC: none");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int main(void)
{
	char dir[256];
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/dw-sdnotify.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		tap_ok(false, "create a temporary directory under %s: %s",
		       tmp && *tmp ? tmp : "/tmp", strerror(errno));
		return tap_status();
	}
	test_null_object();
	test_bad_addresses();
	test_messages(dir);
	test_long_status(dir);
	test_abstract();
	test_never_blocks(dir);
	test_watchdog_interval();
	rmdir(dir);
	return tap_status();
}
