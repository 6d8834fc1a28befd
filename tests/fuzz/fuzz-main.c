/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-main.c - replays a fuzz target's corpus as an ordinary test (every build, gcc included):
 * each file named on the command line, or each file in the directories named, is fed once to
 * LLVMFuzzerTestOneInput(). A crash or abort fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	unsigned char *buf;
	size_t n;
	FILE *f = fopen(path, "rbe");

	if (!f)
		return -1;
	buf = malloc(1 << 20);
	if (!buf) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	(void)LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;

		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) < 0)
				return 1;
			count++;
			continue;
		}
		d = opendir(argv[i]);
		if (!d)
			return 1;
		while ((de = readdir(d))) {
			char p[4096];

			if (de->d_name[0] == '.')
				continue;
			(void)snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
			if (run_file(p) < 0) {
				closedir(d);
				return 1;
			}
			count++;
		}
		closedir(d);
	}
	printf("replayed %u inputs\n", count);
	return count > 0 ? 0 : 1;
}
