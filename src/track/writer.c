/*
 * writer.c - annotated video out (facet watch --draw OUT.mp4): RGB frames encoded with
 * libavcodec and muxed with libavformat, the FFmpeg libraries the sources already use.
 *
 * Codec: H.264 through libx264 when this FFmpeg has it (Debian's does), else FFmpeg's own
 * MPEG-4 part 2 encoder, which every FFmpeg build has; facet_video_writer_codec says which.
 * Frames keep their media times (a 1 ms time base), so a feed that dropped frames plays at its
 * real speed: the file has variable frame rate. Every frame is scaled (libswscale) to the size
 * fixed at creation, so a folder of images of different sizes still makes one stream; the
 * sides are made even because 4:2:0 chroma needs it.
 *
 * One writer is for one thread at a time (the frame callback of one feed).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "base/base.h"
#include "facet/track.h"

struct facet_video_writer {
    AVFormatContext *oc;
    AVStream *st;
    AVCodecContext *enc;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    int width, height;
    int64_t last_pts, last_step; /* ms; the step is the last frame's duration (the muxer needs
                                    one for the final frame, or drops it) */
    long frames;
    int header_written, finished, failed;
    char codec[16];
};

static int av_fail(const char *what, int averr)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(averr, msg, sizeof msg);
    return facet_seterr(NULL, averr == AVERROR(ENOMEM) ? FACET_E_NO_MEMORY : FACET_E_IO, "video writer: %s: %s",
                        what, msg);
}

void facet_video_writer_destroy(facet_video_writer *vw)
{
    if (!vw) return;
    if (vw->header_written && !vw->finished) facet_video_writer_finish(vw);
    if (vw->oc && vw->oc->pb && !(vw->oc->oformat->flags & AVFMT_NOFILE)) avio_closep(&vw->oc->pb);
    avformat_free_context(vw->oc);
    avcodec_free_context(&vw->enc);
    av_frame_free(&vw->frame);
    av_packet_free(&vw->pkt);
    sws_freeContext(vw->sws);
    free(vw);
}

facet_status facet_video_writer_create(const char *path, int width, int height, const char *codec_name,
                                       facet_video_writer **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "video_writer_create: out is NULL");
    *out = NULL;
    if (!path || !*path) return facet_seterr(NULL, FACET_E_INVALID_ARG, "video_writer_create: path is empty");
    int want_h264 = !codec_name || !*codec_name || !strcmp(codec_name, "h264");
    int want_mpeg4 = !codec_name || !*codec_name || !strcmp(codec_name, "mpeg4");
    if (!want_h264 && !want_mpeg4)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "video_writer_create: codec '%s' is not h264 or mpeg4",
                            codec_name);
    if (width < 2 || height < 2 || width > 8192 || height > 8192)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "video_writer_create: size %dx%d out of range (2..8192)", width,
                            height);
    facet_video_writer *vw = facet_calloc(1, sizeof *vw);
    if (!vw) return facet_seterr(NULL, FACET_E_NO_MEMORY, "video_writer_create: out of memory");
    vw->width = width & ~1;
    vw->height = height & ~1;
    vw->last_pts = -1;
    int r = avformat_alloc_output_context2(&vw->oc, NULL, NULL, path);
    if (r < 0 || !vw->oc) {
        facet_video_writer_destroy(vw);
        return facet_seterr(NULL, FACET_E_INVALID_ARG,
                            "video_writer_create: %s: no video container for this name (use .mp4 or .mkv)", path);
    }
    const AVCodec *codec = want_h264 ? avcodec_find_encoder_by_name("libx264") : NULL;
    if (!codec && want_mpeg4) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    if (!codec) {
        facet_video_writer_destroy(vw);
        return facet_seterr(NULL, FACET_E_UNSUPPORTED, "video_writer_create: this FFmpeg has no %s encoder",
                            want_mpeg4 && want_h264 ? "libx264 or mpeg4" : want_h264 ? "libx264" : "mpeg4");
    }
    snprintf(vw->codec, sizeof vw->codec, "%s", codec->id == AV_CODEC_ID_H264 ? "h264" : "mpeg4");
    vw->st = avformat_new_stream(vw->oc, NULL);
    vw->enc = avcodec_alloc_context3(codec);
    vw->frame = av_frame_alloc();
    vw->pkt = av_packet_alloc();
    if (!vw->st || !vw->enc || !vw->frame || !vw->pkt) {
        facet_video_writer_destroy(vw);
        return facet_seterr(NULL, FACET_E_NO_MEMORY, "video_writer_create: out of memory");
    }
    AVCodecContext *e = vw->enc;
    e->width = vw->width;
    e->height = vw->height;
    e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->time_base = (AVRational){1, 1000};
    e->framerate = (AVRational){25, 1}; /* a hint for rate control; the times are the frames' own */
    e->gop_size = 50;
    e->max_b_frames = 0; /* every frame decodes when it arrives: no reordering, no frame held back */
    /* one thread: the frame callback runs on the feed's detector thread, whose cores the other
     * feeds need; annotated output is for looking, not for speed */
    e->thread_count = 1;
    if (codec->id == AV_CODEC_ID_H264) {
        av_opt_set(e->priv_data, "preset", "veryfast", 0);
        av_opt_set(e->priv_data, "crf", "23", 0);
    } else {
        e->flags |= AV_CODEC_FLAG_QSCALE;
        e->global_quality = FF_QP2LAMBDA * 4;
    }
    if (vw->oc->oformat->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((r = avcodec_open2(e, codec, NULL)) < 0 || (r = avcodec_parameters_from_context(vw->st->codecpar, e)) < 0) {
        facet_video_writer_destroy(vw);
        return av_fail("opening the encoder", r);
    }
    vw->st->time_base = e->time_base;
    vw->frame->format = e->pix_fmt;
    vw->frame->width = e->width;
    vw->frame->height = e->height;
    if ((r = av_frame_get_buffer(vw->frame, 0)) < 0) {
        facet_video_writer_destroy(vw);
        return av_fail("frame buffer", r);
    }
    if (!(vw->oc->oformat->flags & AVFMT_NOFILE) && (r = avio_open(&vw->oc->pb, path, AVIO_FLAG_WRITE)) < 0) {
        facet_video_writer_destroy(vw);
        char msg[AV_ERROR_MAX_STRING_SIZE] = "";
        av_strerror(r, msg, sizeof msg);
        return facet_seterr(NULL, FACET_E_IO, "video_writer_create: %s: %s", path, msg);
    }
    if ((r = avformat_write_header(vw->oc, NULL)) < 0) {
        facet_video_writer_destroy(vw);
        return av_fail("writing the header", r);
    }
    vw->header_written = 1;
    *out = vw;
    return FACET_OK;
}

const char *facet_video_writer_codec(const facet_video_writer *vw)
{
    return vw ? vw->codec : "";
}

long facet_video_writer_frames(const facet_video_writer *vw)
{
    return vw ? vw->frames : 0;
}

/* Sends a frame (NULL: the end) and writes every packet the encoder gives back. */
static facet_status encode(facet_video_writer *vw, AVFrame *f)
{
    int r = avcodec_send_frame(vw->enc, f);
    if (r < 0) return av_fail("encoding", r);
    for (;;) {
        r = avcodec_receive_packet(vw->enc, vw->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return FACET_OK;
        if (r < 0) return av_fail("encoding", r);
        if (vw->pkt->duration <= 0) vw->pkt->duration = vw->last_step;
        av_packet_rescale_ts(vw->pkt, vw->enc->time_base, vw->st->time_base);
        vw->pkt->stream_index = vw->st->index;
        r = av_interleaved_write_frame(vw->oc, vw->pkt); /* takes the packet's data */
        if (r < 0) return av_fail("writing", r);
    }
}

facet_status facet_video_writer_write(facet_video_writer *vw, const facet_image *frame, double media_t)
{
    if (!vw || !frame || !frame->data || frame->width < 1 || frame->height < 1 ||
        (frame->channels != 3 && frame->channels != 1) || frame->stride < frame->width * frame->channels)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "video_writer_write: NULL writer or not an RGB or grey image");
    if (!isfinite(media_t)) return facet_seterr(NULL, FACET_E_INVALID_ARG, "video_writer_write: media_t is not finite");
    if (vw->finished || vw->failed)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "video_writer_write: the writer is finished or failed");
    vw->sws = sws_getCachedContext(vw->sws, frame->width, frame->height,
                                   frame->channels == 3 ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_GRAY8, vw->width, vw->height,
                                   AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (!vw->sws) return facet_seterr(NULL, FACET_E_NO_MEMORY, "video_writer_write: no scaler for this frame");
    int r = av_frame_make_writable(vw->frame);
    if (r < 0) return av_fail("frame buffer", r);
    const uint8_t *src[4] = {frame->data, NULL, NULL, NULL};
    int src_stride[4] = {frame->stride, 0, 0, 0};
    sws_scale(vw->sws, src, src_stride, 0, frame->height, vw->frame->data, vw->frame->linesize);
    /* media times in ms; a frame not after the previous one goes 1 ms after it (the muxer
     * refuses times that do not grow) */
    int64_t pts = media_t > 0 ? (int64_t)llround(media_t * 1000) : 0;
    if (pts <= vw->last_pts) pts = vw->last_pts + 1;
    vw->last_step = vw->last_pts >= 0 ? pts - vw->last_pts : 40;
    vw->frame->pts = vw->last_pts = pts;
    facet_status rc = encode(vw, vw->frame);
    if (rc) {
        vw->failed = 1;
        return rc;
    }
    vw->frames++;
    return FACET_OK;
}

facet_status facet_video_writer_finish(facet_video_writer *vw)
{
    if (!vw) return facet_seterr(NULL, FACET_E_INVALID_ARG, "video_writer_finish: NULL writer");
    if (vw->finished) return FACET_OK;
    vw->finished = 1;
    facet_status rc = encode(vw, NULL);
    int r = av_write_trailer(vw->oc);
    if (!rc && r < 0) rc = av_fail("writing the trailer", r);
    if (!(vw->oc->oformat->flags & AVFMT_NOFILE)) {
        r = avio_closep(&vw->oc->pb);
        if (!rc && r < 0) rc = av_fail("closing the file", r);
    }
    return rc;
}
