/* SPDX-License-Identifier: ISC */
/*
 * CUnit glue shared by the test programs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cutest.h"

static int registry_ready;
static unsigned extra_failures;
static void (*finish_hook)(void);

static void
ready(void)
{
	if (!registry_ready) {
		if (CU_initialize_registry() != CUE_SUCCESS) {
			fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
			exit(2);
		}
		registry_ready = 1;
	}
}

CU_pSuite
cu_suite(const char *name, CU_InitializeFunc init, CU_CleanupFunc cleanup)
{
	CU_pSuite s;

	ready();
	if ((s = CU_add_suite(name, init, cleanup)) == NULL) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		exit(2);
	}
	return s;
}

void
cu_test(CU_pSuite s, const char *name, CU_TestFunc fn)
{
	if (CU_add_test(s, name, fn) == NULL) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		exit(2);
	}
}

void
cu_count_failure(void)
{
	extra_failures++;
}

void
cu_at_finish(void (*fn)(void))
{
	finish_hook = fn;
}

int
cu_finish(void)
{
	unsigned run, failed, sfailed;

	ready();
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	if (finish_hook != NULL)
		finish_hook();
	run = CU_get_number_of_tests_run();
	failed = CU_get_number_of_tests_failed();
	/* A suite whose set-up failed ran none of its tests: count them. */
	sfailed = CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	printf("cunit: %u passed, %u failed\n", run - failed,
	    failed + sfailed + extra_failures);
	fflush(stdout);
	return failed + sfailed + extra_failures ? 1 : 0;
}

const char *
cu_builddir(void)
{
	const char *b = getenv("B");

	return b != NULL && *b != '\0' ? b : "build";
}

const char *
cu_tmpdir(void)
{
	static char dir[64];

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/cptest.XXXXXX");
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			exit(2);
		}
	}
	return dir;
}
