/* coord_items: each item's video is written as soon as every chunk of that
 * item is done (coord.h, "Items"), one item at a time per job on the
 * background thread, and recorded in the store; a video written is never
 * written again (after a restart either), and cancelling or failing a job
 * does not stop the items already due from being written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coordinator/assemble.h"
#include "coordinator/coord_internal.h"
#include "coordinator/outname.h"
#include "proto/ff_jobspec.h"

ff_status coord_item_output(const job *j, size_t i, char *buf, size_t n, ff_err *err) {
    return ff_outname_expand(j->spec, j->id, i, buf, n, err);
}

ff_status coord_items_init(job *j, ff_err *err) {
    size_t items = ff_jobspec_items(j->spec);
    free(j->item_st);
    j->item_st = calloc(items ? items : 1, 1);
    if (!j->item_st) return ff_err_set(err, FF_ERR_NOMEM, "coordinator: out of memory for %zu items", items);
    j->n_items = (uint32_t)items;
    j->n_due = j->n_written = j->due_from = 0;
    return FF_OK;
}

/* Chunks of item i: [i*per, (i+1)*per) (chunking.h plans every item alike). */
static int item_complete(const job *j, uint32_t item) {
    uint32_t per = j->n_items ? j->n_chunks / j->n_items : 0;
    for (uint32_t k = item * per; k < (item + 1) * per && k < j->n_chunks; k++)
        if (j->chunks[k].state != FF_CS_DONE) return 0;
    return per > 0;
}

void coord_items_chunk_done(job *j, const chunk *ch) {
    uint32_t i = ch->item;
    if (i >= j->n_items || j->item_st[i] != ITEM_PENDING || !item_complete(j, i)) return;
    j->item_st[i] = ITEM_DUE;
    j->n_due++;
    if (i < j->due_from) j->due_from = i;
}

/* ---- writing one item (background) -------------------------------------------------- */

typedef struct {
    Ff__JobSpec *spec;
    ff_chunk_window *w;     /* the item's chunks' windows */
    char **paths;           /* their frames files */
    size_t per, item;
    char *out;
    const ff_outroot *roots; /* the coordinator's, immutable while it runs */
    int hold;               /* TEST MODE */
    char *release_path;
    const ff_log *log;
    uint64_t job;
    ff_bgtask *self;
} asm_arg;

static void asm_free(void *p) {
    asm_arg *a = p;
    if (!a) return;
    ff_jobspec_free(a->spec);
    free(a->w);
    if (a->paths)
        for (size_t i = 0; i < a->per; i++) free(a->paths[i]);
    free(a->paths);
    free(a->out);
    free(a->release_path);
    free(a);
}

static int asm_frame(void *user, int frame) {
    asm_arg *a = user;
    atomic_fetch_add(&a->self->done, 1);
    if (a->hold && frame == 0) { /* TEST MODE: wait for the release file, so tests can watch */
        a->hold = 0;
        struct stat sb;
        while (!atomic_load(&a->self->cancel) && stat(a->release_path, &sb) != 0) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return atomic_load(&a->self->cancel);
}

static ff_status asm_run(ff_bgtask *t, ff_err *err) {
    asm_arg *a = t->arg;
    a->self = t;
    atomic_store(&t->total, (long long)a->spec->frames);
    ff_status st = ff_outroot_check(a->roots, a->out, err); /* again, right before writing */
    if (!st)
        st = ff_assemble_item(a->spec, a->w, (const char *const *)a->paths, a->per, a->out, asm_frame, a, err);
    if (st) return ff_err_wrap(err, "writing item %zu", a->item);
    FF_INFO(a->log, "job %llu: wrote %s", (unsigned long long)a->job, a->out);
    return FF_OK;
}

static void start_item(ff_coord *c, job *j, uint32_t item, double now) {
    asm_arg *a = calloc(1, sizeof *a);
    ff_err err = {0};
    uint32_t per = j->n_chunks / j->n_items;
    char out[4200];
    if (a) {
        a->per = per;
        a->item = item;
        a->roots = c->roots;
        a->hold = c->o.test_hold_assembly;
        a->log = c->o.log;
        a->job = j->id;
        a->w = malloc(per * sizeof *a->w);
        a->paths = calloc(per, sizeof *a->paths);
        size_t rl = strlen(c->o.state_dir) + 40;
        if ((a->release_path = malloc(rl))) snprintf(a->release_path, rl, "%s/test-release-assembly", c->o.state_dir);
    }
    int ok = a && a->w && a->paths && a->release_path && !coord_item_output(j, item, out, sizeof out, &err) &&
             (a->out = strdup(out)) && !ff_jobspec_clone(j->spec, &a->spec, &err);
    for (uint32_t k = 0; ok && k < per; k++) {
        const chunk *ch = &j->chunks[item * per + k];
        a->w[k] = (ff_chunk_window){ch->item, ch->lat_start, ch->lat_count};
        char p[4200];
        ok = !ff_store_chunk_path(c->store, j->id, ch->idx, ".frames", p, sizeof p, &err) && (a->paths[k] = strdup(p));
    }
    ff_bgtask *t = ok ? ff_bgtask_new(COORD_BG_ASSEMBLE, asm_run, a, asm_free) : NULL;
    j->item_st[item] = ITEM_PENDING; /* not due while in flight (or when it could not start) */
    j->n_due--;
    if (!t) {
        if (!ok) asm_free(a);
        if (coord_job_active(j)) coord_job_fail(c, j, now, err.msg[0] ? err.msg : "writing a video: out of memory");
        return;
    }
    t->job = j->id;
    t->chunk = item;
    j->assembly = t;
    j->asm_item = item;
    ff_bgwork_submit(c->bg, t);
    FF_INFO(c->o.log, "job %llu: item %u's %u chunk%s done, writing %s", (unsigned long long)j->id, item, per,
            per == 1 ? "" : "s", out);
}

void coord_items_start(ff_coord *c, double now) {
    for (size_t i = 0; i < c->n_jobs; i++) {
        job *j = c->jobs[i];
        if (j->assembly || !j->n_due || !j->item_st) continue;
        uint32_t it = j->due_from;
        while (it < j->n_items && j->item_st[it] != ITEM_DUE) it++;
        if (it >= j->n_items) { /* cannot happen: n_due counts them */
            j->n_due = 0;
            continue;
        }
        j->due_from = it + 1;
        start_item(c, j, it, now);
    }
}

static void drop_item_chunks(ff_coord *c, const job *j, uint32_t item) {
    uint32_t per = j->n_chunks / j->n_items;
    for (uint32_t k = item * per; k < (item + 1) * per; k++) {
        char p[4200];
        ff_err e;
        if (!ff_store_chunk_path(c->store, j->id, k, ".frames", p, sizeof p, &e)) unlink(p);
    }
}

void coord_items_finished(ff_coord *c, ff_bgtask *t, double now) {
    job *j = coord_find_job(c, t->job);
    if (!j || j->assembly != t) return;
    j->assembly = NULL;
    uint32_t item = (uint32_t)t->chunk;
    if (t->status) {
        if (coord_job_active(j)) coord_job_fail(c, j, now, t->err.msg);
        else FF_WARN(c->o.log, "job %llu (%s): %s", (unsigned long long)j->id, ff_cstate_name(j->state), t->err.msg);
        return;
    }
    j->item_st[item] = ITEM_WRITTEN;
    j->n_written++;
    ff_err err;
    if (ff_store_output_written(c->store, j->id, item, coord_wall(c, now), &err)) FF_WARN(c->o.log, "%s", err.msg);
    if (!c->o.keep_chunks) drop_item_chunks(c, j, item);
    if (coord_job_active(j) && j->n_written == j->n_items) {
        coord_job_finish(c, j, FF_CS_DONE, now);
        c->st.jobs_done++;
        if (!c->o.keep_chunks) ff_store_drop_chunk_files(c->store, j->id);
        FF_INFO(c->o.log, "job %llu done (%u chunks)", (unsigned long long)j->id, j->n_chunks);
    }
}
