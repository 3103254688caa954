/* SPDX-License-Identifier: ISC */
/*
 * Shared CUnit glue: every test program registers its suites and returns
 * cu_finish(), which prints the line tests/run.sh sums:
 *   cunit: N passed, M failed
 */
#ifndef CUTEST_H
#define CUTEST_H

#include <CUnit/Basic.h>

/* Add a suite (init/cleanup may be NULL); aborts on registry errors. */
CU_pSuite cu_suite(const char *name, CU_InitializeFunc init,
    CU_CleanupFunc cleanup);
void cu_test(CU_pSuite s, const char *name, CU_TestFunc fn);
/* Run everything registered; returns the process exit status. */
int cu_finish(void);
/*
 * A failure found outside any test (a suite's clean-up, the finish hook):
 * CUnit would list it but not count it, so cu_finish() adds these.
 */
void cu_count_failure(void);
/* fn runs once in cu_finish(), after the tests and before the count. */
void cu_at_finish(void (*fn)(void));

/* Directory of the build (env B, default "build") and a private temp dir. */
const char *cu_builddir(void);
const char *cu_tmpdir(void);

#endif
