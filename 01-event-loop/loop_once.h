/*
 * loop_once.h: a one-shot timer that forgets its own handle.
 *
 * An owner keeps a one-shot timer's handle so that it can cancel the timer,
 * but once the timer has fired the handle is gone (loop.h), and cancelling
 * it then would be a use after free. Every owner would have to clear its
 * copy at the top of the callback. loop_once_t does it in one place:
 * `timer` is the handle while the timer is pending and NULL otherwise, so
 * the owner may always test it, and loop_once_cancel() is always safe.
 *
 *   loop_once_t resume;                    // in the owner, zeroed
 *   loop_once_start(loop, &s->resume, 250, on_resume, s);
 *   ...
 *   loop_once_cancel(loop, &s->resume);    // pending or not
 *
 * Header only: it uses nothing but loop.h's public calls, so any chapter
 * that includes loop.h can use it without building another object.
 */
#ifndef LOOP_ONCE_H
#define LOOP_ONCE_H

#include <stddef.h>

#include "loop.h"

typedef struct loop_once {
    loop_timer_t *timer; /* pending: the loop's handle; otherwise NULL */
    void (*cb)(void *arg);
    void *arg;
} loop_once_t;

static inline void loop_once_fire_(loop_t *loop, loop_timer_t *timer, void *arg)
{
    (void)loop;
    (void)timer;
    loop_once_t *o = arg;
    o->timer = NULL; /* a one-shot timer's handle is gone once it fires */
    o->cb(o->arg);
}

/* Call cb(arg) once, delay_ms from now. o must stay where it is until the
 * timer has fired or been cancelled. Returns 0, or -1 with errno from
 * loop_timer_add (o is then not pending). */
static inline int loop_once_start(loop_t *loop, loop_once_t *o, uint64_t delay_ms,
                                  void (*cb)(void *arg), void *arg)
{
    o->cb = cb;
    o->arg = arg;
    o->timer = loop_timer_add(loop, delay_ms, 0, loop_once_fire_, o);
    return o->timer == NULL ? -1 : 0;
}

/* Cancel o if it is pending; nothing if it fired or never started. */
static inline void loop_once_cancel(loop_t *loop, loop_once_t *o)
{
    if (o->timer == NULL)
        return;
    loop_timer_cancel(loop, o->timer);
    o->timer = NULL;
}

#endif
