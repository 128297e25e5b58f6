/* outroot: see outroot.h. */
#include "coordinator/outroot.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "video/video.h"

struct ff_outroot {
    char **roots; /* realpath'd */
    size_t n;
};

void ff_outroot_free(ff_outroot *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) free(r->roots[i]);
    free(r->roots);
    free(r);
}

ff_status ff_outroot_create(const char *const *roots, size_t n, ff_outroot **out, ff_err *err) {
    if (!n) return ff_err_set(err, FF_ERR_ARG, "no output root");
    ff_outroot *r = calloc(1, sizeof *r);
    if (!r || !(r->roots = calloc(n, sizeof *r->roots))) {
        free(r);
        return ff_err_set(err, FF_ERR_NOMEM, "output roots: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char buf[PATH_MAX];
        struct stat sb;
        errno = 0;
        if (!realpath(roots[i], buf) || stat(buf, &sb) || !S_ISDIR(sb.st_mode)) {
            ff_status st = ff_err_set(err, FF_ERR_ARG, "--output-root %s: %s", roots[i],
                                      errno ? strerror(errno) : "not a folder");
            ff_outroot_free(r);
            return st;
        }
        if (!(r->roots[i] = strdup(buf))) {
            ff_outroot_free(r);
            return ff_err_set(err, FF_ERR_NOMEM, "output roots: out of memory");
        }
        r->n = i + 1;
    }
    *out = r;
    return FF_OK;
}

size_t ff_outroot_count(const ff_outroot *r) { return r->n; }
const char *ff_outroot_at(const ff_outroot *r, size_t i) { return i < r->n ? r->roots[i] : NULL; }

static int inside(const char *root, const char *path) {
    size_t n = strlen(root);
    if (strncmp(root, path, n)) return 0;
    return path[n] == 0 || path[n] == '/' || (n == 1 && root[0] == '/');
}

/* "the roots: A, B" for messages */
static void roots_text(const ff_outroot *r, char *buf, size_t n) {
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < r->n && at + 1 < n; i++) {
        int k = snprintf(buf + at, n - at, "%s%s", i ? ", " : "", r->roots[i]);
        if (k < 0) break;
        at += (size_t)k;
    }
}

ff_status ff_outroot_check(const ff_outroot *r, const char *output, ff_err *err) {
    char roots[1024];
    roots_text(r, roots, sizeof roots);
    if (!output || output[0] != '/')
        return ff_err_set(err, FF_ERR_ARG, "output '%s' is not an absolute path", output ? output : "");
    for (const char *p = output; *p;) { /* components */
        while (*p == '/') p++;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return ff_err_set(err, FF_ERR_ARG, "output '%s' has a '%.*s' component (give the path without it)", output,
                              (int)len, p);
        p += len;
    }
    ff_video_format fmt;
    if (ff_video_out_format(output, &fmt, err)) return ff_err_wrap(err, "output");
    size_t n = strlen(output);
    char leaf[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
    if (n >= sizeof leaf) return ff_err_set(err, FF_ERR_ARG, "output path is longer than %d bytes", PATH_MAX - 1);
    memcpy(leaf, output, n + 1);
    while (n > 1 && leaf[n - 1] == '/') leaf[--n] = 0; /* DIR/ -> DIR */
    struct stat sb;
    if (lstat(leaf, &sb) == 0 && S_ISLNK(sb.st_mode))
        return ff_err_set(err, FF_ERR_ARG, "output '%s' is a symlink (outputs are written only under the roots: %s)", output,
                          roots);
    memcpy(dir, leaf, n + 1);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = 0;
    else *slash = 0;
    if (!realpath(dir, real))
        return ff_err_set(err, FF_ERR_NOT_FOUND, "output '%s': the folder %s %s", output, dir,
                          errno == ENOENT || errno == ENOTDIR ? "does not exist" : strerror(errno));
    int ok = 0;
    for (size_t i = 0; i < r->n && !ok; i++) ok = inside(r->roots[i], real);
    if (ok) { /* inside: now the folder may be probed (never outside a root) */
        if (ff_video_out_check(output, &fmt, err)) return ff_err_wrap(err, "output");
        return FF_OK;
    }
    if (strcmp(dir, real))
        return ff_err_set(err, FF_ERR_ARG,
                          "output '%s' is outside this coordinator's output roots: its folder %s is %s, not under %s "
                          "(coordinator --output-root)",
                          output, dir, real, roots);
    return ff_err_set(err, FF_ERR_ARG, "output '%s' is outside this coordinator's output roots (%s; coordinator --output-root)",
                      output, roots);
}
