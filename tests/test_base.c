/* test_base.c - status texts, error plumbing, CPU detection, file reading. */
#include "base/base.h"
#include "harness.h"

static void t_version(void)
{
    CHECK(strcmp(facet_version(), FACET_VERSION_STRING) == 0);
}

static void t_status_strings(void)
{
    for (int s = FACET_E_INTERNAL; s <= 0; s++) CHECK(facet_status_str(s)[0] != 0);
    CHECK(strcmp(facet_status_str(12345), "unknown status") == 0);
}

static void t_error_message_on_handle_and_thread(void)
{
    facet_err e = {{0}};
    int r = facet_seterr(&e, FACET_E_FORMAT, "bad %s at %d", "byte", 7);
    CHECK_EQ(r, FACET_E_FORMAT);
    CHECK(strcmp(e.msg, "bad byte at 7") == 0);
    CHECK(strcmp(facet_last_error(), "bad byte at 7") == 0);
}

/* The common pattern "context: <the inner failure's message>" passes this thread's own buffer as
 * an argument; the result must be the inner message exactly once, not a garbled overlap. */
static void t_error_message_wraps_its_own_buffer(void)
{
    facet_seterr(NULL, FACET_E_IO, "cannot open '%s': %s", "/nonexistent/models/m.onnx",
                 "No such file or directory");
    facet_err e = {{0}};
    CHECK_EQ(facet_seterr(&e, FACET_E_MODEL, "model m: %s", facet_thread_errmsg()), FACET_E_MODEL);
    const char *want = "model m: cannot open '/nonexistent/models/m.onnx': No such file or directory";
    CHECK_MSG(strcmp(facet_last_error(), want) == 0, "got '%s'", facet_last_error());
    CHECK_MSG(strcmp(e.msg, want) == 0, "got '%s'", e.msg);
    /* a message longer than the buffer is cut, never overrun */
    char big[3 * FACET_ERRMSG_MAX];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    facet_seterr(&e, FACET_E_FORMAT, "%s", big);
    CHECK_EQ(strlen(facet_last_error()), FACET_ERRMSG_MAX - 1);
    facet_seterr(&e, FACET_E_FORMAT, "again: %s", facet_thread_errmsg());
    CHECK(strncmp(facet_last_error(), "again: xxxx", 11) == 0);
    CHECK_EQ(strlen(e.msg), FACET_ERRMSG_MAX - 1);
}

/* What the library hands out is released with facet_free; NULL is a no-op. */
static void t_facet_free(void)
{
    facet_free(NULL);
    char *s = facet_strdup("abc");
    CHECK(s && strcmp(s, "abc") == 0);
    facet_free(s);
}

/* Passwords in store URLs and libpq strings are masked, exactly, in text and in messages. */
static void t_redact(void)
{
    static const char *const cases[][2] = {
        {"postgres://user:s3cret@db.example/faces", "postgres://user:****@db.example/faces"},
        {"postgresql://u:p@ss/w@h:5432/d?sslmode=require&password=zz#x",
         "postgresql://u:****@h:5432/d?sslmode=require&password=****#x"},
        {"host=h user=u password=s3cret dbname=d", "host=h user=u password=**** dbname=d"},
        {"host=h password = 'a b\\' c' dbname=d", "host=h password = **** dbname=d"},
        {"sslpassword=k PASSWORD=x host=h", "sslpassword=**** PASSWORD=**** host=h"},
        {"url 'postgress://u:pw@h/db' is not", "url 'postgress://u:****@h/db' is not"},
        {"postgres://h/db?password=zz", "postgres://h/db?password=****"},
        {"postgres://user@h/db sqlite:/tmp/x.db", "postgres://user@h/db sqlite:/tmp/x.db"},
        {"no secret here", "no secret here"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(strcmp(facet_redact(cases[i][0], out, sizeof out), cases[i][1]) == 0,
                  "'%s' -> '%s'", cases[i][0], out);
    CHECK(strcmp(facet_redact("postgres://u:s3cret@h/db", out, 12), "postgres://") == 0);
    /* every message goes through it, also one that quotes a URL */
    facet_err e = {{0}};
    facet_seterr(&e, FACET_E_STORE, "cannot open '%s': %s", "postgres://u:s3cret@h/db",
                 "host=h password=s3cret");
    CHECK_MSG(strcmp(facet_last_error(), "cannot open 'postgres://u:****@h/db': host=h "
                                         "password=****") == 0, "got '%s'", facet_last_error());
    CHECK(strcmp(e.msg, facet_last_error()) == 0);
}

static void t_read_file_limits(void)
{
    uint8_t *d;
    size_t n;
    facet_err e;
    CHECK_EQ(facet_read_file("/nonexistent/x", 10, &d, &n, &e), FACET_E_IO);
    CHECK(d == NULL);
    CHECK_EQ(facet_read_file(FACET_SOURCE_ROOT "/meson.build", 10, &d, &n, &e), FACET_E_LIMIT);
    CHECK_EQ(facet_read_file(FACET_SOURCE_ROOT "/meson.build", 1 << 20, &d, &n, &e), FACET_OK);
    CHECK(n > 10);
    free(d);
}

static void t_alloc_alignment_and_overflow(void)
{
    void *p = facet_alloc(3);
    CHECK(((uintptr_t)p & 63) == 0);
    facet_free_aligned(p);
    CHECK(facet_calloc((size_t)-1 / 2, 4) == NULL);
    CHECK(facet_alloc_zeroed((size_t)-1 / 2, 4) == NULL);
    size_t out;
    CHECK(facet_mul_overflow((size_t)-1, 2, &out) != 0);
}

static void t_cpu(void)
{
    CHECK(facet_cpu_count() >= 1);
    CHECK(facet_cpu_features() != NULL);
    CHECK(facet_threads_resolve(1) == 1);
    CHECK(facet_threads_resolve(4096) == facet_cpu_count()); /* capped at the cores */
    CHECK(facet_threads_resolve(0) >= 1);
}

/* Numeric variables are read strictly where sessions and galleries are made: a typo is an error
 * naming the variable, not the default (before, FACET_CPU_MASK=0xzz silently meant "every
 * feature"). */
static void t_env_numbers_strict(void)
{
    static const char *const names[] = {"FACET_NUM_THREADS", "FACET_CPU_MASK", "FACET_NN_ROWS"};
    char *saved[3];
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(names[i]);
        saved[i] = v ? strdup(v) : NULL;
        unsetenv(names[i]);
    }
    facet_err e = {0};
    CHECK_EQ(facet_env_check(&e), FACET_OK);
    setenv("FACET_CPU_MASK", "0x1f", 1);
    setenv("FACET_NUM_THREADS", "2", 1);
    setenv("FACET_NN_ROWS", "0", 1);
    CHECK_EQ(facet_env_check(&e), FACET_OK);
    CHECK_EQ(facet_env_long("FACET_CPU_MASK", -1), 0x1f);
    static const struct { const char *name, *value; } bad[] = {
        {"FACET_CPU_MASK", "0xzz"}, {"FACET_CPU_MASK", "1f"}, {"FACET_CPU_MASK", " 0x1f"},
        {"FACET_NUM_THREADS", "2x"}, {"FACET_NUM_THREADS", "-1"}, {"FACET_NUM_THREADS", "99999"},
        {"FACET_NN_ROWS", "3"}, {"FACET_NN_ROWS", "one"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *old = getenv(bad[i].name);
        char *keep = old ? strdup(old) : NULL;
        setenv(bad[i].name, bad[i].value, 1);
        e.msg[0] = 0;
        CHECK_EQ(facet_env_check(&e), FACET_E_INVALID_ARG);
        CHECK_MSG(strstr(e.msg, bad[i].name) != NULL, "message '%s' names %s", e.msg, bad[i].name);
        if (keep) setenv(bad[i].name, keep, 1);
        free(keep);
    }
    for (int i = 0; i < 3; i++) {
        if (saved[i]) setenv(names[i], saved[i], 1);
        else unsetenv(names[i]);
        free(saved[i]);
    }
}

/* arm64's AT_HWCAP/AT_HWCAP2 words (Linux uapi asm/hwcap.h bits) mapped to our flags: the words
 * of two real machines, written from their /proc/cpuinfo feature lists, and the rules. */
static void t_cpu_arm64_hwcap(void)
{
    /* Raspberry Pi 4, Cortex-A72: fp asimd evtstrm crc32 cpuid */
    CHECK_EQ(facet_cpu_flags_from_hwcap(0x887, 0), FACET_CPU_ASIMD);
    /* AWS Graviton3, Neoverse V1: every AT_HWCAP bit up to pacg but sb; dcpodp svei8mm svebf16
     * i8mm bf16 dgh rng */
    CHECK_EQ(facet_cpu_flags_from_hwcap(0xdffffffful, 0x1f201),
             FACET_CPU_ASIMD | FACET_CPU_ASIMDHP | FACET_CPU_ASIMDDP | FACET_CPU_I8MM | FACET_CPU_BF16 |
                 FACET_CPU_SVE);
    CHECK_EQ(facet_cpu_flags_from_hwcap(0x3, 0x2), FACET_CPU_ASIMD);   /* sve2 needs sve */
    CHECK_EQ(facet_cpu_flags_from_hwcap(0x203, 0), FACET_CPU_ASIMD);   /* fphp alone: no fp16 SIMD */
    CHECK_EQ(facet_cpu_flags_from_hwcap(0x403, 0), FACET_CPU_ASIMD);   /* asimdhp alone: neither */
    CHECK_EQ(facet_cpu_flags_from_hwcap(0x603, 0), FACET_CPU_ASIMD | FACET_CPU_ASIMDHP);
    CHECK_EQ(facet_cpu_flags_from_hwcap(0x400003, 0x2), FACET_CPU_ASIMD | FACET_CPU_SVE | FACET_CPU_SVE2);
    CHECK_EQ(facet_cpu_flags_from_hwcap(0xfffffffdul, 0xfffff), 0); /* no asimd: nothing */
}

/* What this process runs on: on arm64 the flags are the ones the kernel (or qemu-user) put in
 * this process's auxiliary vector, read here from /proc/self/auxv rather than getauxval; and
 * FACET_CPU_MASK masks them like the x86 ones. */
static void t_cpu_detected(void)
{
    if (getenv("FACET_CPU_MASK")) SKIP("FACET_CPU_MASK is set");
    unsigned f = facet_cpu_flags();
    const char *names = facet_cpu_features();
    CHECK_MSG((f == 0) == (names[0] == 0), "flags 0x%x, features '%s'", f, names);
#if defined(__aarch64__) && defined(__linux__)
    unsigned long hwcap = 0, hwcap2 = 0, av[2];
    int seen = 0;
    FILE *fp = fopen("/proc/self/auxv", "rb");
    CHECK(fp != NULL);
    while (fp && fread(av, sizeof av, 1, fp) == 1 && av[0] != 0) { /* AT_NULL ends it */
        if (av[0] == 16) hwcap = av[1], seen = 1; /* AT_HWCAP */
        if (av[0] == 26) hwcap2 = av[1];          /* AT_HWCAP2 */
    }
    if (fp) fclose(fp);
    CHECK(seen);
    CHECK_MSG(f == facet_cpu_flags_from_hwcap(hwcap, hwcap2), "flags 0x%x, AT_HWCAP 0x%lx, AT_HWCAP2 0x%lx", f,
              hwcap, hwcap2);
    CHECK_MSG((f & FACET_CPU_ASIMD) && strncmp(names, "asimd", 5) == 0, "features '%s'", names);
    printf("# arm64 features: %s (AT_HWCAP 0x%lx, AT_HWCAP2 0x%lx)\n", names, hwcap, hwcap2);
#else
    const unsigned arm = FACET_CPU_ASIMD | FACET_CPU_ASIMDHP | FACET_CPU_ASIMDDP | FACET_CPU_I8MM |
                         FACET_CPU_BF16 | FACET_CPU_SVE | FACET_CPU_SVE2;
    CHECK_MSG((f & arm) == 0, "flags 0x%x", f);
#endif
    setenv("FACET_CPU_MASK", "0", 1);
    CHECK(facet_cpu_flags() == 0 && facet_cpu_features()[0] == 0);
    setenv("FACET_CPU_MASK", "0x10000", 1); /* asimd only, where there is asimd */
    CHECK_EQ(facet_cpu_flags(), f & FACET_CPU_ASIMD);
    unsetenv("FACET_CPU_MASK");
    CHECK_EQ(facet_cpu_flags(), f);
}

/* RFC 4648's test vectors, then bytes that use every character of the alphabet */
static void t_base64(void)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *out = NULL;
        CHECK_EQ(facet_base64_encode(in[i], strlen(in[i]), &out), FACET_OK);
        CHECK_MSG(out && strcmp(out, want[i]) == 0, "'%s' -> '%s'", in[i], out ? out : "(null)");
        facet_free(out);
    }
    unsigned char all[48];
    for (int i = 0; i < 16; i++) { /* 64 six-bit groups 0..63 packed into 48 bytes */
        unsigned v = (unsigned)(4 * i) << 18 | (unsigned)(4 * i + 1) << 12 | (unsigned)(4 * i + 2) << 6 | (unsigned)(4 * i + 3);
        all[3 * i] = (unsigned char)(v >> 16), all[3 * i + 1] = (unsigned char)(v >> 8), all[3 * i + 2] = (unsigned char)v;
    }
    char *out = NULL;
    CHECK_EQ(facet_base64_encode(all, sizeof all, &out), FACET_OK);
    CHECK(out && strcmp(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") == 0);
    facet_free(out);
    out = (char *)1;
    CHECK_EQ(facet_base64_encode(NULL, 3, &out), FACET_E_INVALID_ARG);
    CHECK(out == NULL);
    CHECK_EQ(facet_base64_encode("x", 1, NULL), FACET_E_INVALID_ARG);
}

static void t_parse_numbers(void)
{
    long l = 7;
    CHECK_EQ(facet_parse_long("42", 0, 100, &l), FACET_OK);
    CHECK_EQ(l, 42);
    CHECK_EQ(facet_parse_long("-3", -5, 5, &l), FACET_OK);
    CHECK_EQ(l, -3);
    static const char *const bad_l[] = {"", " 5", "5 ", "5x", "0x10", "1e3", "101", "-1", "99999999999999999999"};
    for (int i = 0; i < 9; i++) {
        l = 7;
        CHECK_MSG(facet_parse_long(bad_l[i], 0, 100, &l) == FACET_E_INVALID_ARG && l == 7, "'%s'", bad_l[i]);
    }
    CHECK(strstr(facet_last_error(), "is not an integer in 0..100") != NULL);
    double d = 7;
    CHECK_EQ(facet_parse_double("0.25", 0, 1, &d), FACET_OK);
    CHECK_NEAR(d, 0.25, 0);
    CHECK_EQ(facet_parse_double("1e-3", 0, 1, &d), FACET_OK);
    CHECK_NEAR(d, 0.001, 1e-12);
    static const char *const bad_d[] = {"", " 0.5", "0.5 ", "0.5x", "nan", "inf", "1e999", "1.5", "-0.1"};
    for (int i = 0; i < 9; i++) {
        d = 7;
        CHECK_MSG(facet_parse_double(bad_d[i], 0, 1, &d) == FACET_E_INVALID_ARG && d == 7, "'%s'", bad_d[i]);
    }
    CHECK_EQ(facet_parse_long(NULL, 0, 1, &l), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_parse_double("1", 0, 1, NULL), FACET_E_INVALID_ARG);
}

TESTS(TEST(t_version), TEST(t_status_strings), TEST(t_error_message_on_handle_and_thread),
      TEST(t_error_message_wraps_its_own_buffer), TEST(t_facet_free), TEST(t_redact),
      TEST(t_read_file_limits), TEST(t_alloc_alignment_and_overflow), TEST(t_cpu), TEST(t_env_numbers_strict), TEST(t_cpu_arm64_hwcap),
      TEST(t_cpu_detected), TEST(t_base64),
      TEST(t_parse_numbers))
