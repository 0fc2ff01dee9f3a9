/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The 6.1 kselftest harness with the warnings the project's -Wextra
 * -Werror would turn into errors: its own code and every TEST() wrapper
 * it expands have unused parameters (ucontext, variant).  Nothing else is
 * silenced, so sign-compare and friends still apply to the tests.
 */
#ifndef PVKIT_SELFTESTS_HOST_HARNESS_H
#define PVKIT_SELFTESTS_HOST_HARNESS_H

#pragma GCC diagnostic ignored "-Wunused-parameter"

#include "kselftest_harness.h"

#endif /* PVKIT_SELFTESTS_HOST_HARNESS_H */
