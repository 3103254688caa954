/* SPDX-License-Identifier: ISC */
/*
 * Corpus runner: a fuzz target as an ordinary test program, built with the
 * normal compiler (no libFuzzer needed), so that `make check` replays the
 * committed corpus, regression inputs included, on every build.
 *
 *   test_fuzz_NAME [file-or-dir...]
 *
 * Without arguments it runs tests/fuzz/corpus/fuzz_NAME (relative to the
 * top of the tree, where tests/run.sh runs it).  Each input runs in a
 * child process of its own, so that one crash, sanitizer report or hang is
 * counted as one failure naming its file and the others still run; the
 * last line is the one tests/run.sh sums:
 *   fuzz_NAME: N passed, M failed
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INPUT_TIMEOUT 20 /* seconds: an input slower than this hangs */
#define INPUT_MAX_BYTES (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
/* Optional in a target: called once, before the first input. */
int LLVMFuzzerInitialize(int *, char ***) __attribute__((weak));

static const char *name = "fuzz";
static unsigned npass, nfail;

static int
read_input(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (f == NULL)
		return -1;
	/* One byte more than the limit tells an input that is too large. */
	if ((buf = malloc(INPUT_MAX_BYTES + 1)) == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, INPUT_MAX_BYTES + 1, f);
	if (ferror(f) || n > INPUT_MAX_BYTES) {
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
}

/* Copy the input to a buffer of exactly its size, as libFuzzer does, so
 * that ASan sees a read one byte past the end. */
static void
run_child(const uint8_t *data, size_t len)
{
	uint8_t *exact = malloc(len > 0 ? len : 1);

	if (exact == NULL)
		_exit(2);
	memcpy(exact, data, len);
	alarm(INPUT_TIMEOUT);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	exit(0); /* exit(), not _exit(): LeakSanitizer checks at exit */
}

static void
run_file(const char *path)
{
	uint8_t *data;
	size_t len;
	pid_t pid;
	int st;

	if (read_input(path, &data, &len) == -1) {
		printf("FAIL %s: cannot read: %s\n", path, strerror(errno));
		nfail++;
		return;
	}
	fflush(stdout);
	if ((pid = fork()) == -1) {
		printf("FAIL %s: fork: %s\n", path, strerror(errno));
		nfail++;
		free(data);
		return;
	}
	if (pid == 0)
		run_child(data, len);
	free(data);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		npass++;
		return;
	}
	nfail++;
	if (WIFSIGNALED(st))
		printf("FAIL %s: %s\n", path,
		    WTERMSIG(st) == SIGALRM ? "timed out"
		                            : strsignal(WTERMSIG(st)));
	else
		printf("FAIL %s: exit status %d\n", path, WEXITSTATUS(st));
}

static int
visible(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static void
run_path(const char *path)
{
	struct dirent **ents;
	struct stat st;
	char sub[4096];
	int i, n;

	if (stat(path, &st) == -1) {
		printf("FAIL %s: %s\n", path, strerror(errno));
		nfail++;
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	/* Sorted: the same order, hence the same log, every time. */
	if ((n = scandir(path, &ents, visible, alphasort)) == -1) {
		printf("FAIL %s: %s\n", path, strerror(errno));
		nfail++;
		return;
	}
	for (i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name);
		if (stat(sub, &st) == 0 && S_ISREG(st.st_mode))
			run_file(sub);
		free(ents[i]);
	}
	free(ents);
}

int
main(int argc, char **argv)
{
	char dir[256];
	const char *base = strrchr(argv[0], '/');
	int i;

	base = base != NULL ? base + 1 : argv[0];
	if (strncmp(base, "test_", 5) == 0)
		name = base + 5;
	else
		name = base;
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (i = 1; i < argc; i++)
			run_path(argv[i]);
	} else {
		snprintf(dir, sizeof(dir), "tests/fuzz/corpus/%s", name);
		run_path(dir);
		if (npass + nfail == 0) {
			printf("FAIL %s: empty corpus\n", dir);
			nfail++;
		}
	}
	printf("%s: %u passed, %u failed\n", name, npass, nfail);
	return nfail > 0;
}
