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
 *   pose:      (1 - |yaw| / 60 deg) x (1 - |pitch| / 50 deg) when the pose model ran; else
 *              1 - |yaw| / 60 deg with yaw from the five key points the detector already gives:
 *              the nose's offset from the eye-mouth midline, in the face's own frame, over the
 *              eye distance is about 0.6 tan(yaw) (the nose tip stands ~0.6 eye distances in
 *              front of the eyes, and the eye distance shrinks by cos(yaw)). docs/quality.md
 *              measured the nose offset against fr_pose's yaw: correlation 0.973. fr_pose is a
 *              224x224 network costing more than detection itself, too much for every face
 *              of every frame;
 *   detector:  its confidence 0.5 -> 0, 1.0 -> 1 (partly occluded faces score lower).
 */
#include <math.h>

#include "facet/track.h"

/* Yaw (radians, sign ignored) from the key points; -1 when they are degenerate. */
static float keypoint_yaw(const facet_face *f)
{
    const facet_point *k = f->kps;
    float ex = k[FACET_KP_RIGHT_EYE].x - k[FACET_KP_LEFT_EYE].x, ey = k[FACET_KP_RIGHT_EYE].y - k[FACET_KP_LEFT_EYE].y;
    float d = sqrtf(ex * ex + ey * ey);
    if (!(d > 1e-3f)) return -1;
    ex /= d;
    ey /= d;
    float mx = (k[FACET_KP_LEFT_EYE].x + k[FACET_KP_RIGHT_EYE].x + k[FACET_KP_MOUTH_LEFT].x + k[FACET_KP_MOUTH_RIGHT].x) / 4;
    float my = (k[FACET_KP_LEFT_EYE].y + k[FACET_KP_RIGHT_EYE].y + k[FACET_KP_MOUTH_LEFT].y + k[FACET_KP_MOUTH_RIGHT].y) / 4;
    /* the nose's offset along the eye line, from the middle of eyes and mouth */
    float off = ((k[FACET_KP_NOSE].x - mx) * ex + (k[FACET_KP_NOSE].y - my) * ey) / d;
    return atanf(fabsf(off) / 0.6f);
}

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
    if (q->has_pose) {
        s *= ramp(60 * deg - fabsf(q->yaw), 0, 60 * deg) * ramp(50 * deg - fabsf(q->pitch), 0, 50 * deg);
    } else {
        float yaw = keypoint_yaw(face);
        s *= yaw < 0 ? 0 : ramp(60 * deg - yaw, 0, 60 * deg);
    }
    s *= ramp(face->score, 0.5f, 1.0f);
    return s;
}
