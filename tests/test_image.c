/*
 * test_image.c - the image module against real photos from ../shared/data/images and
 * against images built here with libjpeg and libspng: every test file decodes to its known
 * size; EXIF orientations 2..8 come out upright; truncated, garbage and oversized inputs give
 * the right error; raw camera formats, resize, warp, crop, tensor layout and drawing are
 * checked against values worked out by hand.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jpeglib.h>
#include <spng.h>

#include "facet/image.h"
#include "harness.h"
#include "image/imagepriv.h"
#include "test_jpeg.h"

/* t_arguments asks for an impossible image and expects FACET_E_NO_MEMORY; under ASan that
 * needs the allocator to return NULL instead of aborting. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

static const struct {
    const char *name;
    int w, h;
} known[] = {
    {"astronaut.png", 512, 512},       {"bald_guys.jpg", 1986, 1545},
    {"biden.jpg", 970, 2204},          {"india_group.jpg", 800, 533},
    {"obama.jpg", 910, 1137},          {"obama_and_biden.jpg", 2000, 1428},
    {"obama_partial_face.jpg", 491, 1137}, {"two_people.jpg", 1126, 661},
};

static const char *image_path(const char *name)
{
    static char dir[1024], buf[1200];
    snprintf(dir, sizeof dir, "%s/images", test_data_dir());
    return test_path(buf, sizeof buf, dir, name);
}

static uint8_t *load(const char *name, size_t *n)
{
    uint8_t *d = NULL;
    if (facet_read_file(image_path(name), 1 << 30, &d, n, NULL) != 0) return NULL;
    return d;
}


/* Mean absolute difference of two images of equal shape; 1e9 if the shapes differ. */
static double mad(const facet_image *a, const facet_image *b)
{
    if (!a || !b || a->width != b->width || a->height != b->height || a->channels != b->channels)
        return 1e9;
    double s = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width * a->channels; x++)
            s += abs((int)a->data[(size_t)y * a->stride + x] - (int)b->data[(size_t)y * b->stride + x]);
    return s / ((double)a->width * a->height * a->channels);
}

static int max_diff(const facet_image *a, const facet_image *b)
{
    if (!a || !b || a->width != b->width || a->height != b->height || a->channels != b->channels)
        return 1 << 20;
    int m = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width * a->channels; x++) {
            int d = abs((int)a->data[(size_t)y * a->stride + x] - (int)b->data[(size_t)y * b->stride + x]);
            if (d > m) m = d;
        }
    return m;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* --- PNG writer for building test inputs (JPEG writers: test_jpeg.h) ---------------------- */

/* Encodes raw PNG samples (already in the PNG's layout) with spng. */
static uint8_t *png_encode_raw(const void *samples, size_t len, int w, int h, int colour_type,
                               int depth, const struct spng_plte *plte, int interlace,
                               size_t *size)
{
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    struct spng_ihdr ihdr = {(uint32_t)w, (uint32_t)h, (uint8_t)depth, (uint8_t)colour_type, 0, 0,
                             (uint8_t)interlace};
    int e;
    void *out = NULL;
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    spng_set_ihdr(ctx, &ihdr);
    if (plte) spng_set_plte(ctx, (struct spng_plte *)plte);
    e = spng_encode_image(ctx, samples, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    if (!e) out = spng_get_png_buffer(ctx, size, &e);
    spng_ctx_free(ctx);
    return e ? NULL : out;
}

/* --- decoding real files -------------------------------------------------------------------- */

static void t_decode_every_test_image(void)
{
    if (!test_file_exists(image_path("obama.jpg"))) SKIP("test data not found");
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        facet_image *im = NULL;
        int r = facet_image_decode_file(image_path(known[i].name), NULL, &im);
        CHECK_MSG(r == 0, "%s: %s", known[i].name, facet_last_error());
        if (r) continue;
        CHECK_EQ(im->width, known[i].w);
        CHECK_EQ(im->height, known[i].h);
        CHECK_EQ(im->channels, 3);
        CHECK_EQ(im->stride, im->width * 3);
        /* A real photo: not flat, not black. */
        double mean = 0;
        int lo = 255, hi = 0;
        for (size_t k = 0; k < (size_t)im->stride * im->height; k++) {
            mean += im->data[k];
            if (im->data[k] < lo) lo = im->data[k];
            if (im->data[k] > hi) hi = im->data[k];
        }
        mean /= (double)im->stride * im->height;
        CHECK_MSG(mean > 20 && mean < 235, "%s mean %f", known[i].name, mean);
        CHECK(hi - lo > 100);

        /* Grey output: one channel, close to our own luma of the RGB decode. */
        facet_decode_options o;
        facet_decode_defaults(&o);
        o.channels = 1;
        facet_image *g = NULL, *g2 = NULL;
        CHECK_EQ(facet_image_decode_file(image_path(known[i].name), &o, &g), 0);
        CHECK_EQ(facet_image_to_grey(im, &g2), 0);
        CHECK(g && g->channels == 1);
        CHECK_MSG(mad(g, g2) < 2.0, "%s grey mad %f", known[i].name, mad(g, g2));
        facet_image_destroy(g);
        facet_image_destroy(g2);
        facet_image_destroy(im);
    }
}

static void t_decode_memory_equals_file(void)
{
    size_t n;
    uint8_t *d = load("two_people.jpg", &n);
    if (!d) SKIP("test data not found");
    facet_image *a = NULL, *b = NULL;
    CHECK_EQ(facet_image_decode_memory(d, n, NULL, &a), 0);
    CHECK_EQ(facet_image_decode_file(image_path("two_people.jpg"), NULL, &b), 0);
    CHECK_EQ(max_diff(a, b), 0);
    facet_image_destroy(a);
    facet_image_destroy(b);
    free(d);
}

static uint32_t crc32_png(const uint8_t *p, size_t n);

/* --- damaged but decodable data ----------------------------------------------------------- */

static char warn_log[1024];
static int warn_lines;

static void catch_warning(void *user, facet_log_level level, const char *msg)
{
    (void)user;
    if (level != FACET_LOG_WARN) return;
    warn_lines++;
    snprintf(warn_log, sizeof warn_log, "%s", msg);
}

/* Flips `count` random bits (fixed seed) in d[from, to). */
static void flip_bits(uint8_t *d, size_t from, size_t to, int count, uint32_t seed)
{
    for (int i = 0; i < count; i++) {
        seed = seed * 1664525u + 1013904223u;
        size_t at = from + (seed >> 8) % (to - from);
        seed = seed * 1664525u + 1013904223u;
        d[at] ^= (uint8_t)(1u << (seed >> 29));
    }
}

/* 200 flipped bytes in the entropy-coded data of a real photo: libjpeg patches the damage and
 * would return a plausible picture; facet says so, exactly, unless allow_corrupt is set, and
 * then it decodes with one warning in the log. */
static void t_corrupt_jpeg_data(void)
{
    size_t n;
    uint8_t *d = load("obama.jpg", &n);
    if (!d) SKIP("test data not found");
    size_t sos = 0;
    for (size_t i = 2; i + 4 < n && !sos; i++)
        if (d[i] == 0xff && d[i + 1] == 0xda) sos = i + 2 + ((size_t)d[i + 2] << 8 | d[i + 3]);
    CHECK(sos > 0);
    facet_image *good = NULL, *im = NULL;
    CHECK_EQ(facet_image_decode_memory(d, n, NULL, &good), FACET_OK);
    flip_bits(d, sos, n - 2, 200, 8);
    CHECK_EQ(facet_image_decode_memory(d, n, NULL, &im), FACET_E_FORMAT);
    CHECK(im == NULL);
    const char *want = "memory buffer: corrupt JPEG data: premature end of data segment (decode "
                       "option allow_corrupt accepts it)";
    CHECK_MSG(strcmp(facet_last_error(), want) == 0, "got '%s'", facet_last_error());

    facet_decode_options o;
    facet_decode_defaults(&o);
    CHECK_EQ(o.allow_corrupt, 0);
    o.allow_corrupt = 1;
    warn_lines = 0;
    facet_set_log(catch_warning, NULL, FACET_LOG_WARN);
    CHECK_EQ(facet_image_decode_memory(d, n, &o, &im), FACET_OK);
    facet_set_log(NULL, NULL, FACET_LOG_WARN);
    CHECK_EQ(warn_lines, 1);
    CHECK_MSG(strncmp(warn_log, "memory buffer: decoded despite corrupt JPEG data (", 50) == 0 &&
                  strstr(warn_log, " warnings, the first: premature end of data segment)"),
              "got '%s'", warn_log);
    if (im && good) {
        CHECK(im->width == good->width && im->height == good->height);
        CHECK_MSG(mad(im, good) > 1.0, "damage not visible: mad %f", mad(im, good));
    }
    o.allow_corrupt = 2;
    CHECK_EQ(facet_image_decode_memory(d, n, &o, &(facet_image *){NULL}), FACET_E_INVALID_ARG);
    facet_image_destroy(im);
    facet_image_destroy(good);
    free(d);
}

/* The real PNG with (1) a wrong CRC on its first IDAT chunk: an error by default, the same
 * pixels and one warning with allow_corrupt; (2) flipped bits inside the compressed pixels with
 * the CRC made to match: the Adler-32 check fails it by default; allow_corrupt returns what
 * inflates, with a warning. */
static void t_corrupt_png_data(void)
{
    size_t n;
    uint8_t *d = load("astronaut.png", &n);
    if (!d) SKIP("test data not found");
    size_t idat = 0, len = 0;
    for (size_t at = 8; at + 12 <= n; at += 12 + len) {
        len = (size_t)d[at] << 24 | (size_t)d[at + 1] << 16 | (size_t)d[at + 2] << 8 | d[at + 3];
        if (memcmp(d + at + 4, "IDAT", 4) == 0) {
            idat = at;
            break;
        }
    }
    CHECK(idat > 0 && len > 1000);
    if (!idat || len <= 1000) {
        free(d);
        return;
    }
    facet_image *good = NULL, *im = NULL;
    CHECK_EQ(facet_image_decode_memory(d, n, NULL, &good), FACET_OK);
    facet_decode_options o;
    facet_decode_defaults(&o);
    o.allow_corrupt = 1;

    d[idat + 8 + len] ^= 0x40; /* the chunk's CRC */
    CHECK_EQ(facet_image_decode_memory(d, n, NULL, &im), FACET_E_FORMAT);
    CHECK_MSG(strcmp(facet_last_error(), "memory buffer: corrupt PNG: invalid chunk checksum "
                                         "(decode option allow_corrupt accepts it)") == 0,
              "got '%s'", facet_last_error());
    warn_lines = 0;
    facet_set_log(catch_warning, NULL, FACET_LOG_WARN);
    CHECK_EQ(facet_image_decode_memory(d, n, &o, &im), FACET_OK);
    CHECK(warn_lines == 1 && strcmp(warn_log, "memory buffer: decoded despite corrupt PNG data: "
                                              "invalid chunk checksum") == 0);
    if (im && good) CHECK_EQ(max_diff(im, good), 0);
    facet_image_destroy(im);
    im = NULL;

    /* damage inside the compressed pixels, the chunk's CRC recomputed to match */
    flip_bits(d, idat + 8 + len / 2, idat + 8 + len / 2 + 64, 20, 3);
    uint32_t c = crc32_png(d + idat + 4, len + 4);
    uint8_t *crc = d + idat + 8 + len;
    crc[0] = (uint8_t)(c >> 24), crc[1] = (uint8_t)(c >> 16), crc[2] = (uint8_t)(c >> 8);
    crc[3] = (uint8_t)c;
    CHECK_EQ(facet_image_decode_memory(d, n, NULL, &im), FACET_E_FORMAT);
    CHECK_MSG(strcmp(facet_last_error(), "memory buffer: corrupt PNG: IDAT stream error "
                                         "(decode option allow_corrupt accepts it)") == 0,
              "got '%s'", facet_last_error());
    warn_lines = 0;
    CHECK_EQ(facet_image_decode_memory(d, n, &o, &im), FACET_OK);
    facet_set_log(NULL, NULL, FACET_LOG_WARN);
    CHECK(warn_lines == 1 && strcmp(warn_log, "memory buffer: decoded despite corrupt PNG data: "
                                              "IDAT stream error") == 0);
    if (im && good) CHECK_MSG(mad(im, good) > 0.01, "damage not visible: mad %f", mad(im, good));
    facet_image_destroy(im);
    facet_image_destroy(good);
    free(d);
}

static void t_png_astronaut(void)
{
    size_t n;
    uint8_t *d = load("astronaut.png", &n);
    if (!d) SKIP("test data not found");
    facet_image *im = NULL, *back = NULL;
    CHECK_EQ(facet_image_decode_memory(d, n, NULL, &im), 0);
    CHECK(im && im->width == 512 && im->height == 512 && im->channels == 3);
    /* Lossless: encode and decode again gives the same pixels. */
    uint8_t *png = NULL;
    size_t len = 0;
    CHECK_EQ(facet_image_encode_png(im, &png, &len), 0);
    CHECK(len > 1000);
    CHECK_EQ(facet_image_decode_memory(png, len, NULL, &back), 0);
    CHECK_EQ(max_diff(im, back), 0);
    facet_free(png);
    facet_image_destroy(back);

    /* Grey encode, through a file. */
    char path[256];
    snprintf(path, sizeof path, "/tmp/facet_test_image_%d.png", (int)getpid());
    facet_image *g = NULL;
    CHECK_EQ(facet_image_to_grey(im, &g), 0);
    CHECK_EQ(facet_image_write_png(g, path), 0);
    facet_decode_options o;
    facet_decode_defaults(&o);
    o.channels = 1;
    CHECK_EQ(facet_image_decode_file(path, &o, &back), 0);
    CHECK_EQ(max_diff(g, back), 0);
    unlink(path);
    CHECK_EQ(facet_image_write_png(g, "/nonexistent-dir/x.png"), FACET_E_IO);
    facet_image_destroy(back);
    facet_image_destroy(g);
    facet_image_destroy(im);
    free(d);
}

/* Grey, grey+alpha, palette, RGBA, 16-bit and interlaced PNGs all come out as 8-bit RGB. */
static void t_png_colour_types(void)
{
    enum { W = 7, H = 5 };
    uint8_t g8[W * H], ga8[W * H * 2], pal[W * H], rgba[W * H * 4];
    uint16_t g16[W * H], rgb16[W * H * 3]; /* host-endian, as spng takes SPNG_FMT_PNG */
    struct spng_plte plte;
    memset(&plte, 0, sizeof plte);
    plte.n_entries = 4;
    for (int i = 0; i < 4; i++) {
        plte.entries[i].red = (uint8_t)(60 * i);
        plte.entries[i].green = (uint8_t)(255 - 60 * i);
        plte.entries[i].blue = (uint8_t)(17 * i);
    }
    for (int i = 0; i < W * H; i++) {
        g8[i] = (uint8_t)(i * 7);
        ga8[2 * i] = (uint8_t)(i * 5);
        ga8[2 * i + 1] = (uint8_t)(i & 1 ? 0 : 255);
        pal[i] = (uint8_t)(i % 4);
        for (int c = 0; c < 3; c++) rgba[4 * i + c] = (uint8_t)(i * 3 + c * 50);
        rgba[4 * i + 3] = 128;
        /* 16 to 8 bits keeps the high byte (within one). */
        g16[i] = (uint16_t)((i * 6) << 8 | 0x7f);
        for (int c = 0; c < 3; c++) rgb16[3 * i + c] = (uint16_t)((i * 4 + c) << 8 | 0x10);
    }
    struct {
        const void *d;
        size_t len;
        int type, depth, interlace;
    } cases[] = {
        {g8, sizeof g8, SPNG_COLOR_TYPE_GRAYSCALE, 8, 0},
        {g8, sizeof g8, SPNG_COLOR_TYPE_GRAYSCALE, 8, 1},
        {ga8, sizeof ga8, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, 8, 0},
        {pal, sizeof pal, SPNG_COLOR_TYPE_INDEXED, 8, 0},
        {rgba, sizeof rgba, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 8, 0},
        {g16, sizeof g16, SPNG_COLOR_TYPE_GRAYSCALE, 16, 0},
        {rgb16, sizeof rgb16, SPNG_COLOR_TYPE_TRUECOLOR, 16, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t n = 0;
        uint8_t *png = png_encode_raw(cases[k].d, cases[k].len, W, H, cases[k].type,
                                      cases[k].depth, &plte, cases[k].interlace, &n);
        CHECK_MSG(png != NULL, "case %zu not encoded", k);
        if (!png) continue;
        facet_image *im = NULL;
        int r = facet_image_decode_memory(png, n, NULL, &im);
        CHECK_MSG(r == 0, "case %zu: %s", k, facet_last_error());
        if (im) {
            CHECK(im->width == W && im->height == H && im->channels == 3);
            int bad = 0;
            for (int i = 0; i < W * H; i++) {
                int x = i % W, y = i / W, e[3];
                switch (k) {
                case 0:
                case 1: e[0] = e[1] = e[2] = g8[i]; break;
                case 2: e[0] = e[1] = e[2] = ga8[2 * i]; break;
                case 3:
                    e[0] = plte.entries[pal[i]].red;
                    e[1] = plte.entries[pal[i]].green;
                    e[2] = plte.entries[pal[i]].blue;
                    break;
                case 4:
                    for (int c = 0; c < 3; c++) e[c] = rgba[4 * i + c];
                    break;
                case 5: e[0] = e[1] = e[2] = i * 6; break;
                default:
                    for (int c = 0; c < 3; c++) e[c] = i * 4 + c;
                    break;
                }
                for (int c = 0; c < 3; c++) bad += abs(tj_px(im, x, y, c) - e[c]) > 1;
            }
            CHECK_MSG(bad == 0, "case %zu: %d samples wrong", k, bad);
        }
        facet_image_destroy(im);
        free(png);
    }
}

static void t_scaled_decode(void)
{
    if (!test_file_exists(image_path("obama_and_biden.jpg"))) SKIP("test data not found");
    facet_image *full = NULL;
    CHECK_EQ(facet_image_decode_file(image_path("obama_and_biden.jpg"), NULL, &full), 0);
    static const int denom[] = {2, 4, 8};
    for (int i = 0; i < 3; i++) {
        facet_decode_options o;
        facet_decode_defaults(&o);
        o.scale_denom = denom[i];
        facet_image *s = NULL, *ref = NULL;
        CHECK_EQ(facet_image_decode_file(image_path("obama_and_biden.jpg"), &o, &s), 0);
        if (!s) continue;
        CHECK_EQ(s->width, (2000 + denom[i] - 1) / denom[i]);
        CHECK_EQ(s->height, (1428 + denom[i] - 1) / denom[i]);
        /* libjpeg's DCT scaling and our area resize agree on what the picture is. */
        CHECK_EQ(facet_image_resize(full, s->width, s->height, &ref), 0);
        CHECK_MSG(mad(s, ref) < 4.0, "1/%d mad %f", denom[i], mad(s, ref));
        facet_image_destroy(s);
        facet_image_destroy(ref);
    }
    facet_decode_options o;
    facet_decode_defaults(&o);
    o.scale_denom = 4;
    facet_image *p = NULL;
    CHECK_EQ(facet_image_decode_file(image_path("astronaut.png"), &o, &p), 0);
    CHECK(p && p->width == 128 && p->height == 128);
    facet_image_destroy(p);
    o.scale_denom = 3;
    CHECK_EQ(facet_image_decode_file(image_path("astronaut.png"), &o, &p), FACET_E_INVALID_ARG);
    facet_image_destroy(full);
}

/* --- EXIF ------------------------------------------------------------------------------------ */

static void t_exif_orientation_real_photo(void)
{
    if (!test_file_exists(image_path("india_group.jpg"))) SKIP("test data not found");
    facet_image *full = NULL, *u = NULL;
    CHECK_EQ(facet_image_decode_file(image_path("india_group.jpg"), NULL, &full), 0);
    if (!full) return;
    CHECK_EQ(facet_image_resize(full, 321, 214, &u), 0); /* odd, non-square */
    facet_image_destroy(full);
    if (!u) return;
    /* What JPEG does to the upright picture itself, for the tolerance. */
    size_t n0;
    uint8_t *j0 = jpeg_encode_image(u, 95, NULL, 0, &n0);
    facet_image *u_jpeg = NULL;
    CHECK_EQ(facet_image_decode_memory(j0, n0, NULL, &u_jpeg), 0);
    double base = mad(u, u_jpeg);
    CHECK_MSG(base < 3.0, "jpeg q95 mad %f", base);
    free(j0);
    facet_image_destroy(u_jpeg);

    for (int o = 1; o <= 8; o++) {
        facet_image *s = stored_for(u, o);
        uint8_t exif[64];
        unsigned elen = exif_block(exif, o, o & 1);
        size_t n;
        uint8_t *j = jpeg_encode_image(s, 95, exif, elen, &n);
        CHECK(j != NULL);
        facet_image *d = NULL, *raw = NULL;
        CHECK_EQ(facet_image_decode_memory(j, n, NULL, &d), 0);
        CHECK_MSG(mad(d, u) < base + 1.0, "orientation %d: mad %f", o, mad(d, u));
        /* Ignoring EXIF gives the stored pixels. */
        facet_decode_options opt;
        facet_decode_defaults(&opt);
        opt.apply_exif = 0;
        CHECK_EQ(facet_image_decode_memory(j, n, &opt, &raw), 0);
        CHECK_MSG(mad(raw, s) < base + 1.0, "orientation %d raw: mad %f", o, mad(raw, s));
        if (o != 1) CHECK(mad(raw, u) > 10.0); /* the test would notice a no-op */
        /* Grey + scaled + rotated together. */
        opt.apply_exif = 1;
        opt.channels = 1;
        opt.scale_denom = 2;
        facet_image *g = NULL;
        CHECK_EQ(facet_image_decode_memory(j, n, &opt, &g), 0);
        if (g) {
            CHECK_EQ(g->channels, 1);
            CHECK_EQ(g->width, (u->width + 1) / 2);
            CHECK_EQ(g->height, (u->height + 1) / 2);
        }
        facet_image_destroy(g);
        facet_image_destroy(raw);
        facet_image_destroy(d);
        facet_image_destroy(s);
        free(j);
    }
    facet_image_destroy(u);
}

static void t_exif_parser_bounds(void)
{
    uint8_t b[64];
    unsigned n = exif_block(b, 6, 0);
    const uint8_t *t = b + 6;
    size_t tl = n - 6;
    CHECK_EQ(facet_exif_orientation(t, tl), 6);
    exif_block(b, 8, 1);
    CHECK_EQ(facet_exif_orientation(t, tl), 8);
    for (size_t cut = 0; cut < 22; cut++) CHECK_EQ(facet_exif_orientation(t, cut), 1);
    exif_block(b, 9, 0); /* out of range */
    CHECK_EQ(facet_exif_orientation(t, tl), 1);
    exif_block(b, 6, 0);
    b[6 + 4] = 0xf0; /* IFD offset beyond the end */
    CHECK_EQ(facet_exif_orientation(t, tl), 1);
    exif_block(b, 6, 0);
    b[6 + 8] = 0xff; /* 255 entries claimed, one present */
    b[6 + 9] = 0xff;
    b[6 + 10] = 0x13; /* and the first is not the orientation */
    CHECK_EQ(facet_exif_orientation(t, tl), 1);
    exif_block(b, 6, 0);
    b[6 + 12] = 4; /* LONG instead of SHORT */
    CHECK_EQ(facet_exif_orientation(t, tl), 1);
    CHECK_EQ(facet_exif_orientation(NULL, 100), 1);
    b[6] = 'X';
    CHECK_EQ(facet_exif_orientation(t, tl), 1);
    /* A JPEG with a broken EXIF block still decodes, unrotated. */
    uint8_t pixels[16 * 8 * 3];
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)(i * 3);
    exif_block(b, 6, 0);
    b[6 + 4] = 0xf0;
    size_t jn;
    uint8_t *j = jpeg_encode(pixels, 16, 8, 3, 90, b, n, &jn);
    facet_image *im = NULL;
    CHECK_EQ(facet_image_decode_memory(j, jn, NULL, &im), 0);
    CHECK(im && im->width == 16 && im->height == 8);
    facet_image_destroy(im);
    free(j);
}

/* --- bad input ------------------------------------------------------------------------------- */

static void check_truncations(const char *name, int min_ok_cut)
{
    size_t n;
    uint8_t *d = load(name, &n);
    if (!d) return;
    size_t cuts[] = {0, 1, 2, 3, 7, 8, 20, 100, 400, n / 10, n / 4, n / 2, 3 * n / 4, n - 1000,
                     n - 100, n - 20};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        facet_image *im = NULL;
        int r = facet_image_decode_memory(d, cuts[i], NULL, &im);
        CHECK_MSG(r == FACET_E_FORMAT, "%s cut at %zu of %zu: %d (%s)", name, cuts[i], n, r,
                  facet_last_error());
        CHECK(im == NULL);
        if (cuts[i] > 100 && r == FACET_E_FORMAT)
            CHECK_MSG(strstr(facet_last_error(), "memory buffer") != NULL, "%s",
                      facet_last_error());
        facet_image_destroy(im);
    }
    (void)min_ok_cut;
    free(d);
}

static void t_truncated_files(void)
{
    if (!test_file_exists(image_path("obama.jpg"))) SKIP("test data not found");
    check_truncations("india_group.jpg", 0);     /* baseline */
    check_truncations("obama_and_biden.jpg", 0); /* progressive */
    check_truncations("astronaut.png", 0);
    /* And through a file, the message names it. */
    size_t n;
    uint8_t *d = load("india_group.jpg", &n);
    char path[256];
    snprintf(path, sizeof path, "/tmp/facet_test_trunc_%d.jpg", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (f && d) {
        fwrite(d, 1, n / 2, f);
        fclose(f);
        facet_image *im = NULL;
        CHECK_EQ(facet_image_decode_file(path, NULL, &im), FACET_E_FORMAT);
        CHECK_MSG(strstr(facet_last_error(), path) && strstr(facet_last_error(), "truncated"),
                  "%s", facet_last_error());
        unlink(path);
    }
    free(d);
}

static void t_garbage_and_wrong_magic(void)
{
    uint8_t buf[4096];
    facet_image *im = NULL;
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + rnd() % sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
        int kind = round % 3; /* plain garbage, JPEG magic + garbage, PNG magic + garbage */
        if (kind == 1 && n > 3) memcpy(buf, "\xff\xd8\xff", 3);
        if (kind == 2 && n > 8) memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
        int r = facet_image_decode_memory(buf, n, NULL, &im);
        CHECK_MSG(r == FACET_E_FORMAT || (kind == 0 && r == FACET_E_UNSUPPORTED),
                  "round %d: %d %s", round, r, facet_last_error());
        CHECK(im == NULL);
        facet_image_destroy(im);
    }
    CHECK_EQ(facet_image_decode_memory("", 0, NULL, &im), FACET_E_FORMAT);
    CHECK_EQ(facet_image_decode_memory("hello, world, not an image", 26, NULL, &im),
             FACET_E_FORMAT);
    CHECK(strstr(facet_last_error(), "not a JPEG or PNG") != NULL);
    CHECK_EQ(facet_image_decode_memory("GIF89a\1\0\1\0\0\0\0", 13, NULL, &im),
             FACET_E_UNSUPPORTED);
    CHECK(strstr(facet_last_error(), "GIF") != NULL);
    CHECK_EQ(facet_image_decode_memory("RIFF\0\0\0\0WEBPVP8 ", 16, NULL, &im),
             FACET_E_UNSUPPORTED);
    /* A PNG file named .jpg (and the other way) decodes: the name does not matter. */
    CHECK_EQ(facet_image_decode_file("/nonexistent/file.jpg", NULL, &im), FACET_E_IO);
    CHECK_EQ(facet_image_decode_file("/tmp", NULL, &im), FACET_E_IO);

    /* Flipped bytes in a real JPEG and PNG: any answer but a crash; errors are FORMAT. */
    const char *names[] = {"india_group.jpg", "astronaut.png", "obama_and_biden.jpg"};
    for (int k = 0; k < 3; k++) {
        size_t n;
        uint8_t *d = load(names[k], &n);
        if (!d) continue;
        for (int round = 0; round < 12; round++) {
            uint8_t *c = malloc(n);
            memcpy(c, d, n);
            for (int f = 0; f < 1 + round; f++) c[rnd() % n] ^= (uint8_t)(1 + rnd() % 255);
            int r = facet_image_decode_memory(c, n, NULL, &im);
            CHECK_MSG(r == 0 || r == FACET_E_FORMAT, "%s round %d: %d %s", names[k], round, r,
                      facet_last_error());
            facet_image_destroy(im);
            im = NULL;
            free(c);
        }
        free(d);
    }
}

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void t_decompression_bomb_limits(void)
{
    /* PNG whose IHDR claims 100000 x 100000 (10 gigapixels), followed by a tiny IDAT. */
    uint8_t png[64] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    put32(png + 16, 100000);
    put32(png + 20, 100000);
    png[24] = 8;
    png[25] = 2;
    put32(png + 29, crc32_png(png + 12, 17));
    static const uint8_t idat[] = {0, 0, 0, 2, 'I', 'D', 'A', 'T', 0x78, 0x9c};
    memcpy(png + 33, idat, sizeof idat);
    put32(png + 43, crc32_png(png + 37, 6));
    facet_image *im = NULL;
    CHECK_EQ(facet_image_decode_memory(png, 47, NULL, &im), FACET_E_LIMIT);
    CHECK(im == NULL);
    CHECK_MSG(strstr(facet_last_error(), "100000x100000") && strstr(facet_last_error(), "max_pixels"),
              "%s", facet_last_error());

    /* JPEG: a real small file whose SOF is patched to 60000 x 60000 (JPEG's own maximum is
     * 65500, so 100000 cannot be written). */
    uint8_t pixels[16 * 16 * 3] = {0};
    size_t n;
    uint8_t *j = jpeg_encode(pixels, 16, 16, 3, 90, NULL, 0, &n);
    int patched = 0;
    for (size_t i = 2; j && i + 9 < n; i++)
        if (j[i] == 0xff && j[i + 1] == 0xc0) {
            j[i + 5] = 60000 >> 8;
            j[i + 6] = 60000 & 255;
            j[i + 7] = 60000 >> 8;
            j[i + 8] = 60000 & 255;
            patched = 1;
            break;
        }
    CHECK(patched);
    CHECK_EQ(facet_image_decode_memory(j, n, NULL, &im), FACET_E_LIMIT);
    CHECK(strstr(facet_last_error(), "60000x60000") != NULL);
    free(j);

    /* A configured limit below a real file's size. */
    facet_decode_options o;
    facet_decode_defaults(&o);
    o.max_pixels = 512 * 512 - 1;
    CHECK_EQ(facet_image_decode_file(image_path("astronaut.png"), &o, &im), FACET_E_LIMIT);
    o.max_pixels = 512 * 512;
    if (test_file_exists(image_path("astronaut.png"))) {
        CHECK_EQ(facet_image_decode_file(image_path("astronaut.png"), &o, &im), 0);
        facet_image_destroy(im);
    }
    o.max_pixels = 0;
    CHECK_EQ(facet_image_decode_file(image_path("astronaut.png"), &o, &im), FACET_E_INVALID_ARG);
}

static void t_cmyk_and_grey_jpeg(void)
{
    enum { W = 24, H = 16 };
    uint8_t cmyk[W * H * 4], grey[W * H];
    /* Left half cyan, right half yellow. With the Adobe marker (what Photoshop writes, and
     * libjpeg by default) the samples are stored inverted; without it, as they are. */
    for (int adobe = 1; adobe >= 0; adobe--) {
        for (int i = 0; i < W * H; i++) {
            int left = (i % W) < W / 2;
            uint8_t v[4] = {(uint8_t)(left ? 255 : 0), 0, (uint8_t)(left ? 0 : 255), 0};
            for (int k = 0; k < 4; k++) cmyk[4 * i + k] = adobe ? (uint8_t)(255 - v[k]) : v[k];
            grey[i] = (uint8_t)(i % W * 10);
        }
        test_no_adobe = !adobe;
        size_t n;
        uint8_t *j = jpeg_encode(cmyk, W, H, 4, 100, NULL, 0, &n);
        test_no_adobe = 0;
        facet_image *im = NULL;
        CHECK_EQ(facet_image_decode_memory(j, n, NULL, &im), 0);
        if (im) {
            CHECK_NEAR(tj_px(im, 2, 8, 0), 0, 8);
            CHECK_NEAR(tj_px(im, 2, 8, 1), 255, 8);
            CHECK_NEAR(tj_px(im, 2, 8, 2), 255, 8);
            CHECK_NEAR(tj_px(im, W - 3, 8, 0), 255, 8);
            CHECK_NEAR(tj_px(im, W - 3, 8, 1), 255, 8);
            CHECK_NEAR(tj_px(im, W - 3, 8, 2), 0, 8);
        }
        facet_image_destroy(im);
        free(j);
    }
    size_t n;
    facet_image *im = NULL;
    uint8_t *j;
    j = jpeg_encode(grey, W, H, 1, 100, NULL, 0, &n);
    CHECK_EQ(facet_image_decode_memory(j, n, NULL, &im), 0);
    if (im) {
        CHECK_EQ(im->channels, 3);
        int bad = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                bad += tj_px(im, x, y, 0) != tj_px(im, x, y, 1) || tj_px(im, x, y, 1) != tj_px(im, x, y, 2) ||
                       abs(tj_px(im, x, y, 0) - x * 10) > 3;
        CHECK_EQ(bad, 0);
    }
    facet_image_destroy(im);
    free(j);
}

/* --- raw buffers ----------------------------------------------------------------------------- */

static facet_image *test_pattern(int w, int h, int block)
{
    facet_image *im = NULL;
    facet_image_create(w, h, 3, &im);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int bx = x / block, by = y / block;
            uint8_t *p = im->data + (size_t)y * im->stride + (size_t)x * 3;
            p[0] = (uint8_t)(bx * 37 + by * 11);
            p[1] = (uint8_t)(bx * 13 + by * 53 + 7);
            p[2] = (uint8_t)(255 - bx * 29 - by * 3);
        }
    return im;
}

static void t_from_pixels_packed(void)
{
    enum { W = 13, H = 9, PAD = 5 };
    facet_image *ref = test_pattern(W, H, 1);
    static const facet_pixel_format fmts[] = {FACET_PIXEL_RGB, FACET_PIXEL_BGR, FACET_PIXEL_RGBA,
                                              FACET_PIXEL_BGRA};
    for (int f = 0; f < 4; f++) {
        int bpp = f < 2 ? 3 : 4, bgr = f & 1;
        int stride = W * bpp + PAD;
        size_t need = 0;
        CHECK_EQ(facet_pixel_buffer_size(fmts[f], W, H, stride, &need), 0);
        CHECK_EQ(need, (size_t)stride * H);
        uint8_t *buf = malloc(need);
        memset(buf, 0xee, need);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++)
                    buf[y * stride + x * bpp + (bgr ? 2 - c : c)] = tj_px(ref, x, y, c);
        facet_image *im = NULL;
        CHECK_EQ(facet_image_from_pixels(fmts[f], W, H, stride, buf, &im), 0);
        CHECK_EQ(max_diff(im, ref), 0);
        facet_image_destroy(im);
        /* Stride 0 = packed. */
        for (int y = 0; y < H; y++) memmove(buf + y * W * bpp, buf + y * stride, (size_t)W * bpp);
        CHECK_EQ(facet_image_from_pixels(fmts[f], W, H, 0, buf, &im), 0);
        CHECK_EQ(max_diff(im, ref), 0);
        facet_image_destroy(im);
        CHECK_EQ(facet_image_from_pixels(fmts[f], W, H, W * bpp - 1, buf, &im), FACET_E_INVALID_ARG);
        free(buf);
    }
    uint8_t g[W * H];
    for (int i = 0; i < W * H; i++) g[i] = (uint8_t)(i * 3);
    facet_image *im = NULL;
    CHECK_EQ(facet_image_from_pixels(FACET_PIXEL_GREY, W, H, 0, g, &im), 0);
    CHECK(im && im->channels == 1 && tj_px(im, 4, 2, 0) == (2 * W + 4) * 3);
    facet_image_destroy(im);
    CHECK_EQ(facet_image_from_pixels((facet_pixel_format)99, W, H, 0, g, &im), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_from_pixels(FACET_PIXEL_RGB, 0, H, 0, g, &im), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_from_pixels(FACET_PIXEL_RGB, W, H, 0, NULL, &im), FACET_E_INVALID_ARG);
    facet_image_destroy(ref);
}

static uint8_t sat(double v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
}

static void t_from_pixels_yuv(void)
{
    /* Odd size and 2x2 constant blocks, so chroma subsampling loses nothing. */
    enum { W = 33, H = 21, PAD = 3 };
    facet_image *ref = test_pattern(W, H, 2);
    int ys = W + PAD, cw = (W + 1) / 2, ch = (H + 1) / 2;
    for (int f = 0; f < 2; f++) {
        facet_pixel_format fmt = f ? FACET_PIXEL_I420 : FACET_PIXEL_NV12;
        size_t need = 0;
        CHECK_EQ(facet_pixel_buffer_size(fmt, W, H, ys, &need), 0);
        size_t expect = (size_t)ys * H + (f ? 2 * (size_t)((ys + 1) / 2) * ch : (size_t)ys * ch);
        CHECK_EQ(need, expect);
        /* Exactly `need` bytes on the heap: ASan catches any read past the last plane. */
        uint8_t *buf = malloc(need);
        memset(buf, 0x55, need);
        uint8_t *yp = buf, *up = buf + (size_t)ys * H;
        int cs = f ? (ys + 1) / 2 : ys;
        uint8_t *vp = f ? up + (size_t)cs * ch : up + 1;
        int cstep = f ? 1 : 2;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double r = tj_px(ref, x, y, 0), g = tj_px(ref, x, y, 1), b = tj_px(ref, x, y, 2);
                double Y = 0.299 * r + 0.587 * g + 0.114 * b;
                yp[y * ys + x] = sat(Y);
                if (!(x & 1) && !(y & 1)) {
                    up[(y / 2) * cs + (x / 2) * cstep] = sat(128 + (b - Y) / 1.772);
                    vp[(y / 2) * cs + (x / 2) * cstep] = sat(128 + (r - Y) / 1.402);
                }
            }
        facet_image *im = NULL;
        CHECK_EQ(facet_image_from_pixels(fmt, W, H, ys, buf, &im), 0);
        CHECK_MSG(max_diff(im, ref) <= 2, "%s max diff %d", f ? "I420" : "NV12", max_diff(im, ref));
        facet_image_destroy(im);
        /* Neutral chroma: R = G = B = Y exactly. */
        memset(up, 128, need - (size_t)ys * H);
        CHECK_EQ(facet_image_from_pixels(fmt, W, H, ys, buf, &im), 0);
        int bad = 0;
        for (int y = 0; im && y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) bad += tj_px(im, x, y, c) != yp[y * ys + x];
        CHECK_EQ(bad, 0);
        facet_image_destroy(im);
        free(buf);
    }
    (void)cw;
    facet_image_destroy(ref);
}

/* --- operations ------------------------------------------------------------------------------ */

static void t_crop_clamping(void)
{
    facet_image *src = test_pattern(100, 80, 1), *c = NULL;
    CHECK_EQ(facet_image_crop(src, 10, 20, 30, 15, &c), 0);
    CHECK(c && c->width == 30 && c->height == 15);
    if (c) CHECK(tj_px(c, 0, 0, 0) == tj_px(src, 10, 20, 0) && tj_px(c, 29, 14, 2) == tj_px(src, 39, 34, 2));
    facet_image_destroy(c);
    CHECK_EQ(facet_image_crop(src, -10, -5, 50, 50, &c), 0);
    CHECK(c && c->width == 40 && c->height == 45 && tj_px(c, 0, 0, 1) == tj_px(src, 0, 0, 1));
    facet_image_destroy(c);
    CHECK_EQ(facet_image_crop(src, 90, 70, 1000, 1000, &c), 0);
    CHECK(c && c->width == 10 && c->height == 10 && tj_px(c, 9, 9, 0) == tj_px(src, 99, 79, 0));
    facet_image_destroy(c);
    CHECK_EQ(facet_image_crop(src, INT_MAX - 5, 0, INT_MAX, 10, &c), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_crop(src, INT_MIN, INT_MIN, INT_MAX, INT_MAX, &c), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_crop(src, 100, 0, 10, 10, &c), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_crop(src, 0, 0, 0, 10, &c), FACET_E_INVALID_ARG);
    CHECK(c == NULL);
    facet_image_destroy(src);
}

static void t_resize(void)
{
    /* A constant image stays constant, up and down, both channel counts. */
    static const int sizes[][2] = {{1, 1}, {3, 2}, {50, 40}, {7, 200}, {640, 480}, {13, 31}};
    for (int ch = 1; ch <= 3; ch += 2) {
        facet_image *k = NULL;
        facet_image_create(97, 61, ch, &k);
        memset(k->data, 201, (size_t)k->stride * k->height);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            facet_image *o = NULL;
            CHECK_EQ(facet_image_resize(k, sizes[i][0], sizes[i][1], &o), 0);
            int bad = 0;
            for (int y = 0; o && y < o->height; y++)
                for (int x = 0; x < o->width * ch; x++) bad += o->data[y * o->stride + x] != 201;
            CHECK_MSG(o && o->width == sizes[i][0] && o->height == sizes[i][1] && bad == 0,
                      "%dx%d: %d bad", sizes[i][0], sizes[i][1], bad);
            facet_image_destroy(o);
        }
        facet_image_destroy(k);
    }
    /* Area downscale of a one-pixel checkerboard is grey, not moire. */
    facet_image *cb = NULL;
    facet_image_create(240, 240, 1, &cb);
    for (int y = 0; y < 240; y++)
        for (int x = 0; x < 240; x++) cb->data[y * cb->stride + x] = (x + y) & 1 ? 255 : 0;
    /* 4x and 240x: balanced blocks, 127.5 (rounded); 3x: 3x3 blocks hold 4 or 5 whites
     * (2|v - 127.5| = 255/9); 240/17 covers fractional pixels at the block edges. */
    static const int down[] = {60, 80, 17, 1}, tol[] = {1, 29, 40, 1};
    for (int i = 0; i < 4; i++) {
        facet_image *o = NULL;
        CHECK_EQ(facet_image_resize(cb, down[i], down[i], &o), 0);
        int worst = 0;
        for (int y = 0; o && y < o->height; y++)
            for (int x = 0; x < o->width; x++) {
                int d = abs(2 * o->data[y * o->stride + x] - 255);
                if (d > worst) worst = d;
            }
        CHECK_MSG(worst <= tol[i], "to %d: worst 2*|v-127.5| %d", down[i], worst);
        facet_image_destroy(o);
    }
    facet_image_destroy(cb);
    /* Exact halving (its own integer path) is the rounded mean of each 2x2 block, as the
     * bilinear weights of 1/2 give, for both channel counts. */
    for (int ch = 1; ch <= 3; ch += 2) {
        facet_image *r = NULL, *h = NULL;
        facet_image_create(66, 38, ch, &r);
        uint32_t st = 12345u;
        for (int y = 0; y < 38; y++)
            for (int x = 0; x < 66 * ch; x++) r->data[y * r->stride + x] = (uint8_t)((st = st * 1664525u + 1013904223u) >> 24);
        CHECK_EQ(facet_image_resize(r, 33, 19, &h), 0);
        int bad = 0;
        for (int y = 0; h && y < 19; y++)
            for (int x = 0; x < 33; x++)
                for (int k = 0; k < ch; k++) {
                    const uint8_t *a = r->data + (2 * y) * r->stride + 2 * x * ch + k, *b = a + r->stride;
                    bad += h->data[y * h->stride + x * ch + k] != (a[0] + a[ch] + b[0] + b[ch] + 2) / 4;
                }
        CHECK_MSG(h && bad == 0, "halving, %d channels: %d values off", ch, bad);
        facet_image_destroy(h);
        facet_image_destroy(r);
    }
    /* Bilinear upscale, hand-worked: [0, 100] to 4 wide samples at -0.25, 0.25, 0.75, 1.25. */
    facet_image *two = NULL, *o = NULL;
    facet_image_create(2, 1, 1, &two);
    two->data[1] = 100;
    CHECK_EQ(facet_image_resize(two, 4, 1, &o), 0);
    if (o) {
        CHECK_EQ(o->data[0], 0);
        CHECK_EQ(o->data[1], 25);
        CHECK_EQ(o->data[2], 75);
        CHECK_EQ(o->data[3], 100);
    }
    facet_image_destroy(o);
    CHECK_EQ(facet_image_resize(two, 0, 5, &o), FACET_E_INVALID_ARG);
    facet_image_destroy(two);
}

static void t_warp_affine(void)
{
    facet_image *src = test_pattern(64, 48, 1), *o = NULL;
    const float id[6] = {1, 0, 0, 0, 1, 0};
    CHECK_EQ(facet_image_warp_affine(src, id, 64, 48, NULL, &o), 0);
    CHECK_EQ(max_diff(o, src), 0);
    facet_image_destroy(o);

    /* Integer translation: out(x, y) = src(x + 5, y + 3); beyond the edge, the border. */
    const float tr[6] = {1, 0, 5, 0, 1, 3};
    const uint8_t border[3] = {1, 2, 3};
    CHECK_EQ(facet_image_warp_affine(src, tr, 64, 48, border, &o), 0);
    int bad = 0;
    for (int y = 0; o && y < 48; y++)
        for (int x = 0; x < 64; x++)
            for (int c = 0; c < 3; c++) {
                int e = (x + 5 < 64 && y + 3 < 48) ? tj_px(src, x + 5, y + 3, c) : border[c];
                /* The last valid column/row blends with the border at weight 0: exact too. */
                bad += tj_px(o, x, y, c) != e;
            }
    CHECK_EQ(bad, 0);
    facet_image_destroy(o);

    /* Half-pixel shift averages neighbours. */
    facet_image *g = NULL;
    facet_image_create(4, 1, 1, &g);
    g->data[0] = 10, g->data[1] = 20, g->data[2] = 40, g->data[3] = 80;
    const float half[6] = {1, 0, 0.5f, 0, 1, 0};
    CHECK_EQ(facet_image_warp_affine(g, half, 3, 1, NULL, &o), 0);
    if (o) CHECK(o->data[0] == 15 && o->data[1] == 30 && o->data[2] == 60);
    facet_image_destroy(o);
    facet_image_destroy(g);

    /* A 90-degree rotation equals EXIF orientation 6 exactly. */
    const float rot[6] = {0, 1, 0, -1, 0, 47};
    CHECK_EQ(facet_image_warp_affine(src, rot, 48, 64, NULL, &o), 0);
    facet_image *ref = NULL;
    facet_image_clone(src, &ref);
    CHECK_EQ(facet_image_orient(&ref, 6), 0);
    CHECK_EQ(max_diff(o, ref), 0);
    facet_image_destroy(o);
    facet_image_destroy(ref);

    /* Forward similarity (scale 2, rotate, shift) inverted: warping by the inverse of the
     * forward map sends each source point to where the forward map says. */
    const float fwd[6] = {1.2f, -0.5f, 10, 0.5f, 1.2f, -4};
    float inv[6], back[6];
    CHECK_EQ(facet_affine_invert(fwd, inv), 0);
    CHECK_EQ(facet_affine_invert(inv, back), 0);
    for (int i = 0; i < 6; i++) CHECK_NEAR(back[i], fwd[i], 1e-4);
    CHECK_EQ(facet_image_warp_affine(src, inv, 112, 112, NULL, &o), 0);
    if (o) {
        int x = 20, y = 30; /* source point -> output point (1.2*20-0.5*30+10, 0.5*20+1.2*30-4) */
        int ox = 19, oy = 42;
        for (int c = 0; c < 3; c++) CHECK_EQ(tj_px(o, ox, oy, c), tj_px(src, x, y, c));
    }
    facet_image_destroy(o);
    const float sing[6] = {1, 2, 0, 2, 4, 0};
    CHECK_EQ(facet_affine_invert(sing, inv), FACET_E_INVALID_ARG);

    /* NaN and enormous matrices give the border, never a crash. */
    const float nan[6] = {NAN, 0, 0, 0, 1, 0}, huge[6] = {1e30f, 0, 1e30f, 0, 1, -1e30f};
    CHECK_EQ(facet_image_warp_affine(src, nan, 8, 8, border, &o), 0);
    if (o) CHECK(tj_px(o, 3, 3, 0) == 1 && tj_px(o, 3, 3, 2) == 3);
    facet_image_destroy(o);
    CHECK_EQ(facet_image_warp_affine(src, huge, 8, 8, NULL, &o), 0);
    if (o) CHECK(tj_px(o, 7, 7, 1) == 0);
    facet_image_destroy(o);
    CHECK_EQ(facet_image_warp_affine(src, id, 0, 8, NULL, &o), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_warp_affine(src, NULL, 8, 8, NULL, &o), FACET_E_INVALID_ARG);
    facet_image_destroy(src);
}

static void t_colour_and_tensor(void)
{
    facet_image *im = test_pattern(5, 3, 1), *g = NULL, *back = NULL;
    im->data[0] = 255, im->data[1] = 0, im->data[2] = 0; /* pure red at (0, 0) */
    CHECK_EQ(facet_image_to_grey(im, &g), 0);
    CHECK(g && g->channels == 1);
    if (g) CHECK_NEAR(g->data[0], 0.299 * 255, 1.5);
    CHECK_EQ(facet_image_to_rgb(g, &back), 0);
    if (back) CHECK(tj_px(back, 0, 0, 0) == g->data[0] && tj_px(back, 0, 0, 2) == g->data[0]);
    facet_image_destroy(back);

    float t[3 * 15], mean[3] = {10, 20, 30}, scale[3] = {0.5f, 2, 1};
    CHECK_EQ(facet_image_to_tensor(im, t, mean, scale, 0), 0);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++)
                CHECK_NEAR(t[c * 15 + y * 5 + x], (tj_px(im, x, y, c) - mean[c]) * scale[c], 1e-4);
    CHECK_EQ(facet_image_to_tensor(im, t, mean, scale, 1), 0);
    for (int c = 0; c < 3; c++)
        CHECK_NEAR(t[c * 15 + 2 * 5 + 4], (tj_px(im, 4, 2, 2 - c) - mean[c]) * scale[c], 1e-4);
    CHECK_EQ(facet_image_to_tensor(g, t, mean, scale, 1), 0);
    CHECK_NEAR(t[7], (g->data[g->stride + 2] - 10) * 0.5f, 1e-4);
    CHECK_EQ(facet_image_to_tensor(im, NULL, mean, scale, 0), FACET_E_INVALID_ARG);

    facet_image *sw = NULL;
    facet_image_clone(im, &sw);
    CHECK_EQ(facet_image_swap_rb(sw), 0);
    CHECK(tj_px(sw, 1, 1, 0) == tj_px(im, 1, 1, 2) && tj_px(sw, 1, 1, 2) == tj_px(im, 1, 1, 0) &&
          tj_px(sw, 1, 1, 1) == tj_px(im, 1, 1, 1));
    CHECK_EQ(facet_image_swap_rb(g), FACET_E_INVALID_ARG);
    facet_image_destroy(sw);
    facet_image_destroy(g);
    facet_image_destroy(im);

    /* A caller's own strided buffer wrapped as input. */
    uint8_t own[4 * 10];
    for (int i = 0; i < 40; i++) own[i] = (uint8_t)i;
    facet_image wrap = {3, 4, 1, 10, own}, *c = NULL;
    CHECK_EQ(facet_image_clone(&wrap, &c), 0);
    CHECK(c && c->stride == 3 && c->data[3 * 3 + 2] == 32);
    facet_image_destroy(c);
    wrap.stride = 2;
    CHECK_EQ(facet_image_clone(&wrap, &c), FACET_E_INVALID_ARG);
}

static void t_drawing(void)
{
    facet_image *im = NULL;
    facet_image_create(20, 10, 3, &im);
    const uint8_t red[3] = {255, 0, 0};
    CHECK_EQ(facet_image_draw_rect(im, 2, 1, 10, 6, 1, red), 0);
    CHECK(tj_px(im, 2, 1, 0) == 255 && tj_px(im, 11, 6, 0) == 255 && tj_px(im, 6, 1, 0) == 255);
    CHECK(tj_px(im, 5, 3, 0) == 0 && tj_px(im, 12, 3, 0) == 0 && tj_px(im, 1, 1, 0) == 0);
    CHECK(tj_px(im, 2, 1, 1) == 0);
    /* Clipped: partly and wholly outside, huge values. */
    CHECK_EQ(facet_image_draw_rect(im, -5, -5, 100, 100, 2, red), 0);
    CHECK(tj_px(im, 19, 9, 0) == 0 && tj_px(im, 0, 9, 0) == 0);
    CHECK_EQ(facet_image_draw_rect(im, INT_MAX - 1, INT_MAX - 1, INT_MAX, INT_MAX, 3, red), 0);
    CHECK_EQ(facet_image_draw_rect(im, INT_MIN, INT_MIN, INT_MAX, INT_MAX, INT_MAX, red), 0);
    facet_image_destroy(im);
    facet_image_create(20, 10, 1, &im);
    const uint8_t white[3] = {200, 0, 0};
    CHECK_EQ(facet_image_draw_dot(im, 5, 5, 2, white), 0);
    CHECK(tj_px(im, 5, 5, 0) == 200 && tj_px(im, 7, 5, 0) == 200 && tj_px(im, 5, 3, 0) == 200);
    CHECK(tj_px(im, 7, 7, 0) == 0 && tj_px(im, 8, 5, 0) == 0);
    CHECK_EQ(facet_image_draw_dot(im, 0, 0, 1, white), 0);
    CHECK_EQ(facet_image_draw_dot(im, -100, 3, 2, white), 0);
    CHECK_EQ(facet_image_draw_dot(im, 10, 5, INT_MAX, white), 0);
    CHECK(tj_px(im, 19, 9, 0) == 200);
    CHECK_EQ(facet_image_draw_dot(im, 10, 5, 2, NULL), FACET_E_INVALID_ARG);
    facet_image_destroy(im);
}

static long count_value(const facet_image *im, uint8_t v)
{
    long n = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) n += im->data[(size_t)y * (size_t)im->stride + (size_t)x] == v;
    return n;
}

/* The 5x7 label font: the ink of a glyph, scaling, its background box, lower case drawn as
 * capitals, unknown characters as '?', clipping and bad arguments. */
static void t_text(void)
{
    facet_image *a = NULL, *b = NULL;
    facet_image_create(40, 24, 1, &a);
    facet_image_create(40, 24, 1, &b);
    const uint8_t ink[3] = {200, 0, 0}, bg[3] = {90, 0, 0};
    CHECK_EQ(facet_image_draw_text(a, 1, 1, "1", 1, ink, NULL), 0);
    CHECK_EQ(count_value(a, 200), 10); /* "  #  ", " ##  ", four "  #  ", " ### " */
    CHECK(tj_px(a, 3, 1, 0) == 200 && tj_px(a, 2, 2, 0) == 200 && tj_px(a, 1, 1, 0) == 0);
    memset(a->data, 0, (size_t)a->stride * (size_t)a->height);
    CHECK_EQ(facet_image_draw_text(a, 4, 4, "1", 2, ink, bg), 0);
    CHECK_EQ(count_value(a, 200), 40);
    CHECK_EQ(count_value(a, 90), (10 + 4) * 18 - 40); /* one cell of margin around 10x14 */
    CHECK_EQ(facet_image_text_width("#5 X", 1), 23);
    CHECK_EQ(facet_image_text_width("#5 X", 3), 69);
    CHECK_EQ(facet_image_text_width("", 2), 0);
    memset(a->data, 0, (size_t)a->stride * (size_t)a->height);
    CHECK_EQ(facet_image_draw_text(a, 0, 0, "lin_a", 1, ink, NULL), 0);
    CHECK_EQ(facet_image_draw_text(b, 0, 0, "LIN_A", 1, ink, NULL), 0);
    CHECK(memcmp(a->data, b->data, (size_t)a->stride * (size_t)a->height) == 0);
    memset(a->data, 0, (size_t)a->stride * (size_t)a->height);
    memset(b->data, 0, (size_t)b->stride * (size_t)b->height);
    CHECK_EQ(facet_image_draw_text(a, 0, 0, "~\x01", 1, ink, NULL), 0);
    CHECK_EQ(facet_image_draw_text(b, 0, 0, "??", 1, ink, NULL), 0);
    CHECK(memcmp(a->data, b->data, (size_t)a->stride * (size_t)a->height) == 0 && count_value(a, 200) > 0);
    /* clipped on every side */
    CHECK_EQ(facet_image_draw_text(a, -7, -5, "A LONG LABEL THAT DOES NOT FIT", 3, ink, bg), 0);
    CHECK_EQ(facet_image_draw_text(a, 38, 22, "XYZ", 64, ink, bg), 0);
    CHECK_EQ(facet_image_draw_text(a, INT_MIN, INT_MAX, "X", 64, ink, bg), 0);
    CHECK_EQ(facet_image_draw_text(a, 0, 0, "X", 0, ink, NULL), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_draw_text(a, 0, 0, "X", 65, ink, NULL), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_draw_text(a, 0, 0, NULL, 1, ink, NULL), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_draw_text(NULL, 0, 0, "X", 1, ink, NULL), FACET_E_INVALID_ARG);
    facet_image_destroy(a);
    facet_image_destroy(b);
}

static void t_arguments(void)
{
    facet_image *im = NULL;
    facet_image_destroy(NULL);
    CHECK_EQ(facet_image_create(0, 5, 3, &im), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_create(5, 5, 2, &im), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_create(5, 5, 3, NULL), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_create(1 << 27, 1 << 27, 3, &im), FACET_E_NO_MEMORY);
    CHECK(im == NULL);
    CHECK_EQ(facet_image_decode_memory(NULL, 10, NULL, &im), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_decode_file(NULL, NULL, &im), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_decode_file("x", NULL, NULL), FACET_E_INVALID_ARG);
    facet_decode_options o;
    facet_decode_defaults(&o);
    CHECK_EQ(o.max_pixels, 100000000);
    CHECK_EQ(o.apply_exif, 1);
    CHECK_EQ(o.channels, 3);
    CHECK_EQ(o.scale_denom, 1);
    o.channels = 4;
    CHECK_EQ(facet_image_decode_memory("\xff\xd8\xff", 3, &o, &im), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_resize(NULL, 5, 5, &im), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_to_grey(NULL, &im), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_image_encode_png(NULL, NULL, NULL), FACET_E_INVALID_ARG);
    size_t n;
    CHECK_EQ(facet_pixel_buffer_size(FACET_PIXEL_NV12, 4, 4, 0, &n), 0);
    CHECK_EQ(n, 24u);
    CHECK_EQ(facet_pixel_buffer_size(FACET_PIXEL_I420, 5, 3, 0, &n), 0);
    CHECK_EQ(n, 15u + 2 * 3 * 2);
}

TESTS(TEST(t_decode_every_test_image), TEST(t_decode_memory_equals_file),
      TEST(t_corrupt_jpeg_data), TEST(t_corrupt_png_data), TEST(t_png_astronaut),
      TEST(t_png_colour_types), TEST(t_scaled_decode), TEST(t_exif_orientation_real_photo),
      TEST(t_exif_parser_bounds), TEST(t_truncated_files), TEST(t_garbage_and_wrong_magic),
      TEST(t_decompression_bomb_limits), TEST(t_cmyk_and_grey_jpeg), TEST(t_from_pixels_packed),
      TEST(t_from_pixels_yuv), TEST(t_crop_clamping), TEST(t_resize), TEST(t_warp_affine),
      TEST(t_colour_and_tensor), TEST(t_drawing), TEST(t_text), TEST(t_arguments))
