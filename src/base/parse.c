/*
 * parse.c - the strict number parsers that the command line, facetd's settings and query
 * strings and facet watch share. strtol and strtod alone accept "" and " 5" and stop at "5x"
 * or turn "1e999" into HUGE_VAL; here the whole text must be the number, so that a typo is an
 * error and never a zero, a default or a prefix.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "base/base.h"

/* strtol and strtod skip leading blanks; an empty text would be 0 */
static int blank_start(const char *t)
{
    return !*t || *t == ' ' || (*t >= '\t' && *t <= '\r');
}

facet_status facet_parse_long(const char *text, long lo, long hi, long *out)
{
    if (!text || !out)
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "text and out must not be NULL");
    char *end;
    errno = 0;
    long x = blank_start(text) ? 0 : strtol(text, &end, 10);
    if (blank_start(text) || *end || errno || x < lo || x > hi)
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "'%.64s' is not an integer in %ld..%ld", text, lo, hi);
    *out = x;
    return FACET_OK;
}

facet_status facet_parse_double(const char *text, double lo, double hi, double *out)
{
    if (!text || !out)
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "text and out must not be NULL");
    char *end;
    errno = 0;
    double x = blank_start(text) ? 0 : strtod(text, &end);
    if (blank_start(text) || *end || errno || !isfinite(x) || x < lo || x > hi)
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "'%.64s' is not a number in %g..%g", text, lo, hi);
    *out = x;
    return FACET_OK;
}
