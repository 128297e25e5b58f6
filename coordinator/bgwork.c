/* bgwork: see bgwork.h. */
#include "coordinator/bgwork.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ff_bgwork {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* work queued, or stop */
    pthread_cond_t idle_cv; /* the queue ran empty */
    ff_bgtask *queue, *queue_tail, *finished, *finished_tail;
    ff_bgtask *running;
    int stop;
    pthread_t th;
};

ff_bgtask *ff_bgtask_new(int kind, ff_bgtask_fn run, void *arg, void (*free_arg)(void *)) {
    ff_bgtask *t = calloc(1, sizeof *t);
    if (!t) {
        if (free_arg) free_arg(arg);
        return NULL;
    }
    t->kind = kind;
    t->run = run;
    t->arg = arg;
    t->free_arg = free_arg;
    atomic_init(&t->cancel, 0);
    atomic_init(&t->done, 0);
    atomic_init(&t->total, 0);
    atomic_init(&t->started, 0);
    return t;
}

void ff_bgtask_free(ff_bgtask *t) {
    if (!t) return;
    if (t->free_arg) t->free_arg(t->arg);
    free(t);
}

static void push(ff_bgtask **head, ff_bgtask **tail, ff_bgtask *t) {
    t->next = NULL;
    if (*tail) (*tail)->next = t;
    else *head = t;
    *tail = t;
}

static ff_bgtask *pop(ff_bgtask **head, ff_bgtask **tail) {
    ff_bgtask *t = *head;
    if (t) {
        *head = t->next;
        if (!*head) *tail = NULL;
        t->next = NULL;
    }
    return t;
}

static void *bg_main(void *arg) {
    ff_bgwork *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && !w->queue) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) break;
        ff_bgtask *t = pop(&w->queue, &w->queue_tail);
        w->running = t;
        pthread_mutex_unlock(&w->mu);
        atomic_store(&t->started, 1);
        ff_err_clear(&t->err);
        t->status = atomic_load(&t->cancel) ? ff_err_set(&t->err, FF_ERR_ARG, "cancelled") : t->run(t, &t->err);
        pthread_mutex_lock(&w->mu);
        w->running = NULL;
        push(&w->finished, &w->finished_tail, t);
        if (!w->queue) pthread_cond_broadcast(&w->idle_cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

ff_status ff_bgwork_start(ff_bgwork **out, ff_err *err) {
    ff_bgwork *w = calloc(1, sizeof *w);
    if (!w) return ff_err_set(err, FF_ERR_NOMEM, "coordinator: out of memory for the background thread");
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->idle_cv, NULL);
    if (pthread_create(&w->th, NULL, bg_main, w)) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->idle_cv);
        free(w);
        return ff_err_set(err, FF_ERR_INTERNAL, "coordinator: cannot start the background thread");
    }
    *out = w;
    return FF_OK;
}

void ff_bgwork_stop(ff_bgwork *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    if (w->running) atomic_store(&w->running->cancel, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    for (ff_bgtask *t; (t = pop(&w->queue, &w->queue_tail));) ff_bgtask_free(t);
    for (ff_bgtask *t; (t = pop(&w->finished, &w->finished_tail));) ff_bgtask_free(t);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->idle_cv);
    free(w);
}

void ff_bgwork_submit(ff_bgwork *w, ff_bgtask *t) {
    pthread_mutex_lock(&w->mu);
    push(&w->queue, &w->queue_tail, t);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

ff_bgtask *ff_bgwork_poll(ff_bgwork *w) {
    pthread_mutex_lock(&w->mu);
    ff_bgtask *t = pop(&w->finished, &w->finished_tail);
    pthread_mutex_unlock(&w->mu);
    return t;
}

void ff_bgwork_wait_idle(ff_bgwork *w) {
    pthread_mutex_lock(&w->mu);
    while (w->queue || w->running) pthread_cond_wait(&w->idle_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}
