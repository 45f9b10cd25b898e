/*
 * schedule.c - SAFR's recognition scheduling as a pure state machine on a clock the caller
 * passes in: no threads, no sleeping, no I/O, so tests replay scripted answers on a virtual
 * clock and check exact send times.
 *
 * The rules (facet/track.h has the settings):
 *   - one request in flight per track; every wait counts from when the previous answer returned,
 *     so a slower server lowers the request rate by itself;
 *   - a face not yet recognised gets initial_attempts attempts back to back;
 *   - after them it is a stranger: the k-th further attempt waits k x failed_backoff, capped at
 *     retry_failed_every (0: no wait, the ladder ignored);
 *   - min_lock_recognitions consecutive answers naming one identity lock the track on it; a
 *     locked track is reconfirmed every reconfirm_every, and switches (identity_changed) only
 *     when that many consecutive answers agree on another identity. Answers of "no one" never
 *     unlock a locked track: a turned head or a blurred frame must not undo a recognition.
 */
#include <float.h>
#include <string.h>

#include "facet/track.h"

void facet_schedule_defaults(facet_schedule_settings *s)
{
    if (!s) return;
    s->initial_attempts = 3;
    s->failed_backoff = 0.34;
    s->retry_failed_every = 0.0;
    s->min_lock_recognitions = 2;
    s->reconfirm_every = 1.0;
}

void facet_schedule_init(facet_schedule *st, const facet_schedule_settings *s, double now)
{
    if (!st) return;
    memset(st, 0, sizeof *st);
    if (s)
        st->set = *s;
    else
        facet_schedule_defaults(&st->set);
    if (st->set.initial_attempts < 0) st->set.initial_attempts = 0;
    if (st->set.min_lock_recognitions < 1) st->set.min_lock_recognitions = 1;
    if (st->set.failed_backoff < 0) st->set.failed_backoff = 0;
    if (st->set.retry_failed_every < 0) st->set.retry_failed_every = 0;
    if (st->set.reconfirm_every < 0) st->set.reconfirm_every = 0;
    st->started = now;
    st->answered_at = -1;
    st->lock_time = -1;
}

/* The wait after the last answer, by the state the track is in. */
static double answer_wait(const facet_schedule *st)
{
    if (st->locked) return st->set.reconfirm_every;
    if (st->answers < st->set.initial_attempts) return 0;
    double w = (st->failed_ladder + 1) * st->set.failed_backoff;
    return w < st->set.retry_failed_every ? w : st->set.retry_failed_every;
}

double facet_schedule_next(const facet_schedule *st)
{
    if (!st || st->in_flight) return DBL_MAX;
    if (st->answered_at < 0 && st->error_wait <= 0) return st->started;
    double w = answer_wait(st);
    if (st->error_wait > w) w = st->error_wait;
    return st->answered_at + w;
}

int facet_schedule_due(const facet_schedule *st, double now)
{
    return st && !st->in_flight && now >= facet_schedule_next(st);
}

void facet_schedule_sent(facet_schedule *st, double now)
{
    if (!st) return;
    st->in_flight = 1;
    st->sent_at = now;
}

facet_schedule_event facet_schedule_answer(facet_schedule *st, double now, const char *identity,
                                           float similarity)
{
    if (!st) return FACET_SCHED_NONE;
    if (!identity) identity = "";
    int was_stranger = st->stranger;
    st->in_flight = 0;
    st->answered_at = now;
    st->error_wait = 0;
    st->answers++;
    if (st->run_length > 0 && strcmp(st->run_identity, identity) == 0) {
        st->run_length++;
    } else {
        strncpy(st->run_identity, identity, FACET_IDENTITY_MAX);
        st->run_identity[FACET_IDENTITY_MAX] = 0;
        st->run_length = 1;
    }
    int agreed = identity[0] && st->run_length >= st->set.min_lock_recognitions;

    if (st->locked) {
        if (agreed && strcmp(identity, st->identity) != 0) {
            strcpy(st->identity, st->run_identity);
            st->similarity = similarity;
            return FACET_SCHED_IDENTITY_CHANGED;
        }
        if (strcmp(identity, st->identity) == 0) st->similarity = similarity;
        return FACET_SCHED_NONE;
    }
    if (agreed) {
        st->locked = 1;
        st->stranger = 0;
        st->failed_ladder = 0;
        strcpy(st->identity, st->run_identity);
        st->similarity = similarity;
        if (st->lock_answers == 0) {
            st->lock_answers = st->answers;
            st->lock_time = now;
        }
        return FACET_SCHED_RECOGNIZED;
    }
    if (was_stranger) {
        st->failed_ladder++;
        return FACET_SCHED_NONE;
    }
    if (st->answers >= st->set.initial_attempts) {
        st->stranger = 1;
        return FACET_SCHED_STRANGER;
    }
    return FACET_SCHED_NONE;
}

void facet_schedule_failed(facet_schedule *st, double now)
{
    if (!st) return;
    st->in_flight = 0;
    st->answered_at = now;
    double cap = st->set.retry_failed_every > st->set.reconfirm_every ? st->set.retry_failed_every
                                                                       : st->set.reconfirm_every;
    if (cap < st->set.failed_backoff) cap = st->set.failed_backoff;
    st->error_wait += st->set.failed_backoff;
    if (st->error_wait > cap) st->error_wait = cap;
    /* failed_backoff 0 must still not turn a failing server into a busy loop of requests */
    if (st->error_wait <= 0) st->error_wait = 0.05;
}
