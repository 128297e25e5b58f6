/* framefarm farm --workers N JOB.json: a coordinator and N local workers in
 * one command, for one machine.
 *
 *   framefarm farm --workers N JOB.json [--state DIR] [--backend cpu|cuda] [--threads T]
 *                  [--keep-state] [--test-no-render]
 *
 * Starts `framefarm coordinator` on a free loopback port with its state in
 * DIR (default: a new folder under $TMPDIR, removed afterwards unless
 * --keep-state) and the job output's folder as its only output root, N
 * `framefarm worker` processes (cuda: worker i gets
 * device i), submits the job, waits with a progress bar and stops the
 * processes. Exit codes as `framefarm submit --wait`; 128 + the signal
 * when stopped by SIGINT / SIGTERM.
 *
 * Threads: each CPU worker gets its share of the cores this process may
 * use (core/ff_cpus.h: affinity and cgroup quota; the remainder to the
 * first workers, at least 1 each); --threads T gives every worker T.
 *
 * Process hygiene: SIGINT / SIGTERM stop the wait; the workers get SIGTERM
 * first (each abandons its chunk at the next transformer block and reports
 * it unfinished), then the coordinator; whatever has not exited after
 * FF_FARM_STOP_S seconds is killed. The children die with `farm` even when
 * it is SIGKILLed: each is started with PR_SET_PDEATHSIG (SIGTERM). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cli/cli_opts.h"
#include "cli/farm_common.h"
#include "core/ff_clock.h"
#include "core/ff_cpus.h"
#include "proto/ff_jobspec.h"
#include "worker/worker.h"

#define FF_FARM_STOP_S (FF_WORKER_STOP_S + 5) /* a worker's own limit, then its sockets' linger */

/* A child that gets SIGTERM when this process dies, however it dies. */
static pid_t spawn(char *const *args) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(127); /* parent gone already */
        execv("/proc/self/exe", args);
        _exit(127);
    }
    return pid;
}

/* SIGTERM to pids[0..n), reaped within FF_FARM_STOP_S, then SIGKILL. */
static void stop_some(pid_t *pids, int n) {
    for (int i = 0; i < n; i++)
        if (pids[i] > 0) kill(pids[i], SIGTERM);
    double until = ff_now_s() + FF_FARM_STOP_S;
    for (int left = 1; left;) {
        left = 0;
        for (int i = 0; i < n; i++) {
            if (pids[i] <= 0) continue;
            pid_t r = waitpid(pids[i], NULL, WNOHANG);
            if (r == pids[i] || (r < 0 && errno == ECHILD)) pids[i] = 0;
            else left = 1;
        }
        if (!left) break;
        if (ff_now_s() > until) {
            for (int i = 0; i < n; i++)
                if (pids[i] > 0) {
                    fprintf(stderr, "framefarm farm: process %d did not stop within %d s: killed\n", (int)pids[i],
                            FF_FARM_STOP_S);
                    kill(pids[i], SIGKILL);
                    waitpid(pids[i], NULL, 0);
                    pids[i] = 0;
                }
            break;
        }
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* The workers first (they report their chunks to the coordinator), then the coordinator. */
static void stop_all(pid_t *pids, int n) {
    stop_some(pids + 1, n - 1);
    stop_some(pids, 1);
}

/* Worker i's CPU threads: its share of `usable` among n workers. */
static int thread_share(int usable, int n, int i) {
    int t = usable / n + (i < usable % n ? 1 : 0);
    return t > 0 ? t : 1;
}

int ff_cmd_farm(int argc, char **argv) {
    int workers = 0, keep = 0, test = 0;
    const char *job = NULL, *state = NULL, *backend = "cpu", *threads = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--keep-state")) keep = 1;
        else if (!strcmp(a, "--test-no-render")) test = 1;
        else if (!strcmp(a, "--workers") && val) {
            long n;
            if (ff_cli_long("farm", a, val, 1, 256, &n)) return FF_EXIT_USAGE;
            workers = (int)n;
            i++;
        }
        else if (!strcmp(a, "--state") && val) state = argv[++i];
        else if (!strcmp(a, "--backend") && val) backend = argv[++i];
        else if (!strcmp(a, "--threads") && val) threads = argv[++i];
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: framefarm farm --workers N JOB.json [--state DIR] [--backend cpu|cuda] [--threads T]\n"
                   "       [--keep-state] [--test-no-render]\n");
            return FF_EXIT_OK;
        } else if (a[0] != '-' && !job) job = a;
        else {
            fprintf(stderr, "framefarm farm: unknown or incomplete argument '%s'\n", a);
            return FF_EXIT_USAGE;
        }
    }
    if (!job || workers < 1 || workers > 256) {
        fprintf(stderr, "framefarm farm: give --workers N (1..256) and a job file\n");
        return FF_EXIT_USAGE;
    }
    Ff__JobSpec *spec = ff_farm_load_job(job, "farm");
    if (!spec) return FF_EXIT_USAGE;
    ff_video_format fmt; /* on this machine the output's folder can be checked before anything starts */
    if (ff_cli_check_out("farm", "job output", spec->output, &fmt)) {
        ff_jobspec_free(spec);
        return FF_EXIT_USAGE;
    }
    char tmpl[4096];
    if (!state) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/framefarm-farm-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpl)) {
            fprintf(stderr, "framefarm farm: mkdtemp %s: %s\n", tmpl, strerror(errno));
            ff_jobspec_free(spec);
            return FF_EXIT_FAIL;
        }
        state = tmpl;
    } else {
        keep = 1;
    }
    char ep_path[4200];
    snprintf(ep_path, sizeof ep_path, "%s/endpoint", state);
    unlink(ep_path);
    pid_t *pids = calloc((size_t)workers + 1, sizeof *pids);
    if (!pids) {
        ff_jobspec_free(spec);
        return FF_EXIT_FAIL;
    }
    /* the coordinator may write where this job writes, nowhere else */
    char root[4096];
    snprintf(root, sizeof root, "%s", spec->output);
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/') root[--rl] = 0;
    char *slash = strrchr(root, '/');
    if (slash) *(slash == root ? slash + 1 : slash) = 0;
    char *cargs[] = {"framefarm", "coordinator", "--bind", "tcp://127.0.0.1:*", "--state", (char *)state, "--log-level",
                     "warn", "--output-root", root, "--quarantine-after", "0" /* one job: failures fail it (max_attempts) */, NULL};
    const volatile sig_atomic_t *stop = ff_cli_catch_stop_signals(); /* before any child exists */
    pids[0] = spawn(cargs);
    /* the coordinator writes its endpoint once it listens */
    char ep[512] = "";
    for (int tries = 0; tries < 600 && !ep[0] && !*stop; tries++) {
        FILE *f = fopen(ep_path, "r");
        if (f) {
            if (fgets(ep, sizeof ep, f)) ep[strcspn(ep, "\n")] = 0;
            fclose(f);
        }
        int status;
        if (!ep[0] && waitpid(pids[0], &status, WNOHANG) == pids[0]) {
            pids[0] = 0;
            break;
        }
        if (!ep[0]) {
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    int rc = FF_EXIT_FAIL;
    void *ctx = NULL;
    if (!ep[0]) {
        if (!*stop) fprintf(stderr, "framefarm farm: the coordinator did not start (state %s)\n", state);
        goto done;
    }
    const int usable = ff_cpus_usable(NULL), cpu = strncmp(backend, "cuda", 4) != 0;
    char tbuf[256][12];
    for (int i = 0; i < workers; i++) {
        char be[32];
        if (!strncmp(backend, "cuda", 4)) snprintf(be, sizeof be, "cuda:%d", i);
        else snprintf(be, sizeof be, "%s", backend);
        char *wargs[16];
        int k = 0;
        wargs[k++] = "framefarm";
        wargs[k++] = "worker";
        wargs[k++] = "--connect";
        wargs[k++] = ep;
        wargs[k++] = "--backend";
        wargs[k++] = be;
        wargs[k++] = "--log-level";
        wargs[k++] = "warn";
        snprintf(tbuf[i], sizeof tbuf[i], "%d", thread_share(usable, workers, i));
        wargs[k++] = "--threads";
        wargs[k++] = threads ? (char *)threads : tbuf[i];
        if (test) wargs[k++] = "--test-no-render";
        wargs[k] = NULL;
        pids[1 + i] = spawn(wargs);
    }
    if (threads)
        fprintf(stderr, "farm: coordinator on %s, %d worker%s with %s CPU thread%s each (--threads), state in %s\n", ep,
                workers, workers == 1 ? "" : "s", threads, strcmp(threads, "1") ? "s" : "", state);
    else if (cpu)
        fprintf(stderr, "farm: coordinator on %s, %d worker%s with %d%s CPU thread%s each (%d usable cores), state in %s\n",
                ep, workers, workers == 1 ? "" : "s", thread_share(usable, workers, workers - 1),
                usable % workers && usable > workers ? "+" : "", thread_share(usable, workers, workers - 1) == 1 ? "" : "s",
                usable, state);
    else
        fprintf(stderr, "farm: coordinator on %s, %d worker%s, state in %s\n", ep, workers, workers == 1 ? "" : "s", state);
    ff_farm_client c;
    ff_farm_client_init(&c);
    c.net.endpoint = ep;
    c.stop = stop;
    ctx = zmq_ctx_new();
    uint64_t id = 0;
    if (!ctx) goto done;
    rc = *stop ? 128 + (int)*stop : ff_farm_submit(ctx, &c, "farm", spec, &id);
    if (!rc) rc = ff_farm_wait(ctx, &c, "farm", id, 0);
done:
    if (*stop && rc < 128) rc = 128 + (int)*stop;
    if (*stop) fprintf(stderr, "framefarm farm: stopping the workers and the coordinator (signal %d)\n", (int)*stop);
    if (ctx) zmq_ctx_term(ctx);
    stop_all(pids, workers + 1);
    free(pids);
    ff_jobspec_free(spec);
    if (!keep) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", state);
        if (system(cmd) != 0) fprintf(stderr, "framefarm farm: could not remove %s\n", state);
    }
    return rc;
}
