/*
 * decode.c - the decoding entry points: option checks, reading the file, recognising the
 * format by its first bytes (never the file name, which lies as often as not), dispatching
 * to jpeg.c or png.c, and turning the image upright from its EXIF orientation.
 * Formats we recognise but do not decode get FACET_E_UNSUPPORTED with their name, so that a
 * user with a WebP knows to convert it rather than suspect a corrupt file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imagepriv.h"

#define MAX_FILE_BYTES ((size_t)1 << 30)

void facet_decode_defaults(facet_decode_options *opt)
{
    if (!opt) return;
    memset(opt, 0, sizeof *opt);
    opt->max_pixels = 100000000;
    opt->apply_exif = 1;
    opt->channels = 3;
    opt->scale_denom = 1;
}

static const char *other_format(const uint8_t *p, size_t n)
{
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return "GIF";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return "WebP";
    if (n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(p + 4, "ftyp", 4) == 0 &&
        (memcmp(p + 8, "heic", 4) == 0 || memcmp(p + 8, "heix", 4) == 0 ||
         memcmp(p + 8, "mif1", 4) == 0 || memcmp(p + 8, "avif", 4) == 0))
        return "HEIF/AVIF";
    if (n >= 14 && p[0] == 'B' && p[1] == 'M') return "BMP";
    return NULL;
}

static int decode(const uint8_t *p, size_t n, const char *name, const facet_decode_options *opt,
                  facet_image **out)
{
    facet_decode_options def;
    if (!opt) {
        facet_decode_defaults(&def);
        opt = &def;
    }
    if (opt->max_pixels < 1)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "max_pixels must be positive");
    if (opt->channels != 1 && opt->channels != 3)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "channels must be 1 or 3, not %d",
                            opt->channels);
    int d = opt->scale_denom;
    if (d != 1 && d != 2 && d != 4 && d != 8)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "scale_denom must be 1, 2, 4 or 8, not %d",
                            d);
    if (opt->allow_corrupt != 0 && opt->allow_corrupt != 1)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "allow_corrupt must be 0 or 1, not %d",
                            opt->allow_corrupt);

    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int orientation = 1, r;
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
        r = facet_decode_jpeg(p, n, name, opt, out, &orientation);
    } else if (n >= 8 && memcmp(p, png_magic, 8) == 0) {
        r = facet_decode_png(p, n, name, opt, out, &orientation);
    } else {
        const char *other = other_format(p, n);
        if (other)
            return facet_seterr(NULL, FACET_E_UNSUPPORTED,
                                "%s: %s images are not supported (JPEG and PNG are)", name, other);
        return facet_seterr(NULL, FACET_E_FORMAT, "%s: not a JPEG or PNG image (%s)", name,
                            n < 8 ? "too short" : "unknown magic bytes");
    }
    if (r) return r;
    if (opt->apply_exif && orientation != 1) {
        r = facet_image_orient(out, orientation);
        if (r) {
            facet_image_destroy(*out);
            *out = NULL;
        }
    }
    return r;
}

facet_status facet_image_decode_memory(const void *data, size_t size, const facet_decode_options *opt,
                                       facet_image **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!data && size) return facet_seterr(NULL, FACET_E_INVALID_ARG, "data is NULL");
    return decode(data, size, "memory buffer", opt, out);
}

facet_status facet_image_decode_file(const char *path, const facet_decode_options *opt,
                                     facet_image **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!path) return facet_seterr(NULL, FACET_E_INVALID_ARG, "path is NULL");
    uint8_t *buf;
    size_t n;
    int r = facet_read_file(path, MAX_FILE_BYTES, &buf, &n, NULL);
    if (r) return r;
    char name[FACET_ERRMSG_MAX / 2];
    size_t len = strlen(path);
    /* Keep the end of a long path: the file name is the useful part. */
    snprintf(name, sizeof name, "'%s%s'", len > sizeof name - 8 ? "..." : "",
             len > sizeof name - 8 ? path + len - (sizeof name - 8) : path);
    r = decode(buf, n, name, opt, out);
    free(buf);
    return r;
}
