/* What every target here does when a check fails: say where (the file
 * names the target) and abort(), so that libFuzzer and the replay test
 * (replay.c) both see it. */
#ifndef KILN_FUZZ_H
#define KILN_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define FAIL(...)                                                \
	do {                                                     \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);  \
		fprintf(stderr, __VA_ARGS__);                    \
		fputc('\n', stderr);                             \
		abort();                                         \
	} while (0)

#endif
