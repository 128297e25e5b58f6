/* ff_model_dir / ff_weights: see ff_model_dir.h. */
#include "ff_model_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *name, *lib, *cls; /* point into the index document */
} component;

struct ff_model_dir {
    char *path;
    char *index_path;
    ff_json_doc *index;
    const char *class_name;
    component *comps;
    size_t n_comps;
};

typedef struct {
    const char *name;
    size_t shard;
    const ff_st_entry *entry;
} weight_item;

struct ff_weights {
    char *path;
    char *index_path;   /* NULL when single-file */
    ff_st_file **shards;
    size_t n_shards;
    weight_item *items; /* sorted by name */
    size_t n;
};

/* ---- small helpers ---------------------------------------------------- */

static char *join(const char *dir, const char *name) {
    char *s;
    return asprintf(&s, "%s/%s", dir, name) < 0 ? NULL : s;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int is_regular(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A plain name of an entry inside one folder: no separators, not . or .. */
static int plain_name(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Checks that path is an existing folder. */
static ff_status need_dir(const char *path, const char *what, ff_err *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        return ff_err_set(err, e == ENOENT ? FF_ERR_NOT_FOUND : FF_ERR_IO, "%s: %s: %s", path, what, strerror(e));
    }
    if (!S_ISDIR(sb.st_mode)) return ff_err_set(err, FF_ERR_ARG, "%s: %s is not a folder", path, what);
    return FF_OK;
}

/* Re-prefixes an error in err and returns its status (works with err NULL). */
static ff_status wrap(ff_err *err, ff_status st, const char *prefix) {
    if (err) ff_err_wrap(err, "%s", prefix);
    return st;
}

static int json_has_duplicate_keys(const ff_json *obj, const char **dup) {
    for (const ff_json *a = obj->child; a; a = a->next)
        for (const ff_json *b = a->next; b; b = b->next)
            if (strcmp(a->key, b->key) == 0) {
                *dup = a->key;
                return 1;
            }
    return 0;
}

/* 1 when v looks like a component entry: a two-element array of strings or nulls. */
static int is_component_value(const ff_json *v) {
    if (v->type != FF_JSON_ARRAY || v->len != 2) return 0;
    for (const ff_json *c = v->child; c; c = c->next)
        if (c->type != FF_JSON_STRING && c->type != FF_JSON_NULL) return 0;
    return 1;
}

/* ---- the pipeline folder ---------------------------------------------- */

void ff_model_dir_close(ff_model_dir *md) {
    if (!md) return;
    ff_json_free(md->index);
    free(md->comps);
    free(md->index_path);
    free(md->path);
    free(md);
}

static ff_status parse_index(ff_model_dir *md, ff_err *err) {
    const ff_json *root = ff_json_root(md->index);
    const char *ip = md->index_path;
    if (root->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", ip);
    const char *dup;
    /* quadratic check; a real index has a dozen members */
    if (root->len > 1 && root->len < 4096 && json_has_duplicate_keys(root, &dup))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: '%s' is given twice", ip, dup);
    md->class_name = ff_json_get_string(root, "_class_name");
    if (!md->class_name)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: no \"_class_name\" string: not a diffusers pipeline index", ip);
    md->comps = calloc(root->len ? root->len : 1, sizeof *md->comps);
    if (!md->comps) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", ip);
    for (const ff_json *c = root->child; c; c = c->next) {
        if (c->key[0] == '_' || !is_component_value(c)) continue;
        const ff_json *lib = c->child, *cls = c->child->next;
        if (lib->type == FF_JSON_NULL && cls->type == FF_JSON_NULL) continue; /* absent component */
        if (lib->type == FF_JSON_NULL || cls->type == FF_JSON_NULL)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: component '%s' has a null library or class but not both", ip,
                              c->key);
        if (!plain_name(c->key))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: component name '%s' is not a plain folder name", ip, c->key);
        md->comps[md->n_comps++] = (component){c->key, lib->str, cls->str};
    }
    return FF_OK;
}

ff_status ff_model_dir_open(const char *path, ff_model_dir **out, ff_err *err) {
    *out = NULL;
    if (!path) return ff_err_set(err, FF_ERR_ARG, "ff_model_dir_open: NULL path");
    ff_status st = need_dir(path, "pipeline folder", err);
    if (st) return st;
    ff_model_dir *md = calloc(1, sizeof *md);
    if (!md || !(md->path = strdup(path)) || !(md->index_path = join(path, "model_index.json"))) {
        ff_model_dir_close(md);
        return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", path);
    }
    st = ff_json_parse_file(md->index_path, &md->index, err);
    if (st == FF_ERR_NOT_FOUND)
        st = ff_err_set(err, FF_ERR_NOT_FOUND, "%s: not a diffusers pipeline folder (no model_index.json)", path);
    if (!st) st = parse_index(md, err);
    if (st) {
        ff_model_dir_close(md);
        return st;
    }
    *out = md;
    return FF_OK;
}

const char *ff_model_dir_path(const ff_model_dir *md) { return md->path; }
const char *ff_model_dir_class(const ff_model_dir *md) { return md->class_name; }
const ff_json *ff_model_dir_index(const ff_model_dir *md) { return ff_json_root(md->index); }
size_t ff_model_dir_component_count(const ff_model_dir *md) { return md->n_comps; }

const char *ff_model_dir_component_name(const ff_model_dir *md, size_t i) {
    return i < md->n_comps ? md->comps[i].name : NULL;
}

static const component *find_component(const ff_model_dir *md, const char *name) {
    for (size_t i = 0; i < md->n_comps; i++)
        if (strcmp(md->comps[i].name, name) == 0) return &md->comps[i];
    return NULL;
}

int ff_model_dir_has(const ff_model_dir *md, const char *name) { return find_component(md, name) != NULL; }

ff_status ff_model_dir_component(const ff_model_dir *md, const char *name, const char **lib, const char **cls,
                                 ff_err *err) {
    const component *c = find_component(md, name);
    if (!c) {
        const ff_json *v = ff_json_get(ff_json_root(md->index), name);
        if (!v)
            return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: lists no component '%s'", md->index_path, name);
        if (is_component_value(v))
            return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: component '%s' is [null, null] (not used by this pipeline)",
                              md->index_path, name);
        return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: '%s' is an option, not a component", md->index_path, name);
    }
    if (lib) *lib = c->lib;
    if (cls) *cls = c->cls;
    return FF_OK;
}

ff_status ff_model_dir_component_dir(const ff_model_dir *md, const char *name, char *buf, size_t n, ff_err *err) {
    ff_status st = ff_model_dir_component(md, name, NULL, NULL, err);
    if (st) return st;
    int k = snprintf(buf, n, "%s/%s", md->path, name);
    if (k < 0 || (size_t)k >= n)
        return ff_err_set(err, FF_ERR_ARG, "%s/%s: path longer than the %zu-byte buffer", md->path, name, n);
    return FF_OK;
}

ff_status ff_component_config_dir(const char *dir, ff_json_doc **out, ff_err *err) {
    *out = NULL;
    ff_status st = need_dir(dir, "component folder", err);
    if (st) return st;
    static const char *const names[] = {"config.json", "scheduler_config.json"};
    for (int i = 0; i < 2; i++) {
        char *p = join(dir, names[i]);
        if (!p) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", dir);
        if (!is_regular(p)) {
            free(p);
            continue;
        }
        st = ff_json_parse_file(p, out, err);
        if (!st && ff_json_root(*out)->type != FF_JSON_OBJECT) {
            ff_json_free(*out);
            *out = NULL;
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", p);
        }
        free(p);
        return st;
    }
    return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no config.json or scheduler_config.json", dir);
}

ff_status ff_component_config(const ff_model_dir *md, const char *name, ff_json_doc **out, ff_err *err) {
    *out = NULL;
    ff_status st = ff_model_dir_component(md, name, NULL, NULL, err);
    if (st) return st;
    char *dir = join(md->path, name);
    if (!dir) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", md->path);
    st = ff_component_config_dir(dir, out, err);
    free(dir);
    return st;
}

/* ---- weights -------------------------------------------------------- */

void ff_weights_free(ff_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_shards; i++) ff_st_close(w->shards[i]);
    free(w->shards);
    free(w->items);
    free(w->index_path);
    free(w->path);
    free(w);
}

static int cmp_item(const void *a, const void *b) {
    return strcmp(((const weight_item *)a)->name, ((const weight_item *)b)->name);
}

static ff_status open_single(ff_weights *w, const char *file, ff_err *err) {
    w->shards = calloc(1, sizeof *w->shards);
    if (!w->shards) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", file);
    ff_status st = ff_st_open(file, &w->shards[0], err);
    if (st) return st;
    w->n_shards = 1;
    size_t n = ff_st_count(w->shards[0]);
    w->items = calloc(n ? n : 1, sizeof *w->items);
    if (!w->items) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", file);
    for (size_t i = 0; i < n; i++) {
        const ff_st_entry *e = ff_st_entry_at(w->shards[0], i);
        w->items[i] = (weight_item){e->name, 0, e};
    }
    w->n = n; /* already sorted by name */
    return FF_OK;
}

/* dirname of a file path, malloc'd ("." when there is no slash). */
static char *parent_dir(const char *file) {
    const char *slash = strrchr(file, '/');
    if (!slash) return strdup(".");
    if (slash == file) return strdup("/");
    return strndup(file, (size_t)(slash - file));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static ff_status open_sharded(ff_weights *w, const char *index_file, ff_err *err) {
    ff_json_doc *doc = NULL;
    char *dir = NULL;
    const char **shard_names = NULL;
    ff_status st = ff_json_parse_file(index_file, &doc, err);
    if (st) return st;
    if (!(w->index_path = strdup(index_file)) || !(dir = parent_dir(index_file))) {
        st = ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", index_file);
        goto done;
    }
    const ff_json *map = ff_json_get(ff_json_root(doc), "weight_map");
    if (!map || map->type != FF_JSON_OBJECT) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: no \"weight_map\" object", index_file);
        goto done;
    }
    size_t n = map->len;
    w->items = calloc(n ? n : 1, sizeof *w->items);
    shard_names = calloc(n ? n : 1, sizeof *shard_names);
    w->shards = calloc(n ? n : 1, sizeof *w->shards);
    if (!w->items || !shard_names || !w->shards) {
        st = ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", index_file);
        goto done;
    }
    /* Unique shard names, sorted by file name; each item remembers its shard. */
    size_t k = 0;
    for (const ff_json *c = map->child; c; c = c->next, k++) {
        if (c->type != FF_JSON_STRING) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: weight_map value of '%s' is not a file name", index_file, c->key);
            goto done;
        }
        if (!plain_name(c->str) || strlen(c->str) != c->len) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: tensor '%s': shard '%s' is not a file inside %s", index_file,
                            c->key, c->str, dir);
            goto done;
        }
        size_t s = 0;
        while (s < w->n_shards && strcmp(shard_names[s], c->str) != 0) s++;
        if (s == w->n_shards) shard_names[w->n_shards++] = c->str;
        w->items[k] = (weight_item){c->key, 0, NULL};
    }
    w->n = n;
    qsort(shard_names, w->n_shards, sizeof *shard_names, cmp_str);
    k = 0;
    for (const ff_json *c = map->child; c; c = c->next, k++) {
        const char **hit = bsearch(&c->str, shard_names, w->n_shards, sizeof *shard_names, cmp_str);
        w->items[k].shard = (size_t)(hit - shard_names);
    }
    /* w->shards is zeroed: a shard that fails to open stays NULL, and
     * ff_weights_free closes the others. */
    for (size_t s = 0; s < w->n_shards && !st; s++) {
        char *p = join(dir, shard_names[s]);
        if (!p) {
            st = ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", index_file);
            break;
        }
        st = ff_st_open(p, &w->shards[s], err);
        free(p);
        if (st) {
            char pre[FF_ERR_MSG_MAX];
            snprintf(pre, sizeof pre, "%s: shard '%s'", index_file, shard_names[s]);
            wrap(err, st, pre);
        }
    }
    if (st) goto done;
    qsort(w->items, n, sizeof *w->items, cmp_item);
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(w->items[i - 1].name, w->items[i].name) == 0) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: tensor '%s' is mapped twice", index_file, w->items[i].name);
            goto done;
        }
        const ff_st_file *sf = w->shards[w->items[i].shard];
        const ff_st_entry *e = ff_st_find(sf, w->items[i].name);
        if (!e) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: tensor '%s' is mapped to %s, which does not hold it", index_file,
                            w->items[i].name, ff_st_path(sf));
            goto done;
        }
        w->items[i].entry = e;
        w->items[i].name = e->name; /* owned by the shard, which outlives the index document */
    }
done:
    free(shard_names);
    free(dir);
    ff_json_free(doc);
    return st;
}

/* Picks the weights file of a component folder (see the header). */
static ff_status pick_in_dir(const char *dir, char **file, int *sharded, ff_err *err) {
    static const char *const preferred[] = {"diffusion_pytorch_model.safetensors.index.json",
                                            "diffusion_pytorch_model.safetensors", "model.safetensors.index.json",
                                            "model.safetensors"};
    *file = NULL;
    for (int i = 0; i < 4; i++) {
        char *p = join(dir, preferred[i]);
        if (!p) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", dir);
        if (is_regular(p)) {
            *file = p;
            *sharded = ends_with(p, ".index.json");
            return FF_OK;
        }
        free(p);
    }
    DIR *d = opendir(dir);
    if (!d) return ff_err_set(err, FF_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    char *idx = NULL, *one = NULL;
    int n_idx = 0, n_one = 0;
    char second[2][256] = {"", ""};
    ff_status st = FF_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (nm[0] == '.') continue;
        int kind = ends_with(nm, ".safetensors.index.json") ? 0 : ends_with(nm, ".safetensors") ? 1 : -1;
        if (kind < 0) continue;
        char *p = join(dir, nm);
        if (!p) {
            st = ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        if (!is_regular(p)) {
            free(p);
            continue;
        }
        char **slot = kind == 0 ? &idx : &one;
        int *cnt = kind == 0 ? &n_idx : &n_one;
        if (++*cnt == 1) *slot = p;
        else {
            if (*cnt == 2) snprintf(second[kind], sizeof second[kind], "%s", nm);
            free(p);
        }
    }
    closedir(d);
    if (!st) {
        if (n_idx == 1) {
            *file = idx;
            idx = NULL;
            *sharded = 1;
        } else if (n_idx > 1)
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: %d *.safetensors.index.json files (e.g. %s): which one is meant?",
                            dir, n_idx, second[0]);
        else if (n_one == 1) {
            *file = one;
            one = NULL;
            *sharded = 0;
        } else if (n_one > 1)
            st = ff_err_set(err, FF_ERR_FORMAT,
                            "%s: %d *.safetensors files (e.g. %s) and no *.safetensors.index.json: which one is meant?",
                            dir, n_one, second[1]);
        else
            st = ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no *.safetensors or *.safetensors.index.json weights", dir);
    }
    free(idx);
    free(one);
    return st;
}

ff_status ff_weights_open(const char *path, ff_weights **out, ff_err *err) {
    *out = NULL;
    if (!path) return ff_err_set(err, FF_ERR_ARG, "ff_weights_open: NULL path");
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        return ff_err_set(err, e == ENOENT ? FF_ERR_NOT_FOUND : FF_ERR_IO, "%s: weights: %s", path, strerror(e));
    }
    ff_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", path);
    }
    char *file = NULL;
    int sharded = 0;
    ff_status st = FF_OK;
    if (S_ISDIR(sb.st_mode)) st = pick_in_dir(path, &file, &sharded, err);
    else if (!(file = strdup(path))) st = ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", path);
    else sharded = ends_with(path, ".index.json");
    if (!st) st = sharded ? open_sharded(w, file, err) : open_single(w, file, err);
    free(file);
    if (st) {
        ff_weights_free(w);
        return st;
    }
    *out = w;
    return FF_OK;
}

ff_status ff_model_dir_weights(const ff_model_dir *md, const char *name, ff_weights **out, ff_err *err) {
    *out = NULL;
    ff_status st = ff_model_dir_component(md, name, NULL, NULL, err);
    if (st) return st;
    char *dir = join(md->path, name);
    if (!dir) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", md->path);
    st = ff_weights_open(dir, out, err);
    free(dir);
    return st;
}

const char *ff_weights_path(const ff_weights *w) { return w->path; }
const char *ff_weights_index_path(const ff_weights *w) { return w->index_path; }
size_t ff_weights_shard_count(const ff_weights *w) { return w->n_shards; }
const ff_st_file *ff_weights_shard(const ff_weights *w, size_t i) { return i < w->n_shards ? w->shards[i] : NULL; }
size_t ff_weights_count(const ff_weights *w) { return w->n; }

const ff_st_entry *ff_weights_at(const ff_weights *w, size_t i, const ff_st_file **file) {
    if (i >= w->n) return NULL;
    if (file) *file = w->shards[w->items[i].shard];
    return w->items[i].entry;
}

static const weight_item *find_item(const ff_weights *w, const char *name) {
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, w->items[mid].name);
        if (c == 0) return &w->items[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

int ff_weights_has(const ff_weights *w, const char *name) { return find_item(w, name) != NULL; }

ff_status ff_weights_find(const ff_weights *w, const char *name, const ff_st_file **file, const ff_st_entry **entry,
                          ff_err *err) {
    const weight_item *it = find_item(w, name);
    if (!it) {
        if (file) *file = NULL;
        if (entry) *entry = NULL;
        return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no tensor '%s' (the weights hold %zu tensors)",
                          w->index_path ? w->index_path : ff_st_path(w->shards[0]), name, w->n);
    }
    if (file) *file = w->shards[it->shard];
    if (entry) *entry = it->entry;
    return FF_OK;
}

ff_status ff_weights_load(const ff_weights *w, const char *name, ff_dtype as, ff_tensor *out, ff_err *err) {
    const ff_st_file *f;
    ff_status st = ff_weights_find(w, name, &f, NULL, err);
    if (st) {
        memset(out, 0, sizeof *out);
        return st;
    }
    return ff_st_load(f, name, as, out, err);
}

ff_status ff_weights_view(const ff_weights *w, const char *name, ff_tensor *out, ff_err *err) {
    const ff_st_file *f;
    ff_status st = ff_weights_find(w, name, &f, NULL, err);
    if (st) {
        memset(out, 0, sizeof *out);
        return st;
    }
    return ff_st_view(f, name, out, err);
}
