/*
 * source.h - frames from a video file or stream (FFmpeg), a webcam, or a folder of images,
 * as RGB facet_images with their media time. Private to src/track.
 */
#ifndef FACET_TRACK_SOURCE_H
#define FACET_TRACK_SOURCE_H

#include "facet/image.h"

typedef struct track_source track_source;

/* Opens `spec` (see facet_watch_add_source); on failure facet_last_error() says why. */
int track_source_open(const char *spec, double folder_fps, track_source **out);
/* Next frame: 0 and a new *frame (the caller destroys it), 1 at the end, < 0 on an error. */
int track_source_read(track_source *s, facet_image **frame, double *media_t);
/* 1 for sources that run in real time by themselves (network streams, cameras). */
int track_source_live(const track_source *s);
/* Asks a blocking read to give up (from another thread). */
void track_source_interrupt(track_source *s);
void track_source_close(track_source *s);

#endif
