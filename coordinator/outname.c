/* outname: see outname.h. */
#include "coordinator/outname.h"

#include <stdio.h>
#include <string.h>

#include "proto/ff_jobspec.h"

static const char *const names[] = {"{job}", "{item}", "{seed}", "{prompt}"};

/* The known name at p ("{job}" ...), its index, or -1. */
static int name_at(const char *p) {
    for (int k = 0; k < 4; k++)
        if (!strncmp(p, names[k], strlen(names[k]))) return k;
    return -1;
}

ff_status ff_outname_check(const Ff__JobSpec *spec, ff_err *err) {
    const char *out = spec->output, *slash = strrchr(out, '/');
    if (!strchr(out, '{')) return FF_OK;
    int has_item = 0;
    for (const char *p = out; (p = strchr(p, '{')); p++) {
        int k = name_at(p);
        if (k < 0)
            return ff_err_set(err, FF_ERR_ARG, "job: output '%s': '%.12s' is not a template name ({job} {item} {seed} {prompt})",
                              out, p);
        if (slash && p < slash)
            return ff_err_set(err, FF_ERR_ARG, "job: output '%s': templates may only be in the file name, not in its folder",
                              out);
        has_item |= k == 1;
    }
    if (ff_jobspec_items(spec) > 1 && !has_item)
        return ff_err_set(err, FF_ERR_ARG, "job: output '%s': a %zu-item job's template needs {item} (names must differ)", out,
                          ff_jobspec_items(spec));
    return FF_OK;
}

static size_t slug(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    int dash = 0;
    for (; *s && n + 1 < cap && n < FF_OUTNAME_SLUG_MAX; s++) {
        char ch = *s;
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (dash && n) buf[n++] = '-';
            if (n + 1 < cap) buf[n++] = ch;
            dash = 0;
        } else {
            dash = 1;
        }
    }
    if (!n) buf[n++] = 'x'; /* a prompt without letters or digits */
    buf[n] = 0;
    return n;
}

ff_status ff_outname_expand(const Ff__JobSpec *spec, uint64_t job, size_t item, char *buf, size_t n, ff_err *err) {
    const char *out = spec->output;
    if (!strchr(out, '{')) return ff_jobspec_item_output(spec, item, buf, n, err);
    const char *prompt, *neg;
    uint64_t seed;
    ff_jobspec_item(spec, item, &prompt, &neg, &seed);
    size_t w = 0;
    for (const char *p = out; *p;) {
        char piece[FF_OUTNAME_SLUG_MAX + 32];
        int k = *p == '{' ? name_at(p) : -1;
        if (k < 0) {
            if (w + 1 >= n) break;
            buf[w++] = *p++;
            continue;
        }
        if (k == 0) snprintf(piece, sizeof piece, "%llu", (unsigned long long)job);
        else if (k == 1) snprintf(piece, sizeof piece, "%04zu", item);
        else if (k == 2) snprintf(piece, sizeof piece, "%llu", (unsigned long long)seed);
        else slug(prompt ? prompt : "", piece, sizeof piece);
        size_t pl = strlen(piece);
        if (w + pl >= n) {
            w = n;
            break;
        }
        memcpy(buf + w, piece, pl);
        w += pl;
        p += strlen(names[k]);
    }
    if (w >= n) return ff_err_set(err, FF_ERR_ARG, "output path for item %zu is too long", item);
    buf[w] = 0;
    return FF_OK;
}
