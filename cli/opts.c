/* opts: see opts.h. */
#include "cli/opts.h"

#include "cli/cli_opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ff_opt_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int ff_opt_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static const ff_opt *find(const ff_opt *opts, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(opts[i].name, name)) return &opts[i];
    return NULL;
}

int ff_opt_parse(const char *cmd, int argc, char **argv, const ff_opt *opts, size_t n, const char **pos, int n_pos,
                 const char *pos_what, int *n_got) {
    int got = 0;
    if (n_got) *n_got = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return FF_OPT_HELP;
        if (a[0] != '-' && n_pos > 0) {
            if (got == n_pos) {
                fprintf(stderr, "framefarm %s: one %s, not '%s' and '%s'\n", cmd, pos_what, pos[got - 1], a);
                return FF_OPT_USAGE;
            }
            pos[got++] = a;
            if (n_got) *n_got = got;
            continue;
        }
        const ff_opt *o = find(opts, n, a);
        if (o && o->kind == FF_OPT_FLAG) {
            *(int *)o->dst = (int)o->lo;
            continue;
        }
        if (!val) {
            fprintf(stderr, "framefarm %s: unknown or incomplete option '%s' (see framefarm %s --help)\n", cmd, a, cmd);
            return FF_OPT_USAGE;
        }
        if (!o) {
            fprintf(stderr, "framefarm %s: unknown option '%s' (see framefarm %s --help)\n", cmd, a, cmd);
            return FF_OPT_USAGE;
        }
        int bad = 0;
        switch (o->kind) {
        case FF_OPT_STR: *(const char **)o->dst = val; break;
        case FF_OPT_LONG: bad = ff_cli_long(cmd, a, val, o->lo, o->hi, o->dst); break;
        case FF_OPT_DOUBLE:
            bad = o->lo < o->hi ? ff_cli_double(cmd, a, val, (double)o->lo, (double)o->hi, o->dst)
                  : ff_opt_double(val, o->dst) ? ff_cli_bad_value(cmd, a, val, "a finite number")
                                               : 0;
            break;
        case FF_OPT_FUNC:
            bad = o->parse(val, o->dst) ? ff_cli_bad_value(cmd, a, val, o->accepted ? o->accepted : "see --help") : 0;
            break;
        case FF_OPT_FLAG: break;
        }
        if (bad) return FF_OPT_USAGE; /* the reason and the accepted values are printed */
        i++;
    }
    return FF_OPT_OK;
}
