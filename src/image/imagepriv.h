/*
 * imagepriv.h - what the files of src/image share and nothing outside needs: the image
 * allocator, argument checks, the per-format decoders and the EXIF orientation helpers.
 * Decoders get the whole encoded file in memory plus a name for their error messages.
 */
#ifndef FACET_SRC_IMAGE_PRIV_H
#define FACET_SRC_IMAGE_PRIV_H

#include "base/base.h"
#include "facet/image.h"

/* Largest side we accept anywhere; keeps every int product of a row safe (w * 4 < INT_MAX). */
#define FACET_IMAGE_MAX_SIDE (1 << 28)

/* New uninitialised image with stride = width * channels; sets the thread error on failure. */
int facet_image_new(int width, int height, int channels, facet_image **out);
/* FACET_OK if `img` is a usable image, else FACET_E_INVALID_ARG naming `what`. */
int facet_image_check(const facet_image *img, const char *what);

/* Decoders: `name` appears in messages ("'x.jpg'" or "memory buffer"). They honour
 * max_pixels, channels, scale_denom and EXIF (reporting the orientation found, 1 if none,
 * without applying it). */
int facet_decode_jpeg(const uint8_t *data, size_t size, const char *name,
                      const facet_decode_options *opt, facet_image **out, int *orientation);
int facet_decode_png(const uint8_t *data, size_t size, const char *name,
                     const facet_decode_options *opt, facet_image **out, int *orientation);

/* Orientation (1..8) from a TIFF structure (EXIF payload after "Exif\0\0"); 1 if absent
 * or malformed: a bad EXIF block is no reason to refuse the pixels. */
int facet_exif_orientation(const uint8_t *tiff, size_t size);
/* Applies EXIF orientation 2..8 to make the image upright; replaces *img on success. */
int facet_image_orient(facet_image **img, int orientation);

/* Luma of an RGB triple, BT.601 in 8.8 fixed point (weights sum to 256, so white stays 255). */
static inline uint8_t facet_luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((77 * r + 150 * g + 29 * b + 128) >> 8);
}

#endif
