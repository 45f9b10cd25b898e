/*
 * source.c - frames for the watch: FFmpeg (libavformat demuxes files, RTSP, HTTP and V4L2
 * cameras, libavcodec decodes, libswscale converts to RGB24) or a folder of JPEG/PNG files
 * decoded by libfacet itself.
 *
 * Media time is the frame's best-effort timestamp minus the stream's start, in seconds; frames
 * without a timestamp continue from the previous one by the stream's frame rate. A corrupt
 * packet is skipped (FFmpeg conceals what it can), as a camera client must; a stream that
 * fails to open or has no video is an error at open time.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <strings.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "base/base.h"
#include "source.h"

struct track_source {
    int live;
    atomic_int interrupted;
    /* FFmpeg */
    AVFormatContext *fmt;
    AVCodecContext *dec;
    struct SwsContext *sws;
    AVPacket *pkt;
    AVFrame *frm;
    int stream;
    double tb, start, step, last_t;
    int draining, done;
    /* folder */
    char **files;
    int n_files, next;
    double folder_step;
};

/* FFmpeg prints by itself; the library must not, so its messages go to facet's log callback.
 * av_log_set_callback is process-wide: a program using FFmpeg itself gets its lines there too. */
static void av_log_to_facet(void *avcl, int level, const char *fmt, va_list vl)
{
    (void)avcl;
    if (level > AV_LOG_WARNING) return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, vl);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n') line[--n] = 0;
    facet_log(level <= AV_LOG_ERROR ? FACET_LOG_WARN : FACET_LOG_DEBUG, "ffmpeg: %s", line);
}

static pthread_once_t av_once = PTHREAD_ONCE_INIT;
static void av_setup(void)
{
    av_log_set_callback(av_log_to_facet);
}

static int interrupt_cb(void *user)
{
    return atomic_load(&((track_source *)user)->interrupted);
}

static int is_image(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int open_folder(track_source *s, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return facet_seterr(NULL, FACET_E_IO, "source: cannot open folder %s", dir);
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !is_image(e->d_name)) continue;
        if (s->n_files == cap) {
            cap = cap ? cap * 2 : 64;
            char **f = facet_realloc(s->files, (size_t)cap * sizeof *f);
            if (!f) break;
            s->files = f;
        }
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = facet_malloc(n);
        if (!p) break;
        snprintf(p, n, "%s/%s", dir, e->d_name);
        s->files[s->n_files++] = p;
    }
    int oom = e != NULL;
    closedir(d);
    if (oom) return facet_seterr(NULL, FACET_E_NO_MEMORY, "source: out of memory listing %s", dir);
    if (s->n_files == 0) return facet_seterr(NULL, FACET_E_NOT_FOUND, "source: no .jpg or .png files in %s", dir);
    qsort(s->files, (size_t)s->n_files, sizeof *s->files, cmp_str);
    return FACET_OK;
}

static int av_fail(int status, const char *what, const char *spec, int averr)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(averr, msg, sizeof msg);
    return facet_seterr(NULL, status, "source: %s %s: %s", what, spec, msg);
}

static int open_ffmpeg(track_source *s, const char *spec)
{
    const AVInputFormat *ifmt = NULL;
    const char *url = spec;
    if (!strncmp(spec, "v4l2:", 5)) {
        avdevice_register_all();
        ifmt = av_find_input_format("video4linux2");
        if (!ifmt) return facet_seterr(NULL, FACET_E_UNSUPPORTED, "source: this FFmpeg has no video4linux2 input");
        url = spec + 5;
        s->live = 1;
    } else if (strstr(spec, "://") && strncmp(spec, "file://", 7) != 0) {
        s->live = 1;
    }
    s->fmt = avformat_alloc_context();
    if (!s->fmt) return facet_seterr(NULL, FACET_E_NO_MEMORY, "source: out of memory");
    s->fmt->interrupt_callback.callback = interrupt_cb;
    s->fmt->interrupt_callback.opaque = s;
    AVDictionary *opt = NULL;
    if (s->live) av_dict_set(&opt, "rw_timeout", "10000000", 0); /* 10 s without data ends a stream */
    if (!strncmp(spec, "rtsp://", 7)) av_dict_set(&opt, "rtsp_transport", "tcp", 0);
    int r = avformat_open_input(&s->fmt, url, ifmt, &opt);
    av_dict_free(&opt);
    if (r < 0) {
        s->fmt = NULL; /* freed by avformat_open_input on failure */
        return av_fail(r == AVERROR(ENOENT) ? FACET_E_IO : FACET_E_FORMAT, "cannot open", spec, r);
    }
    if ((r = avformat_find_stream_info(s->fmt, NULL)) < 0) return av_fail(FACET_E_FORMAT, "no stream info in", spec, r);
    const AVCodec *codec = NULL;
    s->stream = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (s->stream < 0 || !codec) return facet_seterr(NULL, FACET_E_FORMAT, "source: no decodable video stream in %s", spec);
    AVStream *st = s->fmt->streams[s->stream];
    s->dec = avcodec_alloc_context3(codec);
    if (!s->dec) return facet_seterr(NULL, FACET_E_NO_MEMORY, "source: out of memory");
    if ((r = avcodec_parameters_to_context(s->dec, st->codecpar)) < 0) return av_fail(FACET_E_FORMAT, "bad codec parameters in", spec, r);
    /* two decoding threads: the detector needs the rest of the cores */
    s->dec->thread_count = 2;
    if ((r = avcodec_open2(s->dec, codec, NULL)) < 0) return av_fail(FACET_E_UNSUPPORTED, "cannot decode", spec, r);
    if (s->dec->width < 1 || s->dec->height < 1 || (int64_t)s->dec->width * s->dec->height > 100000000)
        return facet_seterr(NULL, FACET_E_LIMIT, "source: %s: frame size %dx%d out of range", spec, s->dec->width,
                            s->dec->height);
    s->tb = av_q2d(st->time_base);
    s->start = st->start_time != AV_NOPTS_VALUE ? st->start_time * s->tb : 0;
    AVRational fr = av_guess_frame_rate(s->fmt, st, NULL);
    s->step = fr.num > 0 && fr.den > 0 ? av_q2d(av_inv_q(fr)) : 1.0 / 25;
    s->last_t = -s->step;
    s->pkt = av_packet_alloc();
    s->frm = av_frame_alloc();
    if (!s->pkt || !s->frm) return facet_seterr(NULL, FACET_E_NO_MEMORY, "source: out of memory");
    return FACET_OK;
}

int track_source_open(const char *spec, double folder_fps, track_source **out)
{
    if (!spec || !out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "source: NULL spec or out");
    *out = NULL;
    track_source *s = facet_calloc(1, sizeof *s);
    if (!s) return facet_seterr(NULL, FACET_E_NO_MEMORY, "source: out of memory");
    pthread_once(&av_once, av_setup);
    DIR *d = strstr(spec, "://") || !strncmp(spec, "v4l2:", 5) ? NULL : opendir(spec);
    int rc;
    if (d) {
        closedir(d);
        s->folder_step = folder_fps > 0 ? 1.0 / folder_fps : 1.0 / 25;
        rc = open_folder(s, spec);
    } else {
        rc = open_ffmpeg(s, spec);
    }
    if (rc) {
        track_source_close(s);
        return rc;
    }
    *out = s;
    return FACET_OK;
}

int track_source_live(const track_source *s)
{
    return s && s->live;
}

void track_source_interrupt(track_source *s)
{
    if (s) atomic_store(&s->interrupted, 1);
}

/* The decoded frame to a new RGB image. */
static int convert(track_source *s, facet_image **out, double *t)
{
    AVFrame *f = s->frm;
    if (f->width < 1 || f->height < 1 || (int64_t)f->width * f->height > 100000000)
        return facet_seterr(NULL, FACET_E_FORMAT, "source: decoded frame of %dx%d", f->width, f->height);
    s->sws = sws_getCachedContext(s->sws, f->width, f->height, (enum AVPixelFormat)f->format, f->width, f->height,
                                  AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!s->sws) return facet_seterr(NULL, FACET_E_UNSUPPORTED, "source: cannot convert pixel format %d", f->format);
    facet_image *img = NULL;
    int rc = facet_image_create(f->width, f->height, 3, &img);
    if (rc) return rc;
    uint8_t *dst[4] = {img->data, NULL, NULL, NULL};
    int dst_stride[4] = {img->stride, 0, 0, 0};
    sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
    int64_t pts = f->best_effort_timestamp;
    double mt = pts != AV_NOPTS_VALUE ? pts * s->tb - s->start : s->last_t + s->step;
    if (!(mt > s->last_t)) mt = s->last_t + s->step; /* media time never goes back */
    s->last_t = mt;
    *t = mt;
    *out = img;
    return FACET_OK;
}

static int read_ffmpeg(track_source *s, facet_image **frame, double *t)
{
    for (;;) {
        if (atomic_load(&s->interrupted)) return 1;
        int r = avcodec_receive_frame(s->dec, s->frm);
        if (r == 0) {
            int rc = convert(s, frame, t);
            av_frame_unref(s->frm);
            return rc;
        }
        if (r == AVERROR_EOF) return 1;
        if (r != AVERROR(EAGAIN)) return av_fail(FACET_E_FORMAT, "decoding", "frame", r);
        if (s->draining) return 1;
        r = av_read_frame(s->fmt, s->pkt);
        if (r < 0) {
            if (r != AVERROR_EOF && !atomic_load(&s->interrupted))
                facet_log(FACET_LOG_WARN, "source: read error, ending the stream");
            s->draining = 1;
            avcodec_send_packet(s->dec, NULL);
            continue;
        }
        if (s->pkt->stream_index == s->stream) {
            r = avcodec_send_packet(s->dec, s->pkt);
            if (r < 0 && r != AVERROR(EAGAIN)) facet_log(FACET_LOG_WARN, "source: corrupt packet skipped");
        }
        av_packet_unref(s->pkt);
    }
}

int track_source_read(track_source *s, facet_image **frame, double *t)
{
    if (!s || !frame || !t) return facet_seterr(NULL, FACET_E_INVALID_ARG, "source_read: NULL argument");
    *frame = NULL;
    if (s->dec) return read_ffmpeg(s, frame, t);
    while (s->next < s->n_files) {
        if (atomic_load(&s->interrupted)) return 1;
        int i = s->next++;
        int rc = facet_image_decode_file(s->files[i], NULL, frame);
        if (rc == FACET_OK) {
            *t = i * s->folder_step;
            return FACET_OK;
        }
        /* a bad file in a folder is skipped, like a corrupt packet in a stream */
        facet_log(FACET_LOG_WARN, "source: skipping %s: %s", s->files[i], facet_last_error());
    }
    return 1;
}

void track_source_close(track_source *s)
{
    if (!s) return;
    sws_freeContext(s->sws);
    av_frame_free(&s->frm);
    av_packet_free(&s->pkt);
    avcodec_free_context(&s->dec);
    avformat_close_input(&s->fmt);
    for (int i = 0; i < s->n_files; i++) free(s->files[i]);
    free(s->files);
    free(s);
}
