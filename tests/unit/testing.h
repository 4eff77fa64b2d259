/* Minimal unit-test harness: CHECK records a failure and goes on; each test
 * binary prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef PX_TESTING_H
#define PX_TESTING_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond) do { \
        if (cond) t_pass++; \
        else { t_fail++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

#define CHECK_EQ_INT(a, b) do { \
        long long a_ = (long long)(a), b_ = (long long)(b); \
        if (a_ == b_) t_pass++; \
        else { t_fail++; fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, a_, b_); } \
    } while (0)

#define CHECK_STR(a, b) do { \
        const char *a_ = (a), *b_ = (b); \
        if (a_ && b_ && strcmp(a_, b_) == 0) t_pass++; \
        else { t_fail++; fprintf(stderr, "%s:%d: %s == %s failed: '%s' != '%s'\n", __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } \
    } while (0)

/* CHECK that a string contains a substring. */
#define CHECK_CONTAINS(hay, needle) do { \
        const char *h_ = (hay), *n_ = (needle); \
        if (h_ && strstr(h_, n_)) t_pass++; \
        else { t_fail++; fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, h_ ? h_ : "(null)", n_); } \
    } while (0)

#define RUN(test) do { test(); } while (0)

static int test_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, t_pass, t_fail);
    return t_fail ? 1 : 0;
}

#endif
