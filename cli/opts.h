/* opts (cli-internal, ff_opt_*): the option table of a subcommand. A
 * command lists its options once (name, kind, where the value goes, its
 * range, what it accepts) and ff_opt_parse walks argv against the table, so
 * the commands that share settings (render and mpi) share the parsing and its
 * messages:
 *   "framefarm CMD: unknown or incomplete option '--x' (see framefarm CMD --help)"
 *   "framefarm CMD: unknown option '--x' (see framefarm CMD --help)"
 *   "framefarm CMD: bad value 'v' for --x (ACCEPTED)"  (cli_opts.h wording)
 * Not here: what the values mean (each command). */
#ifndef FF_OPTS_H
#define FF_OPTS_H

#include <stddef.h>

typedef enum {
    FF_OPT_FLAG,   /* no value: *(int *)dst = (int)lo */
    FF_OPT_STR,    /* *(const char **)dst = the argument */
    FF_OPT_LONG,   /* *(long *)dst, in [lo, hi] */
    FF_OPT_DOUBLE, /* *(double *)dst, finite, in [lo, hi] when lo < hi */
    FF_OPT_FUNC    /* parse(value, dst) == 0 (precision names, sizes, enums ...) */
} ff_opt_kind;

typedef struct {
    const char *name;      /* "--frames" */
    ff_opt_kind kind;
    void *dst;
    long lo, hi;           /* FLAG: the value stored; LONG: the range */
    int (*parse)(const char *value, void *dst); /* FUNC: 0 on success */
    const char *accepted;  /* FUNC: what the error message says it accepts */
} ff_opt;

enum { FF_OPT_OK = 0, FF_OPT_HELP = 1, FF_OPT_USAGE = 2 };

/* Parses argv[1..argc) of `cmd` against opts[0..n). Arguments that do not
 * start with '-' go to pos[0..n_pos) in order (one more is the usage error
 * "one <pos_what>, not 'a' and 'b'"); *n_got (may be NULL) counts them. Returns FF_OPT_HELP for
 * -h/--help (the caller prints its usage), FF_OPT_USAGE after printing the
 * error, else FF_OPT_OK. */
int ff_opt_parse(const char *cmd, int argc, char **argv, const ff_opt *opts, size_t n, const char **pos, int n_pos,
                 const char *pos_what, int *n_got);

/* strtol / strtod of a whole string: 0 and *out, or -1 (empty, trailing
 * characters, out of [lo, hi] / not finite). */
int ff_opt_long(const char *s, long lo, long hi, long *out);
int ff_opt_double(const char *s, double *out);

#endif
