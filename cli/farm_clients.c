/* framefarm submit | status | cancel | workers: the job-queue clients.
 *
 *   framefarm submit JOB.json [--wait] [--wait-timeout SEC]   prints the job id on stdout
 *   framefarm status [--after ID] [--limit N] [--json]        the job list, a page at a time
 *   framefarm status JOB [--chunks FIRST] [--limit N] [--json] one job: counts by state, a page of chunks
 *   framefarm cancel JOB                                      written videos are kept
 *   framefarm workers [--json] [--release ID]                 --release: a quarantined worker gets work again
 * common: [--connect tcp://HOST:PORT] [--server-key COORD.pub] [--client-key NAME] [--timeout SEC]
 *
 * Exit codes (for batch scripts): 0 success (submit --wait: the job is
 * done, its outputs on stdout); 1 the job failed; 2 usage error, bad job
 * file, or the coordinator refused the request (unknown job, invalid spec,
 * version mismatch); 3 coordinator unreachable (not running, wrong CURVE
 * key); 4 the job was cancelled; 5 submit --wait gave up after
 * --wait-timeout while the coordinator still answered (the job is not
 * finished). cli/farm_control.c has the operators' verbs (retry, priority,
 * pause, resume, logs). */
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cli/cli_opts.h"
#include "cli/farm_common.h"
#include "coordinator/coord.h"
#include "coordinator/status_json.h"
#include "proto/ff_jobspec.h"
#include "proto/ff_wire.h"

static int parse_job_id(const char *s, uint64_t *out) {
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || v == 0) return -1;
    *out = v;
    return 0;
}

static void *new_ctx(void) {
    void *ctx = zmq_ctx_new();
    if (!ctx) fprintf(stderr, "framefarm: zmq_ctx_new failed\n");
    return ctx;
}

int ff_cmd_submit(int argc, char **argv) {
    ff_farm_client c;
    ff_farm_client_init(&c);
    const char *path = NULL;
    int wait = 0;
    double wait_timeout = 0;
    for (int i = 1; i < argc; i++) {
        int r = ff_farm_client_option(&c, "submit", argc, argv, &i);
        if (r < 0) return FF_EXIT_USAGE;
        if (r) continue;
        if (!strcmp(argv[i], "--wait")) wait = 1;
        else if (!strcmp(argv[i], "--wait-timeout") && i + 1 < argc) wait_timeout = atof(argv[++i]);
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: framefarm submit JOB.json [--wait] [--wait-timeout SEC] [--connect EP] [--server-key PUB]\n"
                   "       [--client-key NAME] [--timeout SEC]\n"
                   "exit: 0 done/submitted, 1 job failed, 2 refused/bad file, 3 coordinator unreachable, 4 cancelled,\n"
                   "      5 --wait-timeout passed (the job is not finished)\n"
                   "  'output' may use templates in its file name: {job} {item} {seed} {prompt} (slugged)\n");
            return FF_EXIT_OK;
        } else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "framefarm submit: unknown argument '%s'\n", argv[i]);
            return FF_EXIT_USAGE;
        }
    }
    if (!path) {
        fprintf(stderr, "framefarm submit: give a job file (framefarm submit JOB.json [--wait])\n");
        return FF_EXIT_USAGE;
    }
    Ff__JobSpec *spec = ff_farm_load_job(path, "submit");
    if (!spec) return FF_EXIT_USAGE;
    void *ctx = new_ctx();
    if (!ctx) {
        ff_jobspec_free(spec);
        return FF_EXIT_FAIL;
    }
    uint64_t id = 0;
    int rc = ff_farm_submit(ctx, &c, "submit", spec, &id);
    ff_jobspec_free(spec);
    if (!rc) {
        printf("%llu\n", (unsigned long long)id);
        fflush(stdout);
        if (wait) rc = ff_farm_wait(ctx, &c, "submit", id, wait_timeout);
    }
    zmq_ctx_term(ctx);
    return rc;
}

/* One line of JSON per job or worker: the serializer the HTTP API uses too. */
static void print_json(const ProtobufCMessage *m) {
    ff_status_json_write(stdout, m);
    putchar('\n');
}

/* "submitted 12:00:01, started 12:00:02, elapsed 35.2 s, ETA 20 s" (local time). */
static void print_times(const Ff__JobStatus *j) {
    char sub[32] = "-", sta[32] = "-";
    time_t t = (time_t)j->submitted_at;
    struct tm tm;
    if (j->has_submitted_at && localtime_r(&t, &tm)) strftime(sub, sizeof sub, "%Y-%m-%d %H:%M:%S", &tm);
    t = (time_t)j->started_at;
    if (j->has_started_at && localtime_r(&t, &tm)) strftime(sta, sizeof sta, "%H:%M:%S", &tm);
    printf("submitted %s, started %s, elapsed %.1f s", sub, sta, j->elapsed_s);
    if (j->has_eta_s) printf(", ETA %.0f s", j->eta_s);
    putchar('\n');
}

int ff_cmd_status(int argc, char **argv) {
    ff_farm_client c;
    ff_farm_client_init(&c);
    uint64_t id = 0;
    long first = 0, limit = -1, after = 0;
    for (int i = 1; i < argc; i++) {
        int r = ff_farm_client_option(&c, "status", argc, argv, &i);
        if (r < 0) return FF_EXIT_USAGE;
        if (r) continue;
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: framefarm status [--after ID] [--limit N] [--json] [--connect EP] [--server-key PUB] [--timeout SEC]\n"
                   "       framefarm status JOB [--chunks FIRST] [--limit N] [--json] ...\n"
                   "  the job list comes a page at a time (at most %d jobs, errors cut to %d bytes: status JOB for all of it);\n"
                   "  one job gives its counts by state and a page of its chunks (--limit, default %d, at most %d)\n",
                   FF_COORD_STATUS_JOBS_MAX, FF_COORD_LIST_ERROR_MAX, FF_COORD_STATUS_CHUNKS_DEFAULT,
                   FF_COORD_STATUS_CHUNKS_MAX);
            return FF_EXIT_OK;
        }
        if ((!strcmp(a, "--chunks") || !strcmp(a, "--limit") || !strcmp(a, "--after")) && !val) {
            fprintf(stderr, "framefarm status: %s needs a value\n", a);
            return FF_EXIT_USAGE;
        }
        if (!strcmp(a, "--chunks")) {
            if (ff_cli_long("status", a, val, 0, 0x7fffffffL, &first)) return FF_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "--limit")) {
            if (ff_cli_long("status", a, val, 0, FF_COORD_STATUS_JOBS_MAX, &limit)) return FF_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "--after")) {
            if (ff_cli_long("status", a, val, 0, 0x7fffffffffffffffL, &after)) return FF_EXIT_USAGE;
            i++;
        } else if (id || parse_job_id(a, &id)) {
            fprintf(stderr, "framefarm status: bad argument '%s' (a job id, or see framefarm status --help)\n", a);
            return FF_EXIT_USAGE;
        }
    }
    void *ctx = new_ctx();
    if (!ctx) return FF_EXIT_FAIL;
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    q.has_job_id = id != 0;
    q.job_id = id;
    if (id) {
        q.has_chunk_offset = 1;
        q.chunk_offset = (uint32_t)first;
        if (limit >= 0) q.has_chunk_limit = 1, q.chunk_limit = (uint32_t)limit;
    } else {
        q.has_after_job = after > 0;
        q.after_job = (uint64_t)after;
        if (limit > 0) q.has_job_limit = 1, q.job_limit = (uint32_t)limit;
    }
    Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
    req.body_case = FF__ENVELOPE__BODY_STATUS;
    req.status = &q;
    int rc = ff_farm_request(ctx, &c, "status", &req, &rep);
    if (!rc && rep->body_case == FF__ENVELOPE__BODY_STATUS_REPLY) {
        const Ff__StatusReply *sr = rep->status_reply;
        if (c.json) {
            for (size_t i = 0; i < sr->n_jobs; i++) print_json(&sr->jobs[i]->base);
        } else if (!id) {
            printf("%-6s %-10s %6s %9s %-8s %s\n", "JOB", "STATE", "DONE", "CHUNKS", "PRIO", "NAME");
            for (size_t i = 0; i < sr->n_jobs; i++) {
                const Ff__JobStatus *j = sr->jobs[i];
                printf("%-6llu %-10s %5.1f%% %4d/%-4d %-8d %s%s\n", (unsigned long long)j->job_id, j->state,
                       j->progress * 100, j->chunks_done, j->chunks_total, j->priority, j->paused ? "(paused) " : "",
                       j->name ? j->name : "");
            }
            if (sr->more && sr->n_jobs)
                printf("(%d jobs in all; the next page: framefarm status --after %llu)\n", sr->jobs_total,
                       (unsigned long long)sr->jobs[sr->n_jobs - 1]->job_id);
        } else if (sr->n_jobs == 1) {
            const Ff__JobStatus *j = sr->jobs[0];
            printf("job %llu: %s, %.1f%%, %d/%d chunks, priority %d%s%s\n", (unsigned long long)j->job_id, j->state,
                   j->progress * 100, j->chunks_done, j->chunks_total, j->priority, j->name ? ", " : "",
                   j->name ? j->name : "");
            printf("chunks: %d queued, %d running, %d done, %d failed, %d cancelled%s; at most %d attempts each\n",
                   j->chunks_queued, j->chunks_running, j->chunks_done, j->chunks_failed, j->chunks_cancelled,
                   j->paused ? " (paused: nothing new starts; framefarm resume)" : "", j->max_attempts);
            if (j->settings) printf("settings: %s\n", j->settings);
            print_times(j);
            if (j->has_assemble_frames)
                printf("writing the videos: %lld of %lld frames\n", (long long)j->assembled_frames, (long long)j->assemble_frames);
            if (j->error) printf("error: %s\n", j->error);
            printf("videos written: %d of %d\n", j->outputs_written, j->outputs_total);
            for (size_t i = 0; i < j->n_outputs; i++) printf("output: %s\n", j->outputs[i]);
            if (j->n_outputs < (size_t)j->outputs_written)
                printf("(%d written in all, the first %zu listed; framefarm submit --wait prints every one)\n",
                       j->outputs_written, j->n_outputs);
            printf("%-6s %-5s %-10s %-10s %-8s %-13s %-9s %s\n", "CHUNK", "ITEM", "LATENTS", "STATE", "TRIES", "PROGRESS",
                   "ELAPSED", "WORKER");
            for (size_t i = 0; i < j->n_chunks; i++) {
                const Ff__ChunkStatus *ch = j->chunks[i];
                char lat[32], prog[32];
                snprintf(lat, sizeof lat, "%d..%d", ch->lat_start, ch->lat_start + ch->lat_count - 1);
                if (!strcmp(ch->state, "running"))
                    snprintf(prog, sizeof prog, "%s %lld/%lld", ch->stage == 0 ? "text" : ch->stage == 1 ? "step" : "decode",
                             (long long)ch->done, (long long)ch->total);
                else if (ch->has_retry_at)
                    snprintf(prog, sizeof prog, "retry in %.0fs", ch->retry_at - (double)time(NULL) > 0 ? ch->retry_at - (double)time(NULL) : 0);
                else
                    snprintf(prog, sizeof prog, "-");
                char el[32] = "-";
                if (ch->has_started_at && (ch->has_finished_at || !strcmp(ch->state, "running")))
                    snprintf(el, sizeof el, "%.1fs", (ch->has_finished_at ? ch->finished_at : (double)time(NULL)) - ch->started_at);
                printf("%-6u %-5u %-10s %-10s %-8d %-13s %-9s %s\n", ch->chunk, ch->item, lat, ch->state, ch->dispatches, prog,
                       el, ch->worker ? ch->worker : ch->last_worker ? ch->last_worker : "-");
            }
            size_t shown_end = j->chunk_offset + j->n_chunks;
            if (shown_end < (size_t)j->chunks_total)
                printf("(chunks %u..%zu of %d; the next page: framefarm status %llu --chunks %zu)\n", j->chunk_offset,
                       shown_end ? shown_end - 1 : 0, j->chunks_total, (unsigned long long)j->job_id, shown_end);
        }
    }
    ff_wire_free(rep);
    zmq_ctx_term(ctx);
    return rc;
}

int ff_cmd_cancel(int argc, char **argv) {
    ff_farm_client c;
    ff_farm_client_init(&c);
    uint64_t id = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: framefarm cancel JOB [--connect EP] [--server-key PUB] [--client-key NAME] [--timeout SEC]\n"
                   "  running chunks are stopped; videos already written are kept (and those whose chunks are all done\n"
                   "  are still written); framefarm retry JOB queues the rest again\n"
                   "exit: 0 done, 2 refused (unknown job), 3 coordinator unreachable\n");
            return FF_EXIT_OK;
        }
        int r = ff_farm_client_option(&c, "cancel", argc, argv, &i);
        if (r < 0) return FF_EXIT_USAGE;
        if (r) continue;
        if (id || parse_job_id(argv[i], &id)) {
            fprintf(stderr, "framefarm cancel: bad argument '%s' (usage: framefarm cancel JOB)\n", argv[i]);
            return FF_EXIT_USAGE;
        }
    }
    if (!id) {
        fprintf(stderr, "framefarm cancel: give a job id\n");
        return FF_EXIT_USAGE;
    }
    void *ctx = new_ctx();
    if (!ctx) return FF_EXIT_FAIL;
    Ff__Cancel cn = FF__CANCEL__INIT;
    cn.has_job_id = 1;
    cn.job_id = id;
    Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
    req.body_case = FF__ENVELOPE__BODY_CANCEL;
    req.cancel = &cn;
    int rc = ff_farm_request(ctx, &c, "cancel", &req, &rep);
    if (!rc && rep->body_case == FF__ENVELOPE__BODY_STATUS_REPLY && rep->status_reply->n_jobs == 1)
        printf("job %llu: %s\n", (unsigned long long)id, rep->status_reply->jobs[0]->state);
    ff_wire_free(rep);
    zmq_ctx_term(ctx);
    return rc;
}

int ff_cmd_workers(int argc, char **argv) {
    ff_farm_client c;
    ff_farm_client_init(&c);
    const char *release = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: framefarm workers [--json] [--release ID] [--connect EP] [--server-key PUB] [--client-key NAME]\n"
                   "       [--timeout SEC]\n"
                   "  --release ID: a quarantined worker (too many chunks failed on it in a row) gets work again\n"
                   "exit: 0 done, 2 refused (unknown worker), 3 coordinator unreachable\n");
            return FF_EXIT_OK;
        }
        if (!strcmp(argv[i], "--release")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "framefarm workers: --release needs a worker id\n");
                return FF_EXIT_USAGE;
            }
            release = argv[++i];
            continue;
        }
        int r = ff_farm_client_option(&c, "workers", argc, argv, &i);
        if (r < 0) return FF_EXIT_USAGE;
        if (!r) {
            fprintf(stderr, "framefarm workers: unknown argument '%s'\n", argv[i]);
            return FF_EXIT_USAGE;
        }
    }
    void *ctx = new_ctx();
    if (!ctx) return FF_EXIT_FAIL;
    Ff__WorkersQuery q = FF__WORKERS_QUERY__INIT;
    q.release = (char *)release;
    Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
    req.body_case = FF__ENVELOPE__BODY_WORKERS;
    req.workers = &q;
    int rc = ff_farm_request(ctx, &c, "workers", &req, &rep);
    if (!rc && rep->body_case == FF__ENVELOPE__BODY_WORKERS_REPLY) {
        const Ff__WorkersReply *wr = rep->workers_reply;
        if (release && !c.json) printf("worker %s released\n", release);
        if (!c.json) printf("%-20s %-11s %-16s %10s %8s %6s %5s %s\n", "WORKER", "STATE", "BACKEND", "DEVICE_MiB", "SEEN_S", "DONE", "FAILS",
                           "NAME");
        for (size_t i = 0; i < wr->n_workers; i++) {
            const Ff__WorkerStatus *w = wr->workers[i];
            if (c.json) {
                print_json(&w->base);
            } else {
                printf("%-20s %-11s %-16s %10lld %8.1f %6llu %5d %s\n", w->worker_id, w->state, w->backend ? w->backend : "-",
                       (long long)(w->device_bytes >> 20), w->last_seen_s, (unsigned long long)w->tasks_done,
                       w->failures_in_a_row, w->name ? w->name : "");
            }
        }
    }
    ff_wire_free(rep);
    zmq_ctx_term(ctx);
    return rc;
}
