/*
 * harness.h - the in-house test harness: each test program is a table of named functions and
 * prints TAP, which meson reads (protocol 'tap'). A check that fails reports file, line and
 * expression and the test goes on, so that one run shows every broken check.
 *
 *   static void t_something(void) { CHECK(1 + 1 == 2); CHECK_NEAR(x, 0.5, 1e-6); }
 *   TESTS(TEST(t_something), ...)
 *
 * FACET_TEST_DATA (default ../shared/data from the source root) and FACET_MODEL_PATH
 * (default models/) locate real images and models; tests that need them say "skip" when
 * they are absent rather than pass silently.
 */
#ifndef FACET_TEST_HARNESS_H
#define FACET_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

static int th_failed;
static const char *th_skip;

#define TEST(f) {#f, f}
#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);              \
            th_failed = 1;                                                                   \
        }                                                                                    \
    } while (0)
#define CHECK_MSG(cond, ...)                                                                 \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            printf("#   %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);              \
            printf(__VA_ARGS__);                                                             \
            printf("\n");                                                                    \
            th_failed = 1;                                                                   \
        }                                                                                    \
    } while (0)
#define CHECK_EQ(a, b)                                                                       \
    do {                                                                                     \
        long long th_a = (long long)(a), th_b = (long long)(b);                              \
        if (th_a != th_b) {                                                                  \
            printf("#   %s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b, th_a,  \
                   th_b);                                                                    \
            th_failed = 1;                                                                   \
        }                                                                                    \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                \
    do {                                                                                     \
        double th_a = (double)(a), th_b = (double)(b);                                       \
        if (!(fabs(th_a - th_b) <= (tol))) {                                                 \
            printf("#   %s:%d: %s ~ %s: %.9g vs %.9g (tol %g)\n", __FILE__, __LINE__, #a, #b, \
                   th_a, th_b, (double)(tol));                                               \
            th_failed = 1;                                                                   \
        }                                                                                    \
    } while (0)
/* Marks the running test as skipped (with a reason) and returns from it. */
#define SKIP(why)                                                                            \
    do {                                                                                     \
        th_skip = (why);                                                                     \
        return;                                                                              \
    } while (0)

static inline const char *test_data_dir(void)
{
    const char *d = getenv("FACET_TEST_DATA");
    return d && *d ? d : FACET_SOURCE_ROOT "/../shared/data";
}

static inline const char *test_model_dir(void)
{
    const char *d = getenv("FACET_MODEL_PATH");
    return d && *d ? d : FACET_SOURCE_ROOT "/models";
}

/* Joins dir and name into a static buffer (one per call site is enough for tests). */
static inline const char *test_path(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static inline int test_file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static inline int th_run(const test_case *tests, int n, int argc, char **argv)
{
    int failures = 0;
    printf("1..%d\n", n);
    for (int i = 0; i < n; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1])) {
            printf("ok %d - %s # SKIP not selected\n", i + 1, tests[i].name);
            continue;
        }
        th_failed = 0;
        th_skip = NULL;
        fflush(stdout);
        tests[i].fn();
        if (th_skip && !th_failed) {
            printf("ok %d - %s # SKIP %s\n", i + 1, tests[i].name, th_skip);
        } else {
            printf("%s %d - %s\n", th_failed ? "not ok" : "ok", i + 1, tests[i].name);
            failures += th_failed;
        }
        fflush(stdout);
    }
    return failures ? 1 : 0;
}

#define TESTS(...)                                                                           \
    int main(int argc, char **argv)                                                          \
    {                                                                                        \
        static const test_case th_tests[] = {__VA_ARGS__};                                   \
        return th_run(th_tests, (int)(sizeof th_tests / sizeof th_tests[0]), argc, argv);    \
    }

#endif
