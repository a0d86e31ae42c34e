/* replay - runs a libFuzzer target over files, without libFuzzer.
 *
 *   fuzz_replay_<target> DIR|FILE...
 *
 * Calls LLVMFuzzerTestOneInput once per regular file (a directory's
 * entries in name order, not recursive), each in a buffer of exactly the
 * file's size so that sanitizers catch over-reads. A target reports a
 * failure by crashing or aborting; this exits 1 if no input was found, so
 * a misspelt corpus path cannot pass.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int verbose;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *p;
			cap = cap ? cap * 2 : 65536;
			p = realloc(buf, cap);
			if (!p) {
				fprintf(stderr, "%s: out of memory\n", path);
				exit(1);
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	{
		/* exact-size copy: an over-read is an ASan error */
		uint8_t *exact = malloc(len ? len : 1);
		if (!exact) {
			fprintf(stderr, "%s: out of memory\n", path);
			exit(1);
		}
		memcpy(exact, buf, len);
		free(buf);
		if (verbose)
			fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}

static int filter(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	long files = 0, errors = 0;

	verbose = getenv("KILN_REPLAY_VERBOSE") != NULL;
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int a = 1; a < argc; a++) {
		struct stat st;
		struct dirent **ents;
		int n;

		if (stat(argv[a], &st) != 0) {
			fprintf(stderr, "%s: %s\n", argv[a], strerror(errno));
			errors++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[a]) == 0)
				files++;
			else
				errors++;
			continue;
		}
		n = scandir(argv[a], &ents, filter, alphasort);
		if (n < 0) {
			fprintf(stderr, "%s: %s\n", argv[a], strerror(errno));
			errors++;
			continue;
		}
		for (int i = 0; i < n; i++) {
			char *p;
			struct stat fst;

			if (asprintf(&p, "%s/%s", argv[a], ents[i]->d_name) < 0) {
				fprintf(stderr, "out of memory\n");
				exit(1);
			}
			if (stat(p, &fst) == 0 && S_ISREG(fst.st_mode)) {
				if (run_file(p) == 0)
					files++;
				else
					errors++;
			}
			free(p);
			free(ents[i]);
		}
		free(ents);
	}
	printf("replayed %ld inputs, %ld errors\n", files, errors);
	return files > 0 && errors == 0 ? 0 : 1;
}
