/* worker_held: see worker_held.h. */
#include "worker/worker_held.h"

#include <stdlib.h>
#include <string.h>

static void set_clear(ff_held_set *s) {
    for (size_t i = 0; i < s->n; i++) free(s->msg[i]);
    free(s->msg);
    free(s->len);
    memset(s, 0, sizeof *s);
}

void ff_held_init(ff_held *h) { memset(h, 0, sizeof *h); }

void ff_held_free(ff_held *h) {
    set_clear(&h->cur);
    set_clear(&h->kept);
}

void ff_held_add(ff_held *h, uint64_t task, const void *msg, size_t len) {
    ff_held_set *s = &h->cur;
    if (s->task != task) {
        set_clear(s);
        s->task = task;
    }
    if (s->over) return;
    if (s->bytes + len > FF_HELD_MAX_BYTES) { /* too large to keep: a restart re-renders it */
        uint64_t t = s->task;
        set_clear(s);
        s->task = t;
        s->over = 1;
        return;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        uint8_t **m = realloc(s->msg, cap * sizeof *m);
        if (m) s->msg = m;
        size_t *l = m ? realloc(s->len, cap * sizeof *l) : NULL;
        if (l) s->len = l;
        if (!m || !l) {
            s->over = 1;
            return;
        }
        s->cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        s->over = 1;
        return;
    }
    memcpy(copy, msg, len);
    s->msg[s->n] = copy;
    s->len[s->n++] = len;
    s->bytes += len;
}

void ff_held_finish(ff_held *h, uint64_t task, int ok) {
    if (h->cur.task != task || !ok || h->cur.over) {
        if (h->cur.task == task) set_clear(&h->cur);
        return;
    }
    set_clear(&h->kept);
    h->kept = h->cur;
    memset(&h->cur, 0, sizeof h->cur);
}

uint64_t ff_held_task(const ff_held *h) { return h->kept.task; }

void ff_held_drop(ff_held *h, uint64_t task) {
    if (task && h->kept.task == task) set_clear(&h->kept);
}
