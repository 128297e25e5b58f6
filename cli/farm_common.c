/* farm_common: see farm_common.h. */
#include "cli/farm_common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/ff_clock.h"
#include "pipeline/chain.h"
#include "proto/ff_jobspec.h"
#include "proto/ff_wire.h"
#include "video/video.h"

void ff_farm_client_init(ff_farm_client *c) {
    memset(c, 0, sizeof *c);
    const char *env = getenv("FRAMEFARM_COORDINATOR");
    c->net.endpoint = env && *env ? env : FF_FARM_DEFAULT_ENDPOINT;
    c->net.timeout_ms = 10000;
}

int ff_farm_client_option(ff_farm_client *c, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i], *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--json")) {
        c->json = 1;
        return 1;
    }
    if (strcmp(a, "--connect") && strcmp(a, "--server-key") && strcmp(a, "--client-key") && strcmp(a, "--timeout"))
        return 0;
    if (!val) {
        fprintf(stderr, "framefarm %s: %s needs a value\n", cmd, a);
        return -1;
    }
    if (!strcmp(a, "--connect")) c->net.endpoint = val;
    else if (!strcmp(a, "--server-key")) c->net.server_key = val;
    else if (!strcmp(a, "--client-key")) c->net.client_key = val;
    else {
        char *end;
        double t = strtod(val, &end);
        if (*end || !(t > 0 && t < 1e6)) {
            fprintf(stderr, "framefarm %s: bad --timeout '%s' (seconds)\n", cmd, val);
            return -1;
        }
        c->net.timeout_ms = (int)(t * 1000);
    }
    (*i)++;
    return 1;
}

int ff_farm_request(void *ctx, const ff_farm_client *c, const char *cmd, Ff__Envelope *req, Ff__Envelope **reply) {
    ff_err err = {0};
    ff_status st = ff_net_request(ctx, &c->net, req, reply, &err);
    if (!st) return FF_EXIT_OK;
    ff_cli_report(cmd, &err);
    return st == FF_ERR_IO ? FF_EXIT_UNREACHABLE : FF_EXIT_USAGE;
}

static char *absolute(const char *p) {
    if (p[0] == '/') return strdup(p);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return NULL;
    size_t n = strlen(cwd) + strlen(p) + 2;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s/%s", cwd, p);
    return out;
}

/* The model folder as the workers will open it, before anything renders:
 * its configs, every component's weight headers and parameter shapes
 * (pipeline/chain.h), and the job's size as the model takes it. A folder
 * this machine does not have is left to the workers (they may see another
 * file system). */
static ff_status check_model(const Ff__JobSpec *s, ff_err *err) {
    struct stat sb;
    if (stat(s->model, &sb) != 0) return FF_OK;
    ff_chain *ch = NULL;
    ff_status st = ff_chain_open(NULL, s->model, NULL, NULL, &ch, err);
    if (!st) st = ff_chain_check_files(ch, err);
    ff_geometry g;
    if (!st && !(st = ff_chain_geometry(ch, 1, s->frames, s->height, s->width, &g, err)) && (g.size_rounded || g.frames_rounded))
        st = ff_err_set(err, FF_ERR_ARG, "%s renders %dx%d, %d frames as %dx%d, %d frames: pick a size this model takes",
                        s->model, s->width, s->height, s->frames, g.width, g.height, g.num_frames);
    ff_chain_close(ch);
    return st ? ff_err_wrap(err, "model") : FF_OK;
}

Ff__JobSpec *ff_farm_load_job(const char *path, const char *cmd) {
    ff_err err = {0};
    Ff__JobSpec *s = NULL;
    if (ff_jobspec_load_file(path, &s, &err)) {
        ff_cli_report(cmd, &err);
        return NULL;
    }
    char *out = absolute(s->output), *model = NULL;
    char real[PATH_MAX];
    model = realpath(s->model, real) ? strdup(real) : absolute(s->model);
    if (!out || !model) {
        free(out);
        free(model);
        ff_jobspec_free(s);
        fprintf(stderr, "framefarm %s: out of memory\n", cmd);
        return NULL;
    }
    free(s->output);
    free(s->model);
    s->output = out;
    s->model = model;
    ff_video_format fmt; /* the output rule of every command; the folder is the coordinator's to check */
    if (ff_video_out_format(s->output, &fmt, &err)) {
        fprintf(stderr, "framefarm %s: %s: output %s\n", cmd, path, err.msg);
        ff_jobspec_free(s);
        return NULL;
    }
    if (check_model(s, &err)) {
        fprintf(stderr, "framefarm %s: %s: %s\n", cmd, path, err.msg);
        ff_jobspec_free(s);
        return NULL;
    }
    return s;
}

int ff_farm_submit(void *ctx, const ff_farm_client *c, const char *cmd, Ff__JobSpec *spec, uint64_t *job_id) {
    Ff__SubmitJob sj = FF__SUBMIT_JOB__INIT;
    sj.spec = spec;
    Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
    req.body_case = FF__ENVELOPE__BODY_SUBMIT;
    req.submit = &sj;
    int rc = ff_farm_request(ctx, c, cmd, &req, &rep);
    if (rc) return rc;
    if (rep->body_case != FF__ENVELOPE__BODY_SUBMIT_REPLY) {
        fprintf(stderr, "framefarm %s: unexpected '%s' reply\n", cmd, ff_wire_body_name(rep->body_case));
        ff_wire_free(rep);
        return FF_EXIT_FAIL;
    }
    *job_id = rep->submit_reply->job_id;
    char settings[256];
    fprintf(stderr, "job %llu submitted: %d chunk%s; %s\n", (unsigned long long)*job_id, rep->submit_reply->chunks,
            rep->submit_reply->chunks == 1 ? "" : "s", ff_jobspec_settings(spec, settings, sizeof settings));
    if (rep->submit_reply->has_workers && rep->submit_reply->workers == 0)
        fprintf(stderr, "framefarm %s: warning: no worker is connected to the coordinator; job %llu waits for one\n", cmd,
                (unsigned long long)*job_id);
    ff_wire_free(rep);
    return FF_EXIT_OK;
}

static void draw_bar(int tty, uint64_t id, const Ff__JobStatus *js, int *last_pct) {
    int pct = (int)(js->progress * 100 + 0.5);
    if (!tty && pct / 10 == *last_pct / 10 && *last_pct >= 0) return;
    char bar[41];
    int fill = pct * 40 / 100;
    for (int i = 0; i < 40; i++) bar[i] = i < fill ? '#' : '.';
    bar[40] = 0;
    fprintf(stderr, "%sjob %llu [%s] %3d%%  %d/%d chunks  %s%s", tty ? "\r" : "", (unsigned long long)id, bar, pct,
            js->chunks_done, js->chunks_total, js->state, tty ? "   " : "\n");
    *last_pct = pct;
}

/* The outputs after the first page (the coordinator lists a bounded page per reply). */
static int print_more_outputs(void *ctx, const ff_farm_client *c, const char *cmd, uint64_t job_id, size_t have,
                              int32_t total) {
    while (have < (size_t)total) {
        Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
        q.has_job_id = q.has_output_offset = q.has_chunk_limit = 1;
        q.job_id = job_id;
        q.output_offset = (uint32_t)have;
        q.chunk_limit = 0;
        Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
        req.body_case = FF__ENVELOPE__BODY_STATUS;
        req.status = &q;
        int rc = ff_farm_request(ctx, c, cmd, &req, &rep);
        if (rc) return rc;
        size_t got = rep->body_case == FF__ENVELOPE__BODY_STATUS_REPLY && rep->status_reply->n_jobs == 1
                         ? rep->status_reply->jobs[0]->n_outputs
                         : 0;
        for (size_t i = 0; i < got; i++) printf("%s\n", rep->status_reply->jobs[0]->outputs[i]);
        ff_wire_free(rep);
        if (!got) {
            fprintf(stderr, "framefarm %s: job %llu: outputs %zu.. could not be listed\n", cmd, (unsigned long long)job_id,
                    have);
            return FF_EXIT_FAIL;
        }
        have += got;
    }
    return FF_EXIT_OK;
}

int ff_farm_wait(void *ctx, const ff_farm_client *c, const char *cmd, uint64_t job_id, double wait_timeout_s) {
    int tty = isatty(2), last_pct = -1, reported_down = 0;
    double start = ff_now_s();
    ff_farm_client quiet = *c;
    for (;;) {
        if (c->stop && *c->stop) {
            if (tty) fputc('\n', stderr);
            fprintf(stderr, "framefarm %s: stopped by signal %d while waiting for job %llu\n", cmd, (int)*c->stop,
                    (unsigned long long)job_id);
            return 128 + (int)*c->stop;
        }
        Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
        q.has_job_id = q.has_chunk_limit = 1;
        q.job_id = job_id;
        q.chunk_limit = 0; /* counts only */
        Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
        req.body_case = FF__ENVELOPE__BODY_STATUS;
        req.status = &q;
        ff_err err = {0};
        ff_status st = ff_net_request(ctx, &quiet.net, &req, &rep, &err);
        if (st == FF_ERR_IO) {
            if (!reported_down)
                fprintf(stderr, "%sframefarm %s: coordinator unreachable, still waiting: %s\n", tty ? "\n" : "", cmd,
                        err.msg);
            reported_down = 1;
            if (wait_timeout_s > 0 && ff_now_s() - start > wait_timeout_s) return FF_EXIT_UNREACHABLE;
            sleep(1);
            continue;
        }
        if (st) {
            ff_cli_report(cmd, &err);
            return FF_EXIT_USAGE;
        }
        if (reported_down) fprintf(stderr, "framefarm %s: coordinator is back\n", cmd);
        reported_down = 0;
        if (rep->body_case != FF__ENVELOPE__BODY_STATUS_REPLY || rep->status_reply->n_jobs != 1) {
            ff_wire_free(rep);
            fprintf(stderr, "framefarm %s: unexpected reply to a status query\n", cmd);
            return FF_EXIT_FAIL;
        }
        const Ff__JobStatus *js = rep->status_reply->jobs[0];
        char js_state[32];
        snprintf(js_state, sizeof js_state, "%s", js->state ? js->state : "?");
        draw_bar(tty, job_id, js, &last_pct);
        int rc = -1;
        if (!strcmp(js->state, "done")) {
            if (tty) fputc('\n', stderr);
            for (size_t i = 0; i < js->n_outputs; i++) printf("%s\n", js->outputs[i]);
            rc = print_more_outputs(ctx, &quiet, cmd, job_id, js->n_outputs, js->outputs_total);
        } else if (!strcmp(js->state, "failed")) {
            if (tty) fputc('\n', stderr);
            fprintf(stderr, "framefarm %s: job %llu failed: %s\n", cmd, (unsigned long long)job_id,
                    js->error ? js->error : "(no message)");
            rc = FF_EXIT_FAIL;
        } else if (!strcmp(js->state, "cancelled")) {
            if (tty) fputc('\n', stderr);
            fprintf(stderr, "framefarm %s: job %llu was cancelled\n", cmd, (unsigned long long)job_id);
            rc = FF_EXIT_CANCELLED;
        }
        ff_wire_free(rep);
        if (rc >= 0) return rc;
        if (wait_timeout_s > 0 && ff_now_s() - start > wait_timeout_s) {
            fprintf(stderr, "framefarm %s: gave up waiting for job %llu after %.0f s (it is %s; exit %d)\n", cmd,
                    (unsigned long long)job_id, wait_timeout_s, js_state, FF_EXIT_WAIT_TIMEOUT);
            return FF_EXIT_WAIT_TIMEOUT;
        }
        struct timespec ts = {0, 250 * 1000000};
        nanosleep(&ts, NULL);
    }
}
