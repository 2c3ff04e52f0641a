/* main: the command line (ALERTS.md "Command line"); wires config, loop and the chosen command. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "driftwatch/cmd.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/errlist.h"
#include "driftwatch/grants.h"
#include "driftwatch/log.h"
#include "driftwatch/rule.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

struct options {
	const char *config;
	const char *as_of;
	int once;
	int dry_run;
	int check_config;
	int triggers;          /* 1 install, -1 remove */
	int print_grants;
	int verbose;
	int version;
	int help;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: driftwatchd -c FILE [--once [--dry-run] [--as-of YYYY-MM-DD]]\n"
		"       driftwatchd -c FILE --check-config\n"
		"       driftwatchd -c FILE --print-grants\n"
		"       driftwatchd --version | --help\n"
		"\n"
		"Watches a children's social care case database for drift in neglect cases.\n"
		"\n"
		"  -c, --config FILE   the JSON configuration (see driftwatchd(8) and the README)\n"
		"      --once          one evaluation and delivery pass, then exit\n"
		"      --dry-run       with --once: print each alert as a JSON line; change nothing\n"
		"      --as-of DAY     with --once: evaluate as if today were DAY (YYYY-MM-DD)\n"
		"      --check-config  check the configuration and the case-data contract\n"
		"      --install-triggers  add NOTIFY triggers to the contract tables (idempotent)\n"
		"      --remove-triggers   take them out again\n"
		"      --print-grants  print the SQL that gives the configured role what it needs\n"
		"                      and nothing else (connects to nothing)\n"
		"  -v, --verbose       log debug lines\n"
		"      --version       print the version\n"
		"  -h, --help          this text\n"
		"\nRules:\n");
	for (size_t i = 0; i < rule_registry_count(); i++)
		fprintf(out, "  %-22s %s\n", rule_registry_get(i)->name, rule_registry_get(i)->doc);
	fprintf(out, "\nExit status: 0 success, 1 runtime failure, 2 bad usage or configuration.\n");
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Strict YYYY-MM-DD with a real calendar day, so a typo is not evaluated as another day. */
/* NULL for a day driftwatch can evaluate, else what is wrong with it. */
static const char *day_fault(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return "is not a day written YYYY-MM-DD";
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return "is not a day written YYYY-MM-DD";
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && is_leap(y)))
		return "is no day of the calendar";
	if (y < 1900)
		return "is before 1900: no case record is that old";
	return NULL;
}

static int once_only(const char *opt)
{
	fprintf(stderr, "driftwatchd: %s is given twice; give it once\n", opt);
	return EXIT_USAGE;
}

/* Returns -1 to continue, else the exit status. */
static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_ONCE = 256, OPT_DRY_RUN, OPT_AS_OF, OPT_CHECK, OPT_VERSION, OPT_INSTALL,
	       OPT_REMOVE, OPT_GRANTS };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "as-of", required_argument, NULL, OPT_AS_OF },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "install-triggers", no_argument, NULL, OPT_INSTALL },
		{ "remove-triggers", no_argument, NULL, OPT_REMOVE },
		{ "print-grants", no_argument, NULL, OPT_GRANTS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (ch) {
		/* given twice, the last used to win without a word: a script's mistake */
		case 'c':
			if (o->config)
				return once_only("-c/--config");
			o->config = optarg;
			break;
		case OPT_ONCE: o->once = 1; break;
		case OPT_DRY_RUN: o->dry_run = 1; break;
		case OPT_AS_OF:
			if (o->as_of)
				return once_only("--as-of");
			o->as_of = optarg;
			break;
		case OPT_CHECK: o->check_config = 1; break;
		/* both given: the check below refuses them (the last used to win, exit 0) */
		case OPT_INSTALL: o->triggers = o->triggers < 0 ? 2 : 1; break;
		case OPT_REMOVE: o->triggers = o->triggers > 0 ? 2 : -1; break;
		case OPT_GRANTS: o->print_grants = 1; break;
		case 'v': o->verbose = 1; break;
		case OPT_VERSION: o->version = 1; break;
		case 'h': o->help = 1; break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "driftwatchd: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	/* after the stray arguments: a script's typo in "--version extra" is said, not run */
	if (o->help) {
		usage(stdout);
		return EXIT_OK;
	}
	if (o->version) {
		printf("driftwatchd %s\n", DW_VERSION);
		return EXIT_OK;
	}
	/* an empty name (-c "" from an unset shell variable) would be said as ": cannot read" */
	if (!o->config || !*o->config) {
		fprintf(stderr, "driftwatchd: -c FILE is required%s (try --help)\n",
			o->config ? ", and the name given is empty" : "");
		return EXIT_USAGE;
	}
	if ((o->dry_run || o->as_of) && !o->once) {
		fprintf(stderr, "driftwatchd: --dry-run and --as-of go with --once\n");
		return EXIT_USAGE;
	}
	if (o->check_config + o->once + (o->triggers != 0) + (o->triggers == 2) +
	    o->print_grants > 1) {
		fprintf(stderr, "driftwatchd: choose one of --check-config, --once, --print-grants "
			"and --install-triggers/--remove-triggers\n");
		return EXIT_USAGE;
	}
	if (o->as_of && day_fault(o->as_of)) {
		fprintf(stderr, "driftwatchd: --as-of: \"%s\" %s\n", o->as_of, day_fault(o->as_of));
		return EXIT_USAGE;
	}
	return -1;
}

static int run_command(struct dw_ctx *ctx, const struct options *o)
{
	if (o->check_config)
		return cmd_check_config(ctx);
	if (o->once && o->dry_run)
		return cmd_dry_run(ctx, o->as_of);
	if (o->once)
		return cmd_once(ctx, o->as_of);
	if (o->triggers)
		return cmd_triggers(ctx, o->triggers > 0);
	return cmd_run(ctx, o->config);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct errlist errs = { 0 };
	struct dw_ctx ctx = { 0 };
	int status = parse_args(argc, argv, &o);

	if (status >= 0)
		return status;
	ctx.log_level = o.verbose ? LOG_PRIO_DEBUG : LOG_PRIO_INFO;
	/* A receiver or scraper that hangs up mid-write must cost an error value, not the process. */
	signal(SIGPIPE, SIG_IGN);
	/* On the heap: the daemon swaps in a new configuration on SIGHUP and frees the old. */
	ctx.cfg = calloc(1, sizeof(*ctx.cfg));
	if (!ctx.cfg || config_load_flags(o.config, ctx.cfg, &errs,
					  o.check_config || o.print_grants ? CONFIG_LOAD_CHECK
									   : 0) < 0) {
		/* the daemon and --once log for the journal (SyslogLevelPrefix): an error a unit
		 * fails with must be an error there; --check-config and --print-grants print for a
		 * person at a terminal */
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s%s\n", o.check_config || o.print_grants ? "" : "<3>",
				errs.msgs[i]);
		errlist_free(&errs);
		status = ctx.cfg ? EXIT_USAGE : EXIT_RUNTIME;
		goto out;
	}
	errlist_free(&errs);
	status = EXIT_RUNTIME;
	/* Text for a DBA from the configuration alone: no loop, no connection. */
	if (o.print_grants) {
		status = grants_print(ctx.cfg, stdout) < 0 ? EXIT_RUNTIME : EXIT_OK;
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err(&ctx, "could not initialise libcurl");
		goto out;
	}
	log_route_libevent();
	ctx.base = event_base_new();
	if (!ctx.base)
		log_err(&ctx, "could not create the event loop");
	else
		status = run_command(&ctx, &o);
	if (ctx.base)
		event_base_free(ctx.base);
	curl_global_cleanup();
out:
	if (ctx.cfg)
		config_free(ctx.cfg);
	free(ctx.cfg);
	return status;
}
