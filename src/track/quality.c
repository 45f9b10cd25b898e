/*
 * quality.c - one number per face for "how well will this recognise", so that a track's best
 * shot can be kept and weak shots are not sent at all.
 *
 * The score is a product of factors in 0..1, each from one of the SDK's own checks, so that any
 * single bad property (a turned head, motion blur, a face too small for the 112x112 chip) pulls
 * the whole score down:
 *   size:      face height 32 px -> 0, 96 px and up -> 1 (the chip is 112 px; smaller faces are
 *              upsampled and lose detail);
 *   sharpness: blur_score / 12 (docs/quality.md: 6 is the "blurry" line, sharp photos score
 *              10-30);
 *   exposure:  the share of well-exposed pixels, 0.4 -> 0, 0.9 -> 1;
 *   pose:      (1 - |yaw| / 60 deg) x (1 - |pitch| / 50 deg) when the pose model ran;
 *   detector:  its confidence 0.5 -> 0, 1.0 -> 1 (partly occluded faces score lower).
 */
#include <math.h>

#include "facet/track.h"

static float ramp(float v, float lo, float hi)
{
    if (!(v > lo)) return 0;
    if (v >= hi) return 1;
    return (v - lo) / (hi - lo);
}

float facet_track_quality(const facet_face *face, const facet_quality *q)
{
    if (!face || !q) return 0;
    const float deg = 3.14159265f / 180.0f;
    float s = ramp(q->face_height > 0 ? q->face_height : face->h, 32, 96);
    s *= ramp(q->blur_score, 0, 12);
    s *= ramp(q->exposure_score, 0.4f, 0.9f);
    if (q->has_pose) s *= ramp(60 * deg - fabsf(q->yaw), 0, 60 * deg) * ramp(50 * deg - fabsf(q->pitch), 0, 50 * deg);
    s *= ramp(face->score, 0.5f, 1.0f);
    return s;
}
