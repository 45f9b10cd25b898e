/*
 * facet/track.h - video: face tracking, best-shot selection, SAFR-style recognition scheduling,
 * recognition clients (in-process or through facetd) and the video pipeline that ties them to
 * sources (files, RTSP/HTTP streams, webcams, folders of images, frames pushed by the caller).
 *
 * Layers, each usable alone:
 *   facet_schedule    a pure state machine per track: when to send the next recognition
 *                     request, and what an answer means (lock-on, stranger, identity change).
 *                     No threads, no clock of its own, no I/O: the caller passes the time.
 *   facet_tracker     associates detection boxes to tracks across frames (overlap with motion
 *                     prediction); pure as well, on the media time the caller passes.
 *   facet_recognizer  answers "who is this 112x112 chip": in-process on a facet_gallery, or
 *                     remotely through facetd's POST /v1/collections/{name}/recognize.
 *   facet_watch       feeds, detection threads with frame dropping, quality scoring, best shot,
 *                     scheduling and events (JSON lines through facet_watch_event_to_json).
 *
 * Threads: facet_schedule and facet_tracker are plain objects for one thread at a time.
 * A facet_recognizer may be used by any number of threads at once. A facet_watch runs its own
 * threads between facet_watch_start and facet_watch_wait/stop; its event callback is called
 * from those threads, one call at a time, and must not call back into the watch.
 *
 * Times: `double` seconds. Media times count from the start of a source; wall times are unix
 * seconds.
 */
#ifndef FACET_TRACK_H
#define FACET_TRACK_H

#include "facet/base.h"
#include "facet/face.h"
#include "facet/gallery.h"
#include "facet/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- recognition scheduling (SAFR's five settings) ----------------------------------------- */

typedef struct facet_schedule_settings {
    int initial_attempts;       /* attempts on a face not yet recognised, each sent as soon as
                                   the previous answer is back (default 3) */
    double failed_backoff;      /* after them, each attempt on a stranger waits this much longer
                                   than the previous one (default 0.34 s) ... */
    double retry_failed_every;  /* ... until the wait reaches this; 0 = as fast as answers
                                   return, the back-off then ignored (default 0 s) */
    int min_lock_recognitions;  /* consecutive answers naming the same identity to lock on
                                   (default 2) */
    double reconfirm_every;     /* wait between attempts on a locked identity (default 1 s) */
} facet_schedule_settings;

FACET_API void facet_schedule_defaults(facet_schedule_settings *s);

/* What an answer changed; facet_schedule_answer's result. */
typedef enum facet_schedule_event {
    FACET_SCHED_NONE = 0,
    FACET_SCHED_RECOGNIZED = 1,       /* locked on an identity (first lock of the track, or after
                                         it had been called a stranger) */
    FACET_SCHED_IDENTITY_CHANGED = 2, /* a locked track locked on another identity */
    FACET_SCHED_STRANGER = 3,         /* the initial attempts ended without a lock */
} facet_schedule_event;

/*
 * One track's scheduling state: a plain value (copy it, keep it in an array). Read the fields,
 * change them only through the functions below. Waits count from when the previous answer
 * returned; at most one request is in flight.
 */
typedef struct facet_schedule {
    facet_schedule_settings set;
    double started;        /* when the track was first seen */
    int in_flight;         /* 1 between _sent and _answer */
    double sent_at;        /* when the request in flight was sent */
    double answered_at;    /* when the last answer returned (-1: none yet) */
    int answers;           /* answers received (errors not counted) */
    int failed_ladder;     /* attempts made since the initial ones, on a stranger */
    int locked;            /* 1 once locked on `identity` */
    int stranger;          /* 1 once the initial attempts ended without a lock, until a lock */
    char identity[FACET_IDENTITY_MAX + 1]; /* the locked identity ("" when not locked) */
    float similarity;      /* similarity of the answer that locked or last confirmed */
    int lock_answers;      /* answers it took to lock the first time (0: not yet) */
    double lock_time;      /* when it first locked (-1: not yet) */
    char run_identity[FACET_IDENTITY_MAX + 1]; /* identity of the current run of agreeing
                                                  answers ("" = no one) */
    int run_length;        /* how many consecutive answers agree on run_identity */
    double error_wait;     /* wait after a failed request (grows by failed_backoff, capped) */
} facet_schedule;

/* Starts the state of a track first seen at `now`; `s` NULL for the defaults. */
FACET_API void facet_schedule_init(facet_schedule *st, const facet_schedule_settings *s, double now);
/* The earliest time the next request may be sent (a very large value while one is in flight). */
FACET_API double facet_schedule_next(const facet_schedule *st);
/* 1 if a request should be sent at `now`. */
FACET_API int facet_schedule_due(const facet_schedule *st, double now);
/* Records a request sent at `now`. */
FACET_API void facet_schedule_sent(facet_schedule *st, double now);
/* Records the answer to the request in flight, returned at `now`: `identity` NULL or "" when the
 * collection had no match above its threshold. Returns what changed. */
FACET_API facet_schedule_event facet_schedule_answer(facet_schedule *st, double now,
                                                     const char *identity, float similarity);
/* Records that the request in flight failed (network, server error): it does not count as an
 * attempt; the next one waits failed_backoff longer than after the previous failure (capped at
 * max(retry_failed_every, reconfirm_every), at least failed_backoff). */
FACET_API void facet_schedule_failed(facet_schedule *st, double now);

/* ---- tracker ------------------------------------------------------------------------------- */

typedef struct facet_tracker facet_tracker;

typedef struct facet_tracker_settings {
    float min_iou;        /* overlap of a detection with a track's predicted box to match (0.2) */
    float max_jump;       /* or: centre distance under this x the box height, similar size (0.6) */
    double timeout;       /* a track unseen this long (media seconds) ends (default 1.0) */
    int max_tracks;       /* tracks open at once; more detections are left untracked (256) */
} facet_tracker_settings;

FACET_API void facet_tracker_defaults(facet_tracker_settings *s);
FACET_API facet_status facet_tracker_create(const facet_tracker_settings *s, facet_tracker **out);
FACET_API void facet_tracker_destroy(facet_tracker *tr);

typedef struct facet_box {
    float x, y, w, h;
} facet_box;

/*
 * One detected frame at media time `t` (non-decreasing): boxes[0..n-1] are matched to tracks;
 * ids[i] receives the track id of box i (ids start at 1 and are never reused; 0 when the box
 * was left untracked because max_tracks are open). Tracks unseen for more than the timeout end;
 * facet_tracker_ended then lists them.
 */
FACET_API facet_status facet_tracker_update(facet_tracker *tr, double t, const facet_box *boxes, int n,
                                            int *ids);
/* Ends every open track now (a scene cut, the end of a source); facet_tracker_ended lists them. */
FACET_API void facet_tracker_end_all(facet_tracker *tr);
/* The ids of the tracks the last _update or _end_all ended; valid until the next call. */
FACET_API int facet_tracker_ended(const facet_tracker *tr, const int **ids);
/* Number of open tracks. */
FACET_API int facet_tracker_open(const facet_tracker *tr);

/* ---- recognition clients --------------------------------------------------------------------- */

typedef struct facet_recognizer facet_recognizer;

typedef struct facet_recognition {
    int found;                                /* 1 if a match reached the threshold */
    char identity[FACET_IDENTITY_MAX + 1];    /* "" when not found */
    float similarity;                         /* best similarity (also when not found, if any) */
    float probability;
    double server_ms;                         /* the server's own time (in-process: the search) */
    double rtt_ms;                            /* round trip measured by the client */
} facet_recognition;

/*
 * In-process: faceprint of the chip with `sdk`, searched in `collection` of `gallery` (loaded
 * by this call if it is not). threshold < 0 uses facet_match_threshold(). sdk and gallery are
 * borrowed: they must outlive the recognizer.
 */
FACET_API facet_status facet_recognizer_local(facet_sdk *sdk, facet_gallery *gallery, const char *collection,
                                              float threshold, facet_recognizer **out);
/*
 * Through a facetd at `base_url` ("http://127.0.0.1:8080"), with API key `key` (may be NULL),
 * on its collection `collection`. threshold < 0 leaves the threshold to the server.
 * timeout_s bounds each request (<= 0: 10 s). Strings are copied.
 */
FACET_API facet_status facet_recognizer_remote(const char *base_url, const char *key, const char *collection,
                                               float threshold, double timeout_s, facet_recognizer **out);
FACET_API void facet_recognizer_destroy(facet_recognizer *r);
/* Who is on this aligned 112x112 RGB chip. Thread-safe. On failure the message is in
 * facet_last_error() of the calling thread. */
FACET_API facet_status facet_recognize_chip(facet_recognizer *r, const facet_image *chip,
                                            facet_recognition *out);

/* ---- quality score ------------------------------------------------------------------------- */

/*
 * One score in 0..1 for how well a face will recognise, from facet_face_quality's checks
 * (`q`: sharpness, exposure, face height, and pose when q->has_pose) and the detector's
 * confidence. The factors and their ranges are in src/track/quality.c.
 */
FACET_API float facet_track_quality(const facet_face *face, const facet_quality *q);

/* ---- the video pipeline ------------------------------------------------------------------- */

typedef enum facet_watch_event_type {
    FACET_EV_TRACK_STARTED = 0,
    FACET_EV_RECOGNIZED = 1,
    FACET_EV_IDENTITY_CHANGED = 2,
    FACET_EV_STRANGER = 3,
    FACET_EV_TRACK_ENDED = 4,
} facet_watch_event_type;

FACET_API const char *facet_watch_event_name(facet_watch_event_type t);

/* An event; every pointer in it is valid only during the callback. */
typedef struct facet_watch_event {
    facet_watch_event_type type;
    const char *feed;          /* the feed's name */
    int track;                 /* track id, unique within the feed */
    facet_box box;             /* the face's box in the frame the event belongs to */
    double wall_t;             /* unix time when the event was made */
    double media_t;            /* media time of that frame */
    const char *identity;      /* recognized, identity_changed: the identity; else NULL */
    const char *previous;      /* identity_changed: the identity before */
    float similarity;          /* recognized, identity_changed */
    int attempts;              /* answers received for this track so far */
    double time_to_lock;       /* recognized: seconds from the track's start to the lock */
    double duration;           /* track_ended: seconds from first to last sighting */
    float quality;             /* the best shot's quality so far */
    const facet_image *chip;   /* the best shot (112x112), when settings.event_chips; else NULL */
} facet_watch_event;

typedef void (*facet_watch_event_fn)(void *user, const facet_watch_event *ev);

/*
 * The event as one JSON object on one line (no newline), the record `facet watch --json`
 * prints and that is POSTed to a webhook:
 *   {"event":"recognized","feed":"cam1","track":3,"box":[x,y,w,h],"wall_t":...,"media_t":...,
 *    "identity":"...","similarity":0.61,"attempts":2,"time_to_lock":0.41,"quality":0.8,
 *    "chip_jpeg":"<base64>"}
 * (fields that do not apply are left out; chip_jpeg only when the event has a chip and
 * with_chip is nonzero). Release *json with facet_free().
 */
FACET_API facet_status facet_watch_event_to_json(const facet_watch_event *ev, int with_chip, char **json);

typedef struct facet_watch facet_watch;

typedef struct facet_watch_settings {
    facet_schedule_settings schedule;
    facet_tracker_settings tracker;
    float send_quality;      /* best shots below this quality are not sent (default 0.2) */
    int quality_pose;        /* 1: the pose model's yaw and pitch in the quality score; 0 (default):
                                yaw from the detector's key points (the model costs more than the
                                detection of a whole frame, for every face) */
    float cut_threshold;     /* scene cut when the change between consecutive frames' 64x36
                                grey thumbnails (mean of the mean absolute difference and the
                                histogram distance, 0..1) exceeds this (default 0.1; 0 = off) */
    int realtime;            /* pace files by their timestamps, dropping frames detection
                                cannot keep up with (default 0: every frame, as fast as possible) */
    int recognition_threads; /* threads sending requests (default 4) */
    int event_chips;         /* 1: events carry the track's best chip (default 0) */
    double fps_folder;       /* media time step for folders of images (default 25 fps) */
    facet_watch_event_fn on_event;
    void *user;
} facet_watch_settings;

FACET_API void facet_watch_defaults(facet_watch_settings *s);

/* `sdk` detects and scores, `rec` (may be NULL: track only) recognises; both are borrowed and
 * shared by every feed; they must outlive the watch. */
FACET_API facet_status facet_watch_create(facet_sdk *sdk, facet_recognizer *rec,
                                          const facet_watch_settings *s, facet_watch **out);
/* Stops it (as facet_watch_stop) and frees it; NULL does nothing. */
FACET_API void facet_watch_destroy(facet_watch *w);
FACET_API const char *facet_watch_errmsg(const facet_watch *w);

/*
 * Adds a feed named `name` (copied; NULL: the source's last path element without its extension,
 * "hamilton_clip" for .../hamilton_clip.mp4, made unique with -2, -3, ...) reading `source`: a video file, an URL that
 * FFmpeg opens (rtsp://, http://, ...), "v4l2:/dev/video0" for a webcam, or a folder of JPEG/PNG
 * images (taken in name order). The source is opened now, so a bad one fails here.
 * *feed (may be NULL) receives the feed's index. Only before facet_watch_start.
 */
FACET_API facet_status facet_watch_add_source(facet_watch *w, const char *name, const char *source, int *feed);
/* Adds a feed whose frames the caller pushes with facet_watch_push (NULL name: "feedN"). */
FACET_API facet_status facet_watch_add_push(facet_watch *w, const char *name, int *feed);

/* Starts the threads: one reader and one detector per feed, and the recognition threads. */
FACET_API facet_status facet_watch_start(facet_watch *w);
/*
 * Hands a frame (read during the call only) to a push feed, with its media time. When
 * `wait_if_busy` is 0 and the feed's detector is still busy with the previous frame, the frame
 * is dropped (counted) and *dropped (may be NULL) set to 1; otherwise the call waits for it.
 */
FACET_API facet_status facet_watch_push(facet_watch *w, int feed, const facet_image *frame, double media_t,
                                        int wait_if_busy, int *dropped);
/* Marks a push feed finished. */
FACET_API facet_status facet_watch_push_end(facet_watch *w, int feed);
/* Waits until every feed has ended and every request has been answered; open tracks then end
 * (track_ended events). */
FACET_API facet_status facet_watch_wait(facet_watch *w);
/* Asks every feed to stop now, then waits as facet_watch_wait. */
FACET_API facet_status facet_watch_stop(facet_watch *w);

typedef struct facet_feed_stats {
    double elapsed;          /* wall seconds since the feed started */
    double media_t;          /* media time of the last frame read */
    long frames_in;          /* frames read from the source */
    long frames_detected;    /* frames that went through detection */
    long frames_dropped;     /* frames dropped because detection was busy */
    long faces;              /* faces detected, all frames */
    long tracks_total;       /* tracks started */
    int tracks_open;
    long scene_cuts;
    long requests;           /* recognition requests sent */
    long answers;            /* answers received */
    long errors;             /* failed requests */
    long recognized;         /* recognized events */
    double fps, dps, rps;    /* frames in, frames detected, answers per wall second */
    double rtt_ms_mean, rtt_ms_p50, rtt_ms_p99; /* recognition round trip */
    double server_ms_mean;   /* the recogniser's own time */
    double detect_ms_mean;   /* detection + quality per detected frame */
    int ended;               /* 1 once the source ended */
    long frames_failed;      /* frames whose detection failed (each logged; not in frames_detected) */
} facet_feed_stats;

FACET_API int facet_watch_feed_count(const facet_watch *w);
FACET_API const char *facet_watch_feed_name(const facet_watch *w, int feed);
/* A snapshot of a feed's figures; callable any time, from any thread. */
FACET_API facet_status facet_watch_stats(facet_watch *w, int feed, facet_feed_stats *out);

/*
 * Optional frame output: called by the detector thread after each detected frame with the
 * frame and the tracks on it (boxes, ids, and the locked identity or NULL); all valid during
 * the call only. Set before facet_watch_start.
 */
typedef void (*facet_watch_frame_fn)(void *user, int feed, const facet_image *frame, double media_t,
                                     int n, const facet_box *boxes, const int *ids,
                                     const char *const *identities);
FACET_API facet_status facet_watch_set_frame_callback(facet_watch *w, facet_watch_frame_fn fn, void *user);

/* ---- annotated video out ---------------------------------------------------------------- */

/*
 * A video file written with FFmpeg (facet watch --draw OUT.mp4): H.264 (libx264) when this
 * FFmpeg has it, else MPEG-4 part 2; the container from the name (.mp4, .mkv, ...). Frames
 * keep their media times (variable frame rate) and are scaled to width x height (odd sides are
 * made even). One thread at a time.
 */
typedef struct facet_video_writer facet_video_writer;

/* Creates `path` (replaced if it exists); fails on a name FFmpeg has no container for.
 * `codec`: NULL or "" for the best this FFmpeg has, "h264" or "mpeg4" to ask for one (an error
 * when it is missing). */
FACET_API facet_status facet_video_writer_create(const char *path, int width, int height, const char *codec,
                                                 facet_video_writer **out);
/* Appends an RGB or grey frame of any size, shown at `media_t` seconds (a time not after the
 * previous frame's becomes 1 ms after it). Read during the call only. */
FACET_API facet_status facet_video_writer_write(facet_video_writer *vw, const facet_image *frame,
                                                double media_t);
/* Encodes what the encoder still holds and completes the file; the first failure is returned.
 * Writing after it is an error. */
FACET_API facet_status facet_video_writer_finish(facet_video_writer *vw);
/* Finishes (if not yet done, ignoring failures) and frees; NULL does nothing. */
FACET_API void facet_video_writer_destroy(facet_video_writer *vw);
/* "h264" or "mpeg4" (static string); frames written so far. */
FACET_API const char *facet_video_writer_codec(const facet_video_writer *vw);
FACET_API long facet_video_writer_frames(const facet_video_writer *vw);

#ifdef __cplusplus
}
#endif
#endif
