/*
 * fuzz_image.c - libFuzzer target for the image decoders (JPEG, PNG, EXIF) through the
 * public memory entry point, then the operations that read decoded pixels. A small
 * max_pixels keeps each run fast and lets the fuzzer explore headers rather than wait on
 * big images; one bit of the input's last byte varies the options, so grey output, scaled
 * decoding and ignoring EXIF are reached too. Any crash, leak or sanitizer report is a bug;
 * errors are the expected answer to most inputs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "facet/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    facet_decode_options opt;
    facet_decode_defaults(&opt);
    opt.max_pixels = 1 << 18;
    if (size > 0) {
        uint8_t v = data[size - 1];
        opt.channels = v & 1 ? 1 : 3;
        opt.scale_denom = 1 << ((v >> 1) & 3);
        opt.apply_exif = !(v & 8);
    }
    facet_image *img = NULL;
    if (facet_image_decode_memory(data, size, &opt, &img) != 0) return 0;

    /* Exercise the readers of a decoded image on odd, input-dependent sizes. */
    facet_image *o = NULL;
    if (facet_image_resize(img, 1 + img->width / 3, 1 + img->height / 5, &o) == 0)
        facet_image_destroy(o);
    const float m[6] = {0.7f, -0.3f, (float)img->width / 2, 0.3f, 0.7f, -5.0f};
    if (facet_image_warp_affine(img, m, 37, 29, NULL, &o) == 0) facet_image_destroy(o);
    uint8_t *png = NULL;
    size_t n = 0;
    if ((int64_t)img->width * img->height <= 1 << 16 && facet_image_encode_png(img, &png, &n) == 0)
        facet_free(png);
    facet_image_destroy(img);
    return 0;
}
