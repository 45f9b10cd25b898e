/*
 * match.h - the one model from similarity to match probability, and the one rule for what
 * counts as a faceprint vector (finite, unit length), shared by facet_compare, the faceprint
 * readers and the gallery (which sits above face in the dependency order). Private.
 */
#ifndef FACET_SRC_FACE_MATCH_H
#define FACET_SRC_FACE_MATCH_H

#include <stddef.h>

/* How far a faceprint's L2 norm may be from 1. fp16 storage rounds each value by at most
 * 2^-11 relative, so it moves the norm by at most 4.9e-4; 0.01 leaves room for vectors
 * normalised in low precision by other programs while any zero or unnormalised vector fails. */
#define FACET_NORM_TOL 0.01

/* 1 / (1 + exp(-(a * similarity + b))), computed in double the same way for every caller, so
 * that compare and a collection with the same a, b give the same bits. */
float facet_match_logistic(float a, float b, float similarity);

typedef enum facet_vec_problem {
    FACET_VEC_OK = 0,
    FACET_VEC_NOT_FINITE = 1, /* *where gets the first index with a NaN or infinity */
    FACET_VEC_NOT_UNIT = 2,   /* *norm gets the L2 norm */
} facet_vec_problem;

/* Checks n values: finite and with an L2 norm within FACET_NORM_TOL of 1. norm and where
 * may be NULL. */
facet_vec_problem facet_vec_unit_check(const float *v, size_t n, double *norm, size_t *where);

#endif
