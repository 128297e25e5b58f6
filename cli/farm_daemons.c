/* framefarm coordinator | worker | keygen: the farm's long-running
 * processes and their keys.
 *
 *   framefarm coordinator [--bind tcp://HOST:5555] --state DIR [--curve-secret NAME.key] [--insecure]
 *       [--max-message BYTES] [--worker-timeout SEC] [--keep-chunks] [--shared-dir DIR]
 *       [--curve-allow DIR] [--log-level L] [--output-root DIR]... [--max-job-chunks N]
 *       [--max-queued-chunks N] [--keep-jobs N] [--keep-age SEC] [--progress-timeout SEC]
 *       [--http ADDR:PORT] [--http-token FILE]
 *       TEST MODE: [--test-hold-assembly]
 *   framefarm worker --connect tcp://HOST:5555 [--device N | --backend cpu|cuda[:N]] [--vram-budget 8G]
 *       [--threads N] [--server-key COORD.pub] [--client-key NAME] [--heartbeat SEC] [--name NAME]
 *       [--max-tasks N] [--shared-dir DIR] [--log-level L]
 *       TEST MODES: [--test-no-render] [--test-stall-step K [--test-hold-file F]] [--test-shared-fault corrupt|missing]
 *                   [--test-ignore-tasks]
 *   framefarm keygen NAME          writes NAME.pub and NAME.key (CURVE, Z85)
 *
 * Both daemons run until SIGINT/SIGTERM and log to stderr. Without
 * --curve-secret the coordinator binds loopback only (a wildcard bind is
 * narrowed to 127.0.0.1) unless --insecure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "coordinator/coord.h"
#include "coordinator/http.h"
#include "coordinator/server.h"
#include "core/ff_cpus.h"
#include "core/ff_log.h"
#include "proto/ff_net.h"
#include "worker/worker.h"

static int parse_bytes(const char *s, int64_t *out) {
    char *end;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024.0, end++;
    else if (*end == 'm' || *end == 'M') mul = 1048576.0, end++;
    else if (*end == 'g' || *end == 'G') mul = 1073741824.0, end++;
    else if (*end == 't' || *end == 'T') mul = 1099511627776.0, end++;
    if ((*end == 'i' || *end == 'I') && end[1] == 'B') end += 2;
    else if (*end == 'B' || *end == 'b') end++;
    if (*end || end == s || !(v >= 0) || v * mul > 9e18) return -1;
    *out = (int64_t)(v * mul);
    return 0;
}

static int parse_level(const char *cmd, const char *s, ff_log_level *lvl) {
    if (ff_log_level_parse(s, lvl)) return ff_cli_bad_value(cmd, "--log-level", s, "debug, info, warn, error or off");
    return 0;
}

/* Seconds, or with a unit: 90, 90s, 15m, 12h, 7d. */
static int parse_duration(const char *cmd, const char *flag, const char *s, double *out) {
    char *end;
    double v = strtod(s, &end), mul = 1;
    if (*end == 's') end++;
    else if (*end == 'm') mul = 60, end++;
    else if (*end == 'h') mul = 3600, end++;
    else if (*end == 'd') mul = 86400, end++;
    if (end == s || *end || !(v > 0) || v * mul > 1e10)
        return ff_cli_bad_value(cmd, flag, s, "a positive duration: seconds, or 15m, 12h, 7d");
    *out = v * mul;
    return 0;
}

#define MAX_ROOTS 64

int ff_cmd_coordinator(int argc, char **argv) {
    ff_cserver_opts o = {0};
    o.bind = "tcp://127.0.0.1:5555";
    ff_log_level lvl = FF_LOG_INFO;
    const char *roots[MAX_ROOTS];
    size_t n_roots = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: framefarm coordinator [--bind tcp://*:5555] --state DIR [--curve-secret NAME.key] [--insecure]\n"
                   "       [--max-message BYTES] [--worker-timeout SEC] [--keep-chunks] [--shared-dir DIR]\n"
                   "       [--curve-allow DIR] [--log-level L] [--output-root DIR]... [--max-job-chunks N]\n"
                   "       [--max-queued-chunks N] [--keep-jobs N] [--keep-age SEC] [--progress-timeout SEC]\n"
                   "       [--http ADDR:PORT] [--http-token FILE]\n"
                   "  --output-root DIR: videos may be written only under DIR (repeat for more; default STATE/outputs)\n"
                   "  --max-job-chunks N: refuse jobs of more chunks (default %zu)\n"
                   "  --max-queued-chunks N: refuse jobs while this many chunks are unfinished (default %zu)\n"
                   "  --keep-jobs N: finished jobs kept for status (default %zu); --keep-age SEC: forget them after\n"
                   "       SEC (15m, 12h, 7d; default: never)\n"
                   "  --progress-timeout SEC: a running chunk without progress for max(SEC, 10x its job's slowest\n"
                   "       step) is taken back (default %.0f; a job's chunk_timeout_s overrides)\n"
                   "  --shared-dir DIR: take results workers wrote to DIR (their --shared-dir)\n"
                   "  --http ADDR:PORT: serve the status page, /api/jobs, /api/workers and /metrics (PORT or :PORT:\n"
                   "       127.0.0.1; port 0: any free one; the URL is written to STATE/http)\n"
                   "  --http-token FILE: enable actions (cancel) for requests with 'Authorization: Bearer <token in FILE>'\n"
                   "  --curve-allow DIR: only clients and workers whose public key (*.pub) is in DIR (needs --curve-secret)\n"
                   "  --worker-timeout SEC: a worker silent this long is dead (default 10)\n"
                   "  --quarantine-after N: a worker on which N chunks failed in a row gets no work until\n"
                   "       framefarm workers --release ID (default %d; 0: never)\n"
                   "  TEST MODE: --test-hold-assembly  stop writing a video after its first frame until\n"
                   "       STATE/test-release-assembly exists\n",
                   FF_COORD_MAX_JOB_CHUNKS_DEFAULT, FF_COORD_MAX_QUEUED_CHUNKS_DEFAULT, FF_COORD_KEEP_JOBS_DEFAULT,
                   FF_COORD_PROGRESS_TIMEOUT_DEFAULT, FF_COORD_QUARANTINE_AFTER_DEFAULT);
            return FF_EXIT_OK;
        }
        if (!strcmp(a, "--insecure")) {
            o.allow_insecure_remote = 1;
            continue;
        }
        if (!strcmp(a, "--keep-chunks")) {
            o.keep_chunks = 1;
            continue;
        }
        if (!strcmp(a, "--test-hold-assembly")) { /* TEST MODE */
            o.test_hold_assembly = 1;
            continue;
        }
        if (!val) {
            fprintf(stderr, "framefarm coordinator: unknown or incomplete option '%s'\n", a);
            return FF_EXIT_USAGE;
        }
        i++;
        if (!strcmp(a, "--bind")) o.bind = val;
        else if (!strcmp(a, "--state")) o.state_dir = val;
        else if (!strcmp(a, "--curve-secret")) o.curve_secret = val;
        else if (!strcmp(a, "--curve-allow")) o.curve_allow = val;
        else if (!strcmp(a, "--shared-dir")) o.shared_dir = val;
        else if (!strcmp(a, "--http")) o.http = val;
        else if (!strcmp(a, "--http-token")) o.http_token = val;
        else if (!strcmp(a, "--output-root")) {
            if (n_roots == MAX_ROOTS) {
                fprintf(stderr, "framefarm coordinator: more than %d --output-root\n", MAX_ROOTS);
                return FF_EXIT_USAGE;
            }
            roots[n_roots++] = val;
        } else if (!strcmp(a, "--max-message")) {
            int64_t b;
            if (parse_bytes(val, &b) || b < 1024)
                return ff_cli_bad_value("coordinator", a, val, "bytes, at least 1024: 65536, 64M"), FF_EXIT_USAGE;
            o.max_message = (size_t)b;
        } else if (!strcmp(a, "--worker-timeout")) {
            if (ff_cli_double("coordinator", a, val, 0.01, 86400, &o.worker_timeout_s)) return FF_EXIT_USAGE;
        } else if (!strcmp(a, "--max-job-chunks") || !strcmp(a, "--max-queued-chunks") || !strcmp(a, "--keep-jobs")) {
            long v;
            if (ff_cli_long("coordinator", a, val, 1, 1L << 40, &v)) return FF_EXIT_USAGE;
            *(!strcmp(a, "--max-job-chunks") ? &o.max_job_chunks : !strcmp(a, "--keep-jobs") ? &o.keep_jobs
                                                                                              : &o.max_queued_chunks) =
                (size_t)v;
        } else if (!strcmp(a, "--keep-age")) {
            if (parse_duration("coordinator", a, val, &o.keep_age_s)) return FF_EXIT_USAGE;
        } else if (!strcmp(a, "--progress-timeout")) {
            if (parse_duration("coordinator", a, val, &o.progress_timeout_s)) return FF_EXIT_USAGE;
        } else if (!strcmp(a, "--quarantine-after")) {
            long v;
            if (ff_cli_long("coordinator", a, val, 0, 1000, &v)) return FF_EXIT_USAGE;
            o.quarantine_after = v ? (int)v : -1;
        } else if (!strcmp(a, "--log-level")) {
            if (parse_level("coordinator", val, &lvl)) return FF_EXIT_USAGE;
        } else {
            fprintf(stderr, "framefarm coordinator: unknown option '%s'\n", a);
            return FF_EXIT_USAGE;
        }
    }
    if (!o.state_dir) {
        fprintf(stderr, "framefarm coordinator: --state DIR is required (jobs and chunks persist there)\n");
        return FF_EXIT_USAGE;
    }
    if ((o.http || o.http_token) && !ff_http_available()) {
        fprintf(stderr, "framefarm coordinator: --http: built without HTTP support (libmicrohttpd)\n");
        return FF_EXIT_USAGE;
    }
    if (o.http_token && !o.http) {
        fprintf(stderr, "framefarm coordinator: --http-token needs --http ADDR:PORT\n");
        return FF_EXIT_USAGE;
    }
    char http_host[64];
    int http_port;
    ff_err herr = {0};
    char http_token[FF_HTTP_TOKEN_MAX + 1];
    if ((o.http && ff_http_parse_listen(o.http, http_host, sizeof http_host, &http_port, &herr)) ||
        (o.http_token && ff_http_token_load(o.http_token, http_token, sizeof http_token, &herr))) {
        fprintf(stderr, "framefarm coordinator: %s\n", herr.msg);
        return FF_EXIT_USAGE;
    }
    memset(http_token, 0, sizeof http_token); /* checked here; the server reads it again */
    if (o.curve_allow && !o.curve_secret) {
        fprintf(stderr, "framefarm coordinator: --curve-allow needs --curve-secret (the allow-list checks CURVE keys)\n");
        return FF_EXIT_USAGE;
    }
    o.output_roots = roots;
    o.n_output_roots = n_roots;
    ff_log log;
    ff_log_init(&log, lvl, stderr);
    log.timestamps = 1;
    o.log = &log;
    o.stop = ff_cli_catch_stop_signals();
    ff_err err = {0};
    ff_status st = ff_cserver_run(&o, &err);
    if (st) {
        ff_cli_report("coordinator", &err);
        return st == FF_ERR_ARG ? FF_EXIT_USAGE : FF_EXIT_FAIL;
    }
    return FF_EXIT_OK;
}

int ff_cmd_worker(int argc, char **argv) {
    ff_worker_opts o = {0};
    o.backend = "cpu";
    o.heartbeat_s = 1.0;
    ff_log_level lvl = FF_LOG_INFO;
    char devbuf[32];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: framefarm worker --connect tcp://HOST:5555 [--device N | --backend cpu|cuda[:N]]\n"
                   "       [--vram-budget 8G] [--threads N] [--server-key COORD.pub] [--client-key NAME]\n"
                   "  --threads N: CPU threads (default: the cores this process may use: affinity and cgroup quota)\n"
                   "       [--heartbeat SEC] [--name NAME] [--max-tasks N] [--shared-dir DIR] [--log-level L]\n"
                   "  --shared-dir DIR: write results to DIR (mounted by the coordinator as its --shared-dir)\n"
                   "  test modes (never reachable from a job file):\n"
                   "       --test-no-render     return synthetic frames without loading a model (benchmarks)\n"
                   "       --test-stall-step K  stop the first task after denoising step K until killed\n"
                   "       --test-hold-file F   with --test-stall-step: go on once F exists\n"
                   "       --test-shared-fault corrupt|missing  damage the first task's shared file\n"
                   "       --test-ignore-tasks  drop every task and heartbeat idle (a wedged worker)\n"
                   "       --test-fail-tasks    fail every task at once (a broken worker)\n");
            return FF_EXIT_OK;
        }
        if (!strcmp(a, "--test-no-render")) {
            o.test_no_render = 1;
            continue;
        }
        if (!strcmp(a, "--test-ignore-tasks")) {
            o.test_ignore_tasks = 1;
            continue;
        }
        if (!strcmp(a, "--test-fail-tasks")) { /* TEST MODE */
            o.test_fail_tasks = 1;
            continue;
        }
        if (!val) {
            fprintf(stderr, "framefarm worker: unknown or incomplete option '%s'\n", a);
            return FF_EXIT_USAGE;
        }
        i++;
        long lv = 0;
        if (!strcmp(a, "--connect")) o.connect = val;
        else if (!strcmp(a, "--backend")) o.backend = val;
        else if (!strcmp(a, "--device")) {
            if (ff_cli_long("worker", a, val, 0, 255, &lv)) return FF_EXIT_USAGE;
            snprintf(devbuf, sizeof devbuf, "cuda:%ld", lv);
            o.backend = devbuf;
        } else if (!strcmp(a, "--vram-budget")) {
            if (parse_bytes(val, &o.vram_budget))
                return ff_cli_bad_value("worker", a, val, "bytes: 536870912, 512M, 8G, 8GiB"), FF_EXIT_USAGE;
        } else if (!strcmp(a, "--threads")) {
            if (ff_cli_long("worker", a, val, 0, 4096, &lv)) return FF_EXIT_USAGE;
            o.threads = (int)lv;
        } else if (!strcmp(a, "--server-key")) o.server_key = val;
        else if (!strcmp(a, "--client-key")) o.client_key = val;
        else if (!strcmp(a, "--heartbeat")) {
            if (ff_cli_double("worker", a, val, 0.01, 3600, &o.heartbeat_s)) return FF_EXIT_USAGE;
        } else if (!strcmp(a, "--name")) o.name = val;
        else if (!strcmp(a, "--max-tasks")) {
            if (ff_cli_long("worker", a, val, 0, 1L << 30, &lv)) return FF_EXIT_USAGE;
            o.max_tasks = (int)lv;
        } else if (!strcmp(a, "--test-stall-step")) {
            if (ff_cli_long("worker", a, val, 0, 1000000, &lv)) return FF_EXIT_USAGE;
            o.test_stall_step = (int)lv;
        } else if (!strcmp(a, "--test-hold-file")) o.test_hold_file = val;
        else if (!strcmp(a, "--shared-dir")) o.shared_dir = val;
        else if (!strcmp(a, "--test-shared-fault")) {
            if (!strcmp(val, "corrupt")) o.test_shared_fault = 1;
            else if (!strcmp(val, "missing")) o.test_shared_fault = 2;
            else return ff_cli_bad_value("worker", a, val, "corrupt or missing"), FF_EXIT_USAGE;
        }
        else if (!strcmp(a, "--log-level")) {
            if (parse_level("worker", val, &lvl)) return FF_EXIT_USAGE;
        } else {
            fprintf(stderr, "framefarm worker: unknown option '%s'\n", a);
            return FF_EXIT_USAGE;
        }
    }
    if (!o.connect) {
        fprintf(stderr, "framefarm worker: --connect tcp://HOST:PORT is required\n");
        return FF_EXIT_USAGE;
    }
    if (!(o.heartbeat_s > 0) || o.threads < 0 || o.max_tasks < 0 || o.test_stall_step < 0) {
        fprintf(stderr, "framefarm worker: --heartbeat, --threads, --max-tasks and --test-stall-step must be positive\n");
        return FF_EXIT_USAGE;
    }
    if (!o.threads) o.threads = ff_cpus_usable(NULL); /* the cores it may use (affinity, cgroup quota) */
    ff_log log;
    ff_log_init(&log, lvl, stderr);
    log.timestamps = 1;
    o.log = &log;
    o.stop = ff_cli_catch_stop_signals();
    ff_err err = {0};
    ff_status st = ff_worker_run(&o, &err);
    if (st) {
        ff_cli_report("worker", &err);
        return st == FF_ERR_ARG || st == FF_ERR_DEVICE || st == FF_ERR_UNSUPPORTED ? FF_EXIT_USAGE : FF_EXIT_FAIL;
    }
    return FF_EXIT_OK;
}

int ff_cmd_keygen(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: framefarm keygen NAME   (writes NAME.pub and NAME.key, a CURVE key pair)\n");
        return FF_EXIT_USAGE;
    }
    ff_err err = {0};
    if (ff_net_keygen_files(argv[1], &err)) {
        ff_cli_report("keygen", &err);
        return FF_EXIT_FAIL;
    }
    printf("%s.pub\n%s.key\n", argv[1], argv[1]);
    return FF_EXIT_OK;
}
