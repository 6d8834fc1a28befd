/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * procscan.c - built on the host, run in the VM guest (tests/vm/guest/test-cifs.sh): reads every
 * /proc/PID/cmdline and /proc/PID/environ in a tight loop until STOPFILE exists (or 120 s pass).
 * A shell loop is too slow under TCG to catch a helper that runs for a few hundred ms.
 *
 *   procscan STOPFILE WITNESS SECRET...
 *
 * Its own argv holds the secrets, so it skips itself. Prints one "leak PID FILE COMM" line per process file found holding a SECRET, then
 * "passes=N witness=M": M counts the passes in which some process's cmdline held WITNESS
 * (proof that the sampler could see the process it watches for).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static size_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t k;

	if (fd < 0)
		return 0;
	while (n < cap && (k = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)k;
	close(fd);
	return n;
}

static int holds(const char *buf, size_t n, const char *needle)
{
	size_t l = strlen(needle);

	for (size_t i = 0; l && i + l <= n; i++)
		if (memcmp(buf + i, needle, l) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static char buf[1 << 17];
	unsigned long passes = 0, witness = 0;
	time_t end = time(NULL) + 120;

	if (argc < 4) {
		fprintf(stderr, "usage: procscan STOPFILE WITNESS SECRET...\n");
		return 2;
	}
	while (access(argv[1], F_OK) != 0 && time(NULL) < end) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		int seen = 0;

		if (!d)
			return 1;
		while ((e = readdir(d))) {
			static const char *const files[] = { "cmdline", "environ" };
			char path[300], comm[64] = "?";
			size_t n;

			if (e->d_name[0] < '1' || e->d_name[0] > '9' || atoi(e->d_name) == getpid())
				continue; /* not a process, or this one (its argv holds the secrets) */
			for (int f = 0; f < 2; f++) {
				snprintf(path, sizeof(path), "/proc/%s/%s", e->d_name, files[f]);
				n = slurp(path, buf, sizeof(buf));
				if (f == 0 && holds(buf, n, argv[2]))
					seen = 1;
				for (int s = 3; s < argc; s++)
					if (holds(buf, n, argv[s])) {
						snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
						n = slurp(path, comm, sizeof(comm) - 1);
						comm[n] = '\0';
						comm[strcspn(comm, "\n")] = '\0';
						printf("leak %s %s %s\n", e->d_name, files[f], comm);
						fflush(stdout);
					}
			}
		}
		closedir(d);
		passes++;
		witness += seen;
	}
	printf("passes=%lu witness=%lu\n", passes, witness);
	return 0;
}
