/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c - the volmount command: global options, configuration precedence and dispatch to one
 * function per command (cmds.h). It is a thin front over libvolmount: it validates only the
 * shape of the command line (which options, how many), never the meaning of an export,
 * volume or owner, which is the library's job. Its failures go through exit.c, like every
 * command's, so each is exactly one line on stderr with the status DESIGN.md gives it; it
 * prints nothing else but --help and --version. With --json a failure is also a JSON object
 * on stdout (exit.c).
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
 * which command options it accepts and requires. Adding an option: one row in opts[], which
 * is all that getopt, the global help and each command's help know of options.
 *
 * The commands that change the host (attach, detach, repair, host-up, host-down) leave one
 * audit line each in syslog(3), written here once the command has returned: the library
 * never logs.
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
#include "errno-util.h"

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

/* What an option handler returns to go on parsing; anything else is the exit status. */
#define GO_ON (-1)

/* Where an option is taken: before COMMAND, anywhere, or by the commands whose row in verbs[]
 * has its bit in accepts (and requires). */
enum {
	OPT_TYPE = 1u << 0,
	OPT_EXPORT = 1u << 1,
	OPT_VOLUME = 1u << 2,
	OPT_OWNER = 1u << 3,
	OPT_OPTION = 1u << 4,
	OPT_INTERVAL = 1u << 5,
	OPT_METRICS = 1u << 6,
	OPT_REPAIR = 1u << 7,
	OPT_GLOBAL = 1u << 30,
	OPT_ANYWHERE = 1u << 31,
};

struct verb {
	const char *name;
	const char *summary;
	unsigned accepts; /* OPT_* bits */
	unsigned requires;
	bool audit; /* changes the host: one syslog(3) line */
	/* returns an exit status */
	int (*run)(struct volmount_ctx *ctx, const struct cmd_args *a);
};

/*
 * Every option in one table: what getopt is given, where the value goes, how it is checked,
 * and what the global and per-command help say of it. @set returns GO_ON or an exit status
 * (0 after --help and --version).
 */
struct opt {
	const char *name;
	char short_name;     /* or 0 */
	const char *metavar; /* NULL: takes no value */
	unsigned where;      /* OPT_* */
	const char *help;
	const char **slot; /* a value given at most once */
	bool *flag;        /* a switch */
	int (*set)(const struct opt *o, const char *value);
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

static const struct verb *current_verb; /* NULL while the global options are parsed */

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
	{ "attach", "attach a volume, mounting its share if needed; prints the device path",
	  OPTS_ATTACHMENT | OPT_OPTION, OPTS_ATTACHMENT, true, cmd_attach },
	{ "detach", "detach a volume, unmounting its share after the last one", OPTS_ATTACHMENT,
	  OPTS_ATTACHMENT, true, cmd_detach },
	{ "path", "print the mountpoint of a share; changes nothing", OPTS_SHARE, OPTS_SHARE,
	  false, cmd_path },
	{ "list", "list shares, their state and attachments", 0, 0, false, cmd_list },
	{ "status", "show host state (up/down), generation and counts", 0, 0, false, cmd_status },
	{ "host-up", "reconcile the ledger with the kernel and mark the host up", 0, 0, true,
	  cmd_host_up },
	{ "check", "probe every share (with a deadline); exit 0 only if all are healthy", 0, 0,
	  false, cmd_check },
	{ "repair", "bring every share to its desired state (remount stale or hung mounts)", 0,
	  0, true, cmd_repair },
	{ "gc", "remove leftover mountpoint directories no share owns", 0, 0, false, cmd_gc },
	{ "monitor",
	  "check in a loop, optionally repair, write Prometheus metrics; stops on SIGTERM",
	  OPT_INTERVAL | OPT_METRICS | OPT_REPAIR, 0, false, verb_monitor },
	{ "host-down", "drain operations and mark the host down (mounts are kept)", 0, 0, true,
	  cmd_host_down },
};

static int set_once(const struct opt *o, const char *value)
{
	if (*o->slot)
		return exit_error(EX_USAGE, "option '--%s' given twice", o->name);
	*o->slot = value;
	return GO_ON;
}

static int set_dir(const struct opt *o, const char *value)
{
	int r = set_once(o, value);

	if (r == GO_ON && value[0] != '/')
		r = exit_error(EX_USAGE, "--%s '%s' is not an absolute path", o->name, value);
	return r;
}

static int set_config(const struct opt *o, const char *value)
{
	int r = set_once(o, value);

	if (r == GO_ON && !value[0])
		r = exit_error(EX_USAGE, "--config needs a file name");
	return r;
}

static int set_timeout(const struct opt *o, const char *value)
{
	static bool given;

	if (given)
		return exit_error(EX_USAGE, "option '--timeout' given twice");
	given = true;
	if (parse_seconds(value, &arg_timeout_ms) < 0)
		return exit_error(EX_USAGE,
				  "--timeout '%s' is not a number of seconds more than 0 and at "
				  "most %.0f",
				  value, TIMEOUT_MAX_SEC);
	return GO_ON;
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

static int set_path_scheme(const struct opt *o, const char *value)
{
	int r = set_once(o, value);

	if (r == GO_ON && parse_path_scheme(value, NULL) < 0)
		r = exit_error(EX_USAGE, "--path-scheme '%s' must be 'volmount' or 'nova'", value);
	return r;
}

static int set_flag(const struct opt *o, const char *value)
{
	*o->flag = true;
	if (o->flag == &arg_json)
		exit_set_json(true);
	return GO_ON;
}

static int add_option(const struct opt *o, const char *value)
{
	if (arg_n_options >= N_OPTIONS_MAX)
		return exit_error(EX_USAGE, "too many --option (at most %d)", N_OPTIONS_MAX);
	arg_options[arg_n_options++] = value;
	return GO_ON;
}

static int show_help(const struct opt *o, const char *value);
static int show_version(const struct opt *o, const char *value);

static const struct opt opts[] = {
	{ "state-dir", 0, "DIR", OPT_GLOBAL, "ledger directory (default /var/lib/volmount)",
	  &arg_state_dir, NULL, set_dir },
	{ "base-dir", 0, "DIR", OPT_GLOBAL,
	  "where mountpoints are made (default /var/lib/volmount/mnt)", &arg_base_dir, NULL,
	  set_dir },
	{ "run-dir", 0, "DIR", OPT_GLOBAL, "lock files (default /run/volmount)", &arg_run_dir,
	  NULL, set_dir },
	{ "config", 0, "FILE", OPT_GLOBAL,
	  "configuration file (default " DEFAULT_CONFIG ", optional)", &arg_config, NULL,
	  set_config },
	{ "timeout", 0, "SEC", OPT_GLOBAL, "bound for every wait, in decimal seconds (default 30)",
	  NULL, NULL, set_timeout },
	{ "path-scheme", 0, "volmount|nova", OPT_GLOBAL,
	  "mountpoints: <base>/<driver>/<sha256> (volmount, default) or\n"
	  "<base>/<md5 of export> as Nova and os-brick name them (nova;\n"
	  "host-up then adopts the shares they mounted)",
	  &arg_path_scheme, NULL, set_path_scheme },
	{ "type", 0, "DRIVER", OPT_TYPE, "the driver (see Drivers in volmount --help)", &arg_type,
	  NULL, set_once },
	{ "export", 0, "EXPORT", OPT_EXPORT, "the export, as its driver spells it", &arg_export,
	  NULL, set_once },
	{ "volume", 0, "NAME", OPT_VOLUME, "the volume: a directory in the share", &arg_volume,
	  NULL, set_once },
	{ "owner", 0, "ID", OPT_OWNER, "who holds the attachment (an instance, a pod)",
	  &arg_owner, NULL, set_once },
	{ "option", 0, "OPT[=VAL]", OPT_OPTION,
	  "a mount option of the driver; may repeat (at most 64)", NULL, NULL, add_option },
	{ "interval", 0, "SEC", OPT_INTERVAL, "seconds between checks (default 30)",
	  &arg_interval, NULL, set_once },
	{ "metrics", 0, "FILE", OPT_METRICS,
	  "write Prometheus metrics to FILE after every check", &arg_metrics, NULL, set_once },
	{ "repair", 0, NULL, OPT_REPAIR, "repair what a check found unhealthy", NULL, &arg_repair,
	  set_flag },
	{ "json", 0, NULL, OPT_ANYWHERE,
	  "print one JSON document; a failure: {\"error\": {kind, message, exit_code}}", NULL,
	  &arg_json, set_flag },
	{ "help", 'h', NULL, OPT_ANYWHERE, "show this help", NULL, NULL, show_help },
	{ "version", 'V', NULL, OPT_ANYWHERE, "show the version", NULL, NULL, show_version },
};

/* Does the level being parsed (global, or current_verb) take @o? */
static bool takes(const struct opt *o)
{
	if (o->where == OPT_ANYWHERE)
		return true;
	if (!current_verb)
		return o->where == OPT_GLOBAL;
	return (current_verb->accepts & o->where) != 0;
}

/* "  -h, --name METAVAR" padded to the help column, then its help, for each option the
 * level being parsed takes. */
static void print_options(void)
{
	for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
		const struct opt *o = &opts[i];
		char head[64];
		int n;

		if (!takes(o))
			continue;
		if (o->short_name)
			n = snprintf(head, sizeof(head), "-%c, --%s", o->short_name, o->name);
		else
			n = snprintf(head, sizeof(head), "--%s", o->name);
		if (o->metavar)
			n += snprintf(head + n, sizeof(head) - (size_t)n, " %s", o->metavar);
		printf("  %s", head);
		if (n >= 16) { /* too long: the help starts on the next line */
			(void)putchar('\n');
			n = -2;
		}
		for (const char *h = o->help; *h;) {
			size_t len = strcspn(h, "\n");

			printf("%*s%.*s\n", 17 - n, "", (int)len, h);
			h += len + (h[len] == '\n');
			n = -2;
		}
	}
}

/* " --type DRIVER [--option OPT[=VAL]]...": the options of command @v. */
static void print_synopsis(const struct verb *v)
{
	for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
		const struct opt *o = &opts[i];
		bool required = (v->requires & o->where) != 0;

		if (!(v->accepts & o->where))
			continue;
		printf(" %s--%s%s%s%s%s", required ? "" : "[", o->name, o->metavar ? " " : "",
		       o->metavar ? o->metavar : "", required ? "" : "]",
		       o->set == add_option ? "..." : "");
	}
}

static void help_global(void)
{
	printf("Usage: volmount [GLOBAL OPTIONS] COMMAND [OPTIONS]\n"
	       "       volmount COMMAND --help\n"
	       "\n"
	       "Mount shared filesystem exports once per host: a share is mounted when its first\n"
	       "volume is attached and unmounted when its last one is detached.\n"
	       "\nCommands:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		printf("  %s", verbs[i].name);
		print_synopsis(&verbs[i]);
		printf("\n      %s\n", verbs[i].summary);
	}
	printf("\nGlobal options (before COMMAND):\n");
	print_options();
	printf("\nEnvironment: VOLMOUNT_STATE_DIR, VOLMOUNT_BASE_DIR, VOLMOUNT_RUN_DIR,\n"
	       "VOLMOUNT_PATH_SCHEME and VOLMOUNT_CONFIG override the configuration file;\n"
	       "options override both. From systemd: JOURNAL_STREAM, NOTIFY_SOCKET, WATCHDOG_USEC.\n"
	       "\nDrivers (--type):\n");
	for (size_t i = 0; i < ELEMENTSOF(drivers); i++)
		printf("  %-10s EXPORT is %s\n", drivers[i].name, drivers[i].export);
	printf("\nExit status:\n"
	       "  0 ok, 64 usage, 65 invalid input, 69 host down or server unreachable,\n"
	       "  70 internal error, 73 mountpoint cannot be created or is occupied,\n"
	       "  74 I/O error, 75 temporary failure (timeout, busy), 77 permission denied,\n"
	       "  78 bad configuration\n"
	       "\nSee volmount(8) and volmount.conf(5).\n");
}

/* volmount COMMAND --help: that command's usage only. */
static void help_verb(const struct verb *v)
{
	printf("Usage: volmount [GLOBAL OPTIONS] %s", v->name);
	print_synopsis(v);
	printf("\n\n%s.\n\nOptions:\n", v->summary);
	print_options();
	printf("\nGlobal options: see volmount --help.\n");
}

static int show_help(const struct opt *o, const char *value)
{
	if (current_verb)
		help_verb(current_verb);
	else
		help_global();
	return EX_OK;
}

static int show_version(const struct opt *o, const char *value)
{
	unsigned v = volmount_version_number();

	printf("volmount %d.%d.%d (libvolmount %u.%u.%u)\n", VOLMOUNT_VERSION_MAJOR,
	       VOLMOUNT_VERSION_MINOR, VOLMOUNT_VERSION_PATCH, v / 10000, v / 100 % 100, v % 100);
	return EX_OK;
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

/* getopt's value for opts[i]: its short name, or 0x100 + i (above every char). */
static int opt_val(size_t i)
{
	return opts[i].short_name ? opts[i].short_name : 0x100 + (int)i;
}

/*
 * The options of the level being parsed (current_verb, or the global ones), from argv[1] on.
 * Returns GO_ON with optind at the first argument that is not an option, or an exit status.
 */
static int parse_options(int argc, char **argv)
{
	struct option options[ELEMENTSOF(opts) + 1] = {};
	char shorts[ELEMENTSOF(opts) + 3] = "+:"; /* '+': stop at COMMAND */
	size_t n = 0, n_shorts = 2;
	int c;

	for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
		if (!takes(&opts[i]))
			continue;
		options[n++] = (struct option){ .name = opts[i].name,
						.has_arg = opts[i].metavar ? required_argument
									   : no_argument,
						.val = opt_val(i) };
		if (opts[i].short_name)
			shorts[n_shorts++] = opts[i].short_name;
	}

	optind = 0; /* glibc: start over, on a new argv */
	opterr = 0; /* we print our own one-line errors */
	while ((c = getopt_long(argc, argv, shorts, options, NULL)) != -1) {
		size_t i = 0;
		int r;

		while (i < ELEMENTSOF(opts) && opt_val(i) != c)
			i++;
		if (i == ELEMENTSOF(opts)) /* '?' or ':' */
			return usage_error(c, argv);
		r = opts[i].set(&opts[i], optarg);
		if (r != GO_ON)
			return r;
	}
	return GO_ON;
}

/* Nothing follows the command's options, and the ones it requires are there. */
static int check_verb_args(int argc, char **argv)
{
	if (optind < argc)
		return exit_error(EX_USAGE, "unexpected argument '%s'", argv[optind]);
	for (size_t i = 0; i < ELEMENTSOF(opts); i++)
		if ((current_verb->requires & opts[i].where) && opts[i].slot && !*opts[i].slot)
			return exit_error(EX_USAGE, "missing --%s", opts[i].name);
	return GO_ON;
}

/* With --json anywhere on the line, a usage error found before getopt reaches it is JSON too. */
static void scan_json(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			exit_set_json(true);
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
		return exit_error(EX_SOFTWARE, "cannot create a context: %s", errno_str(r));
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

/* One syslog(3) line for a command that changes the host: what, which share, the result. */
static void audit(const struct verb *v, int status)
{
	const char *why = status == EX_OK ? NULL : exit_last_message();
	bool share = (v->accepts & OPT_VOLUME) != 0;

	output_audit(v->name, share ? arg_type : NULL, share ? arg_export : NULL,
		     share ? arg_volume : NULL, share ? arg_owner : NULL, status, why);
}

/* Everything but the final flush of stdout. Returns the exit status. */
static int run(int argc, char **argv)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = NULL;
	int status;

	scan_json(argc, argv);
	status = parse_options(argc, argv);
	if (status != GO_ON)
		return status;
	argc -= optind; /* from here, argv[0] is COMMAND */
	argv += optind;

	if (argc < 1)
		return exit_error(EX_USAGE, "missing command (see 'volmount --help')");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (strcmp(argv[0], verbs[i].name) == 0)
			current_verb = &verbs[i];
	if (!current_verb)
		return exit_error(EX_USAGE, "unknown command '%s' (see 'volmount --help')",
				  argv[0]);
	exit_set_command(current_verb->name);

	status = parse_options(argc, argv);
	if (status == GO_ON)
		status = check_verb_args(argc, argv);
	if (status != GO_ON)
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

		status = current_verb->run(ctx, &a);
	}
	if (current_verb->audit)
		audit(current_verb, status);
	return status;
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
		status = exit_error(EX_IOERR, "cannot write the output: %s", errno_str(r));
	return status;
}
