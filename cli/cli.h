/* cli: the subcommands of the single framefarm binary. Only cli/ prints
 * errors and chooses exit codes: 0 success, 1 a check failed (golden FAIL),
 * 2 usage error or an unusable request (unknown backend, no CUDA device),
 * 77 nothing to do here (golden data absent, with --skip-if-missing). */
#ifndef FF_CLI_H
#define FF_CLI_H

#include "core/ff_err.h"

enum { FF_EXIT_OK = 0, FF_EXIT_FAIL = 1, FF_EXIT_USAGE = 2, FF_EXIT_SKIP = 77 };

int ff_cmd_doctor(int argc, char **argv);
int ff_cmd_golden(int argc, char **argv);
int ff_cmd_vae(int argc, char **argv);
int ff_cmd_encode_prompt(int argc, char **argv);
int ff_cmd_transformer(int argc, char **argv);
int ff_cmd_plan(int argc, char **argv);
int ff_cmd_render(int argc, char **argv);
int ff_cmd_init_model(int argc, char **argv);

/* "framefarm: <msg>" on stderr, for a failed call. */
void ff_cli_report(const char *cmd, const ff_err *err);

#endif
