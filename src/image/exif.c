/*
 * exif.c - the one thing we need from EXIF: the orientation tag (0x0112), so that photos from
 * phones held sideways come out upright. The TIFF structure is read with every offset checked
 * against the buffer; anything malformed means "no orientation" rather than an error, since
 * the pixels are still good. The rotation itself is a single gather loop: each orientation
 * is a start offset and two steps in the stored image.
 */
#include <string.h>

#include "imagepriv.h"

static unsigned rd16(const uint8_t *p, int le)
{
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int facet_exif_orientation(const uint8_t *tiff, size_t size)
{
    if (!tiff || size < 8) return 1;
    int le;
    if (tiff[0] == 'I' && tiff[1] == 'I') le = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') le = 0;
    else return 1;
    if (rd16(tiff + 2, le) != 42) return 1;
    uint32_t ifd = rd32(tiff + 4, le);
    if (ifd > size || size - ifd < 2) return 1;
    unsigned n = rd16(tiff + ifd, le);
    size_t pos = (size_t)ifd + 2;
    for (unsigned i = 0; i < n; i++, pos += 12) {
        if (size - pos < 12) return 1;
        const uint8_t *e = tiff + pos;
        if (rd16(e, le) != 0x0112) continue;
        /* SHORT, count 1: the value sits left-justified in the 4-byte value field. */
        if (rd16(e + 2, le) != 3 || rd32(e + 4, le) != 1) return 1;
        unsigned v = rd16(e + 8, le);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

int facet_image_orient(facet_image **img, int orientation)
{
    facet_image *s = *img;
    if (orientation < 2 || orientation > 8) return FACET_OK;
    int swap = orientation >= 5; /* 5..8 exchange width and height */
    int ow = swap ? s->height : s->width, oh = swap ? s->width : s->height;
    facet_image *o;
    int r = facet_image_new(ow, oh, s->channels, &o);
    if (r) return r;
    /* Upright pixel (x, y) = stored pixel at start + x * sx + y * sy (in pixels of the stored
     * image; row steps are +-stride). Derived from the EXIF definition of which stored row and
     * column are the visual top and left. */
    ptrdiff_t c = s->channels, st = s->stride;
    ptrdiff_t last_col = (ptrdiff_t)(s->width - 1) * c, last_row = (ptrdiff_t)(s->height - 1) * st;
    ptrdiff_t start = 0, sx = c, sy = st;
    switch (orientation) {
    case 2: start = last_col; sx = -c; sy = st; break;             /* mirror left-right */
    case 3: start = last_row + last_col; sx = -c; sy = -st; break; /* rotate 180 */
    case 4: start = last_row; sx = c; sy = -st; break;             /* mirror top-bottom */
    case 5: start = 0; sx = st; sy = c; break;                     /* transpose */
    case 6: start = last_row; sx = -st; sy = c; break;             /* rotate 90 clockwise */
    case 7: start = last_row + last_col; sx = -st; sy = -c; break; /* transverse */
    case 8: start = last_col; sx = st; sy = -c; break;             /* rotate 90 anticlockwise */
    }
    const uint8_t *p = s->data;
    for (int y = 0; y < oh; y++) {
        /* Integer offsets, not pointers: stepping past the first row must not form a pointer
         * outside the buffer. */
        ptrdiff_t off = start + (ptrdiff_t)y * sy;
        uint8_t *d = o->data + (size_t)y * (size_t)o->stride;
        if (c == 3) {
            for (int x = 0; x < ow; x++, off += sx) {
                d[3 * x] = p[off];
                d[3 * x + 1] = p[off + 1];
                d[3 * x + 2] = p[off + 2];
            }
        } else {
            for (int x = 0; x < ow; x++, off += sx) d[x] = p[off];
        }
    }
    facet_image_destroy(s);
    *img = o;
    return FACET_OK;
}
