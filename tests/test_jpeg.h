/*
 * test_jpeg.h - builds JPEG test inputs with libjpeg: an encoder with an optional APP1 (Exif)
 * segment, a minimal Exif block carrying one orientation, and the stored (camera) layout of an
 * upright picture for each EXIF orientation, written from the EXIF specification.
 */
#ifndef FACET_TEST_JPEG_H
#define FACET_TEST_JPEG_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "facet/image.h"

static inline uint8_t tj_px(const facet_image *im, int x, int y, int c)
{
    return im->data[(size_t)y * (size_t)im->stride + (size_t)x * (size_t)im->channels + (size_t)c];
}

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
} test_jerr;

static inline void test_jerr_exit(j_common_ptr c)
{
    longjmp(((test_jerr *)c->err)->jump, 1);
}

/* Encodes an image (1, 3 or 4 = CMYK channels, packed) as JPEG; `app1` (may be NULL) is
 * written as an APP1 segment. Returns a malloc'd buffer. */
static int test_no_adobe __attribute__((unused)); /* write CMYK JPEGs without the Adobe APP14 marker */

static inline uint8_t *jpeg_encode(const uint8_t *pixels, int w, int h, int channels, int quality,
                            const uint8_t *app1, unsigned app1_len, size_t *size)
{
    struct jpeg_compress_struct c;
    test_jerr err;
    unsigned char *buf = NULL;
    unsigned long n = 0;
    c.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = test_jerr_exit;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&c);
        free(buf);
        return NULL;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = channels;
    c.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (app1) c.write_JFIF_header = FALSE;
    if (test_no_adobe) c.write_Adobe_marker = FALSE;
    jpeg_start_compress(&c, TRUE);
    if (app1) jpeg_write_marker(&c, JPEG_APP0 + 1, app1, app1_len);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * (size_t)w * (size_t)channels);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *size = n;
    return buf;
}

static inline uint8_t *jpeg_encode_image(const facet_image *im, int quality, const uint8_t *app1,
                                  unsigned app1_len, size_t *size)
{
    return jpeg_encode(im->data, im->width, im->height, im->channels, quality, app1, app1_len,
                       size);
}

/* "Exif\0\0" + a TIFF header with one IFD entry, orientation `o`; big- or little-endian. */
static inline unsigned exif_block(uint8_t *b, int o, int big_endian)
{
    static const uint8_t le[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
                                 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t be[] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
                                 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(b, big_endian ? be : le, sizeof le);
    if (big_endian) b[6 + 8 + 2 + 8 + 1] = (uint8_t)o;
    else b[6 + 8 + 2 + 8] = (uint8_t)o;
    return sizeof le;
}

/* The stored image a camera writes for upright picture `u` with EXIF orientation `o`:
 * written from the EXIF specification's description of each value (which stored row is the
 * visual top, which stored column the visual left), independently of the library. */
static inline facet_image *stored_for(const facet_image *u, int o)
{
    int W = u->width, H = u->height, swap = o >= 5;
    facet_image *s = NULL;
    facet_image_create(swap ? H : W, swap ? W : H, 3, &s);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int sx = x, sy = y;
            switch (o) {
            case 2: sx = W - 1 - x; break;                 /* stored is mirrored */
            case 3: sx = W - 1 - x; sy = H - 1 - y; break; /* stored is upside down */
            case 4: sy = H - 1 - y; break;
            case 5: sx = y; sy = x; break;                 /* stored is transposed */
            case 6: sx = y; sy = W - 1 - x; break;         /* camera turned clockwise */
            case 7: sx = H - 1 - y; sy = W - 1 - x; break;
            case 8: sx = H - 1 - y; sy = x; break;         /* camera turned anticlockwise */
            }
            for (int c = 0; c < 3; c++)
                s->data[(size_t)sy * s->stride + (size_t)sx * 3 + c] = tj_px(u, x, y, c);
        }
    return s;
}

#endif
