/* ff_jobspec: see ff_jobspec.h. */
#include "proto/ff_jobspec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dupstr(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

/* ---- a tiny JSON writer for the "scheduler" object ------------------------- */

static void write_json(FILE *f, const ff_json *v) {
    switch (v->type) {
    case FF_JSON_NULL: fputs("null", f); break;
    case FF_JSON_BOOL: fputs(v->boolean ? "true" : "false", f); break;
    case FF_JSON_NUMBER: fputs(v->str, f); break;
    case FF_JSON_STRING: ff_json_write_string(f, v->str); break;
    case FF_JSON_ARRAY:
    case FF_JSON_OBJECT: {
        int obj = v->type == FF_JSON_OBJECT;
        fputc(obj ? '{' : '[', f);
        for (const ff_json *c = v->child; c; c = c->next) {
            if (c != v->child) fputc(',', f);
            if (obj) {
                ff_json_write_string(f, c->key);
                fputc(':', f);
            }
            write_json(f, c);
        }
        fputc(obj ? '}' : ']', f);
        break;
    }
    }
}

static ff_status json_to_text(const ff_json *v, char **out, ff_err *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return ff_err_set(err, FF_ERR_NOMEM, "serialising the scheduler object: out of memory");
    write_json(f, v);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return ff_err_set(err, FF_ERR_NOMEM, "serialising the scheduler object: out of memory");
    }
    *out = buf;
    return FF_OK;
}

/* ---- JSON -> spec ------------------------------------------------------------ */

/* An absent field takes a default. */
#define DFLT(field, value)          \
    do {                            \
        if (!s->has_##field) {      \
            s->has_##field = 1;     \
            s->field = (value);     \
        }                           \
    } while (0)

static ff_status get_strings(const ff_json *root, const char *one, const char *many, const char *what, size_t *n,
                             char ***out, ff_err *err) {
    const ff_json *a = ff_json_get(root, one), *b = ff_json_get(root, many);
    if (a && b && !ff_json_is_null(a) && !ff_json_is_null(b))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: give either '%s' or '%s', not both", what, one, many);
    size_t cnt = 0;
    if (a && !ff_json_is_null(a)) {
        if (a->type != FF_JSON_STRING) return ff_err_set(err, FF_ERR_FORMAT, "%s: '%s' must be a string", what, one);
        cnt = 1;
    } else if (b && !ff_json_is_null(b)) {
        if (b->type != FF_JSON_ARRAY) return ff_err_set(err, FF_ERR_FORMAT, "%s: '%s' must be an array of strings", what, many);
        cnt = ff_json_count(b);
        if (cnt > FF_JOBSPEC_MAX_ITEMS)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: '%s' has %zu entries (at most %d)", what, many, cnt, FF_JOBSPEC_MAX_ITEMS);
    }
    char **v = cnt ? calloc(cnt, sizeof *v) : NULL;
    if (cnt && !v) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", what);
    *out = v;
    *n = 0;
    for (size_t i = 0; i < cnt; i++) {
        const ff_json *s = a && !ff_json_is_null(a) ? a : ff_json_at(b, i);
        if (!s || s->type != FF_JSON_STRING)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: '%s'[%zu] must be a string", what, many, i);
        if (strlen(s->str) != s->len)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: '%s' contains a NUL character", what, cnt == 1 && a ? one : many);
        if (!(v[i] = dupstr(s->str))) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", what);
        *n = i + 1;
    }
    return FF_OK;
}

static ff_status get_int32(const ff_json *obj, const char *key, const char *what, protobuf_c_boolean *has, int32_t *out,
                           ff_err *err) {
    const ff_json *v = ff_json_get(obj, key);
    if (!v || ff_json_is_null(v)) return FF_OK;
    int64_t x;
    if (ff_json_int64(v, &x) || x < INT32_MIN || x > INT32_MAX)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: '%s' must be an integer", what, key);
    *has = 1;
    *out = (int32_t)x;
    return FF_OK;
}

static ff_status get_bool(const ff_json *obj, const char *key, const char *what, protobuf_c_boolean *has,
                          protobuf_c_boolean *out, ff_err *err) {
    const ff_json *v = ff_json_get(obj, key);
    if (!v || ff_json_is_null(v)) return FF_OK;
    if (v->type != FF_JSON_BOOL) return ff_err_set(err, FF_ERR_FORMAT, "%s: '%s' must be true or false", what, key);
    *has = 1;
    *out = v->boolean != 0;
    return FF_OK;
}

static ff_status get_double(const ff_json *obj, const char *key, const char *what, protobuf_c_boolean *has, double *out,
                            ff_err *err) {
    const ff_json *v = ff_json_get(obj, key);
    if (!v || ff_json_is_null(v)) return FF_OK;
    if (ff_json_double(v, out)) return ff_err_set(err, FF_ERR_FORMAT, "%s: '%s' must be a number", what, key);
    *has = 1;
    return FF_OK;
}

static ff_status get_string(const ff_json *obj, const char *key, const char *what, char **out, ff_err *err) {
    const ff_json *v = ff_json_get(obj, key);
    if (!v || ff_json_is_null(v)) return FF_OK;
    if (v->type != FF_JSON_STRING || strlen(v->str) != v->len)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: '%s' must be a string", what, key);
    if (!(*out = dupstr(v->str))) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", what);
    return FF_OK;
}

static ff_status check_keys(const ff_json *obj, const char *const *known, const char *what, const char *section,
                            ff_err *err) {
    for (const ff_json *c = obj->child; c; c = c->next) {
        int ok = 0;
        for (size_t i = 0; known[i]; i++)
            if (!strcmp(c->key, known[i])) ok = 1;
        if (!ok)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: unknown key '%s'%s%s", what, c->key, section ? " in " : "",
                              section ? section : "");
    }
    return FF_OK;
}

static const char *const top_keys[] = {
    "model", "prompt", "prompts", "negative_prompt", "negative_prompts", "seed", "seeds", "width", "height", "frames",
    "num_frames", "steps", "num_inference_steps", "guidance_scale", "guidance_scale_2", "scheduler", "output", "fps",
    "chunking", "vae", "dit_weights", "device_budget", "priority", "max_attempts", "chunk_timeout_s",
    "max_sequence_length", "name", "retry_backoff_s", NULL};
static const char *const chunking_keys[] = {"frames", "overlap", NULL};
static const char *const vae_keys[] = {"tiling", "tile_size", "tile_stride", "slicing", NULL};

static ff_status fill_from_json(Ff__JobSpec *s, const ff_json *root, const char *what, ff_err *err) {
    ff_status st;
    if (!root || root->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: a job must be a JSON object", what);
    if ((st = check_keys(root, top_keys, what, NULL, err))) return st;
    if ((st = get_string(root, "model", what, &s->model, err))) return st;
    if ((st = get_strings(root, "prompt", "prompts", what, &s->n_prompts, &s->prompts, err))) return st;
    if ((st = get_strings(root, "negative_prompt", "negative_prompts", what, &s->n_negative_prompts,
                          &s->negative_prompts, err)))
        return st;
    /* seeds: integers up to 2^64 - 1 */
    const ff_json *one = ff_json_get(root, "seed"), *many = ff_json_get(root, "seeds");
    if (one && many && !ff_json_is_null(one) && !ff_json_is_null(many))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: give either 'seed' or 'seeds', not both", what);
    if (one && !ff_json_is_null(one)) {
        if (!(s->seeds = malloc(sizeof *s->seeds))) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", what);
        if (ff_json_uint64(one, &s->seeds[0]))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: 'seed' must be an integer in 0..2^64-1", what);
        s->n_seeds = 1;
    } else if (many && !ff_json_is_null(many)) {
        size_t n = ff_json_count(many);
        if (many->type != FF_JSON_ARRAY || n > FF_JOBSPEC_MAX_ITEMS)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: 'seeds' must be an array of at most %d integers", what,
                              FF_JOBSPEC_MAX_ITEMS);
        if (n && !(s->seeds = malloc(n * sizeof *s->seeds))) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", what);
        for (size_t i = 0; i < n; i++) {
            if (ff_json_uint64(ff_json_at(many, i), &s->seeds[i]))
                return ff_err_set(err, FF_ERR_FORMAT, "%s: 'seeds'[%zu] must be an integer in 0..2^64-1", what, i);
            s->n_seeds = i + 1;
        }
    }
    if ((st = get_int32(root, "width", what, &s->has_width, &s->width, err))) return st;
    if ((st = get_int32(root, "height", what, &s->has_height, &s->height, err))) return st;
    if (ff_json_get(root, "frames") && ff_json_get(root, "num_frames"))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: give either 'frames' or 'num_frames'", what);
    if ((st = get_int32(root, "frames", what, &s->has_frames, &s->frames, err))) return st;
    if ((st = get_int32(root, "num_frames", what, &s->has_frames, &s->frames, err))) return st;
    if (ff_json_get(root, "steps") && ff_json_get(root, "num_inference_steps"))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: give either 'steps' or 'num_inference_steps'", what);
    if ((st = get_int32(root, "steps", what, &s->has_steps, &s->steps, err))) return st;
    if ((st = get_int32(root, "num_inference_steps", what, &s->has_steps, &s->steps, err))) return st;
    if ((st = get_double(root, "guidance_scale", what, &s->has_guidance_scale, &s->guidance_scale, err))) return st;
    if ((st = get_double(root, "guidance_scale_2", what, &s->has_guidance_scale_2, &s->guidance_scale_2, err))) return st;
    const ff_json *sch = ff_json_get(root, "scheduler");
    if (sch && !ff_json_is_null(sch)) {
        if (sch->type != FF_JSON_OBJECT)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: 'scheduler' must be an object of scheduler_config.json overrides", what);
        if ((st = json_to_text(sch, &s->scheduler_json, err))) return st;
    }
    if ((st = get_string(root, "output", what, &s->output, err))) return st;
    if ((st = get_int32(root, "fps", what, &s->has_fps, &s->fps, err))) return st;
    const ff_json *ch = ff_json_get(root, "chunking");
    if (ch && !ff_json_is_null(ch)) {
        if (ch->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: 'chunking' must be an object", what);
        if ((st = check_keys(ch, chunking_keys, what, "'chunking'", err))) return st;
        if ((st = get_int32(ch, "frames", what, &s->has_chunk_frames, &s->chunk_frames, err))) return st;
        if ((st = get_int32(ch, "overlap", what, &s->has_chunk_overlap, &s->chunk_overlap, err))) return st;
    }
    const ff_json *vae = ff_json_get(root, "vae");
    if (vae && !ff_json_is_null(vae)) {
        if (vae->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: 'vae' must be an object", what);
        if ((st = check_keys(vae, vae_keys, what, "'vae'", err))) return st;
        if ((st = get_bool(vae, "tiling", what, &s->has_vae_tiling, &s->vae_tiling, err))) return st;
        if ((st = get_int32(vae, "tile_size", what, &s->has_vae_tile_size, &s->vae_tile_size, err))) return st;
        if ((st = get_int32(vae, "tile_stride", what, &s->has_vae_tile_stride, &s->vae_tile_stride, err))) return st;
        if ((st = get_bool(vae, "slicing", what, &s->has_vae_slicing, &s->vae_slicing, err))) return st;
    }
    if ((st = get_string(root, "dit_weights", what, &s->dit_weights, err))) return st;
    const ff_json *b = ff_json_get(root, "device_budget");
    if (b && !ff_json_is_null(b)) {
        int64_t x;
        if (ff_json_int64(b, &x)) return ff_err_set(err, FF_ERR_FORMAT, "%s: 'device_budget' must be an integer (bytes)", what);
        s->has_device_budget = 1;
        s->device_budget = x;
    }
    if ((st = get_int32(root, "priority", what, &s->has_priority, &s->priority, err))) return st;
    if ((st = get_int32(root, "max_attempts", what, &s->has_max_attempts, &s->max_attempts, err))) return st;
    if ((st = get_int32(root, "chunk_timeout_s", what, &s->has_chunk_timeout_s, &s->chunk_timeout_s, err))) return st;
    if ((st = get_int32(root, "max_sequence_length", what, &s->has_max_sequence_length, &s->max_sequence_length, err)))
        return st;
    if ((st = get_string(root, "name", what, &s->name, err))) return st;
    if ((st = get_double(root, "retry_backoff_s", what, &s->has_retry_backoff_s, &s->retry_backoff_s, err))) return st;
    return FF_OK;
}

void ff_jobspec_model_defaults(Ff__JobSpec *s, const ff_model_defaults *d) {
    DFLT(width, d->width);
    DFLT(height, d->height);
    DFLT(frames, d->frames);
    DFLT(steps, d->steps);
    DFLT(guidance_scale, d->guidance);
    DFLT(fps, d->fps);
    DFLT(vae_tiling, d->has_tile != 0); /* render's --tile default: on when the model names its tiles */
    if (!s->vae_tiling) return;
    /* the tiles render uses (the model's, else diffusers'); a job holds one size for both sides, so
       non-square tiles stay 0 and the worker takes them from the same reader */
    if ((!s->has_vae_tile_size || s->vae_tile_size == 0) && d->tile_min_h == d->tile_min_w)
        s->has_vae_tile_size = 1, s->vae_tile_size = d->tile_min_h;
    if ((!s->has_vae_tile_stride || s->vae_tile_stride == 0) && d->tile_stride_h == d->tile_stride_w)
        s->has_vae_tile_stride = 1, s->vae_tile_stride = d->tile_stride_h;
}

ff_status ff_jobspec_from_json(const ff_json *root, const char *what, Ff__JobSpec **out, ff_err *err) {
    Ff__JobSpec *s = malloc(sizeof *s);
    if (!s) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", what);
    ff__job_spec__init(s);
    ff_status st = fill_from_json(s, root, what, err);
    if (!st && s->model && s->model[0]) {
        ff_model_defaults d;
        ff_model_defaults_read(s->model, &d);
        ff_jobspec_model_defaults(s, &d);
    }
    if (!st && (st = ff_jobspec_normalize(s, err))) ff_err_wrap(err, "%s: ", what);
    if (st) {
        ff_jobspec_free(s);
        return st;
    }
    *out = s;
    return FF_OK;
}

ff_status ff_jobspec_load_file(const char *path, Ff__JobSpec **out, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    st = ff_jobspec_from_json(ff_json_root(doc), path, out, err);
    ff_json_free(doc);
    return st;
}

void ff_jobspec_free(Ff__JobSpec *s) {
    if (s) ff__job_spec__free_unpacked(s, NULL);
}

ff_status ff_jobspec_clone(const Ff__JobSpec *s, Ff__JobSpec **out, ff_err *err) {
    size_t n = ff__job_spec__get_packed_size(s);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return ff_err_set(err, FF_ERR_NOMEM, "copying a job spec: out of memory");
    ff__job_spec__pack(s, buf);
    *out = ff__job_spec__unpack(NULL, n, buf);
    free(buf);
    return *out ? FF_OK : ff_err_set(err, FF_ERR_NOMEM, "copying a job spec: out of memory");
}

/* ---- defaults and checks --------------------------------------------------- */


ff_status ff_jobspec_normalize(Ff__JobSpec *s, ff_err *err) {
    DFLT(width, 832);
    DFLT(height, 480);
    DFLT(frames, 81);
    DFLT(steps, 50);
    DFLT(guidance_scale, 5.0);
    DFLT(fps, 16);
    DFLT(chunk_frames, 81);
    DFLT(chunk_overlap, 8);
    DFLT(vae_tiling, 0);
    DFLT(vae_tile_size, 0);
    DFLT(vae_tile_stride, 0);
    DFLT(vae_slicing, 0);
    DFLT(device_budget, 0);
    DFLT(priority, 0);
    DFLT(max_attempts, 3);
    DFLT(chunk_timeout_s, 0);
    DFLT(max_sequence_length, 512);
    if (!s->dit_weights && !(s->dit_weights = dupstr("f32")))
        return ff_err_set(err, FF_ERR_NOMEM, "job spec: out of memory");
    return ff_jobspec_check(s, err);
}

#define REQ(cond, ...)                                          \
    do {                                                        \
        if (!(cond)) return ff_err_set(err, FF_ERR_ARG, __VA_ARGS__); \
    } while (0)

ff_status ff_jobspec_check(const Ff__JobSpec *s, ff_err *err) {
    REQ(s->model && s->model[0], "job: 'model' (a pipeline folder) is required");
    REQ(strlen(s->model) <= 4096, "job: 'model' path is longer than 4096 bytes");
    REQ(s->n_prompts >= 1, "job: 'prompt' or 'prompts' is required");
    REQ(s->n_seeds >= 1, "job: 'seed' or 'seeds' is required");
    size_t n = s->n_prompts > s->n_seeds ? s->n_prompts : s->n_seeds;
    REQ(n <= FF_JOBSPEC_MAX_ITEMS, "job: %zu items (at most %d)", n, FF_JOBSPEC_MAX_ITEMS);
    REQ(s->n_prompts == 1 || s->n_prompts == n, "job: %zu prompts but %zu seeds (give 1 or the same number)",
        s->n_prompts, s->n_seeds);
    REQ(s->n_seeds == 1 || s->n_seeds == n, "job: %zu seeds but %zu prompts (give 1 or the same number)", s->n_seeds,
        s->n_prompts);
    REQ(s->n_negative_prompts <= 1 || s->n_negative_prompts == n,
        "job: %zu negative prompts for %zu items (give 0, 1 or one per item)", s->n_negative_prompts, n);
    size_t text = 0;
    char what[64];
    for (size_t i = 0; i < s->n_prompts + s->n_negative_prompts; i++) {
        int neg = i >= s->n_prompts;
        const char *p = neg ? s->negative_prompts[i - s->n_prompts] : s->prompts[i];
        snprintf(what, sizeof what, "job: %s %zu", neg ? "negative prompt" : "prompt", neg ? i - s->n_prompts : i);
        REQ(p, "%s is missing", what);
        size_t len = strlen(p); /* a protobuf string may hold a NUL: strlen stops there, the check sees the rest */
        ff_status st = ff_limits_check_prompt(p, len, what, err);
        if (st) return st;
        text += len;
    }
    REQ(text <= FF_JOBSPEC_MAX_TEXT, "job: %zu bytes of prompts, more than the limit of %zu bytes", text,
        FF_JOBSPEC_MAX_TEXT);
    REQ(s->has_width && s->has_height && s->has_frames && s->has_steps && s->has_guidance_scale && s->has_fps &&
            s->has_chunk_frames && s->has_chunk_overlap && s->has_vae_tiling && s->has_vae_tile_size &&
            s->has_vae_tile_stride && s->has_vae_slicing && s->has_device_budget && s->has_priority &&
            s->has_max_attempts && s->has_chunk_timeout_s && s->has_max_sequence_length && s->dit_weights,
        "job spec is not normalised (a field is missing)");
    REQ(s->width >= 16 && s->width <= 8192 && s->width % 16 == 0, "job: width %d must be a multiple of 16 in 16..8192",
        s->width);
    REQ(s->height >= 16 && s->height <= 8192 && s->height % 16 == 0,
        "job: height %d must be a multiple of 16 in 16..8192", s->height);
    REQ(s->frames >= 1 && s->frames <= 100001, "job: frames %d must be in 1..100001", s->frames);
    REQ((s->frames - 1) % FF_JOBSPEC_LAT_T == 0, "job: frames %d is not 4k+1 (use %d or %d)", s->frames,
        (s->frames - 1) / 4 * 4 + 1, (s->frames - 1) / 4 * 4 + 5);
    REQ(s->steps >= 1 && s->steps <= 1000, "job: steps %d must be in 1..1000", s->steps);
    REQ(isfinite(s->guidance_scale) && s->guidance_scale >= 0 && s->guidance_scale <= 100,
        "job: guidance_scale must be in 0..100");
    REQ(!s->has_guidance_scale_2 || (isfinite(s->guidance_scale_2) && s->guidance_scale_2 >= 0 && s->guidance_scale_2 <= 100),
        "job: guidance_scale_2 must be in 0..100");
    if (s->scheduler_json) {
        REQ(strlen(s->scheduler_json) <= 65536, "job: 'scheduler' overrides longer than 64 KiB");
        ff_json_doc *doc = NULL;
        ff_err e2;
        if (ff_json_parse(s->scheduler_json, strlen(s->scheduler_json), "scheduler", &doc, &e2))
            return ff_err_set(err, FF_ERR_ARG, "job: 'scheduler' overrides: %s", e2.msg);
        int obj = ff_json_root(doc)->type == FF_JSON_OBJECT;
        ff_json_free(doc);
        REQ(obj, "job: 'scheduler' overrides must be a JSON object");
    }
    REQ(s->output && s->output[0], "job: 'output' (.y4m, .mp4 or a folder for PNG frames) is required");
    REQ(strlen(s->output) <= 4000, "job: 'output' path is longer than 4000 bytes");
    REQ(s->fps >= 1 && s->fps <= 240, "job: fps %d must be in 1..240", s->fps);
    REQ(s->chunk_frames == 0 || (s->chunk_frames >= 5 && (s->chunk_frames - 1) % 4 == 0 && s->chunk_frames <= 100001),
        "job: chunking frames %d must be 0 (never cut) or 4k+1 >= 5", s->chunk_frames);
    if (s->chunk_frames) {
        int c_lat = (s->chunk_frames - 1) / 4 + 1, o_lat = s->chunk_overlap >= 1 ? (s->chunk_overlap + 2) / 4 + 1 : 0;
        REQ(s->chunk_overlap >= 1 && 2 * o_lat <= c_lat,
            "job: chunking overlap %d must be >= 1 and at most half a chunk (%d frames: %d latent frames, the overlap "
            "rounds up to %d)",
            s->chunk_overlap, s->chunk_frames, c_lat, o_lat);
    }
    REQ(s->vae_tile_size >= 0 && s->vae_tile_size <= 8192 && s->vae_tile_stride >= 0 && s->vae_tile_stride <= 8192,
        "job: vae tile_size/tile_stride must be in 0..8192 (0 = default)");
    REQ(!strcmp(s->dit_weights, "f32") || !strcmp(s->dit_weights, "bf16"), "job: dit_weights '%s' must be f32 or bf16",
        s->dit_weights);
    REQ(s->device_budget >= 0, "job: device_budget must be >= 0 bytes");
    REQ(s->priority >= -1000000 && s->priority <= 1000000, "job: priority must be in -1000000..1000000");
    REQ(s->max_attempts >= 1 && s->max_attempts <= 100, "job: max_attempts %d must be in 1..100", s->max_attempts);
    REQ(s->chunk_timeout_s >= 0 && s->chunk_timeout_s <= 7 * 86400, "job: chunk_timeout_s must be in 0..604800");
    REQ(!s->has_retry_backoff_s || (isfinite(s->retry_backoff_s) && s->retry_backoff_s >= 0 && s->retry_backoff_s <= 600),
        "job: retry_backoff_s must be in 0..600");
    REQ(s->max_sequence_length >= 1 && s->max_sequence_length <= 4096, "job: max_sequence_length must be in 1..4096");
    REQ(!s->name || strlen(s->name) <= 256, "job: 'name' is longer than 256 bytes");
    REQ(!s->name || ff_utf8_valid(s->name, strlen(s->name), NULL), "job: 'name' is not valid UTF-8");
    return FF_OK;
}

size_t ff_jobspec_items(const Ff__JobSpec *s) { return s->n_prompts > s->n_seeds ? s->n_prompts : s->n_seeds; }

void ff_jobspec_item(const Ff__JobSpec *s, size_t i, const char **prompt, const char **negative, uint64_t *seed) {
    *prompt = s->n_prompts == 1 ? s->prompts[0] : s->prompts[i];
    *negative = s->n_negative_prompts == 0 ? "" : s->n_negative_prompts == 1 ? s->negative_prompts[0] : s->negative_prompts[i];
    *seed = s->n_seeds == 1 ? s->seeds[0] : s->seeds[i];
}

int ff_jobspec_lat_total(const Ff__JobSpec *s) { return (s->frames - 1) / FF_JOBSPEC_LAT_T + 1; }

ff_status ff_jobspec_item_output(const Ff__JobSpec *s, size_t i, char *buf, size_t n, ff_err *err) {
    const char *out = s->output;
    size_t ol = strlen(out);
    int w;
    if (ff_jobspec_items(s) == 1) {
        w = snprintf(buf, n, "%s", out);
    } else if (ol > 1 && out[ol - 1] == '/') { /* a folder of PNG frames per item: "dir/" -> "dir_0002/" */
        while (ol > 1 && out[ol - 1] == '/') ol--;
        w = snprintf(buf, n, "%.*s_%04zu/", (int)ol, out, i);
    } else {
        const char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
        if (!dot || (slash && dot < slash) || dot == out || (slash && dot == slash + 1)) dot = out + strlen(out);
        w = snprintf(buf, n, "%.*s_%04zu%s", (int)(dot - out), out, i, dot);
    }
    if (w < 0 || (size_t)w >= n) return ff_err_set(err, FF_ERR_ARG, "output path for item %zu is too long", i);
    return FF_OK;
}

const char *ff_jobspec_settings(const Ff__JobSpec *s, char *buf, size_t n) {
    char tiles[64] = "VAE untiled", g2[32] = "";
    if (s->vae_tiling && s->vae_tile_size > 0 && s->vae_tile_stride > 0)
        snprintf(tiles, sizeof tiles, "VAE tiles %d/%d px", s->vae_tile_size, s->vae_tile_stride);
    else if (s->vae_tiling)
        snprintf(tiles, sizeof tiles, "VAE tiles of the model");
    if (s->has_guidance_scale_2) snprintf(g2, sizeof g2, "/%g", s->guidance_scale_2);
    snprintf(buf, n, "%dx%d, %d frames, %d steps, guidance %g%s, %d fps, %s%s, %s", s->width, s->height, s->frames,
             s->steps, s->guidance_scale, g2, s->fps, tiles, s->vae_slicing ? ", slicing" : "",
             s->dit_weights ? s->dit_weights : "f32");
    return buf;
}
