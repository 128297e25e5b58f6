/* framefarm retry | priority | pause | resume | logs: an operator's control
 * of the farm's queue (coordinator/coord.h, "Operators").
 *
 *   framefarm retry JOB        failed and cancelled chunks queued again (attempts reset)
 *   framefarm priority JOB P   higher first (-1000000..1000000)
 *   framefarm pause JOB        running chunks finish; nothing new starts
 *   framefarm resume JOB
 *   framefarm logs JOB [CHUNK] the chunks' logs: the coordinator's lines and the workers'
 * common: [--connect tcp://HOST:PORT] [--server-key COORD.pub] [--client-key NAME] [--timeout SEC] [--json]
 *
 * Each prints the job's new state (retry/priority/pause/resume; --json: the
 * job's status as one line of JSON). Exit codes: 0 done; 2 usage error, or
 * the coordinator refused (no such job or chunk, a done job to retry, a
 * priority out of range); 3 coordinator unreachable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cli/cli_opts.h"
#include "cli/farm_common.h"
#include "coordinator/coord.h"
#include "coordinator/status_json.h"
#include "proto/ff_wire.h"

static const char *const common_help =
    "  [--connect EP] [--server-key PUB] [--client-key NAME] [--timeout SEC] [--json]\n"
    "exit: 0 done, 2 usage error or refused by the coordinator (unknown job, ...), 3 coordinator unreachable\n";

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || s[0] == '-') return -1;
    *out = v;
    return 0;
}

/* Parses "CMD JOB [ARG]" with the client options; nargs: positional arguments wanted (min..max). */
static int parse_args(const char *cmd, const char *usage, int argc, char **argv, ff_farm_client *c, const char **pos,
                      int min, int max, int *npos) {
    ff_farm_client_init(c);
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: framefarm %s\n%s", usage, common_help);
            return -2;
        }
        int r = ff_farm_client_option(c, cmd, argc, argv, &i);
        if (r < 0) return -1;
        if (r) continue;
        if (*npos == max || (argv[i][0] == '-' && !(argv[i][1] >= '0' && argv[i][1] <= '9'))) {
            fprintf(stderr, "framefarm %s: bad argument '%s' (usage: framefarm %s)\n", cmd, argv[i], usage);
            return -1;
        }
        pos[(*npos)++] = argv[i];
    }
    if (*npos < min) {
        fprintf(stderr, "framefarm %s: missing arguments (usage: framefarm %s)\n", cmd, usage);
        return -1;
    }
    return 0;
}

static int control(const char *cmd, const char *usage, int argc, char **argv, Ff__JobControl__Op op) {
    ff_farm_client c;
    const char *pos[2];
    int np;
    int pr = parse_args(cmd, usage, argc, argv, &c, pos, op == FF__JOB_CONTROL__OP__PRIORITY ? 2 : 1,
                        op == FF__JOB_CONTROL__OP__PRIORITY ? 2 : 1, &np);
    if (pr == -2) return FF_EXIT_OK;
    if (pr) return FF_EXIT_USAGE;
    uint64_t id;
    if (parse_u64(pos[0], &id) || !id) {
        fprintf(stderr, "framefarm %s: '%s' is not a job id\n", cmd, pos[0]);
        return FF_EXIT_USAGE;
    }
    Ff__JobControl k = FF__JOB_CONTROL__INIT;
    k.has_op = k.has_job_id = 1;
    k.op = op;
    k.job_id = id;
    if (op == FF__JOB_CONTROL__OP__PRIORITY) {
        long p;
        if (ff_cli_long(cmd, "priority", pos[1], -1000000, 1000000, &p)) return FF_EXIT_USAGE;
        k.has_priority = 1;
        k.priority = (int32_t)p;
    }
    void *ctx = zmq_ctx_new();
    if (!ctx) return FF_EXIT_FAIL;
    Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
    req.body_case = FF__ENVELOPE__BODY_CONTROL;
    req.control = &k;
    int rc = ff_farm_request(ctx, &c, cmd, &req, &rep);
    if (!rc && rep->body_case == FF__ENVELOPE__BODY_STATUS_REPLY && rep->status_reply->n_jobs == 1) {
        const Ff__JobStatus *j = rep->status_reply->jobs[0];
        if (c.json) {
            ff_status_json_write(stdout, &j->base);
            putchar('\n');
        } else {
            printf("job %llu: %s%s, priority %d, %d/%d chunks done, %d queued, %d failed, %d cancelled\n",
                   (unsigned long long)id, j->state, j->paused ? " (paused)" : "", j->priority, j->chunks_done,
                   j->chunks_total, j->chunks_queued, j->chunks_failed, j->chunks_cancelled);
        }
    }
    ff_wire_free(rep);
    zmq_ctx_term(ctx);
    return rc;
}

int ff_cmd_retry(int argc, char **argv) {
    return control("retry", "retry JOB   (failed and cancelled chunks queued again, attempts reset)", argc, argv,
                   FF__JOB_CONTROL__OP__RETRY);
}
int ff_cmd_priority(int argc, char **argv) {
    return control("priority", "priority JOB P   (higher first; -1000000..1000000)", argc, argv,
                   FF__JOB_CONTROL__OP__PRIORITY);
}
int ff_cmd_pause(int argc, char **argv) {
    return control("pause", "pause JOB   (running chunks finish; nothing new is dispatched)", argc, argv,
                   FF__JOB_CONTROL__OP__PAUSE);
}
int ff_cmd_resume(int argc, char **argv) {
    return control("resume", "resume JOB", argc, argv, FF__JOB_CONTROL__OP__RESUME);
}

int ff_cmd_logs(int argc, char **argv) {
    ff_farm_client c;
    const char *pos[2];
    int np;
    int pr = parse_args("logs", "logs JOB [CHUNK]   (every chunk's log, or one chunk's)", argc, argv, &c, pos, 1, 2, &np);
    if (pr == -2) return FF_EXIT_OK;
    if (pr) return FF_EXIT_USAGE;
    uint64_t id, chunk = 0;
    if (parse_u64(pos[0], &id) || !id || (np == 2 && (parse_u64(pos[1], &chunk) || chunk > UINT32_MAX))) {
        fprintf(stderr, "framefarm logs: give a job id and optionally a chunk number\n");
        return FF_EXIT_USAGE;
    }
    Ff__LogsQuery q = FF__LOGS_QUERY__INIT;
    q.has_job_id = 1;
    q.job_id = id;
    q.has_chunk = np == 2;
    q.chunk = (uint32_t)chunk;
    void *ctx = zmq_ctx_new();
    if (!ctx) return FF_EXIT_FAIL;
    Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
    req.body_case = FF__ENVELOPE__BODY_LOGS;
    req.logs = &q;
    int rc = ff_farm_request(ctx, &c, "logs", &req, &rep);
    if (!rc && rep->body_case == FF__ENVELOPE__BODY_LOGS_REPLY) {
        const Ff__LogsReply *lr = rep->logs_reply;
        if (c.json) {
            ff_status_json_write(stdout, &lr->base);
            putchar('\n');
        } else {
            if (lr->truncated) printf("(earlier lines cut: at most %zu bytes per reply)\n", FF_COORD_LOGS_REPLY_MAX);
            fputs(lr->text ? lr->text : "", stdout);
        }
    }
    ff_wire_free(rep);
    zmq_ctx_term(ctx);
    return rc;
}
