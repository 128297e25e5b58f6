/* cli: the subcommands of the single framefarm binary. Only cli/ prints
 * errors and chooses exit codes: 0 success, 1 a check failed (golden FAIL),
 * 2 usage error or an unusable request (unknown backend, no CUDA device),
 * 77 nothing to do here (golden data absent, with --skip-if-missing). */
#ifndef FF_CLI_H
#define FF_CLI_H

#include <signal.h>

#include "core/ff_err.h"

enum { FF_EXIT_OK = 0, FF_EXIT_FAIL = 1, FF_EXIT_USAGE = 2, FF_EXIT_SKIP = 77 };
/* farm clients also use: 3 coordinator unreachable, 4 job cancelled */
enum { FF_EXIT_UNREACHABLE = 3, FF_EXIT_CANCELLED = 4 };
/* submit --wait: gave up after --wait-timeout (the coordinator answers, the job is not finished) */
enum { FF_EXIT_WAIT_TIMEOUT = 5 };

int ff_cmd_doctor(int argc, char **argv);
int ff_cmd_golden(int argc, char **argv);
int ff_cmd_vae(int argc, char **argv);
int ff_cmd_encode_prompt(int argc, char **argv);
int ff_cmd_transformer(int argc, char **argv);
int ff_cmd_plan(int argc, char **argv);
int ff_cmd_render(int argc, char **argv);
int ff_cmd_init_model(int argc, char **argv);
int ff_cmd_mpi(int argc, char **argv); /* cli/cmd_mpi.c, builds that found MPI */
/* the farm (cli/farm_*.c, FRAMEFARM_FARM=ON builds only) */
int ff_cmd_coordinator(int argc, char **argv);
int ff_cmd_worker(int argc, char **argv);
int ff_cmd_submit(int argc, char **argv);
int ff_cmd_status(int argc, char **argv);
int ff_cmd_cancel(int argc, char **argv);
int ff_cmd_workers(int argc, char **argv);
/* cli/farm_control.c: operators' verbs */
int ff_cmd_retry(int argc, char **argv);
int ff_cmd_priority(int argc, char **argv);
int ff_cmd_pause(int argc, char **argv);
int ff_cmd_resume(int argc, char **argv);
int ff_cmd_logs(int argc, char **argv);
int ff_cmd_keygen(int argc, char **argv);
int ff_cmd_farm(int argc, char **argv);
int ff_cmd_slurm(int argc, char **argv); /* cli/cmd_slurm.c */

/* SIGINT/SIGTERM set the flag returned to the signal's number (it lives in
 * main.c, the only mutable global); daemons poll it. */
const volatile sig_atomic_t *ff_cli_catch_stop_signals(void);

/* "framefarm: <msg>" on stderr, for a failed call. */
void ff_cli_report(const char *cmd, const ff_err *err);

#endif
