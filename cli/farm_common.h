/* farm_common: what the farm subcommands share (cli/farm_*.c only, which
 * are compiled only in the farm build): client options, one request, job
 * submission and waiting with a progress bar. Prints (this is cli/). */
#ifndef FF_FARM_COMMON_H
#define FF_FARM_COMMON_H

#include <signal.h>
#include <stdint.h>
#include <zmq.h>

#include "cli/cli.h"
#include "framefarm.pb-c.h"
#include "proto/ff_net.h"

#define FF_FARM_DEFAULT_ENDPOINT "tcp://127.0.0.1:5555"

typedef struct {
    ff_net_client_opts net;
    int json;
    const volatile sig_atomic_t *stop; /* ff_farm_wait returns 128 + *stop once it is set (NULL: never) */
} ff_farm_client;

/* Defaults: $FRAMEFARM_COORDINATOR or tcp://127.0.0.1:5555, 10 s timeout. */
void ff_farm_client_init(ff_farm_client *c);
/* Consumes a client option at argv[*i] (--connect, --server-key,
 * --client-key, --timeout, --json): 1 taken, 0 not a client option,
 * -1 bad value (message printed). */
int ff_farm_client_option(ff_farm_client *c, const char *cmd, int argc, char **argv, int *i);

/* One request; on failure prints "framefarm CMD: ..." and returns the exit
 * code (FF_EXIT_UNREACHABLE or FF_EXIT_USAGE for a refusal). */
int ff_farm_request(void *ctx, const ff_farm_client *c, const char *cmd, Ff__Envelope *req, Ff__Envelope **reply);

/* Loads a job file (absent fields: the model's defaults, as render) and
 * makes its paths absolute (relative to the current directory); when this
 * machine has the model folder, checks it as the workers will open it
 * (configs, every component's weight headers and shapes, the job's size)
 * before anything is submitted. NULL on failure (message printed). */
Ff__JobSpec *ff_farm_load_job(const char *path, const char *cmd);

/* Submits spec; *job_id on success; returns an exit code. */
int ff_farm_submit(void *ctx, const ff_farm_client *c, const char *cmd, Ff__JobSpec *spec, uint64_t *job_id);
/* Polls the job until it is done, failed or cancelled, drawing a progress
 * bar on stderr; keeps polling through an unreachable coordinator (a
 * restart) until wait_timeout_s (0: forever). Returns FF_EXIT_OK (outputs
 * printed on stdout), FF_EXIT_FAIL, FF_EXIT_CANCELLED, FF_EXIT_WAIT_TIMEOUT
 * (the coordinator answers, the job is not finished) or FF_EXIT_UNREACHABLE
 * (the coordinator did not answer until the timeout). */
int ff_farm_wait(void *ctx, const ff_farm_client *c, const char *cmd, uint64_t job_id, double wait_timeout_s);

#endif
