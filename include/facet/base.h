/*
 * facet/base.h - version, status codes, logging and CPU information shared by every part of
 * libfacet. Everything here is safe to call from any thread.
 */
#ifndef FACET_BASE_H
#define FACET_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FACET_API __declspec(dllexport)
#elif defined(__GNUC__)
#define FACET_API __attribute__((visibility("default")))
#else
#define FACET_API
#endif

#define FACET_VERSION_MAJOR 0
#define FACET_VERSION_MINOR 1
#define FACET_VERSION_PATCH 0
#define FACET_VERSION_STRING "0.1.0"

/* The library's version, "MAJOR.MINOR.PATCH"; a static string. */
FACET_API const char *facet_version(void);

/* Every call that can fail returns one of these: 0 is success, errors are negative. */
typedef enum facet_status {
    FACET_OK = 0,
    FACET_E_INVALID_ARG = -1,  /* an argument is NULL, out of range or inconsistent */
    FACET_E_NO_MEMORY = -2,    /* an allocation failed; nothing was changed */
    FACET_E_IO = -3,           /* a file could not be opened, read or written */
    FACET_E_FORMAT = -4,       /* input data is corrupt, truncated or not the expected format */
    FACET_E_UNSUPPORTED = -5,  /* valid input that this build cannot handle (operator, codec...) */
    FACET_E_MODEL = -6,        /* a model is missing, has the wrong version or does not match */
    FACET_E_NOT_FOUND = -7,    /* a named object (collection, identity, model) does not exist */
    FACET_E_EXISTS = -8,       /* the object to create exists already */
    FACET_E_LIMIT = -9,        /* a configured limit (pixels, sizes, counts) was exceeded */
    FACET_E_STORE = -10,       /* the database failed or refused the operation */
    FACET_E_INTERNAL = -11,    /* a bug: please report it with the message */
} facet_status;

/* A fixed English text for a status code; never NULL. */
FACET_API const char *facet_status_str(int status);

/*
 * The message of the last failure in the calling thread. Handles keep their own last message
 * too (see each handle's *_errmsg function); this one serves constructors that failed and so
 * returned no handle. Valid until the thread's next failing call.
 */
FACET_API const char *facet_last_error(void);

typedef enum facet_log_level {
    FACET_LOG_ERROR = 0,
    FACET_LOG_WARN = 1,
    FACET_LOG_INFO = 2,
    FACET_LOG_DEBUG = 3,
} facet_log_level;

/*
 * The library never prints by itself. Install a callback to receive its log lines; `msg` is
 * valid only during the call. The callback may be called from any thread, concurrently.
 * Passing NULL removes it. `max_level` filters out less important lines.
 */
typedef void (*facet_log_fn)(void *user, facet_log_level level, const char *msg);
FACET_API void facet_set_log(facet_log_fn fn, void *user, facet_log_level max_level);

/*
 * Releases memory that the library allocated and handed to the caller: detected faces, serialised
 * faceprints, JSON strings, encoded PNGs, collection and identity lists (each header names the
 * pointers this applies to). NULL is a no-op. Use this rather than free(): the library and the
 * program may not share one C runtime heap (Windows DLLs, static runtimes, a test build that
 * counts allocations). Images are released with facet_image_destroy instead.
 */
FACET_API void facet_free(void *p);

/*
 * Copies `text` into `out` (`size` bytes, always NUL-terminated, cut if too long) with every
 * password replaced by "****": a URL's user:PASSWORD@host (up to the last '@' before a blank
 * or a quote) and the value of password=, sslpassword= (libpq keyword strings, quoted or not,
 * and URL query parameters). Every message and log line of the library passes through it;
 * use it to print a store URL. Returns `out`.
 */
FACET_API char *facet_redact(const char *text, char *out, size_t size);

/*
 * Encodes n bytes as standard padded base64 (RFC 4648, section 4) into *out, a NUL-terminated
 * string that the caller releases with facet_free(). FACET_E_NO_MEMORY leaves *out NULL.
 */
FACET_API facet_status facet_base64_encode(const void *data, size_t n, char **out);

/*
 * Strict numbers: the whole of `text` must be a base-10 integer (or a finite decimal number)
 * in lo..hi, with no blank before or after; otherwise FACET_E_INVALID_ARG and a message that
 * quotes the text, and *out is left as it was. "", " 5", "5x", "1e999" and "nan" are errors.
 */
FACET_API facet_status facet_parse_long(const char *text, long lo, long hi, long *out);
FACET_API facet_status facet_parse_double(const char *text, double lo, double hi, double *out);

/* Number of logical cores available to this process. */
FACET_API int facet_cpu_count(void);

/* The CPU's SIMD features that the library detected (less those FACET_CPU_MASK masks off), e.g.
 * "sse4.1 avx avx2 fma f16c avx512f" on x86-64 or "asimd asimdhp asimddp sve" on arm64; empty
 * when none is known. The string belongs to the library and stays valid in the calling thread
 * until its next call. */
FACET_API const char *facet_cpu_features(void);

#ifdef __cplusplus
}
#endif
#endif
