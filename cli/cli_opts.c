/* cli_opts: see cli_opts.h. */
#include "cli/cli_opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/ff_limits.h"

int ff_cli_bad_value(const char *cmd, const char *flag, const char *val, const char *accepted) {
    fprintf(stderr, "framefarm %s: bad value '%s' for %s (%s)\n", cmd, val, flag, accepted);
    return -1;
}

int ff_cli_long(const char *cmd, const char *flag, const char *val, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (!*val || *end || errno || v < lo || v > hi) {
        char acc[96];
        snprintf(acc, sizeof acc, "an integer in %ld..%ld", lo, hi);
        return ff_cli_bad_value(cmd, flag, val, acc);
    }
    *out = v;
    return 0;
}

int ff_cli_double(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (!*val || *end || errno || !isfinite(v) || v < lo || v > hi) {
        char acc[96];
        snprintf(acc, sizeof acc, "a number in %g..%g", lo, hi);
        return ff_cli_bad_value(cmd, flag, val, acc);
    }
    *out = v;
    return 0;
}

int ff_cli_check_out(const char *cmd, const char *what, const char *path, ff_video_format *fmt) {
    ff_err err = {0};
    if (!ff_video_out_check(path, fmt, &err)) return 0;
    fprintf(stderr, "framefarm %s: %s %s\n", cmd, what, err.msg);
    return FF_EXIT_USAGE;
}

int ff_cli_check_prompt(const char *cmd, const char *what, const char *text) {
    ff_err err = {0};
    if (!ff_limits_check_prompt(text, strlen(text), what, &err)) return 0;
    fprintf(stderr, "framefarm %s: %s\n", cmd, err.msg);
    return FF_EXIT_USAGE;
}

int ff_cli_exit_code(ff_status st) {
    switch (st) {
    case FF_OK: return FF_EXIT_OK;
    case FF_ERR_ARG:
    case FF_ERR_NOT_FOUND:
    case FF_ERR_FORMAT:
    case FF_ERR_UNSUPPORTED:
    case FF_ERR_DEVICE: return FF_EXIT_USAGE;
    default: return FF_EXIT_FAIL;
    }
}
