/*
 * jpeg.c - JPEG decoding with libjpeg-turbo through the classic libjpeg API.
 *
 * libjpeg reports fatal errors by calling error_exit, which by default prints and exits; we
 * install one that longjmps back here, and an output_message that says nothing. Running out
 * of data is only a warning to libjpeg (it pads the image with grey); we promote it to an
 * error, because a half-grey face is a silent wrong answer. So are libjpeg's corrupt-data
 * warnings (bad Huffman code, premature end of a segment, stray bytes before a marker): libjpeg
 * resynchronises and keeps going, which gives a plausible picture with damaged blocks, a moved
 * face box and no error. They fail the decode unless the caller sets the decode option
 * allow_corrupt, which turns them into one FACET_LOG_WARN line. jpeg_finish_decompress reads
 * the data after the last row as well, where damage shows as extraneous bytes before EOI; only
 * a missing EOI there is tolerated. Of 9,858 real JPEGs in ../shared/data none warns; 200
 * flipped bytes in a photo's entropy-coded data always did in our tests, while a single
 * flipped bit often still decodes to valid codes, which no decoder can see (JPEG has no
 * checksum). A progress monitor caps the
 * number of progressive scans, the known way to make a tiny file take minutes to decode.
 * The size is checked against max_pixels after jpeg_read_header and before
 * jpeg_start_decompress, where libjpeg and we allocate. CMYK/YCCK (Adobe) files are decoded
 * to CMYK and converted here, since libjpeg-turbo will not convert them to RGB itself.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "imagepriv.h"

#define JPEG_MAX_SCANS 1000

typedef struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    int truncated;                 /* nonzero: the data ended before the image did */
    int allow_corrupt;             /* decode option: corrupt-data warnings are not errors */
    int finishing;                 /* in jpeg_finish_decompress: a missing EOI is harmless */
    int corrupt;                   /* corrupt-data warnings seen */
    char first[JMSG_LENGTH_MAX];   /* the first of them */
    struct jpeg_progress_mgr prog; /* lives here so that it is freed with the rest */
} jerr;

static void on_error(j_common_ptr cinfo)
{
    jerr *e = (jerr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* Warnings about metadata the decoder does not use for pixels: not corrupt image data. */
static int harmless_warning(int code)
{
    return code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC;
}

static void on_message(j_common_ptr cinfo, int level)
{
    if (level != -1) return; /* level -1 is a warning, higher levels are trace output */
    jerr *e = (jerr *)cinfo->err;
    int code = cinfo->err->msg_code;
    cinfo->err->num_warnings++;
    if (code == JWRN_JPEG_EOF) {
        if (e->finishing) return;
        e->truncated = 1;
        on_error(cinfo);
    }
    if (harmless_warning(code)) return;
    if (!e->corrupt++) {
        char m[JMSG_LENGTH_MAX];
        (*cinfo->err->format_message)(cinfo, m);
        /* libjpeg says "Corrupt JPEG data: <cause>"; our message says "corrupt JPEG data" once */
        static const char prefix[] = "Corrupt JPEG data: ";
        const char *cause = strncmp(m, prefix, sizeof prefix - 1) ? m : m + sizeof prefix - 1;
        snprintf(e->first, sizeof e->first, "%s", cause);
    }
    if (!e->allow_corrupt) longjmp(e->jump, 1);
}

static void silent(j_common_ptr cinfo)
{
    (void)cinfo;
}

static void on_progress(j_common_ptr cinfo)
{
    if (cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if (d->input_scan_number > JPEG_MAX_SCANS) {
            jerr *e = (jerr *)cinfo->err;
            snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
            longjmp(e->jump, 1);
        }
    }
}

/* Adobe CMYK to RGB; Photoshop writes inverted values (saw_Adobe_marker). */
static void cmyk_row(uint8_t *dst, const uint8_t *src, int width, int inverted, int grey)
{
    for (int x = 0; x < width; x++) {
        unsigned c = src[4 * x], m = src[4 * x + 1], y = src[4 * x + 2], k = src[4 * x + 3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        unsigned r = (c * k + 127) / 255, g = (m * k + 127) / 255, b = (y * k + 127) / 255;
        if (grey) {
            dst[x] = facet_luma(r, g, b);
        } else {
            dst[3 * x] = (uint8_t)r;
            dst[3 * x + 1] = (uint8_t)g;
            dst[3 * x + 2] = (uint8_t)b;
        }
    }
}

int facet_decode_jpeg(const uint8_t *data, size_t size, const char *name,
                      const facet_decode_options *opt, facet_image **out, int *orientation)
{
    struct jpeg_decompress_struct cinfo;
    jerr err;
    /* Touched after setjmp and read after a longjmp: volatile. `status` stays FACET_E_FORMAT
     * unless a failure of ours (limit, memory) set its own code and message. */
    facet_image *volatile img = NULL;
    uint8_t *volatile cmyk = NULL;
    volatile int status = FACET_E_FORMAT;

    *out = NULL;
    *orientation = 1;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.emit_message = on_message;
    err.pub.output_message = silent;
    err.allow_corrupt = opt->allow_corrupt;
    if (setjmp(err.jump)) {
        if (status == FACET_E_FORMAT && err.corrupt)
            facet_seterr(NULL, FACET_E_FORMAT,
                         "%s: corrupt JPEG data: %s (decode option allow_corrupt accepts it)",
                         name, err.first);
        else if (status == FACET_E_FORMAT)
            facet_seterr(NULL, FACET_E_FORMAT, "%s: corrupt JPEG: %s%s", name, err.msg,
                         err.truncated ? " (truncated file)" : "");
        jpeg_destroy_decompress(&cinfo);
        facet_image_destroy(img);
        facet_free_aligned(cmyk);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    err.prog.progress_monitor = on_progress;
    cinfo.progress = &err.prog;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (opt->apply_exif) jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&cinfo, TRUE);

    uint64_t pixels = (uint64_t)cinfo.image_width * cinfo.image_height;
    if (pixels > (uint64_t)opt->max_pixels) {
        status = facet_seterr(NULL, FACET_E_LIMIT,
                              "%s: JPEG of %ux%u = %llu pixels is over the limit of %lld "
                              "(decode option max_pixels)",
                              name, cinfo.image_width, cinfo.image_height,
                              (unsigned long long)pixels, (long long)opt->max_pixels);
        longjmp(err.jump, 1);
    }

    for (jpeg_saved_marker_ptr mk = cinfo.marker_list; mk; mk = mk->next) {
        if (mk->marker == JPEG_APP0 + 1 && mk->data_length > 6 &&
            memcmp(mk->data, "Exif\0\0", 6) == 0) {
            *orientation = facet_exif_orientation(mk->data + 6, mk->data_length - 6);
            break;
        }
    }

    int grey = opt->channels == 1;
    int is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (is_cmyk) cinfo.out_color_space = JCS_CMYK;
    else cinfo.out_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned)opt->scale_denom;
    cinfo.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&cinfo);

    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    facet_image *im;
    int r = facet_image_new(w, h, grey ? 1 : 3, &im);
    if (r != FACET_OK) {
        status = r;
        longjmp(err.jump, 1);
    }
    img = im;
    if (is_cmyk) {
        if (cinfo.output_components != 4) {
            snprintf(err.msg, sizeof err.msg, "CMYK output with %d components",
                     cinfo.output_components);
            longjmp(err.jump, 1);
        }
        cmyk = facet_alloc((size_t)w * 4);
        if (!cmyk) {
            status = facet_seterr(NULL, FACET_E_NO_MEMORY, "%s: no memory for a JPEG row", name);
            longjmp(err.jump, 1);
        }
    } else if (cinfo.output_components != im->channels) {
        snprintf(err.msg, sizeof err.msg, "unexpected %d output components",
                 cinfo.output_components);
        longjmp(err.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned y = cinfo.output_scanline;
        if (is_cmyk) {
            JSAMPROW row = cmyk;
            if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
            cmyk_row(im->data + (size_t)y * (size_t)im->stride, cmyk, w,
                     cinfo.saw_Adobe_marker, grey);
        } else {
            JSAMPROW rows[16];
            unsigned n = cinfo.output_height - y;
            if (n > 16) n = 16;
            for (unsigned i = 0; i < n; i++) rows[i] = im->data + (size_t)(y + i) * (size_t)im->stride;
            if (jpeg_read_scanlines(&cinfo, rows, n) == 0) break;
        }
    }
    if (cinfo.output_scanline < cinfo.output_height) {
        snprintf(err.msg, sizeof err.msg, "stopped at line %u of %u", cinfo.output_scanline,
                 cinfo.output_height);
        longjmp(err.jump, 1);
    }
    /* The rest of the data up to EOI, for the damage that shows only there; a missing EOI after
     * complete image data is harmless (many cameras and cropping tools write such files). */
    err.finishing = 1;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (err.corrupt)
        facet_log(FACET_LOG_WARN,
                  "%s: decoded despite corrupt JPEG data (%d warnings, the first: %s)", name,
                  err.corrupt, err.first);
    facet_free_aligned(cmyk);
    *out = im;
    return FACET_OK;
}
