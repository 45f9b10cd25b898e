/*
 * png.c - PNG decoding and encoding with libspng.
 *
 * Decoding reads the header first and applies max_pixels before spng allocates the image;
 * spng then converts every colour type and depth (grey, palette, alpha, 16-bit, interlaced)
 * to 8-bit RGB for us, dropping alpha. Chunk limits keep ancillary chunks (text, ICC) from
 * growing without bound, and CRC errors in any chunk are errors: a corrupt file must not
 * pass as a good one (the decode option allow_corrupt uses chunks whose CRC does not match;
 * zlib and Adler-32 errors in the pixel data stay errors, as there is no picture to return). An eXIf chunk's orientation is honoured like JPEG's. scale_denom is
 * emulated with an area resize so that callers get the same sizes as for JPEG.
 *
 * Encoding writes rows one at a time, so any stride works, into a buffer spng allocates
 * through facet_malloc; the caller frees it with facet_free.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spng.h>

#include "imagepriv.h"

/* libspng (and the zlib under it) allocates through facet's allocator, so that allocation
 * failures in decoding and encoding are injected and counted like ours (tests/test_oom.c).
 * spng reports some of them as zlib or stream errors; the flag lets us call them what they
 * are, out of memory, rather than corrupt data. */
static _Thread_local int png_alloc_failed;

static void *png_malloc(size_t n)
{
    void *p = facet_malloc(n);
    if (!p) png_alloc_failed = 1;
    return p;
}

static void *png_realloc(void *q, size_t n)
{
    void *p = facet_realloc(q, n);
    if (!p) png_alloc_failed = 1;
    return p;
}

static void *png_calloc(size_t n, size_t size)
{
    void *p = facet_calloc(n, size);
    if (!p) png_alloc_failed = 1;
    return p;
}

static struct spng_alloc png_alloc = {png_malloc, png_realloc, png_calloc, free};

/* One decoding pass. Strict: a CRC mismatch in any chunk, or a zlib/Adler-32 error in the pixel
 * data, fails with *spng_err set. Tolerant (the retry for allow_corrupt): critical chunks are
 * used whatever their CRC (libspng then skips the Adler-32 check too, so whatever inflates is
 * returned) and ancillary chunks with a bad CRC are dropped. */
static int png_pass(const uint8_t *data, size_t size, const char *name,
                    const facet_decode_options *opt, int tolerant, facet_image **out,
                    int *orientation, int *spng_err)
{
    facet_image *img = NULL;
    int r, e;
    *spng_err = 0;
    png_alloc_failed = 0;
    spng_ctx *ctx = spng_ctx_new2(&png_alloc, 0);
    if (!ctx) return facet_seterr(NULL, FACET_E_NO_MEMORY, "%s: no memory for a PNG decoder", name);
    if (tolerant) spng_set_crc_action(ctx, SPNG_CRC_USE, SPNG_CRC_DISCARD);
    else spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_ERROR);
    spng_set_chunk_limits(ctx, 16u << 20, 64u << 20);
    spng_set_image_limits(ctx, FACET_IMAGE_MAX_SIDE, FACET_IMAGE_MAX_SIDE);
    struct spng_ihdr ihdr;
    if ((e = spng_set_png_buffer(ctx, data, size)) || (e = spng_get_ihdr(ctx, &ihdr))) goto bad;

    uint64_t pixels = (uint64_t)ihdr.width * ihdr.height;
    if (pixels > (uint64_t)opt->max_pixels) {
        r = facet_seterr(NULL, FACET_E_LIMIT,
                         "%s: PNG of %ux%u = %llu pixels is over the limit of %lld "
                         "(decode option max_pixels)",
                         name, ihdr.width, ihdr.height, (unsigned long long)pixels,
                         (long long)opt->max_pixels);
        goto fail;
    }
    size_t need;
    if ((e = spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &need))) goto bad;
    if ((r = facet_image_new((int)ihdr.width, (int)ihdr.height, 3, &img))) goto fail;
    if (need != (size_t)img->stride * (size_t)img->height) {
        r = facet_seterr(NULL, FACET_E_INTERNAL, "%s: PNG decoder wants %zu bytes", name, need);
        goto fail;
    }
    if ((e = spng_decode_image(ctx, img->data, need, SPNG_FMT_RGB8, 0))) goto bad;

    if (opt->apply_exif) {
        /* The eXIf chunk may follow the image data. A file that ends early after complete
         * pixels only costs us the orientation; a chunk there whose CRC does not match is
         * damage like any other (it could carry a wrong orientation). */
        struct spng_exif exif;
        e = spng_decode_chunks(ctx);
        if (e == SPNG_ECHUNK_CRC || png_alloc_failed) goto bad;
        if (spng_get_exif(ctx, &exif) == 0) *orientation = facet_exif_orientation(
                                                (const uint8_t *)exif.data, exif.length);
    }
    spng_ctx_free(ctx);
    *out = img;
    return FACET_OK;
bad:
    if (e == SPNG_EMEM || png_alloc_failed) {
        r = facet_seterr(NULL, FACET_E_NO_MEMORY, "%s: no memory to decode the PNG", name);
        goto fail;
    }
    *spng_err = e;
    r = facet_seterr(NULL, FACET_E_FORMAT,
                     "%s: corrupt PNG: %s%s", name, spng_strerror(e),
                     e == SPNG_ECHUNK_CRC || e == SPNG_EIDAT_STREAM
                         ? " (decode option allow_corrupt accepts it)" : "");
fail:
    spng_ctx_free(ctx);
    facet_image_destroy(img);
    return r;
}

int facet_decode_png(const uint8_t *data, size_t size, const char *name,
                     const facet_decode_options *opt, facet_image **out, int *orientation)
{
    *out = NULL;
    *orientation = 1;
    facet_image *img = NULL;
    int e;
    int r = png_pass(data, size, name, opt, 0, &img, orientation, &e);
    if (r && opt->allow_corrupt && (e == SPNG_ECHUNK_CRC || e == SPNG_EIDAT_STREAM)) {
        /* decode anyway, and say what was wrong (the tolerant pass cannot see it any more) */
        int cause = e;
        *orientation = 1;
        r = png_pass(data, size, name, opt, 1, &img, orientation, &e);
        if (!r) facet_log(FACET_LOG_WARN, "%s: decoded despite corrupt PNG data: %s", name,
                          spng_strerror(cause));
    }
    if (r) return r;

    if (opt->scale_denom > 1) {
        int d = opt->scale_denom;
        facet_image *small;
        r = facet_image_resize(img, (img->width + d - 1) / d, (img->height + d - 1) / d, &small);
        if (r) goto fail;
        facet_image_destroy(img);
        img = small;
    }
    if (opt->channels == 1) {
        facet_image *g;
        if ((r = facet_image_to_grey(img, &g))) goto fail;
        facet_image_destroy(img);
        img = g;
    }
    *out = img;
    return FACET_OK;
fail:
    facet_image_destroy(img);
    return r;
}

static int encode(const facet_image *img, spng_ctx *ctx)
{
    struct spng_ihdr ihdr;
    memset(&ihdr, 0, sizeof ihdr);
    ihdr.width = (uint32_t)img->width;
    ihdr.height = (uint32_t)img->height;
    ihdr.bit_depth = 8;
    ihdr.color_type = img->channels == 3 ? SPNG_COLOR_TYPE_TRUECOLOR : SPNG_COLOR_TYPE_GRAYSCALE;
    int e;
    if ((e = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1)) || (e = spng_set_ihdr(ctx, &ihdr)) ||
        (e = spng_encode_image(ctx, NULL, 0, SPNG_FMT_PNG,
                               SPNG_ENCODE_PROGRESSIVE | SPNG_ENCODE_FINALIZE)))
        return e;
    size_t row = (size_t)img->width * (size_t)img->channels;
    for (int y = 0; y < img->height; y++) {
        e = spng_encode_row(ctx, img->data + (size_t)y * (size_t)img->stride, row);
        if (e == SPNG_EOI && y == img->height - 1) return 0;
        if (e) return e;
    }
    return SPNG_EINTERNAL;
}

facet_status facet_image_encode_png(const facet_image *img, uint8_t **data, size_t *size)
{
    if (!data || !size) return facet_seterr(NULL, FACET_E_INVALID_ARG, "data or size is NULL");
    *data = NULL;
    *size = 0;
    int r = facet_image_check(img, "img");
    if (r) return r;
    png_alloc_failed = 0;
    spng_ctx *ctx = spng_ctx_new2(&png_alloc, SPNG_CTX_ENCODER);
    if (!ctx) return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory for a PNG encoder");
    int e = encode(img, ctx);
    if (!e) {
        void *buf = spng_get_png_buffer(ctx, size, &e);
        if (!e && !buf) e = SPNG_EMEM;
        *data = buf;
    }
    spng_ctx_free(ctx);
    if (e) {
        *size = 0;
        if (e == SPNG_EMEM || png_alloc_failed)
            return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory to encode a PNG");
        return facet_seterr(NULL, FACET_E_INTERNAL, "PNG encoding failed: %s", spng_strerror(e));
    }
    return FACET_OK;
}

facet_status facet_image_write_png(const facet_image *img, const char *path)
{
    if (!path) return facet_seterr(NULL, FACET_E_INVALID_ARG, "path is NULL");
    uint8_t *buf;
    size_t n;
    int r = facet_image_encode_png(img, &buf, &n);
    if (r) return r;
    FILE *f = fopen(path, "wb");
    if (!f) {
        r = facet_seterr(NULL, FACET_E_IO, "cannot create '%s': %s", path, strerror(errno));
        free(buf);
        return r;
    }
    size_t wrote = fwrite(buf, 1, n, f);
    int closed = fclose(f);
    free(buf);
    if (wrote != n || closed != 0)
        return facet_seterr(NULL, FACET_E_IO, "cannot write '%s'", path);
    return FACET_OK;
}
