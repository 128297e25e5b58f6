/* mpi_job: the job file of `framefarm mpi` (see mpi_job.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cluster/mpi_job.h"
#include "core/ff_limits.h"

void ff_mpi_job_default(ff_mpi_job *j) {
    memset(j, 0, sizeof *j);
    j->seed = 42;
    j->crf = -1;
    j->tile = -1;
    j->overlap = 2;
    j->vae_warmup = 4;
    j->vae_split = FF_MPI_SPLIT_TIME;
    j->comm = FF_MPI_COMM_AUTO;
    j->backend = "cpu";
}

int ff_mpi_split_parse(const char *s, ff_mpi_split *out) {
    if (!strcmp(s, "time")) *out = FF_MPI_SPLIT_TIME;
    else if (!strcmp(s, "space")) *out = FF_MPI_SPLIT_SPACE;
    else return -1;
    return 0;
}

int ff_mpi_comm_parse(const char *s, ff_mpi_comm_kind *out) {
    if (!strcmp(s, "auto")) *out = FF_MPI_COMM_AUTO;
    else if (!strcmp(s, "mpi")) *out = FF_MPI_COMM_MPI;
    else if (!strcmp(s, "nccl")) *out = FF_MPI_COMM_NCCL;
    else return -1;
    return 0;
}

const char *ff_mpi_split_name(ff_mpi_split s) { return s == FF_MPI_SPLIT_SPACE ? "space" : "time"; }
const char *ff_mpi_comm_name(ff_mpi_comm_kind c) {
    return c == FF_MPI_COMM_NCCL ? "nccl" : c == FF_MPI_COMM_MPI ? "mpi" : "auto";
}

/* An integer member in [lo, hi]. */
static ff_status get_int(const ff_json *v, const char *what, const char *key, int64_t lo, int64_t hi, int64_t *out,
                         ff_err *err) {
    if (ff_json_int64(v, out) || *out < lo || *out > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" must be an integer in [%lld, %lld]", what, key, (long long)lo,
                          (long long)hi);
    return FF_OK;
}

static ff_status get_str(const ff_json *v, const char *what, const char *key, const char **out, ff_err *err) {
    if (v->type != FF_JSON_STRING || strlen(v->str) != v->len)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" must be a string", what, key);
    *out = v->str;
    return FF_OK;
}

static ff_status get_num(const ff_json *v, const char *what, const char *key, double *out, ff_err *err) {
    if (ff_json_double(v, out) || !isfinite(*out))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" must be a finite number", what, key);
    return FF_OK;
}

ff_status ff_mpi_job_from_json(ff_json_doc *doc, const char *what, ff_mpi_job *j, ff_err *err) {
    ff_mpi_job_default(j);
    j->doc = doc;
    const ff_json *root = ff_json_root(doc);
    if (!root || root->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: a job is a JSON object", what);
    ff_status st = FF_OK;
    for (const ff_json *m = root->child; m && !st; m = m->next) {
        const char *k = m->key;
        int64_t iv = 0;
        const char *sv = NULL;
        if (!strcmp(k, "model")) st = get_str(m, what, k, &j->model, err);
        else if (!strcmp(k, "prompt")) st = get_str(m, what, k, &j->prompt, err);
        else if (!strcmp(k, "negative_prompt")) st = get_str(m, what, k, &j->negative_prompt, err);
        else if (!strcmp(k, "out") || !strcmp(k, "output")) st = get_str(m, what, k, &j->out, err);
        else if (!strcmp(k, "backend")) st = get_str(m, what, k, &j->backend, err);
        else if (!strcmp(k, "image")) st = get_str(m, what, k, &j->image, err);
        else if (!strcmp(k, "name")) st = get_str(m, what, k, &sv, err);
        else if (!strcmp(k, "seed")) {
            if (ff_json_uint64(m, &j->seed)) st = ff_err_set(err, FF_ERR_FORMAT, "%s: \"seed\" must be an integer >= 0", what);
        } else if (!strcmp(k, "frames")) {
            if (!(st = get_int(m, what, k, 1, 1 << 20, &iv, err))) j->frames = (int)iv;
        } else if (!strcmp(k, "height")) {
            if (!(st = get_int(m, what, k, 1, 1 << 16, &iv, err))) j->height = (int)iv;
        } else if (!strcmp(k, "width")) {
            if (!(st = get_int(m, what, k, 1, 1 << 16, &iv, err))) j->width = (int)iv;
        } else if (!strcmp(k, "steps")) {
            if (!(st = get_int(m, what, k, 1, 100000, &iv, err))) j->steps = (int)iv;
        } else if (!strcmp(k, "fps")) {
            if (!(st = get_int(m, what, k, 1, 1000, &iv, err))) j->fps = (int)iv;
        } else if (!strcmp(k, "crf")) {
            if (!(st = get_int(m, what, k, 0, 51, &iv, err))) j->crf = (int)iv;
        } else if (!strcmp(k, "threads")) {
            if (!(st = get_int(m, what, k, 0, 4096, &iv, err))) j->threads = (int)iv;
        } else if (!strcmp(k, "max_sequence_length")) {
            if (!(st = get_int(m, what, k, 1, 1 << 16, &iv, err))) j->max_sequence_length = (int)iv;
        } else if (!strcmp(k, "overlap")) {
            if (!(st = get_int(m, what, k, 1, 1 << 16, &iv, err))) j->overlap = (int)iv;
        } else if (!strcmp(k, "vae_warmup")) {
            if (!(st = get_int(m, what, k, 0, 1 << 20, &iv, err))) j->vae_warmup = (int)iv;
        } else if (!strcmp(k, "tile_size")) {
            if (!(st = get_int(m, what, k, 1, 1 << 20, &iv, err))) j->tile_size = (int)iv;
        } else if (!strcmp(k, "tile_stride")) {
            if (!(st = get_int(m, what, k, 1, 1 << 20, &iv, err))) j->tile_stride = (int)iv;
        } else if (!strcmp(k, "guidance") || !strcmp(k, "guidance_scale")) {
            if (!(st = get_num(m, what, k, &j->guidance, err))) j->has_guidance = 1;
        } else if (!strcmp(k, "guidance_2") || !strcmp(k, "guidance_scale_2")) {
            if (!(st = get_num(m, what, k, &j->guidance_2, err))) j->has_guidance_2 = 1;
        } else if (!strcmp(k, "timeout_s")) {
            if (!(st = get_num(m, what, k, &j->timeout_s, err)) && j->timeout_s < 0)
                st = ff_err_set(err, FF_ERR_FORMAT, "%s: \"timeout_s\" must be >= 0", what);
        } else if (!strcmp(k, "tile")) {
            if (m->type != FF_JSON_BOOL) st = ff_err_set(err, FF_ERR_FORMAT, "%s: \"tile\" must be true or false", what);
            else j->tile = m->boolean;
        } else if (!strcmp(k, "vae_split")) {
            if (!(st = get_str(m, what, k, &sv, err)) && ff_mpi_split_parse(sv, &j->vae_split))
                st = ff_err_set(err, FF_ERR_FORMAT, "%s: \"vae_split\" must be \"time\" or \"space\", not \"%s\"", what, sv);
        } else if (!strcmp(k, "comm")) {
            if (!(st = get_str(m, what, k, &sv, err)) && ff_mpi_comm_parse(sv, &j->comm))
                st = ff_err_set(err, FF_ERR_FORMAT, "%s: \"comm\" must be \"auto\", \"mpi\" or \"nccl\", not \"%s\"", what, sv);
        } else {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: unknown key \"%s\" (see framefarm mpi --help)", what, k);
        }
    }
    if (!st && !j->prompt) st = ff_err_set(err, FF_ERR_FORMAT, "%s: \"prompt\" is required", what);
    /* the prompt limits of every front door (core/ff_limits.h), before any rank does any work */
    char w2[600];
    snprintf(w2, sizeof w2, "%.500s: \"prompt\"", what);
    if (!st) st = ff_limits_check_prompt(j->prompt, strlen(j->prompt), w2, err);
    snprintf(w2, sizeof w2, "%.500s: \"negative_prompt\"", what);
    if (!st && j->negative_prompt) st = ff_limits_check_prompt(j->negative_prompt, strlen(j->negative_prompt), w2, err);
    if (!st && !j->out) st = ff_err_set(err, FF_ERR_FORMAT, "%s: \"out\" is required", what);
    return st;
}

ff_status ff_mpi_job_load(const char *path, ff_mpi_job *j, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_mpi_job_default(j);
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    return ff_mpi_job_from_json(doc, path, j, err);
}

void ff_mpi_job_free(ff_mpi_job *j) {
    ff_json_free(j->doc);
    memset(j, 0, sizeof *j);
}
