/* framefarm slurm: writes the batch scripts of cluster/slurm/ into a run
 * directory and submits them with sbatch (farm builds only).
 *
 *   framefarm slurm submit JOB.json --workers N [--prompts FILE] [--run DIR]
 *       [--gres gpu:1|none] [--cpus-per-worker C] [--sbatch-arg ARG]...
 *       [--worker-arg ARG]... [--coordinator-arg ARG]... [--port P] [--insecure]
 *       [--bin PATH] [--dry-run]
 *   framefarm slurm submit JOB.json --mpi --ntasks N [--nodes M] [--launch mpirun|srun]
 *       [--mpi-arg ARG]... (and --prompts, --run, --gres, --cpus-per-worker, --sbatch-arg, --bin, --dry-run)
 *
 * A farm run is three Slurm jobs that share the run directory (which must be
 * on a file system every node sees): coordinator.sbatch (the coordinator,
 * publishing RUN/coordinator.endpoint), workers.sbatch (an array of N
 * workers, one per GPU with --gres), and submit.sbatch (submits RUN/job.json
 * to the coordinator, waits, writes RUN/done so the others exit). The job
 * file is rewritten into RUN/job.json with absolute model and output paths
 * and, with --prompts, the prompts of FILE (one per line, trimmed; blank
 * lines and lines starting with '#' are skipped) as one job, one video per
 * prompt.
 * The merged job is validated before anything is submitted.
 *
 * Prints "run DIR" and one "NAME SLURM-JOB-ID" line per script on stdout.
 * What this is not: a Slurm client library; it runs sbatch (and scancel to
 * take back a partial submission). Exit: 0 submitted (or written, with
 * --dry-run), 1 sbatch failed, 2 usage error, bad job file, or no sbatch. */
#if FF_BUILD_FARM

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/slurm_scripts.h"
#include "core/ff_json.h"
#include "proto/ff_jobspec.h"
#include "video/video.h"

#define MAX_EXTRA 32

typedef struct {
    const char *v[MAX_EXTRA];
    int n;
} arg_list;

typedef struct {
    const char *job, *prompts, *run, *gres, *bin, *port, *launch;
    int workers, cpus, mpi, ntasks, nodes, insecure, dry_run;
    arg_list sbatch, worker, coord, mpi_args;
} slurm_opts;

/* the run, as written */
typedef struct {
    char run[PATH_MAX], bin[PATH_MAX], job[PATH_MAX + 16], name[256];
    char outroot[PATH_MAX]; /* the job output's folder: the coordinator's --output-root */
} run_paths;

static void usage(FILE *f) {
    fprintf(f,
            "usage: framefarm slurm submit JOB.json --workers N [options]      a farm run: coordinator, N workers,\n"
            "                                                                 the job's submission (3 Slurm jobs)\n"
            "       framefarm slurm submit JOB.json --mpi --ntasks N [options]  one MPI job (framefarm mpi)\n"
            "options:\n"
            "  --prompts FILE          one prompt per line (# comments, blank lines skipped): one video each\n"
            "  --run DIR               run directory on a shared file system (default ./framefarm-runs/NAME-TIME)\n"
            "  --gres SPEC             per worker / per MPI rank (default $FF_SLURM_GRES or gpu:1; none: no GPU)\n"
            "  --cpus-per-worker C     CPUs per worker or rank (default 4)\n"
            "  --sbatch-arg ARG        an #SBATCH line for every script (--partition=P, --time=4:00:00, ...)\n"
            "  --worker-arg ARG        a framefarm worker option (--vram-budget=20G ...; repeat per word)\n"
            "  --coordinator-arg ARG   a framefarm coordinator option\n"
            "  --port P                coordinator TCP port (default: any free port)\n"
            "  --insecure              no CURVE keys: the coordinator listens on loopback (one-node runs)\n"
            "  --nodes M, --launch mpirun|srun, --mpi-arg ARG    MPI runs\n"
            "  --bin PATH              framefarm on the compute nodes (default: this binary)\n"
            "  --dry-run               write the run directory and print the sbatch commands; submit nothing\n"
            "prints: run DIR, then NAME JOBID per Slurm job. Cancel a run: scancel --name ff-NAME.\n");
}

/* ---- small helpers ----------------------------------------------------- */

static int positive_int(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 100000) return -1;
    *out = (int)v;
    return 0;
}

/* A word that survives #SBATCH parsing and unquoted word splitting. */
static int plain_word(const char *s) {
    if (!*s) return 0;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || strchr("'\"\\`$*?[]{}();&|<>#~", *p)) return 0;
    return 1;
}

static int add_arg(arg_list *l, const char *opt, const char *v) {
    if (!plain_word(v)) {
        fprintf(stderr, "framefarm slurm: %s '%s': one word without spaces, quotes or shell characters, please\n", opt, v);
        return -1;
    }
    if (l->n == MAX_EXTRA) {
        fprintf(stderr, "framefarm slurm: more than %d %s options\n", MAX_EXTRA, opt);
        return -1;
    }
    l->v[l->n++] = v;
    return 0;
}

/* p made absolute against the current directory; -1 when it does not fit */
static int absolute(const char *p, char *out, size_t n) {
    char cwd[PATH_MAX] = "";
    if (p[0] != '/' && !getcwd(cwd, sizeof cwd)) return -1;
    size_t lc = strlen(cwd), lp = strlen(p), sep = lc ? 1 : 0;
    if (lc + sep + lp + 1 > n) return -1;
    memcpy(out, cwd, lc);
    if (sep) out[lc] = '/';
    memcpy(out + lc + sep, p, lp + 1);
    return 0;
}

/* Writes s single-quoted for sh. */
static void sh_quote(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

static int mkdirs(const char *path, mode_t mode) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, mode) && errno != EEXIST ? -1 : 0;
}

/* 1 when an executable named prog is on PATH */
static int on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path || !*path) return 0;
    char *copy = strdup(path), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char full[PATH_MAX];
        if (snprintf(full, sizeof full, "%s/%s", *d ? d : ".", prog) < (int)sizeof full && !access(full, X_OK)) found = 1;
    }
    free(copy);
    return found;
}

/* ---- the job file --------------------------------------------------------- */

typedef struct {
    char **v;
    size_t n;
} prompt_list;

static void prompts_free(prompt_list *p) {
    for (size_t i = 0; i < p->n; i++) free(p->v[i]);
    free(p->v);
}

static int read_prompts(const char *path, prompt_list *out) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "framefarm slurm: --prompts %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t')) line[--len] = 0;
        const char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        if ((size_t)len != strlen(line) || len > FF_JOBSPEC_MAX_PROMPT) {
            fprintf(stderr, "framefarm slurm: %s:%zu: %s\n", path, lineno,
                    (size_t)len != strlen(line) ? "a NUL byte in the prompt" : "prompt too long");
            rc = -1;
            break;
        }
        if (out->n == FF_JOBSPEC_MAX_ITEMS) {
            fprintf(stderr, "framefarm slurm: %s: more than %d prompts\n", path, FF_JOBSPEC_MAX_ITEMS);
            rc = -1;
            break;
        }
        char **v = realloc(out->v, (out->n + 1) * sizeof *v);
        char *copy = strdup(s);
        if (!v || !copy) {
            free(copy);
            if (v) out->v = v;
            fprintf(stderr, "framefarm slurm: out of memory\n");
            rc = -1;
            break;
        }
        out->v = v;
        out->v[out->n++] = copy;
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "framefarm slurm: reading %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    if (!rc && out->n == 0) {
        fprintf(stderr, "framefarm slurm: %s has no prompts (one per line)\n", path);
        rc = -1;
    }
    return rc;
}

/* Writes v as JSON; strings with NUL bytes are refused (-1). */
static int write_json(FILE *f, const ff_json *v) {
    switch (v->type) {
    case FF_JSON_NULL: fputs("null", f); return 0;
    case FF_JSON_BOOL: fputs(v->boolean ? "true" : "false", f); return 0;
    case FF_JSON_NUMBER: fputs(v->str, f); return 0;
    case FF_JSON_STRING:
        if (strlen(v->str) != v->len) return -1;
        ff_json_write_string(f, v->str);
        return 0;
    case FF_JSON_ARRAY:
    case FF_JSON_OBJECT:
        fputc(v->type == FF_JSON_ARRAY ? '[' : '{', f);
        for (const ff_json *c = v->child; c; c = c->next) {
            if (c != v->child) fputs(", ", f);
            if (v->type == FF_JSON_OBJECT) {
                ff_json_write_string(f, c->key);
                fputs(": ", f);
            }
            if (write_json(f, c)) return -1;
        }
        fputc(v->type == FF_JSON_ARRAY ? ']' : '}', f);
        return 0;
    }
    return -1;
}

/* The job file rewritten for the run: absolute model and output, the
 * prompts file merged; validated as a job spec. Writes rp->job. */
static int make_job(const slurm_opts *o, run_paths *rp) {
    ff_err err = {0};
    ff_json_doc *doc = NULL;
    if (ff_json_parse_file(o->job, &doc, &err)) {
        ff_cli_report("slurm", &err);
        return -1;
    }
    const ff_json *root = ff_json_root(doc);
    if (root->type != FF_JSON_OBJECT) {
        fprintf(stderr, "framefarm slurm: %s: a job file is a JSON object\n", o->job);
        ff_json_free(doc);
        return -1;
    }
    prompt_list prompts = {0};
    if (o->prompts && read_prompts(o->prompts, &prompts)) {
        ff_json_free(doc);
        return -1;
    }
    char *text = NULL;
    size_t text_len = 0;
    FILE *m = open_memstream(&text, &text_len);
    int rc = m ? 0 : -1;
    if (m) fputs("{", m);
    int first = 1;
    for (const ff_json *c = root->child; c && !rc; c = c->next) {
        if (o->prompts && (!strcmp(c->key, "prompt") || !strcmp(c->key, "prompts"))) continue;
        if (!first) fputs(",\n ", m);
        first = 0;
        ff_json_write_string(m, c->key);
        fputs(": ", m);
        if ((!strcmp(c->key, "model") || !strcmp(c->key, "output")) && c->type == FF_JSON_STRING && c->str[0]) {
            char abs[PATH_MAX], real[PATH_MAX];
            if (!strcmp(c->key, "model") && realpath(c->str, real)) snprintf(abs, sizeof abs, "%s", real);
            else if (absolute(c->str, abs, sizeof abs)) {
                fprintf(stderr, "framefarm slurm: %s: path too long: %s\n", o->job, c->str);
                rc = -1;
                break;
            }
            ff_json_write_string(m, abs);
        } else if (write_json(m, c)) {
            fprintf(stderr, "framefarm slurm: %s: \"%s\" holds a string with a NUL byte\n", o->job, c->key);
            rc = -1;
        }
    }
    if (!rc && o->prompts) {
        fputs(first ? "\"prompts\": [" : ",\n \"prompts\": [", m);
        for (size_t i = 0; i < prompts.n; i++) {
            if (i) fputs(",\n   ", m);
            ff_json_write_string(m, prompts.v[i]);
        }
        fputs("]", m);
    }
    if (m) {
        fputs("}\n", m);
        if (fclose(m)) rc = -1;
    }
    prompts_free(&prompts);
    ff_json_free(doc);
    if (rc) {
        free(text);
        if (!m) fprintf(stderr, "framefarm slurm: out of memory\n");
        return -1;
    }

    /* validate what the coordinator will read */
    ff_json_doc *check = NULL;
    Ff__JobSpec *spec = NULL;
    if (ff_json_parse(text, text_len, o->job, &check, &err) ||
        ff_jobspec_from_json(ff_json_root(check), o->job, &spec, &err)) {
        ff_cli_report("slurm", &err);
        ff_json_free(check);
        free(text);
        return -1;
    }
    ff_json_free(check);
    ff_video_format fmt; /* the output rule of every command (video/video.h) */
    if (ff_video_out_format(spec->output, &fmt, &err)) {
        fprintf(stderr, "framefarm slurm: %s: output %s\n", o->job, err.msg);
        ff_jobspec_free(spec);
        free(text);
        return -1;
    }
    /* the output's folder must exist where the coordinator writes */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", spec->output);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dir[--dl] = 0;
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0;
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "framefarm slurm: the output folder %s does not exist (job output %s)\n", dir, spec->output);
        ff_jobspec_free(spec);
        free(text);
        return -1;
    }
    ff_jobspec_free(spec);
    snprintf(rp->outroot, sizeof rp->outroot, "%s", dir);

    snprintf(rp->job, sizeof rp->job, "%s/job.json", rp->run);
    FILE *f = fopen(rp->job, "w");
    int bad = !f || fwrite(text, 1, text_len, f) != text_len;
    if (f && fclose(f)) bad = 1;
    free(text);
    if (bad) {
        fprintf(stderr, "framefarm slurm: writing %s: %s\n", rp->job, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- scripts --------------------------------------------------------------- */

static const char *script_text(const char *name) {
    for (const ff_slurm_script *s = ff_slurm_scripts; s->name; s++)
        if (!strcmp(s->name, name)) return s->text;
    return NULL;
}

typedef struct {
    const char *key, *value;
} var;

/* RUN/NAME: a shebang, the #SBATCH lines given (plus --sbatch-arg ones), the
 * variables, then the template without its own shebang and #SBATCH lines. */
static int write_script(const slurm_opts *o, const run_paths *rp, const char *name, const char *const *sbatch,
                        const var *vars, char *path, size_t path_n) {
    const char *t = script_text(name);
    if (!t) {
        fprintf(stderr, "framefarm slurm: %s is not embedded in this binary\n", name);
        return -1;
    }
    snprintf(path, path_n, "%s/%s", rp->run, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "framefarm slurm: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fputs("#!/bin/sh\n", f);
    for (int i = 0; sbatch[i]; i++) fprintf(f, "#SBATCH %s\n", sbatch[i]);
    for (int i = 0; i < o->sbatch.n; i++) fprintf(f, "#SBATCH %s\n", o->sbatch.v[i]);
    fprintf(f, "# written by framefarm slurm submit from cluster/slurm/%s (framefarm %s)\n", name, FF_VERSION);
    for (int i = 0; vars[i].key; i++) {
        fprintf(f, "%s=", vars[i].key);
        sh_quote(f, vars[i].value);
        fputc('\n', f);
    }
    for (const char *p = t; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p + 1) : strlen(p);
        if (!(p == t && !strncmp(p, "#!", 2)) && strncmp(p, "#SBATCH", 7)) fwrite(p, 1, n, f);
        p += n;
    }
    int bad = ferror(f);
    if (fclose(f) || bad || chmod(path, 0755)) {
        fprintf(stderr, "framefarm slurm: writing %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* the words of l, space-separated (they are checked words, MAX_EXTRA of them) */
static int join_args(const arg_list *l, char *out, size_t n) {
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < l->n; i++) {
        size_t len = strlen(l->v[i]);
        if (used + (i ? 1 : 0) + len + 1 > n) {
            fprintf(stderr, "framefarm slurm: extra arguments too long\n");
            return -1;
        }
        if (i) out[used++] = ' ';
        memcpy(out + used, l->v[i], len + 1);
        used += len;
    }
    return 0;
}

/* "gpu:1" -> "1", "gpu:a100:2" -> "a100:2" (for --gpus-per-task) */
static const char *gres_gpus(const char *gres) {
    return strncmp(gres, "gpu:", 4) ? NULL : gres + 4;
}

/* ---- sbatch ------------------------------------------------------------------ */

/* Runs argv (sbatch --parsable ...); the job id in id. */
static int run_sbatch(char *const argv[], char *id, size_t n) {
    int fd[2];
    if (pipe(fd)) {
        fprintf(stderr, "framefarm slurm: pipe: %s\n", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "framefarm slurm: fork: %s\n", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "framefarm slurm: running %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    char buf[256];
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0 || (r < 0 && errno == EINTR))
        if (r > 0) got += (size_t)r;
    buf[got] = 0;
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        int k = 0;
        while (argv[k + 1]) k++;
        fprintf(stderr, "framefarm slurm: sbatch %s failed (exit %d)\n", argv[k], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    size_t k = strspn(buf, "0123456789");
    if (!k || k >= n) {
        fprintf(stderr, "framefarm slurm: unexpected sbatch output '%s'\n", buf);
        return -1;
    }
    memcpy(id, buf, k);
    id[k] = 0;
    return 0;
}

/* Takes back jobs already submitted when a later sbatch fails. */
static void scancel_ids(char ids[][32], int n) {
    for (int i = 0; i < n; i++) {
        char *argv[] = {"scancel", ids[i], NULL};
        pid_t pid = fork();
        if (pid == 0) {
            execvp(argv[0], argv);
            _exit(127);
        }
        int status;
        if (pid > 0) waitpid(pid, &status, 0);
        fprintf(stderr, "framefarm slurm: cancelled Slurm job %s\n", ids[i]);
    }
}

/* ---- framefarm slurm submit ------------------------------------------------- */

static int parse_submit(int argc, char **argv, slurm_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--insecure")) o->insecure = 1;
        else if (!strcmp(a, "--dry-run")) o->dry_run = 1;
        else if (!strcmp(a, "--mpi")) o->mpi = 1;
        else if (a[0] != '-') {
            if (o->job) {
                fprintf(stderr, "framefarm slurm submit: one job file, please ('%s' and '%s')\n", o->job, a);
                return -1;
            }
            o->job = a;
        } else if (!val) {
            fprintf(stderr, "framefarm slurm submit: unknown or incomplete option '%s'\n", a);
            return -1;
        } else {
            i++;
            int bad = 0;
            if (!strcmp(a, "--workers")) bad = positive_int(val, &o->workers);
            else if (!strcmp(a, "--ntasks")) bad = positive_int(val, &o->ntasks);
            else if (!strcmp(a, "--nodes")) bad = positive_int(val, &o->nodes);
            else if (!strcmp(a, "--cpus-per-worker")) bad = positive_int(val, &o->cpus);
            else if (!strcmp(a, "--prompts")) o->prompts = val;
            else if (!strcmp(a, "--run")) o->run = val;
            else if (!strcmp(a, "--gres")) o->gres = val;
            else if (!strcmp(a, "--bin")) o->bin = val;
            else if (!strcmp(a, "--port")) {
                int p;
                bad = positive_int(val, &p) || p > 65535;
                o->port = val;
            } else if (!strcmp(a, "--launch")) {
                bad = strcmp(val, "mpirun") && strcmp(val, "srun");
                o->launch = val;
            } else if (!strcmp(a, "--sbatch-arg")) {
                if (add_arg(&o->sbatch, a, val)) return -1;
            } else if (!strcmp(a, "--worker-arg")) {
                if (add_arg(&o->worker, a, val)) return -1;
            } else if (!strcmp(a, "--coordinator-arg")) {
                if (add_arg(&o->coord, a, val)) return -1;
            } else if (!strcmp(a, "--mpi-arg")) {
                if (add_arg(&o->mpi_args, a, val)) return -1;
            } else {
                fprintf(stderr, "framefarm slurm submit: unknown option '%s'\n", a);
                return -1;
            }
            if (bad) {
                fprintf(stderr, "framefarm slurm submit: bad %s '%s'\n", a, val);
                return -1;
            }
        }
    }
    if (!o->job) {
        fprintf(stderr, "framefarm slurm submit: give a job file (framefarm slurm submit JOB.json --workers N)\n");
        return -1;
    }
    if (o->mpi ? (!o->ntasks || o->workers) : (!o->workers || o->ntasks || o->nodes)) {
        fprintf(stderr, "framefarm slurm submit: give --workers N (a farm run) or --mpi --ntasks N (an MPI job)\n");
        return -1;
    }
    if (!o->gres) o->gres = getenv("FF_SLURM_GRES") ? getenv("FF_SLURM_GRES") : "gpu:1";
    if (!strcmp(o->gres, "none")) o->gres = "";
    if (*o->gres && (!plain_word(o->gres) || (o->mpi && !gres_gpus(o->gres)))) {
        fprintf(stderr, "framefarm slurm submit: bad --gres '%s' (gpu:1, gpu:TYPE:1, or none)\n", o->gres);
        return -1;
    }
    return 0;
}

/* The run directory: given or ./framefarm-runs/<job stem>-<time>; created
 * 0700 (it will hold the coordinator's secret key); must be new or empty. */
static int make_run_dir(const slurm_opts *o, run_paths *rp) {
    char stem[128];
    const char *base = strrchr(o->job, '/');
    snprintf(stem, sizeof stem, "%s", base ? base + 1 : o->job);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    for (char *p = stem; *p; p++)
        if (!plain_word((char[]){*p, 0})) *p = '_';
    char rel[PATH_MAX];
    if (o->run) snprintf(rel, sizeof rel, "%s", o->run);
    else {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
        snprintf(rel, sizeof rel, "framefarm-runs/%s-%s", stem, ts);
    }
    if (absolute(rel, rp->run, sizeof rp->run) || strlen(rp->run) > 3000) {
        fprintf(stderr, "framefarm slurm: run directory path too long\n");
        return -1;
    }
    size_t l = strlen(rp->run);
    while (l > 1 && rp->run[l - 1] == '/') rp->run[--l] = 0;
    if (!plain_word(rp->run)) {
        fprintf(stderr, "framefarm slurm: run directory '%s': no spaces, quotes or shell characters (it goes into #SBATCH lines)\n",
                rp->run);
        return -1;
    }
    const char *rb = strrchr(rp->run, '/');
    snprintf(rp->name, sizeof rp->name, "%.200s", rb && rb[1] ? rb + 1 : stem);
    if (mkdirs(rp->run, 0700)) {
        fprintf(stderr, "framefarm slurm: cannot create %s: %s\n", rp->run, strerror(errno));
        return -1;
    }
    char probe[PATH_MAX + 16];
    const char *taken[] = {"job.json", "state", "done", "coordinator.endpoint", NULL};
    for (int i = 0; taken[i]; i++) {
        snprintf(probe, sizeof probe, "%s/%s", rp->run, taken[i]);
        if (!access(probe, F_OK)) {
            fprintf(stderr, "framefarm slurm: %s already holds a run (%s): give another --run\n", rp->run, taken[i]);
            return -1;
        }
    }
    snprintf(probe, sizeof probe, "%s/logs", rp->run);
    if (mkdir(probe, 0755) && errno != EEXIST) {
        fprintf(stderr, "framefarm slurm: cannot create %s: %s\n", probe, strerror(errno));
        return -1;
    }
    return 0;
}

static int cmd_submit(int argc, char **argv) {
    slurm_opts o = {0};
    o.cpus = 4;
    int pr = parse_submit(argc, argv, &o);
    if (pr) return pr > 0 ? FF_EXIT_OK : FF_EXIT_USAGE;
    if (!o.dry_run && !on_path("sbatch")) {
        fprintf(stderr, "framefarm slurm: sbatch not found on PATH: run this on a Slurm login node (or a machine with "
                        "slurm-client), or use --dry-run to only write the scripts\n");
        return FF_EXIT_USAGE;
    }
    run_paths rp;
    memset(&rp, 0, sizeof rp);
    if (o.bin) {
        if (absolute(o.bin, rp.bin, sizeof rp.bin)) return FF_EXIT_USAGE;
    } else {
        ssize_t n = readlink("/proc/self/exe", rp.bin, sizeof rp.bin - 1);
        if (n <= 0) {
            fprintf(stderr, "framefarm slurm: cannot find this binary (/proc/self/exe); give --bin PATH\n");
            return FF_EXIT_USAGE;
        }
        rp.bin[n] = 0;
    }
    if (make_run_dir(&o, &rp) || make_job(&o, &rp)) return FF_EXIT_USAGE;

    char job_name[300], cpus[32], out_c[PATH_MAX + 64], out_w[PATH_MAX + 64], out_s[PATH_MAX + 64], out_m[PATH_MAX + 64];
    char array[64], gres[128], ntasks[64], nodes[64], state[PATH_MAX + 16];
    char wargs[2048], cargs[2048], margs[2048];
    snprintf(job_name, sizeof job_name, "--job-name=ff-%s", rp.name);
    snprintf(cpus, sizeof cpus, "--cpus-per-task=%d", o.cpus);
    snprintf(out_c, sizeof out_c, "--output=%s/logs/coordinator-%%j.out", rp.run);
    snprintf(out_w, sizeof out_w, "--output=%s/logs/worker-%%A_%%a.out", rp.run);
    snprintf(out_s, sizeof out_s, "--output=%s/logs/submit-%%j.out", rp.run);
    snprintf(out_m, sizeof out_m, "--output=%s/logs/mpi-%%j.out", rp.run);
    snprintf(array, sizeof array, "--array=0-%d", o.workers - 1);
    snprintf(ntasks, sizeof ntasks, "--ntasks=%d", o.ntasks);
    snprintf(nodes, sizeof nodes, "--nodes=%d", o.nodes);
    snprintf(state, sizeof state, "%s/state", rp.run);
    if (join_args(&o.worker, wargs, sizeof wargs) || join_args(&o.coord, cargs, sizeof cargs) ||
        join_args(&o.mpi_args, margs, sizeof margs))
        return FF_EXIT_USAGE;
    if (o.mpi) snprintf(gres, sizeof gres, "--gpus-per-task=%s", *o.gres ? gres_gpus(o.gres) : "");
    else snprintf(gres, sizeof gres, "--gres=%s", o.gres);

    typedef struct {
        const char *label, *file;
        char path[PATH_MAX + 64];
        int after_coordinator; /* --dependency=after:<coordinator> and FF_COORD_JOB */
    } step;
    step steps[3];
    int n_steps = 0;
    if (o.mpi) {
        const char *sb[8] = {job_name, ntasks, cpus, out_m};
        int k = 4;
        if (o.nodes) sb[k++] = nodes;
        if (*o.gres) sb[k++] = gres;
        sb[k] = NULL;
        const var vars[] = {{"FF_BIN", rp.bin}, {"FF_JOB", rp.job}, {"FF_LAUNCH", o.launch ? o.launch : "mpirun"},
                            {"FF_MPI_ARGS", margs}, {NULL, NULL}};
        steps[n_steps] = (step){"mpi", "mpi.sbatch", {0}, 0};
        if (write_script(&o, &rp, "mpi.sbatch", sb, vars, steps[n_steps].path, sizeof steps[n_steps].path))
            return FF_EXIT_USAGE;
        n_steps++;
    } else {
        const char *sbc[] = {job_name, "--ntasks=1", "--cpus-per-task=1", out_c, NULL};
        const var vc[] = {{"FF_RUN", rp.run},           {"FF_BIN", rp.bin}, {"FF_STATE", state},
                          {"FF_INSECURE", o.insecure ? "1" : "0"}, {"FF_PORT", o.port ? o.port : "*"},
                          {"FF_COORD_ARGS", cargs},     {"FF_OUTPUT_ROOT", rp.outroot},
                          {NULL, NULL}};
        const char *sbw[8] = {job_name, array, "--ntasks=1", cpus, out_w};
        int k = 5;
        if (*o.gres) sbw[k++] = gres;
        sbw[k] = NULL;
        const var vw[] = {{"FF_RUN", rp.run}, {"FF_BIN", rp.bin}, {"FF_WORKER_ARGS", wargs}, {NULL, NULL}};
        const char *sbs[] = {job_name, "--ntasks=1", "--cpus-per-task=1", out_s, NULL};
        const var vs[] = {{"FF_RUN", rp.run}, {"FF_BIN", rp.bin}, {"FF_JOB", rp.job}, {NULL, NULL}};
        steps[0] = (step){"coordinator", "coordinator.sbatch", {0}, 0};
        steps[1] = (step){"workers", "workers.sbatch", {0}, 1};
        steps[2] = (step){"submit", "submit.sbatch", {0}, 1};
        if (write_script(&o, &rp, "coordinator.sbatch", sbc, vc, steps[0].path, sizeof steps[0].path) ||
            write_script(&o, &rp, "workers.sbatch", sbw, vw, steps[1].path, sizeof steps[1].path) ||
            write_script(&o, &rp, "submit.sbatch", sbs, vs, steps[2].path, sizeof steps[2].path))
            return FF_EXIT_USAGE;
        n_steps = 3;
    }

    printf("run %s\n", rp.run);
    fflush(stdout);
    char ids[3][32];
    for (int i = 0; i < n_steps; i++) {
        char dep[64], exp[80];
        char *av[8];
        int k = 0;
        av[k++] = "sbatch";
        av[k++] = "--parsable";
        if (steps[i].after_coordinator) {
            snprintf(dep, sizeof dep, "--dependency=after:%s", o.dry_run ? "<coordinator>" : ids[0]);
            snprintf(exp, sizeof exp, "--export=ALL,FF_COORD_JOB=%s", o.dry_run ? "<coordinator>" : ids[0]);
            av[k++] = dep;
            av[k++] = "--kill-on-invalid-dep=yes";
            av[k++] = exp;
        }
        av[k++] = steps[i].path;
        av[k] = NULL;
        if (o.dry_run) {
            printf("%s", steps[i].label);
            for (int j = 0; j < k; j++) printf(" %s", av[j]);
            printf("\n");
            continue;
        }
        if (run_sbatch(av, ids[i], sizeof ids[i])) {
            scancel_ids(ids, i);
            return FF_EXIT_FAIL;
        }
        printf("%s %s\n", steps[i].label, ids[i]);
        fflush(stdout);
    }
    if (o.dry_run) fprintf(stderr, "framefarm slurm: dry run: scripts in %s, nothing submitted\n", rp.run);
    else if (o.mpi)
        fprintf(stderr, "framefarm slurm: MPI job %s; log in %s/logs/; cancel: scancel %s\n", ids[0], rp.run, ids[0]);
    else
        fprintf(stderr,
                "framefarm slurm: coordinator %s, %d worker%s (array %s), submission %s; logs in %s/logs/, result in "
                "%s/done\n  watch: squeue --name ff-%s   cancel the run: scancel --name ff-%s\n",
                ids[0], o.workers, o.workers == 1 ? "" : "s", ids[1], ids[2], rp.run, rp.run, rp.name, rp.name);
    return FF_EXIT_OK;
}

int ff_cmd_slurm(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? FF_EXIT_USAGE : FF_EXIT_OK;
    }
    if (!strcmp(argv[1], "submit")) return cmd_submit(argc - 1, argv + 1);
    fprintf(stderr, "framefarm slurm: unknown command '%s' (framefarm slurm submit ...)\n", argv[1]);
    return FF_EXIT_USAGE;
}

#else
typedef int ff_cmd_slurm_needs_the_farm_build; /* FRAMEFARM_FARM=OFF: no `framefarm slurm` */
#endif
