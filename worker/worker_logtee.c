/* worker_logtee: see worker_logtee.h. The sink is a stdio cookie stream
 * (line-buffered: ff_logf writes one line per call). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fopencookie */
#endif
#include "worker/worker_logtee.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ff_logtee {
    ff_log log;             /* what the worker logs through */
    FILE *through;          /* the wrapped sink (not owned), or NULL */
    FILE *cookie;
    pthread_mutex_t mu;
    char ring[FF_LOGTEE_RING];
    uint64_t total;         /* bytes ever written; ring holds the last min(total, RING) */
};

static ssize_t tee_write(void *cookie, const char *buf, size_t n) {
    ff_logtee *t = cookie;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < n; i++) t->ring[(t->total + i) % FF_LOGTEE_RING] = buf[i];
    t->total += n;
    pthread_mutex_unlock(&t->mu);
    if (t->through) {
        fwrite(buf, 1, n, t->through);
        fflush(t->through);
    }
    return (ssize_t)n;
}

ff_status ff_logtee_create(const ff_log *log, ff_logtee **out, ff_err *err) {
    ff_logtee *t = calloc(1, sizeof *t);
    if (!t) return ff_err_set(err, FF_ERR_NOMEM, "worker: out of memory for its log");
    pthread_mutex_init(&t->mu, NULL);
    cookie_io_functions_t io = {NULL, tee_write, NULL, NULL};
    if (!(t->cookie = fopencookie(t, "w", io))) {
        pthread_mutex_destroy(&t->mu);
        free(t);
        return ff_err_set(err, FF_ERR_IO, "worker: cannot open its log stream");
    }
    setvbuf(t->cookie, NULL, _IOLBF, 0);
    t->through = log ? log->sink : NULL;
    ff_log_init(&t->log, log ? log->level : FF_LOG_INFO, t->cookie);
    t->log.timestamps = log ? log->timestamps : 0;
    *out = t;
    return FF_OK;
}

void ff_logtee_free(ff_logtee *t) {
    if (!t) return;
    fclose(t->cookie);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

const ff_log *ff_logtee_log(const ff_logtee *t) { return &t->log; }

uint64_t ff_logtee_mark(ff_logtee *t) {
    fflush(t->cookie);
    pthread_mutex_lock(&t->mu);
    uint64_t m = t->total;
    pthread_mutex_unlock(&t->mu);
    return m;
}

char *ff_logtee_since(ff_logtee *t, uint64_t mark, size_t max) {
    fflush(t->cookie);
    pthread_mutex_lock(&t->mu);
    uint64_t from = mark, oldest = t->total > FF_LOGTEE_RING ? t->total - FF_LOGTEE_RING : 0;
    if (from < oldest) from = oldest;
    if (max && t->total - from > max) from = t->total - max;
    size_t n = (size_t)(t->total - from);
    char *s = malloc(n + 1);
    if (s) {
        for (size_t i = 0; i < n; i++) s[i] = t->ring[(from + i) % FF_LOGTEE_RING];
        s[n] = 0;
    }
    pthread_mutex_unlock(&t->mu);
    if (s && from > mark) { /* cut: start at a line */
        char *nl = strchr(s, '\n');
        if (nl) memmove(s, nl + 1, strlen(nl + 1) + 1);
    }
    return s;
}
