/*
 * match.c - owns the mapping from cosine similarity to match probability and the "same
 * person" threshold. facet_compare and every collection's default use these numbers (a
 * collection may be given others with facet_gallery_set_match_model), so the API gives one
 * probability for one similarity whichever call asked. The numbers are fitted on the
 * preprocessing version 2 (BGR) faceprints of lfw-dev and johns with `facet eval ident --fit`
 * (docs/faceprint.md); change them here and only here.
 */
#include <math.h>

#include "face/match.h"
#include "facet/face.h"

/* p = 1 / (1 + exp(-(MATCH_A * similarity + MATCH_B))): a weighted logistic fit on 217,912
 * same-person and 200,000 different-person pairs, the classes weighing half each. */
#define MATCH_A 31.4043f
#define MATCH_B -9.0612f
/* Similarity at or above which two faceprints are called the same person: the best balanced
 * accuracy (99.53%) on the same pairs. */
#define MATCH_THRESHOLD 0.321f

float facet_match_logistic(float a, float b, float similarity)
{
    return (float)(1.0 / (1.0 + exp(-((double)a * similarity + b))));
}

float facet_match_probability(float similarity)
{
    return facet_match_logistic(MATCH_A, MATCH_B, similarity);
}

void facet_match_model(float *a, float *b)
{
    if (a) *a = MATCH_A;
    if (b) *b = MATCH_B;
}

float facet_match_threshold(void)
{
    return MATCH_THRESHOLD;
}

facet_vec_problem facet_vec_unit_check(const float *v, size_t n, double *norm, size_t *where)
{
    double nn = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            if (where) *where = i;
            return FACET_VEC_NOT_FINITE;
        }
        nn += (double)v[i] * v[i];
    }
    double l = sqrt(nn);
    if (norm) *norm = l;
    return fabs(l - 1.0) <= FACET_NORM_TOL ? FACET_VEC_OK : FACET_VEC_NOT_UNIT;
}
