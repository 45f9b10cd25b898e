/*
 * facet/image.h - images in, images out: decoding JPEG and PNG (from a file or memory), raw
 * camera buffers (RGB, BGR, RGBA, BGRA, grey, NV12, I420), crop, resize, colour conversion,
 * the affine warp that cuts aligned face chips, conversion to the float tensors the networks
 * eat, PNG encoding and a little drawing for debug output.
 *
 * A facet_image is a plain struct: 8-bit samples, interleaved, `channels` 3 (R,G,B in that
 * order) or 1 (grey), rows `stride` bytes apart. Images made by the library are owned by the
 * caller, who releases them with facet_image_destroy(); their stride is width * channels.
 * To pass pixels you own as INPUT, fill a facet_image on the stack yourself (stride may then be
 * larger than width * channels) and never give it to facet_image_destroy().
 *
 * Threads: every function here is reentrant; an image may be read by many threads at once but
 * must not be modified (swap, draw) while another thread reads it. Failures return a negative
 * facet_status and leave the message in facet_last_error() of the calling thread.
 */
#ifndef FACET_IMAGE_H
#define FACET_IMAGE_H

#include "facet/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct facet_image {
    int width;     /* pixels, >= 1 */
    int height;    /* pixels, >= 1 */
    int channels;  /* 3 = RGB, 1 = grey */
    int stride;    /* bytes from one row to the next, >= width * channels */
    uint8_t *data; /* first byte of the top row; owned by the image */
} facet_image;

/* --- creation ------------------------------------------------------------------------------ */

/* A new image of w x h with `channels` (1 or 3), every sample zero. */
FACET_API facet_status facet_image_create(int width, int height, int channels, facet_image **out);
/* A deep copy (the copy's stride is width * channels). */
FACET_API facet_status facet_image_clone(const facet_image *src, facet_image **out);
/* Frees the image and its pixels; NULL is a no-op. Only for images the library made. */
FACET_API void facet_image_destroy(facet_image *img);

/* --- decoding ------------------------------------------------------------------------------ */

typedef struct facet_decode_options {
    /* Decompression-bomb guard: images whose header says width * height is more than this
     * fail with FACET_E_LIMIT before any pixel memory is allocated. Default 100,000,000. */
    int64_t max_pixels;
    /* Honour the EXIF orientation tag (JPEG APP1, PNG eXIf) so that the result is upright.
     * Default 1; 0 returns the pixels as stored. */
    int apply_exif;
    /* Channels of the result: 3 = RGB (default), 1 = grey (BT.601 luma). */
    int channels;
    /* 1 (default), 2, 4 or 8: shrink by this factor while decoding, size rounded up
     * (ceil(w / scale_denom)). JPEG uses libjpeg-turbo's fast DCT scaling; PNG is decoded at
     * full size and then area-averaged. Applied before the EXIF rotation. */
    int scale_denom;
    /* Damaged but decodable data. 0 (default): an error, FACET_E_FORMAT naming the cause:
     * libjpeg's corrupt-data warnings (bad Huffman code, premature end of a data segment,
     * extraneous bytes before a marker: libjpeg would patch the damage and return a plausible
     * wrong picture) and PNG chunks whose CRC does not match. 1: decode anyway; JPEG damage
     * becomes one FACET_LOG_WARN line, PNG chunks are used despite their CRC. Either way a
     * truncated file, or PNG pixel data that does not inflate, is an error. JPEG has no
     * checksum: damage that still decodes as valid codes cannot be detected by any decoder. */
    int allow_corrupt;
} facet_decode_options;

/* Fills `opt` with the defaults above. */
FACET_API void facet_decode_defaults(facet_decode_options *opt);

/*
 * Decodes a JPEG or PNG; the format is recognised by its magic bytes, never the file name.
 * Colour images always come out RGB (grey, palette, alpha, 16-bit and CMYK sources are
 * converted; alpha is dropped). `opt` may be NULL for the defaults.
 * Errors: FACET_E_IO (cannot read the file), FACET_E_FORMAT (corrupt, truncated or unknown
 * data; see allow_corrupt), FACET_E_UNSUPPORTED (a recognised format this build does not
 * decode: GIF, BMP, WebP, TIFF, HEIF), FACET_E_LIMIT (more than max_pixels, or a file above
 * 1 GiB), FACET_E_NO_MEMORY.
 */
FACET_API facet_status facet_image_decode_file(const char *path, const facet_decode_options *opt,
                                               facet_image **out);
/* The same from memory; `data` is only read during the call. */
FACET_API facet_status facet_image_decode_memory(const void *data, size_t size,
                                                 const facet_decode_options *opt, facet_image **out);

/* --- raw pixel buffers --------------------------------------------------------------------- */

typedef enum facet_pixel_format {
    FACET_PIXEL_RGB = 0,  /* 3 bytes per pixel R,G,B */
    FACET_PIXEL_BGR = 1,  /* 3 bytes per pixel B,G,R (OpenCV) */
    FACET_PIXEL_RGBA = 2, /* 4 bytes per pixel, alpha ignored */
    FACET_PIXEL_BGRA = 3, /* 4 bytes per pixel, alpha ignored */
    FACET_PIXEL_GREY = 4, /* 1 byte per pixel */
    FACET_PIXEL_NV12 = 5, /* Y plane, then interleaved U,V plane at half resolution */
    FACET_PIXEL_I420 = 6, /* Y plane, then U plane, then V plane, both at half resolution */
} facet_pixel_format;

/*
 * Bytes a buffer of this format must hold (planes included) for facet_image_from_pixels;
 * `stride` as there. Gives FACET_E_INVALID_ARG for a bad format, size or stride.
 *
 * Layout: packed formats have `height` rows `stride` bytes apart (stride 0 = packed). For
 * NV12 and I420 `stride` is the Y plane's (0 = width); chroma planes have (width+1)/2 x
 * (height+1)/2 samples and follow each other without gaps: NV12's UV plane starts at
 * stride * height with rows of `stride` bytes; I420's U plane starts there with rows of
 * (stride+1)/2 bytes, and its V plane right after the U plane.
 */
FACET_API facet_status facet_pixel_buffer_size(facet_pixel_format format, int width, int height,
                                               int stride, size_t *size);

/*
 * Converts a caller's buffer (read during the call only; it must hold
 * facet_pixel_buffer_size() bytes) to a new RGB image, or a grey image for FACET_PIXEL_GREY.
 * NV12 and I420 use BT.601 full range ("JPEG" YUV: Y, U, V all 0..255, no 16..235 footroom),
 * which is what most webcams and MJPEG decoders give; chroma is replicated, not interpolated.
 */
FACET_API facet_status facet_image_from_pixels(facet_pixel_format format, int width, int height,
                                               int stride, const void *data, facet_image **out);

/* --- operations (each makes a new image; the source is not changed) ------------------------ */

/* The rectangle (x, y, w, h) clamped to the image; FACET_E_INVALID_ARG if nothing is left. */
FACET_API facet_status facet_image_crop(const facet_image *src, int x, int y, int w, int h,
                                        facet_image **out);

/* Resized to exactly width x height: bilinear (pixel centres aligned, as OpenCV's
 * INTER_LINEAR) when enlarging or shrinking by up to 2x, area averaging (box filter with
 * fractional coverage) along an axis shrunk by more than 2x. */
FACET_API facet_status facet_image_resize(const facet_image *src, int width, int height,
                                          facet_image **out);

/* Grey copy, Y = 0.299 R + 0.587 G + 0.114 B (BT.601); a grey source is copied. */
FACET_API facet_status facet_image_to_grey(const facet_image *src, facet_image **out);
/* RGB copy of a grey image (R = G = B); an RGB source is copied. */
FACET_API facet_status facet_image_to_rgb(const facet_image *src, facet_image **out);

/* Swaps the first and third channel of a 3-channel image in place (RGB <-> BGR). The other
 * functions here read channel 0 as red, so swap back before using them. */
FACET_API facet_status facet_image_swap_rb(facet_image *img);

/*
 * Affine warp with bilinear sampling. `m` maps OUTPUT pixel coordinates to SOURCE
 * coordinates (the inverse of the face-to-template transform; see facet_affine_invert):
 *     src_x = m[0] * x + m[1] * y + m[2],   src_y = m[3] * x + m[4] * y + m[5]
 * Pixel centres are at integer coordinates, so the identity matrix copies the image exactly.
 * Samples falling outside the source take `border` (one value per channel; NULL = zeros).
 * The output has the source's channels.
 */
FACET_API facet_status facet_image_warp_affine(const facet_image *src, const float m[6], int out_width,
                                               int out_height, const uint8_t border[3],
                                               facet_image **out);

/* Inverse of the 2x3 affine `m` into `inv`; FACET_E_INVALID_ARG if it is singular. `inv` may
 * be `m`. */
FACET_API facet_status facet_affine_invert(const float m[6], float inv[6]);

/*
 * Float planar CHW tensor for a network: dst[c * H * W + y * W + x] =
 * (sample - mean[c]) * scale[c], where channel c is R,G,B, or B,G,R if bgr_order is nonzero
 * (mean and scale follow the OUTPUT order). `dst` holds channels * width * height floats; a
 * grey image writes one plane with mean[0] and scale[0].
 */
FACET_API facet_status facet_image_to_tensor(const facet_image *img, float *dst, const float mean[3],
                                             const float scale[3], int bgr_order);

/* --- output -------------------------------------------------------------------------------- */

/* Encodes to PNG in a new buffer of *size bytes, allocated by the library: the caller releases
 * *data with facet_free(). */
FACET_API facet_status facet_image_encode_png(const facet_image *img, uint8_t **data, size_t *size);
/* Encodes to PNG and writes it to `path` (replacing it). */
FACET_API facet_status facet_image_write_png(const facet_image *img, const char *path);

/* Draws the outline of the rectangle (x, y, w, h), `thickness` pixels wide inside it, in
 * `colour` (channels values; grey images use colour[0]); clipped to the image. */
FACET_API facet_status facet_image_draw_rect(facet_image *img, int x, int y, int w, int h, int thickness,
                                             const uint8_t colour[3]);
/* Fills the disc of `radius` pixels around (cx, cy); clipped to the image. */
FACET_API facet_status facet_image_draw_dot(facet_image *img, int cx, int cy, int radius,
                                            const uint8_t colour[3]);
/* Writes `text` with its top-left corner at (x, y) in a built-in 5x7 capital font (lower case
 * drawn as capitals; characters other than letters, digits, space and # - _ . : / ( ) as '?'),
 * each font cell `scale` (1..64) pixels square, on a `background` box (NULL: none); clipped to
 * the image. facet_image_text_width gives the width in pixels that text takes (7 x scale
 * high, glyphs 6 x scale apart). */
FACET_API facet_status facet_image_draw_text(facet_image *img, int x, int y, const char *text, int scale,
                                             const uint8_t colour[3], const uint8_t background[3]);
FACET_API int facet_image_text_width(const char *text, int scale);

#ifdef __cplusplus
}
#endif
#endif
