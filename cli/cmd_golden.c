/* framefarm golden [--backend cpu|cuda[:N]] [--device N] [--precision f32|bf16|bf16-all]
 *                  [--threads N] [--filter S|^PREFIX] [--skip-if-missing] [--dump DIR] PATH...
 * Runs golden cases (a case folder, or a root holding cases/ and pipelines/)
 * and prints one line per case and a summary; exit 1 on any FAIL. --filter
 * keeps the cases whose name or group contains S (starts with PREFIX).
 * --dump DIR writes every case's computed outputs to DIR/<case>.safetensors
 * (the bytes a change must keep: tests/cli/render_identity.sh digests them).
 * Tolerance: each case's rel_l2 (the golden README) on the F32 path; with
 * --precision bf16 (BF16 GEMMs, kernels/ops.h) max(case, 1e-2) for float
 * outputs, integers still exact (bf16-all: the same; its BF16 convs put VAE
 * decodes past 1e-2). --device N is --backend cuda:N (the ordinal after
 * CUDA_VISIBLE_DEVICES). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "cli/backend_opts.h"
#include "cli/cli.h"
#include "cli/golden.h"
#include "core/ff_compare.h"

/* snprintf that reports truncation (paths and messages here are bounded;
 * a truncated path would name the wrong file, so callers check). */
static int fmt(char *buf, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *buf, size_t n, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int k = vsnprintf(buf, n, f, ap);
    va_end(ap);
    return k >= 0 && (size_t)k < n ? 0 : -1;
}

#define BF16_TOL 1e-2 /* the bf16 path's rel_l2 bound (kernels/ops.h: accuracy class) */

typedef struct {
    int passed, failed, skipped;
} tally;

ff_status golden_out_add(golden_outputs *outs, const char *name, ff_tensor *t, ff_err *err) {
    if (outs->n >= GOLDEN_MAX_OUTPUTS) {
        ff_tensor_free(t);
        return ff_err_set(err, FF_ERR_INTERNAL, "too many golden outputs");
    }
    golden_output *o = &outs->items[outs->n++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->t = *t;
    memset(t, 0, sizeof *t);
    return FF_OK;
}

void golden_outs_free(golden_outputs *outs) {
    for (int i = 0; i < outs->n; i++) ff_tensor_free(&outs->items[i].t);
    outs->n = 0;
}

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Compares every produced output against its expected tensor; returns 1 on
 * pass and fills *worst; on fail writes the FAIL detail into why. */
static int compare_outputs(const golden_case *c, const golden_outputs *outs, const ff_st_file *expected,
                           double tol, double *worst, char *why, size_t why_n) {
    int compared = 0;
    *worst = 0;
    for (int i = 0; i < outs->n; i++) {
        const golden_output *o = &outs->items[i];
        const ff_st_entry *e = ff_st_find(expected, o->name);
        if (!e) continue; /* an intermediate the case does not record */
        ff_err err = {0};
        ff_tensor ref;
        if (ff_st_load(expected, o->name, e->dtype, &ref, &err)) {
            (void)fmt(why, why_n, "%s cannot load expected: %s", o->name, err.msg);
            return 0;
        }
        compared++;
        int ok;
        double r = 0;
        if (!ff_tensor_same_shape(&o->t, &ref)) {
            char a[96], b[96];
            (void)fmt(why, why_n, "%s shape %s, expected %s", o->name, ff_tensor_describe(&o->t, a, sizeof a),
                     ff_tensor_describe(&ref, b, sizeof b));
            ok = 0;
        } else if (ref.dtype == FF_I32 || ref.dtype == FF_I64 || ref.dtype == FF_U8) {
            ok = ff_tensor_equal(&o->t, &ref);
            if (!ok) (void)fmt(why, why_n, "%s integers differ (exact match required)", o->name);
        } else {
            r = ff_rel_l2(&o->t, &ref);
            ok = r >= 0 && r <= tol;
            if (!ok) (void)fmt(why, why_n, "%s rel_l2=%.3e > %.1e", o->name, r, tol);
            if (r > *worst) *worst = r;
        }
        ff_tensor_free(&ref);
        if (!ok) return 0;
    }
    if (!compared) {
        (void)fmt(why, why_n, "%s produced none of the expected tensors", c->name);
        return 0;
    }
    return 1;
}

/* --dump: the case's outputs, as computed, to dump/<case>.safetensors. */
static ff_status dump_outputs(const char *dump, const golden_case *c, const golden_outputs *outs, ff_err *err) {
    char path[PATH_MAX];
    ff_st_item items[GOLDEN_MAX_OUTPUTS];
    if (fmt(path, sizeof path, "%s/%s.safetensors", dump, c->name))
        return ff_err_set(err, FF_ERR_ARG, "--dump: path too long for %s", c->name);
    for (int i = 0; i < outs->n; i++) items[i] = (ff_st_item){outs->items[i].name, &outs->items[i].t};
    return ff_st_write(path, items, (size_t)outs->n, NULL, 0, err);
}

static void run_case(const char *root, const char *dir, const char *dump, ff_backend *be, tally *t) {
    char path[PATH_MAX];
    ff_err err = {0};
    ff_json_doc *doc = NULL;
    ff_st_file *inputs = NULL, *expected = NULL;
    golden_outputs outs = {0};
    const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;

    (void)fmt(path, sizeof path, "%s/case.json", dir);
    if (ff_json_parse_file(path, &doc, &err)) {
        printf("FAIL %s case.json %s\n", base, err.msg);
        t->failed++;
        return;
    }
    const ff_json *cj = ff_json_root(doc);
    golden_case c = {0};
    c.root = root;
    c.dir = dir;
    c.name = ff_json_get_string(cj, "name") ? ff_json_get_string(cj, "name") : base;
    c.group = ff_json_get_string(cj, "group") ? ff_json_get_string(cj, "group") : "";
    c.op = ff_json_get_string(cj, "op") ? ff_json_get_string(cj, "op") : "";
    c.component = ff_json_get_string(cj, "component");
    c.options = ff_json_get(cj, "options");
    c.input_values = ff_json_get(cj, "input_values");
    c.be = be;
    if (ff_json_get_string(cj, "pipeline") &&
        fmt(c.pipeline, sizeof c.pipeline, "%s/%s", root, ff_json_get_string(cj, "pipeline"))) {
        printf("FAIL %s pipeline path too long\n", c.name);
        t->failed++;
        goto done;
    }
    double tol = 0;
    if (ff_json_get_double(ff_json_get(cj, "tolerance"), "rel_l2", 0, &tol)) tol = 0;
    if (ff_backend_precision(be) != FF_PREC_F32 && tol < BF16_TOL) tol = BF16_TOL; /* floats only: see compare */

    const char *why = NULL;
    golden_handler h = golden_find_handler(&c, &why);
    if (!h) {
        printf("SKIP %s %s\n", c.name, why);
        t->skipped++;
        goto done;
    }
    (void)fmt(path, sizeof path, "%s/inputs.safetensors", dir);
    if (is_file(path) && ff_st_open(path, &inputs, &err)) {
        printf("FAIL %s inputs %s\n", c.name, err.msg);
        t->failed++;
        goto done;
    }
    c.inputs = inputs;
    (void)fmt(path, sizeof path, "%s/expected.safetensors", dir);
    if (ff_st_open(path, &expected, &err)) {
        printf("FAIL %s expected %s\n", c.name, err.msg);
        t->failed++;
        goto done;
    }
    ff_status st = h(&c, &outs, &err);
    if (st == FF_ERR_UNSUPPORTED) {
        printf("SKIP %s %s\n", c.name, err.msg);
        t->skipped++;
    } else if (st) {
        printf("FAIL %s error %s\n", c.name, err.msg);
        t->failed++;
    } else if (dump && dump_outputs(dump, &c, &outs, &err)) {
        printf("FAIL %s --dump: %s\n", c.name, err.msg);
        t->failed++;
    } else {
        double worst;
        char detail[512];
        if (compare_outputs(&c, &outs, expected, tol, &worst, detail, sizeof detail)) {
            printf("PASS %s rel_l2=%.3e\n", c.name, worst);
            t->passed++;
        } else {
            printf("FAIL %s %s\n", c.name, detail);
            t->failed++;
        }
    }
done:
    fflush(stdout);
    golden_outs_free(&outs);
    ff_st_close(inputs);
    ff_st_close(expected);
    ff_json_free(doc);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* --filter: a substring of the case name, or with a leading '^' its prefix
 * (so "^rng_" keeps the Wan RNG cases and not hunyuan_rng_*). */
static int name_matches(const char *name, const char *filter) {
    if (filter[0] == '^') return strncmp(name, filter + 1, strlen(filter + 1)) == 0;
    return strstr(name, filter) != NULL;
}

/* The filter matches the case's name or its group ("^t5_" selects the
 * t5_tokenizer and t5_encoder groups, whose cases are named cogvideox_*). */
static int case_matches(const char *cases, const char *name, const char *filter) {
    if (name_matches(name, filter)) return 1;
    char path[PATH_MAX];
    ff_json_doc *doc;
    if (fmt(path, sizeof path, "%s/%s/case.json", cases, name) || ff_json_parse_file(path, &doc, NULL)) return 0;
    const char *group = ff_json_get_string(ff_json_root(doc), "group");
    int m = group && name_matches(group, filter);
    ff_json_free(doc);
    return m;
}

/* Runs every case under root/cases in name order. */
static int run_root(const char *root, const char *filter, const char *dump, ff_backend *be, tally *t) {
    char cases[PATH_MAX];
    if (fmt(cases, sizeof cases, "%s/cases", root)) return -1;
    DIR *d = opendir(cases);
    if (!d) {
        fprintf(stderr, "framefarm golden: %s: %s\n", cases, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (filter && !case_matches(cases, de->d_name, filter)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 128;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX];
        if (!fmt(dir, sizeof dir, "%s/%s", cases, names[i]) && is_dir(dir)) run_case(root, dir, dump, be, t);
        free(names[i]);
    }
    free(names);
    return 0;
}

static void golden_usage(void) {
    fprintf(stderr, "usage: framefarm golden [--backend cpu|cuda[:N]] [--device N] [--precision f32|bf16|bf16-all] "
                    "[--threads N] [--filter SUBSTR|^PREFIX] [--skip-if-missing] [--dump DIR] PATH...\n"
                    "  PATH: a case folder (with case.json) or a root holding cases/ and pipelines/\n"
                    "  --filter: cases whose name or group contains SUBSTR (starts with PREFIX)\n"
                    "  --device N: cuda:N; --precision bf16: BF16 linear/matmul GEMMs (bf16-all: convs too),\n"
                    "  float outputs within max(case tolerance, 1e-2); --dump DIR: outputs to DIR/<case>.safetensors\n");
}

int ff_cmd_golden(int argc, char **argv) {
    const char *backend = NULL, *filter = NULL, *device = NULL, *dump = NULL;
    int threads = 0, skip_missing = 0, npaths = 0;
    ff_precision prec = FF_PREC_F32;
    char **paths = calloc((size_t)argc, sizeof *paths);
    if (!paths) return FF_EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
            if (ff_precision_parse(argv[++i], &prec)) {
                fprintf(stderr, "framefarm golden: unknown precision '%s' (expected f32, bf16 or bf16-all)\n",
                        argv[i]);
                free(paths);
                return FF_EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = argv[++i];
        else if (!strcmp(argv[i], "--skip-if-missing")) skip_missing = 1;
        else if (argv[i][0] == '-') {
            golden_usage();
            free(paths);
            return FF_EXIT_USAGE;
        } else paths[npaths++] = argv[i];
    }
    if (!npaths) {
        golden_usage();
        free(paths);
        return FF_EXIT_USAGE;
    }
    char be_name[64], why[256];
    if (ff_cli_backend_name(backend, device, be_name, sizeof be_name, why, sizeof why)) {
        fprintf(stderr, "framefarm golden: %s\n", why);
        free(paths);
        return FF_EXIT_USAGE;
    }
    for (int i = 0; i < npaths; i++)
        if (!is_dir(paths[i])) {
            if (skip_missing) {
                printf("SKIP golden: %s not found (golden data absent; nothing was checked)\n", paths[i]);
                free(paths);
                return FF_EXIT_SKIP;
            }
            fprintf(stderr, "framefarm golden: %s: no such folder\n", paths[i]);
            free(paths);
            return FF_EXIT_USAGE;
        }

    ff_err err = {0};
    ff_backend *be = NULL;
    if (ff_backend_create_by_name(be_name, threads, &be, &err) ||
        ff_backend_set_precision(be, prec, &err)) {
        ff_cli_report("golden", &err);
        ff_backend_free(be);
        free(paths);
        return FF_EXIT_USAGE;
    }
    tally t = {0};
    int rc = FF_EXIT_OK;
    for (int i = 0; i < npaths && rc == FF_EXIT_OK; i++) {
        char p[PATH_MAX];
        if (!realpath(paths[i], p) && fmt(p, sizeof p, "%s", paths[i])) continue;
        char probe[PATH_MAX + 16];
        (void)fmt(probe, sizeof probe, "%s/case.json", p);
        if (is_file(probe)) {
            char up[PATH_MAX + 8], root[PATH_MAX]; /* a case folder: root/cases/<case> */
            (void)fmt(up, sizeof up, "%s/../..", p);
            if (!realpath(up, root) && fmt(root, sizeof root, "%s", up)) continue;
            run_case(root, p, dump, be, &t);
        } else if (run_root(p, filter, dump, be, &t)) {
            rc = FF_EXIT_USAGE;
        }
    }
    printf("%d passed, %d failed, %d skipped (backend %s)%s\n", t.passed, t.failed, t.skipped, ff_backend_name(be),
           prec == FF_PREC_BF16 ? " (bf16 path, tolerance 1e-2)"
           : prec == FF_PREC_BF16_ALL ? " (bf16-all path, tolerance 1e-2)" : "");
    ff_backend_free(be);
    free(paths);
    if (rc) return rc;
    return t.failed ? FF_EXIT_FAIL : FF_EXIT_OK;
}
