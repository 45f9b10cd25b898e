/*
 * image.c - the facet_image itself and the cheap per-pixel operations: creation, raw camera
 * buffers (packed RGB/BGR/RGBA/BGRA/grey, planar NV12/I420), crop, grey/RGB conversion, the
 * R/B swap, the float CHW tensor the networks read, and the debug drawing helpers.
 *
 * Every public entry validates its arguments first; after that the loops are plain
 * row-by-row code over uint8_t with no calls inside, which the compiler vectorises.
 * Library images are always packed (stride = width * channels) but every function reads
 * through `stride`, so callers may wrap their own memory as input.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "imagepriv.h"

int facet_image_new(int width, int height, int channels, facet_image **out)
{
    *out = NULL;
    if (width < 1 || height < 1 || width > FACET_IMAGE_MAX_SIDE || height > FACET_IMAGE_MAX_SIDE)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "image size %dx%d out of range", width,
                            height);
    if (channels != 1 && channels != 3)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "channels must be 1 or 3, not %d",
                            channels);
    size_t row = (size_t)width * (size_t)channels, total;
    if (facet_mul_overflow(row, (size_t)height, &total))
        return facet_seterr(NULL, FACET_E_LIMIT, "image %dx%d too large", width, height);
    facet_image *img = facet_malloc(sizeof *img);
    if (!img) return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory for an image");
    img->data = facet_alloc(total);
    if (!img->data) {
        free(img);
        return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory for a %dx%dx%d image", width,
                            height, channels);
    }
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->stride = (int)row;
    *out = img;
    return FACET_OK;
}

int facet_image_check(const facet_image *img, const char *what)
{
    if (!img) return facet_seterr(NULL, FACET_E_INVALID_ARG, "%s is NULL", what);
    if (!img->data || img->width < 1 || img->height < 1 ||
        img->width > FACET_IMAGE_MAX_SIDE || img->height > FACET_IMAGE_MAX_SIDE ||
        (img->channels != 1 && img->channels != 3) ||
        img->stride < img->width * img->channels)
        return facet_seterr(NULL, FACET_E_INVALID_ARG,
                            "%s is not a valid image (%dx%d, %d channels, stride %d)", what,
                            img->width, img->height, img->channels, img->stride);
    return FACET_OK;
}

facet_status facet_image_create(int width, int height, int channels, facet_image **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    int r = facet_image_new(width, height, channels, out);
    if (r == FACET_OK) memset((*out)->data, 0, (size_t)(*out)->stride * (size_t)height);
    return r;
}

void facet_image_destroy(facet_image *img)
{
    if (!img) return;
    facet_free_aligned(img->data);
    free(img);
}

/* Copies `h` rows of `row_bytes` between two strided buffers. */
static void copy_rows(uint8_t *dst, size_t dst_stride, const uint8_t *src, size_t src_stride,
                      size_t row_bytes, int h)
{
    for (int y = 0; y < h; y++) memcpy(dst + (size_t)y * dst_stride,
                                       src + (size_t)y * src_stride, row_bytes);
}

facet_status facet_image_clone(const facet_image *src, facet_image **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    int r = facet_image_check(src, "src");
    if (r) return r;
    r = facet_image_new(src->width, src->height, src->channels, out);
    if (r) return r;
    copy_rows((*out)->data, (size_t)(*out)->stride, src->data, (size_t)src->stride,
              (size_t)src->width * (size_t)src->channels, src->height);
    return FACET_OK;
}

/* --- raw buffers ---------------------------------------------------------------------------- */

static int pixel_bpp(facet_pixel_format f)
{
    switch (f) {
    case FACET_PIXEL_RGB:
    case FACET_PIXEL_BGR: return 3;
    case FACET_PIXEL_RGBA:
    case FACET_PIXEL_BGRA: return 4;
    case FACET_PIXEL_GREY:
    case FACET_PIXEL_NV12:
    case FACET_PIXEL_I420: return 1;
    }
    return 0;
}

/* Resolves stride 0 and checks the buffer size; all in size_t so nothing can overflow. */
static int pixel_layout(facet_pixel_format format, int width, int height, int *stride,
                        size_t *size)
{
    int bpp = pixel_bpp(format);
    if (!bpp)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "unknown pixel format %d", (int)format);
    if (width < 1 || height < 1 || width > FACET_IMAGE_MAX_SIDE || height > FACET_IMAGE_MAX_SIDE)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "pixel buffer size %dx%d out of range",
                            width, height);
    int min_stride = width * bpp;
    if (*stride == 0) *stride = min_stride;
    if (*stride < min_stride)
        return facet_seterr(NULL, FACET_E_INVALID_ARG,
                            "stride %d is less than width * bytes per pixel (%d)", *stride,
                            min_stride);
    size_t s = (size_t)*stride, h = (size_t)height;
    size_t ch = (h + 1) / 2, total = s * h;
    if (format == FACET_PIXEL_NV12) total += s * ch;
    if (format == FACET_PIXEL_I420) total += 2 * ((s + 1) / 2) * ch;
    *size = total;
    return FACET_OK;
}

facet_status facet_pixel_buffer_size(facet_pixel_format format, int width, int height, int stride,
                                     size_t *size)
{
    if (!size) return facet_seterr(NULL, FACET_E_INVALID_ARG, "size is NULL");
    *size = 0;
    return pixel_layout(format, width, height, &stride, size);
}

static inline uint8_t clamp_u8(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/*
 * One row of YUV to RGB, BT.601 full range in 16.16 fixed point:
 *   R = Y + 1.402 (V-128), G = Y - 0.344136 (U-128) - 0.714136 (V-128), B = Y + 1.772 (U-128).
 * `u` and `v` advance by `cstep` bytes per chroma sample (2 for NV12, 1 for I420).
 */
static void yuv_row(uint8_t *dst, const uint8_t *y, const uint8_t *u, const uint8_t *v,
                    int cstep, int width)
{
    /* One chroma sample serves two luma samples: work out its terms once per pair. */
    int pairs = width / 2;
    for (int p = 0; p < pairs; p++) {
        int uu = (int)u[p * cstep] - 128, vv = (int)v[p * cstep] - 128;
        int dr = 91881 * vv + 32768, dg = -22554 * uu - 46802 * vv + 32768,
            db = 116130 * uu + 32768;
        int y0 = (int)y[2 * p] << 16, y1 = (int)y[2 * p + 1] << 16;
        uint8_t *d = dst + 6 * p;
        d[0] = clamp_u8((y0 + dr) >> 16);
        d[1] = clamp_u8((y0 + dg) >> 16);
        d[2] = clamp_u8((y0 + db) >> 16);
        d[3] = clamp_u8((y1 + dr) >> 16);
        d[4] = clamp_u8((y1 + dg) >> 16);
        d[5] = clamp_u8((y1 + db) >> 16);
    }
    if (width & 1) { /* odd width: the last pixel has its own chroma sample */
        int x = width - 1, uu = (int)u[pairs * cstep] - 128, vv = (int)v[pairs * cstep] - 128;
        int yy = (int)y[x] << 16;
        dst[3 * x] = clamp_u8((yy + 91881 * vv + 32768) >> 16);
        dst[3 * x + 1] = clamp_u8((yy - 22554 * uu - 46802 * vv + 32768) >> 16);
        dst[3 * x + 2] = clamp_u8((yy + 116130 * uu + 32768) >> 16);
    }
}

facet_status facet_image_from_pixels(facet_pixel_format format, int width, int height, int stride,
                                     const void *data, facet_image **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!data) return facet_seterr(NULL, FACET_E_INVALID_ARG, "data is NULL");
    size_t size;
    int r = pixel_layout(format, width, height, &stride, &size);
    if (r) return r;
    facet_image *img;
    r = facet_image_new(width, height, format == FACET_PIXEL_GREY ? 1 : 3, &img);
    if (r) return r;
    const uint8_t *src = data;
    size_t s = (size_t)stride, w = (size_t)width;
    for (int y = 0; y < height; y++) {
        const uint8_t *p = src + (size_t)y * s;
        uint8_t *d = img->data + (size_t)y * (size_t)img->stride;
        switch (format) {
        case FACET_PIXEL_RGB:
        case FACET_PIXEL_GREY: memcpy(d, p, w * (size_t)img->channels); break;
        case FACET_PIXEL_BGR:
            for (size_t x = 0; x < w; x++) {
                d[3 * x] = p[3 * x + 2];
                d[3 * x + 1] = p[3 * x + 1];
                d[3 * x + 2] = p[3 * x];
            }
            break;
        case FACET_PIXEL_RGBA:
            for (size_t x = 0; x < w; x++) {
                d[3 * x] = p[4 * x];
                d[3 * x + 1] = p[4 * x + 1];
                d[3 * x + 2] = p[4 * x + 2];
            }
            break;
        case FACET_PIXEL_BGRA:
            for (size_t x = 0; x < w; x++) {
                d[3 * x] = p[4 * x + 2];
                d[3 * x + 1] = p[4 * x + 1];
                d[3 * x + 2] = p[4 * x];
            }
            break;
        case FACET_PIXEL_NV12: {
            const uint8_t *uv = src + s * (size_t)height + (size_t)(y >> 1) * s;
            yuv_row(d, p, uv, uv + 1, 2, width);
            break;
        }
        case FACET_PIXEL_I420: {
            size_t cs = (s + 1) / 2, ch = ((size_t)height + 1) / 2;
            const uint8_t *u = src + s * (size_t)height + (size_t)(y >> 1) * cs;
            yuv_row(d, p, u, u + cs * ch, 1, width);
            break;
        }
        }
    }
    *out = img;
    return FACET_OK;
}

/* --- simple operations ---------------------------------------------------------------------- */

facet_status facet_image_crop(const facet_image *src, int x, int y, int w, int h, facet_image **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    int r = facet_image_check(src, "src");
    if (r) return r;
    /* Clamp in 64 bits: x + w may overflow int for hostile rectangles. */
    long long x0 = x, y0 = y, x1 = (long long)x + w, y1 = (long long)y + h;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > src->width) x1 = src->width;
    if (y1 > src->height) y1 = src->height;
    if (w <= 0 || h <= 0 || x1 <= x0 || y1 <= y0)
        return facet_seterr(NULL, FACET_E_INVALID_ARG,
                            "crop (%d,%d %dx%d) does not overlap the %dx%d image", x, y, w, h,
                            src->width, src->height);
    r = facet_image_new((int)(x1 - x0), (int)(y1 - y0), src->channels, out);
    if (r) return r;
    size_t c = (size_t)src->channels;
    copy_rows((*out)->data, (size_t)(*out)->stride,
              src->data + (size_t)y0 * (size_t)src->stride + (size_t)x0 * c, (size_t)src->stride,
              (size_t)(x1 - x0) * c, (int)(y1 - y0));
    return FACET_OK;
}

facet_status facet_image_to_grey(const facet_image *src, facet_image **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    int r = facet_image_check(src, "src");
    if (r) return r;
    if (src->channels == 1) return facet_image_clone(src, out);
    r = facet_image_new(src->width, src->height, 1, out);
    if (r) return r;
    for (int y = 0; y < src->height; y++) {
        const uint8_t *p = src->data + (size_t)y * (size_t)src->stride;
        uint8_t *d = (*out)->data + (size_t)y * (size_t)(*out)->stride;
        for (int x = 0; x < src->width; x++) d[x] = facet_luma(p[3 * x], p[3 * x + 1], p[3 * x + 2]);
    }
    return FACET_OK;
}

facet_status facet_image_to_rgb(const facet_image *src, facet_image **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    int r = facet_image_check(src, "src");
    if (r) return r;
    if (src->channels == 3) return facet_image_clone(src, out);
    r = facet_image_new(src->width, src->height, 3, out);
    if (r) return r;
    for (int y = 0; y < src->height; y++) {
        const uint8_t *p = src->data + (size_t)y * (size_t)src->stride;
        uint8_t *d = (*out)->data + (size_t)y * (size_t)(*out)->stride;
        for (int x = 0; x < src->width; x++) d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = p[x];
    }
    return FACET_OK;
}

facet_status facet_image_swap_rb(facet_image *img)
{
    int r = facet_image_check(img, "img");
    if (r) return r;
    if (img->channels != 3)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "swap_rb needs a 3-channel image");
    for (int y = 0; y < img->height; y++) {
        uint8_t *p = img->data + (size_t)y * (size_t)img->stride;
        for (int x = 0; x < img->width; x++) {
            uint8_t t = p[3 * x];
            p[3 * x] = p[3 * x + 2];
            p[3 * x + 2] = t;
        }
    }
    return FACET_OK;
}

facet_status facet_image_to_tensor(const facet_image *img, float *dst, const float mean[3],
                                   const float scale[3], int bgr_order)
{
    int r = facet_image_check(img, "img");
    if (r) return r;
    if (!dst || !mean || !scale)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "dst, mean and scale must not be NULL");
    int c = img->channels, w = img->width;
    size_t plane = (size_t)w * (size_t)img->height;
    if (c == 3) { /* one pass over the pixels, writing the three planes */
        const int s0 = bgr_order ? 2 : 0, s2 = 2 - s0;
        const float m0 = mean[0], m1 = mean[1], m2 = mean[2], k0 = scale[0], k1 = scale[1], k2 = scale[2];
        for (int y = 0; y < img->height; y++) {
            const uint8_t *p = img->data + (size_t)y * (size_t)img->stride;
            float *d0 = dst + (size_t)y * (size_t)w, *d1 = d0 + plane, *d2 = d1 + plane;
            for (int x = 0; x < w; x++) {
                d0[x] = ((float)p[3 * x + s0] - m0) * k0;
                d1[x] = ((float)p[3 * x + 1] - m1) * k1;
                d2[x] = ((float)p[3 * x + s2] - m2) * k2;
            }
        }
        return FACET_OK;
    }
    for (int k = 0; k < c; k++) {
        /* Output plane k reads source channel k, or 2 - k for BGR order. */
        int sc = (c == 3 && bgr_order) ? 2 - k : k;
        float m = mean[k], s = scale[k];
        for (int y = 0; y < img->height; y++) {
            const uint8_t *p = img->data + (size_t)y * (size_t)img->stride + sc;
            float *d = dst + (size_t)k * plane + (size_t)y * (size_t)w;
            for (int x = 0; x < w; x++) d[x] = ((float)p[(size_t)x * (size_t)c] - m) * s;
        }
    }
    return FACET_OK;
}

/* --- drawing -------------------------------------------------------------------------------- */

/* Fills the clipped rectangle [x0, x1) x [y0, y1). */
static void fill_span(facet_image *img, long long x0, long long y0, long long x1, long long y1,
                      const uint8_t colour[3])
{
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    int c = img->channels;
    for (long long y = y0; y < y1; y++) {
        uint8_t *p = img->data + (size_t)y * (size_t)img->stride;
        for (long long x = x0; x < x1; x++)
            for (int k = 0; k < c; k++) p[(size_t)x * (size_t)c + (size_t)k] = colour[k];
    }
}

facet_status facet_image_draw_rect(facet_image *img, int x, int y, int w, int h, int thickness,
                                   const uint8_t colour[3])
{
    int r = facet_image_check(img, "img");
    if (r) return r;
    if (!colour) return facet_seterr(NULL, FACET_E_INVALID_ARG, "colour is NULL");
    if (w <= 0 || h <= 0 || thickness <= 0) return FACET_OK;
    long long x0 = x, y0 = y, x1 = (long long)x + w, y1 = (long long)y + h, t = thickness;
    if (2 * t >= w || 2 * t >= h) { /* the border covers it all */
        fill_span(img, x0, y0, x1, y1, colour);
        return FACET_OK;
    }
    fill_span(img, x0, y0, x1, y0 + t, colour);
    fill_span(img, x0, y1 - t, x1, y1, colour);
    fill_span(img, x0, y0 + t, x0 + t, y1 - t, colour);
    fill_span(img, x1 - t, y0 + t, x1, y1 - t, colour);
    return FACET_OK;
}

facet_status facet_image_draw_dot(facet_image *img, int cx, int cy, int radius, const uint8_t colour[3])
{
    int r = facet_image_check(img, "img");
    if (r) return r;
    if (!colour) return facet_seterr(NULL, FACET_E_INVALID_ARG, "colour is NULL");
    if (radius < 0) return FACET_OK;
    if (radius > FACET_IMAGE_MAX_SIDE) radius = FACET_IMAGE_MAX_SIDE;
    long long rr = (long long)radius * radius;
    /* Only the rows inside the image, so a huge radius costs at most one pass over it. */
    long long ylo = (long long)cy - radius, yhi = (long long)cy + radius;
    if (ylo < 0) ylo = 0;
    if (yhi > img->height - 1) yhi = img->height - 1;
    for (long long yy = ylo; yy <= yhi; yy++) {
        long long dy = yy - cy;
        long long dx = (long long)sqrt((double)(rr - dy * dy));
        while (dx * dx + dy * dy > rr) dx--; /* sqrt rounding */
        fill_span(img, cx - dx, yy, cx + dx + 1, yy + 1, colour);
    }
    return FACET_OK;
}

/* A 5x7 capital font of our own for labels on debug frames (track ids, names): digits, A-Z
 * (lower case is drawn in capitals) and a little punctuation; anything else is drawn as '?'.
 * Each glyph is seven rows of five cells, '#' inked. */
typedef struct glyph {
    char c;
    const char *rows[7];
} glyph;

static const glyph font5x7[] = {
    {' ', {"     ", "     ", "     ", "     ", "     ", "     ", "     "}},
    {'0', {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "}},
    {'1', {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
    {'2', {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"}},
    {'3', {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "}},
    {'4', {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "}},
    {'5', {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "}},
    {'6', {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "}},
    {'7', {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "}},
    {'8', {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "}},
    {'9', {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "}},
    {'A', {" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"}},
    {'B', {"#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "}},
    {'C', {" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "}},
    {'D', {"###  ", "#  # ", "#   #", "#   #", "#   #", "#  # ", "###  "}},
    {'E', {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"}},
    {'F', {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "}},
    {'G', {" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"}},
    {'H', {"#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"}},
    {'I', {" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
    {'J', {"  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "}},
    {'K', {"#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"}},
    {'L', {"#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"}},
    {'M', {"#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"}},
    {'N', {"#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"}},
    {'O', {" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "}},
    {'P', {"#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "}},
    {'Q', {" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"}},
    {'R', {"#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"}},
    {'S', {" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "}},
    {'T', {"#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "}},
    {'U', {"#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "}},
    {'V', {"#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "}},
    {'W', {"#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "}},
    {'X', {"#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"}},
    {'Y', {"#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "}},
    {'Z', {"#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"}},
    {'#', {" # # ", " # # ", "#####", " # # ", "#####", " # # ", " # # "}},
    {'-', {"     ", "     ", "     ", "#####", "     ", "     ", "     "}},
    {'_', {"     ", "     ", "     ", "     ", "     ", "     ", "#####"}},
    {'.', {"     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "}},
    {':', {"     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "}},
    {'/', {"     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     "}},
    {'(', {"   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "}},
    {')', {" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "}},
    {'?', {" ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  "}},
};

static const glyph *find_glyph(char c)
{
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    const glyph *q = NULL;
    for (size_t i = 0; i < sizeof font5x7 / sizeof font5x7[0]; i++) {
        if (font5x7[i].c == c) return &font5x7[i];
        if (font5x7[i].c == '?') q = &font5x7[i];
    }
    return q;
}

int facet_image_text_width(const char *text, int scale)
{
    if (!text || scale < 1) return 0;
    size_t n = strlen(text);
    long long w = n ? ((long long)n * 6 - 1) * scale : 0;
    return w > INT_MAX ? INT_MAX : (int)w;
}

facet_status facet_image_draw_text(facet_image *img, int x, int y, const char *text, int scale,
                                   const uint8_t colour[3], const uint8_t background[3])
{
    int r = facet_image_check(img, "img");
    if (r) return r;
    if (!text || !colour) return facet_seterr(NULL, FACET_E_INVALID_ARG, "text or colour is NULL");
    if (scale < 1 || scale > 64) return facet_seterr(NULL, FACET_E_INVALID_ARG, "scale must be 1..64, not %d", scale);
    long long s = scale, x0 = x;
    if (background) /* one cell of margin around the text */
        fill_span(img, x0 - s, (long long)y - s, x0 + (long long)facet_image_text_width(text, scale) + s,
                  (long long)y + 8 * s, background);
    for (const char *p = text; *p; p++, x0 += 6 * s) {
        if (x0 >= img->width) break;
        const glyph *g = find_glyph(*p);
        for (int row = 0; row < 7; row++)
            for (int col = 0; col < 5; col++)
                if (g->rows[row][col] == '#')
                    fill_span(img, x0 + col * s, (long long)y + row * s, x0 + (col + 1) * s,
                              (long long)y + (row + 1) * s, colour);
    }
    return FACET_OK;
}
