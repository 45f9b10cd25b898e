/*
 * event.c - the watch's events as JSON lines: the record `facet watch --json` prints, that a
 * webhook receives and that facetd's dashboard will store, so one function makes it for all.
 * Chips go as base64 JPEG (quality 90: about 4 KB for a 112x112 chip, a tenth of the PNG),
 * encoded with libjpeg-turbo, which libfacet links for decoding already.
 */
#include <jansson.h>
#include <jpeglib.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "facet/track.h"

static const char *const names[] = {"track_started", "recognized", "identity_changed", "stranger", "track_ended"};

const char *facet_watch_event_name(facet_watch_event_type t)
{
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

typedef struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
} jerr;

static void on_jpeg_error(j_common_ptr c)
{
    longjmp(((jerr *)c->err)->jb, 1);
}

/* RGB image to JPEG in memory; *out is malloc'd (libjpeg's jpeg_mem_dest). */
static int encode_jpeg(const facet_image *img, unsigned char **out, unsigned long *n)
{
    struct jpeg_compress_struct c;
    jerr e;
    *out = NULL;
    *n = 0;
    c.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = on_jpeg_error;
    if (setjmp(e.jb)) {
        jpeg_destroy_compress(&c);
        free(*out);
        *out = NULL;
        return -1;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, out, n);
    c.image_width = (JDIMENSION)img->width;
    c.image_height = (JDIMENSION)img->height;
    c.input_components = img->channels;
    c.in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = img->data + (size_t)c.next_scanline * (size_t)img->stride;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return 0;
}

/* Rounded to a millisecond / a thousandth: the events are for people and dashboards. */
static json_t *num(double v, double unit)
{
    return json_real(isfinite(v) ? round(v / unit) * unit : 0);
}

facet_status facet_watch_event_to_json(const facet_watch_event *ev, int with_chip, char **json)
{
    if (!ev || !json) return facet_seterr(NULL, FACET_E_INVALID_ARG, "event_to_json: NULL event or out");
    *json = NULL;
    json_t *o = json_object();
    json_t *box = json_array();
    int bad = !o || !box, oom = bad;
    bad |= json_object_set_new(o, "event", json_string(facet_watch_event_name(ev->type)));
    bad |= json_object_set_new(o, "feed", json_string(ev->feed ? ev->feed : ""));
    bad |= json_object_set_new(o, "track", json_integer(ev->track));
    bad |= json_array_append_new(box, json_integer(lroundf(ev->box.x)));
    bad |= json_array_append_new(box, json_integer(lroundf(ev->box.y)));
    bad |= json_array_append_new(box, json_integer(lroundf(ev->box.w)));
    bad |= json_array_append_new(box, json_integer(lroundf(ev->box.h)));
    bad |= json_object_set(o, "box", box);
    bad |= json_object_set_new(o, "wall_t", num(ev->wall_t, 1e-3));
    bad |= json_object_set_new(o, "media_t", num(ev->media_t, 1e-3));
    if (ev->identity) bad |= json_object_set_new(o, "identity", json_string(ev->identity));
    if (ev->previous) bad |= json_object_set_new(o, "previous", json_string(ev->previous));
    if (ev->type == FACET_EV_RECOGNIZED || ev->type == FACET_EV_IDENTITY_CHANGED)
        bad |= json_object_set_new(o, "similarity", num(ev->similarity, 1e-4));
    if (ev->type != FACET_EV_TRACK_STARTED) bad |= json_object_set_new(o, "attempts", json_integer(ev->attempts));
    if (ev->type == FACET_EV_RECOGNIZED) bad |= json_object_set_new(o, "time_to_lock", num(ev->time_to_lock, 1e-3));
    if (ev->type == FACET_EV_TRACK_ENDED) bad |= json_object_set_new(o, "duration", num(ev->duration, 1e-3));
    bad |= json_object_set_new(o, "quality", num(ev->quality, 1e-3));
    if (with_chip && ev->chip && !bad) {
        unsigned char *jpg = NULL;
        unsigned long n = 0;
        char *b64 = NULL;
        int encoded = encode_jpeg(ev->chip, &jpg, &n) == 0;
        if (encoded) facet_base64_encode(jpg, n, &b64); /* NULL: out of memory */
        free(jpg);
        oom |= encoded && !b64;
        bad |= !b64 || json_object_set_new(o, "chip_jpeg", json_string(b64));
        facet_free(b64);
    }
    json_decref(box);
    /* json_string gives NULL for invalid UTF-8; json_object_set_new then fails: caught by bad */
    char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!s && (oom || !bad)) return facet_seterr(NULL, FACET_E_NO_MEMORY, "event_to_json: out of memory");
    if (!s) return facet_seterr(NULL, FACET_E_INVALID_ARG, "event_to_json: cannot encode the event (invalid UTF-8 in a name?)");
    *json = s;
    return FACET_OK;
}
