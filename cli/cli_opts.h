/* cli_opts (ff_cli_*): how every subcommand checks what it is given, so
 * that the same mistake gets the same words and the same exit code from
 * `render`, `mpi`, the farm commands and the tools:
 *
 *   framefarm CMD: bad value 'V' for --FLAG (ACCEPTED)     exit 2
 *   framefarm CMD: --out PATH: REASON                       exit 2
 *   framefarm CMD: prompt ...: REASON                       exit 2
 *
 * Exit codes by class (cli.h): 2 for anything wrong with the request
 * (options, files named, their formats, an unusable device), 1 for what
 * went wrong while doing it (I/O, memory, a failed check); ff_cli_exit_code
 * is that mapping for an ff_status. Prints (this is cli/). */
#ifndef FF_CLI_OPTS_H
#define FF_CLI_OPTS_H

#include "core/ff_err.h"
#include "video/video.h"

/* Prints "framefarm CMD: bad value 'VAL' for FLAG (ACCEPTED)"; returns -1. */
int ff_cli_bad_value(const char *cmd, const char *flag, const char *val, const char *accepted);
/* An integer in lo..hi (the range is printed when it is not); 0 or -1. */
int ff_cli_long(const char *cmd, const char *flag, const char *val, long lo, long hi, long *out);
/* A finite number in lo..hi; 0 or -1. */
int ff_cli_double(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out);

/* The output rule and the checks before rendering (video.h:
 * ff_video_out_check) for PATH given as `what` ("--out", "job \"out\"");
 * 0 with *fmt, or FF_EXIT_USAGE after printing "framefarm CMD: WHAT: ...". */
int ff_cli_check_out(const char *cmd, const char *what, const char *path, ff_video_format *fmt);
/* A prompt (core/ff_limits.h); 0, or FF_EXIT_USAGE after printing why. */
int ff_cli_check_prompt(const char *cmd, const char *what, const char *text);

/* 2 (usage) for ARG, NOT_FOUND, FORMAT, UNSUPPORTED, DEVICE; 1 otherwise. */
int ff_cli_exit_code(ff_status st);

#endif
