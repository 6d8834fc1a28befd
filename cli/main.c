/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c - the volmount command: global options, configuration precedence and dispatch to one
 * function per command (cmds.h). It is a thin front over libvolmount: it validates only the
 * shape of the command line (which options, how many), never the meaning of an export,
 * volume or owner, which is the library's job. Its failures go through exit.c, like every
 * command's, so each is exactly one line on stderr with the status DESIGN.md gives it; it
 * prints nothing else but --help and --version.
 *
 * Dependencies point down only: main.c -> cmd-share.c, cmd-health.c -> output.c, exit.c ->
 * libvolmount (exit.c also prints through output.c). No file in cli/ includes main.c's
 * names, and no command calls another.
 *
 * Precedence, lowest first: built-in defaults < configuration file < environment
 * (VOLMOUNT_STATE_DIR, VOLMOUNT_BASE_DIR, VOLMOUNT_RUN_DIR, VOLMOUNT_PATH_SCHEME,
 * VOLMOUNT_CONFIG) < flags.
 *
 * Adding a command: write "int cmd_x(struct volmount_ctx *ctx, const struct cmd_args *a)" in
 * the cmd-*.c file of its family, declare it in cmds.h, and add one row to verbs[] saying
 * which command options it accepts and requires.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* secure_getenv() */
#endif

#include "volmount.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "exit.h"
#include "output.h"
#include "cleanup.h"
#include "seconds.h"

#define DEFAULT_CONFIG	"/etc/volmount.conf"
#define N_OPTIONS_MAX	64	/* --option may repeat this often (the library's cap too) */
#define TIMEOUT_MAX_SEC 86400.0 /* the library accepts 1 ms .. 24 h */

/* Global options (before COMMAND). NULL / 0: not given, so environment, config or default. */
static const char *arg_state_dir;
static const char *arg_base_dir;
static const char *arg_run_dir;
static const char *arg_config;
static unsigned arg_timeout_ms;
static const char *arg_path_scheme;
static bool arg_json;

/* Command options. */
static const char *arg_type;
static const char *arg_export;
static const char *arg_volume;
static const char *arg_owner;
static const char *arg_options[N_OPTIONS_MAX];
static size_t arg_n_options;

static const char *arg_interval; /* monitor */
static const char *arg_metrics;
static bool arg_repair;

/* Command options, as bits, so a command's table row can say which it takes. */
enum {
	OPT_TYPE = 1u << 0,
	OPT_EXPORT = 1u << 1,
	OPT_VOLUME = 1u << 2,
	OPT_OWNER = 1u << 3,
	OPT_OPTION = 1u << 4,
	OPT_INTERVAL = 1u << 5,
	OPT_METRICS = 1u << 6,
	OPT_REPAIR = 1u << 7,
};

/* getopt values of long-only options; above every char so they never look like "-x". */
enum {
	ARG_STATE_DIR = 0x100,
	ARG_BASE_DIR,
	ARG_RUN_DIR,
	ARG_CONFIG,
	ARG_TIMEOUT,
	ARG_JSON,
	ARG_VERSION,
	ARG_TYPE,
	ARG_EXPORT,
	ARG_VOLUME,
	ARG_OWNER,
	ARG_OPTION,
	ARG_INTERVAL,
	ARG_METRICS,
	ARG_REPAIR,
	ARG_PATH_SCHEME,
};

struct verb {
	const char *name;
	const char *synopsis; /* its options, for --help */
	const char *summary;
	unsigned accepts; /* OPT_* bits */
	unsigned requires;
	/* returns an exit status */
	int (*run)(struct volmount_ctx *ctx, const struct cmd_args *a);
};

/* Drivers the library knows, for --help. Add a row when a driver is added to the library. */
static const struct {
	const char *name;
	const char *export;
} drivers[] = {
	{ "bind", "the absolute path of an existing local directory" },
	{ "sshfs", "[user@]host:/abs/path   (host: name, IPv4 or [IPv6]); IdentityFile=0600 root file,\n"
		   "                       UserKnownHostsFile=root file others cannot write, StrictHostKeyChecking=yes only" },
	{ "glusterfs", "host[,host...]:/volume[/subdir]   (extra hosts: backup volfile servers)" },
	{ "nfs", "host:/abs/path   (vers=3|4|4.0|4.1|4.2, default 4.2)" },
	{ "cifs", "//host/share[/path]   (credentials=FILE, root-owned 0600, or guest)" },
	{ "quobyte", "[quobyte://]host[:port]/volume" },
	{ "cephfs", "mon[:port][,mon...]:/path   (secretfile=FILE, root-owned 0600)" },
};

static void ctx_freep(struct volmount_ctx **ctx)
{
	volmount_ctx_free(*ctx);
}

static int parse_seconds(const char *s, unsigned *ret_ms)
{
	return seconds_parse_ms(s, TIMEOUT_MAX_SEC, ret_ms);
}

/* monitor takes its own options, parsed here: cmd_monitor() never sees the command line. */
static int verb_monitor(struct volmount_ctx *ctx, const struct cmd_args *args)
{
	struct monitor_args a = { .interval_ms = 30000, .metrics = arg_metrics,
				  .repair = arg_repair };

	if (arg_interval && parse_seconds(arg_interval, &a.interval_ms) < 0)
		return exit_error(EX_USAGE, "--interval '%s' is not a positive number of seconds",
				  arg_interval);
	return cmd_monitor(ctx, &a);
}

#define OPTS_SHARE	(OPT_TYPE | OPT_EXPORT)
#define OPTS_ATTACHMENT (OPT_TYPE | OPT_EXPORT | OPT_VOLUME | OPT_OWNER)

static const struct verb verbs[] = {
	{
		.name = "attach",
		.synopsis = "--type DRIVER --export EXPORT --volume NAME --owner ID "
			    "[--option OPT[=VAL]]...",
		.summary = "attach a volume, mounting its share if needed; prints the device path",
		.accepts = OPTS_ATTACHMENT | OPT_OPTION,
		.requires = OPTS_ATTACHMENT,
		.run = cmd_attach,
	},
	{
		.name = "detach",
		.synopsis = "--type DRIVER --export EXPORT --volume NAME --owner ID",
		.summary = "detach a volume, unmounting its share after the last one",
		.accepts = OPTS_ATTACHMENT,
		.requires = OPTS_ATTACHMENT,
		.run = cmd_detach,
	},
	{
		.name = "path",
		.synopsis = "--type DRIVER --export EXPORT",
		.summary = "print the mountpoint of a share; changes nothing",
		.accepts = OPTS_SHARE,
		.requires = OPTS_SHARE,
		.run = cmd_path,
	},
	{
		.name = "list",
		.synopsis = "",
		.summary = "list shares, their state and attachments",
		.run = cmd_list,
	},
	{
		.name = "status",
		.synopsis = "",
		.summary = "show host state (up/down), generation and counts",
		.run = cmd_status,
	},
	{
		.name = "host-up",
		.synopsis = "",
		.summary = "reconcile the ledger with the kernel and mark the host up",
		.run = cmd_host_up,
	},
	{
		.name = "check",
		.synopsis = "",
		.summary = "probe every share (with a deadline); exit 0 only if all are healthy",
		.run = cmd_check,
	},
	{
		.name = "repair",
		.synopsis = "",
		.summary = "bring every share to its desired state (remount stale or hung mounts)",
		.run = cmd_repair,
	},
	{
		.name = "gc",
		.synopsis = "",
		.summary = "remove leftover mountpoint directories no share owns",
		.run = cmd_gc,
	},
	{
		.name = "monitor",
		.synopsis = "[--interval SEC] [--metrics FILE] [--repair]",
		.summary = "check in a loop, optionally repair, write Prometheus metrics; stops on SIGTERM",
		.accepts = OPT_INTERVAL | OPT_METRICS | OPT_REPAIR,
		.run = verb_monitor,
	},
	{
		.name = "host-down",
		.synopsis = "",
		.summary = "drain operations and mark the host down (mounts are kept)",
		.run = cmd_host_down,
	},
};

static void help(void)
{
	printf("Usage: volmount [GLOBAL OPTIONS] COMMAND [OPTIONS]\n"
	       "\n"
	       "Mount shared filesystem exports once per host: a share is mounted when its first\n"
	       "volume is attached and unmounted when its last one is detached.\n"
	       "\nCommands:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		printf("  %s%s%s\n", verbs[i].name, verbs[i].synopsis[0] ? " " : "",
		       verbs[i].synopsis);
		printf("      %s\n", verbs[i].summary);
	}
	printf("\nGlobal options (before COMMAND):\n"
	       "  --state-dir DIR  ledger directory (default /var/lib/volmount)\n"
	       "  --base-dir DIR   where mountpoints are made (default /var/lib/volmount/mnt)\n"
	       "  --run-dir DIR    lock files (default /run/volmount)\n"
	       "  --config FILE    configuration file (default " DEFAULT_CONFIG ", optional)\n"
	       "  --timeout SEC    bound for every wait, in decimal seconds (default 30)\n"
	       "  --path-scheme volmount|nova\n"
	       "                   mountpoints: <base>/<driver>/<sha256> (volmount, default) or\n"
	       "                   <base>/<md5 of export> as Nova and os-brick name them (nova;\n"
	       "                   host-up then adopts the shares they mounted)\n"
	       "  --json           print one JSON document (also accepted after COMMAND)\n"
	       "  -h, --help       show this help\n"
	       "  --version        show the version\n"
	       "\nEnvironment: VOLMOUNT_STATE_DIR, VOLMOUNT_BASE_DIR, VOLMOUNT_RUN_DIR,\n"
	       "VOLMOUNT_PATH_SCHEME and VOLMOUNT_CONFIG override the configuration file;\n"
	       "options override both.\n"
	       "\nDrivers (--type):\n");
	for (size_t i = 0; i < ELEMENTSOF(drivers); i++)
		printf("  %-10s EXPORT is %s\n", drivers[i].name, drivers[i].export);
	printf("\nExit status:\n"
	       "  0 ok, 64 usage, 65 invalid input, 69 host down or server unreachable,\n"
	       "  70 internal error, 73 mountpoint cannot be created or is occupied,\n"
	       "  74 I/O error, 75 temporary failure (timeout, busy), 77 permission denied,\n"
	       "  78 bad configuration\n");
}

static void version(void)
{
	unsigned v = volmount_version_number();

	printf("volmount %d.%d.%d (libvolmount %u.%u.%u)\n", VOLMOUNT_VERSION_MAJOR,
	       VOLMOUNT_VERSION_MINOR, VOLMOUNT_VERSION_PATCH, v / 10000, v / 100 % 100, v % 100);
}

/* getopt() reported '?' or ':' for argv[optind - 1] (or the short option optopt). */
static int usage_error(int c, char **argv)
{
	const char *arg = argv[optind - 1];
	char shortopt[3] = { '-', (char)optopt, '\0' };

	if (optopt > 0 && optopt < 0x100)
		arg = shortopt;
	if (c == ':')
		return exit_error(EX_USAGE, "option '%s' requires a value", arg);
	return exit_error(EX_USAGE, "unrecognized option '%s'", arg);
}

static int set_once(const char **slot, const char *value, const char *name)
{
	if (*slot) {
		return exit_error(EX_USAGE, "option '--%s' given twice", name);
	}
	*slot = value;
	return EX_OK;
}

/* "volmount" or "nova" into *ret (may be NULL); -EINVAL for anything else. */
static int parse_path_scheme(const char *value, enum volmount_path_scheme *ret)
{
	enum volmount_path_scheme s;

	if (strcmp(value, "volmount") == 0)
		s = VOLMOUNT_PATH_SCHEME_VOLMOUNT;
	else if (strcmp(value, "nova") == 0)
		s = VOLMOUNT_PATH_SCHEME_NOVA;
	else
		return -EINVAL;
	if (ret)
		*ret = s;
	return 0;
}

static int check_dir(const char *value, const char *name)
{
	if (value[0] != '/') {
		return exit_error(EX_USAGE, "--%s '%s' is not an absolute path", name, value);
	}
	return EX_OK;
}

/*
 * Global options. Returns -1 to go on with the command at argv[optind], or an exit status
 * (after --help, --version or a usage error).
 */
static int parse_global(int argc, char **argv)
{
	static const struct option options[] = {
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "base-dir", required_argument, NULL, ARG_BASE_DIR },
		{ "run-dir", required_argument, NULL, ARG_RUN_DIR },
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "timeout", required_argument, NULL, ARG_TIMEOUT },
		{ "path-scheme", required_argument, NULL, ARG_PATH_SCHEME },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{}
	};
	bool timeout_set = false;
	int c;
	int r;

	opterr = 0; /* we print our own one-line errors */
	/* '+': stop at COMMAND, whose options are parsed separately */
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		switch (c) {
		case ARG_STATE_DIR:
			r = set_once(&arg_state_dir, optarg, "state-dir");
			if (r == EX_OK)
				r = check_dir(optarg, "state-dir");
			break;
		case ARG_BASE_DIR:
			r = set_once(&arg_base_dir, optarg, "base-dir");
			if (r == EX_OK)
				r = check_dir(optarg, "base-dir");
			break;
		case ARG_RUN_DIR:
			r = set_once(&arg_run_dir, optarg, "run-dir");
			if (r == EX_OK)
				r = check_dir(optarg, "run-dir");
			break;
		case ARG_CONFIG:
			r = set_once(&arg_config, optarg, "config");
			if (r == EX_OK && !optarg[0]) {
				r = exit_error(EX_USAGE, "--config needs a file name");
			}
			break;
		case ARG_TIMEOUT:
			r = EX_OK;
			if (timeout_set) {
				r = exit_error(EX_USAGE, "option '--timeout' given twice");
			} else if (parse_seconds(optarg, &arg_timeout_ms) < 0) {
				r = exit_error(EX_USAGE,
					       "--timeout '%s' is not a number of seconds "
					       "more than 0 and at most %.0f",
					       optarg, TIMEOUT_MAX_SEC);
			}
			timeout_set = true;
			break;
		case ARG_PATH_SCHEME:
			r = set_once(&arg_path_scheme, optarg, "path-scheme");
			if (r == EX_OK && parse_path_scheme(optarg, NULL) < 0) {
				r = exit_error(EX_USAGE,
					       "--path-scheme '%s' must be 'volmount' or 'nova'",
					       optarg);
			}
			break;
		case ARG_JSON:
			arg_json = true;
			r = EX_OK;
			break;
		case 'h':
			help();
			return EX_OK;
		case ARG_VERSION:
			version();
			return EX_OK;
		default: /* '?' or ':' */
			return usage_error(c, argv);
		}
		if (r != EX_OK)
			return r;
	}
	return -1;
}

/* Command options; bit 0 means every command takes it. */
static const struct {
	unsigned bit;
	const char **slot; /* where a single-valued option is stored */
	struct option opt;
} verb_options[] = {
	{ OPT_TYPE, &arg_type, { "type", required_argument, NULL, ARG_TYPE } },
	{ OPT_EXPORT, &arg_export, { "export", required_argument, NULL, ARG_EXPORT } },
	{ OPT_VOLUME, &arg_volume, { "volume", required_argument, NULL, ARG_VOLUME } },
	{ OPT_OWNER, &arg_owner, { "owner", required_argument, NULL, ARG_OWNER } },
	{ OPT_OPTION, NULL, { "option", required_argument, NULL, ARG_OPTION } },
	{ OPT_INTERVAL, &arg_interval, { "interval", required_argument, NULL, ARG_INTERVAL } },
	{ OPT_METRICS, &arg_metrics, { "metrics", required_argument, NULL, ARG_METRICS } },
	{ OPT_REPAIR, NULL, { "repair", no_argument, NULL, ARG_REPAIR } },
	{ 0, NULL, { "json", no_argument, NULL, ARG_JSON } },
	{ 0, NULL, { "help", no_argument, NULL, 'h' } },
};

/* The options of command @v. Returns -1 to go on, or an exit status. */
static int parse_verb(const struct verb *v, int argc, char **argv)
{
	struct option options[ELEMENTSOF(verb_options) + 1] = {};
	size_t n = 0;
	int c;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(verb_options); i++)
		if (verb_options[i].bit == 0 || (v->accepts & verb_options[i].bit))
			options[n++] = verb_options[i].opt;

	optind = 0; /* glibc: start over, on a new argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		switch (c) {
		case ARG_TYPE:
		case ARG_EXPORT:
		case ARG_VOLUME:
		case ARG_OWNER:
		case ARG_INTERVAL:
		case ARG_METRICS:
			r = EX_SOFTWARE;
			for (size_t i = 0; i < ELEMENTSOF(verb_options); i++)
				if (verb_options[i].opt.val == c)
					r = set_once(verb_options[i].slot, optarg,
						     verb_options[i].opt.name);
			break;
		case ARG_REPAIR:
			arg_repair = true;
			r = EX_OK;
			break;
		case ARG_OPTION:
			r = EX_OK;
			if (arg_n_options >= N_OPTIONS_MAX) {
				r = exit_error(EX_USAGE, "too many --option (at most %d)",
					       N_OPTIONS_MAX);
			} else {
				arg_options[arg_n_options++] = optarg;
			}
			break;
		case ARG_JSON:
			arg_json = true;
			r = EX_OK;
			break;
		case 'h':
			help();
			return EX_OK;
		default: /* '?' or ':' */
			return usage_error(c, argv);
		}
		if (r != EX_OK)
			return r;
	}

	if (optind < argc) {
		return exit_error(EX_USAGE, "unexpected argument '%s'", argv[optind]);
	}

	for (size_t i = 0; i < ELEMENTSOF(verb_options); i++) {
		if (!(v->requires & verb_options[i].bit) || !verb_options[i].slot)
			continue;
		if (!*verb_options[i].slot) {
			return exit_error(EX_USAGE, "missing --%s", verb_options[i].opt.name);
		}
	}
	return -1;
}

/* An environment variable, or NULL if unset or empty. */
static const char *env(const char *name)
{
	const char *e = secure_getenv(name); /* NULL in setuid or capability-raised runs */

	return e && e[0] ? e : NULL;
}

/* Build the context: defaults < config file < environment < flags. Returns -1 or an exit
 * status after printing why. */
static int setup(struct volmount_ctx **ret)
{
	static const struct {
		enum volmount_path which;
		const char *env;
		const char *option;
		const char **flag;
	} paths[] = {
		{ VOLMOUNT_PATH_STATE_DIR, "VOLMOUNT_STATE_DIR", "state-dir", &arg_state_dir },
		{ VOLMOUNT_PATH_BASE_DIR, "VOLMOUNT_BASE_DIR", "base-dir", &arg_base_dir },
		{ VOLMOUNT_PATH_RUN_DIR, "VOLMOUNT_RUN_DIR", "run-dir", &arg_run_dir },
	};
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = NULL;
	const char *config = arg_config;
	bool must_exist = true;
	int r;

	r = volmount_ctx_new(&ctx);
	if (r < 0) {
		return exit_error(EX_SOFTWARE, "cannot create a context: %s", strerror(-r));
	}

	if (!config)
		config = env("VOLMOUNT_CONFIG");
	if (!config) {
		config = DEFAULT_CONFIG;
		must_exist = false;
	}
	r = volmount_ctx_load_config(ctx, config, must_exist);
	if (r < 0)
		return exit_fail(ctx, r);

	for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
		const char *e = env(paths[i].env);

		if (!e)
			continue;
		r = volmount_ctx_set_path(ctx, paths[i].which, e);
		if (r < 0) {
			return exit_error(EX_CONFIG, "%s: %s", paths[i].env, exit_errmsg(ctx, r));
		}
	}

	for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
		const char *f = *paths[i].flag;

		if (!f)
			continue;
		r = volmount_ctx_set_path(ctx, paths[i].which, f);
		if (r < 0) {
			return exit_error(EX_USAGE, "--%s: %s", paths[i].option,
					  exit_errmsg(ctx, r));
		}
	}

	{
		/* The path scheme: environment, then flag (validated when it was parsed). */
		const char *e = env("VOLMOUNT_PATH_SCHEME");
		enum volmount_path_scheme scheme = VOLMOUNT_PATH_SCHEME_VOLMOUNT;

		if (e && parse_path_scheme(e, &scheme) < 0) {
			return exit_error(EX_CONFIG,
					  "VOLMOUNT_PATH_SCHEME '%s' must be 'volmount' or 'nova'",
					  e);
		}
		if (arg_path_scheme)
			(void)parse_path_scheme(arg_path_scheme, &scheme);
		if (e || arg_path_scheme) {
			r = volmount_ctx_set_path_scheme(ctx, scheme);
			if (r < 0)
				return exit_fail(ctx, r);
		}
	}

	if (arg_timeout_ms > 0) {
		r = volmount_ctx_set_timeout(ctx, arg_timeout_ms);
		if (r < 0) {
			return exit_error(EX_USAGE, "--timeout: %s", exit_errmsg(ctx, r));
		}
	}

	*ret = TAKE_PTR(ctx);
	return -1;
}

/* Everything but the final flush of stdout. Returns the exit status. */
static int run(int argc, char **argv)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = NULL;
	const struct verb *verb = NULL;
	int status;

	status = parse_global(argc, argv);
	if (status >= 0)
		return status;

	if (optind >= argc) {
		return exit_error(EX_USAGE, "missing command (see 'volmount --help')");
	}
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (strcmp(argv[optind], verbs[i].name) == 0)
			verb = &verbs[i];
	if (!verb) {
		return exit_error(EX_USAGE, "unknown command '%s' (see 'volmount --help')",
				  argv[optind]);
	}
	exit_set_command(verb->name);

	status = parse_verb(verb, argc - optind, argv + optind);
	if (status >= 0)
		return status;

	status = setup(&ctx);
	if (status >= 0)
		return status;

	{
		const struct cmd_args a = {
			.type = arg_type,
			.export = arg_export,
			.volume = arg_volume,
			.owner = arg_owner,
			.options = arg_options,
			.n_options = arg_n_options,
			.json = arg_json,
		};

		return verb->run(ctx, &a);
	}
}

/*
 * Run with stdin, stdout or stderr closed, the first file this process opens would take that
 * number, and a message meant for stderr would be written into it (the host lock file, say).
 * So before anything else, every closed standard descriptor is opened on /dev/null. Returns
 * 0, or -errno if /dev/null cannot be opened (then nothing else is safe to do).
 */
static int open_std_fds(void)
{
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* The lowest free number is @fd itself: every lower one is open by now. */
		n = open("/dev/null", O_RDWR | O_NOCTTY);
		if (n < 0)
			return -errno;
		if (n != fd) {
			(void)close(n);
			return -EBADF;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int status, r;

	r = open_std_fds();
	if (r < 0)
		return EX_OSERR; /* nowhere safe to say why */
	status = run(argc, argv);

	r = output_flush();
	if (r < 0 && status == EX_OK)
		status = exit_error(EX_IOERR, "cannot write the output: %s", strerror(-r));
	return status;
}
