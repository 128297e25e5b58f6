/* Headless Chromium driven over the DevTools protocol for the farm tests
 * (header-only). Chromium is started with --remote-debugging-pipe: it reads
 * JSON commands, each ended by a NUL byte, on fd 3 and writes responses and
 * events the same way on fd 4, so no WebSocket is needed. One page target
 * is created and attached (flattened session); cdp_call sends a command to
 * it and waits (bounded) for the response with the same id, skipping
 * events. cdp_eval evaluates a JavaScript expression in the page and
 * returns its string value. */
#ifndef FF_CDP_H
#define FF_CDP_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/ff_json.h"

typedef struct {
    pid_t pid;
    int to, from;       /* our ends: commands out, responses in */
    char *buf;
    size_t len, cap;
    int next_id;
    char session[128];
} cdp;

static inline double cdp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Finds an executable called name on PATH into out; 0 when found. */
static inline int cdp_which(const char *name, char *out, size_t n) {
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    while (*path) {
        size_t l = strcspn(path, ":");
        snprintf(out, n, "%.*s/%s", (int)l, path, name);
        if (l && access(out, X_OK) == 0) return 0;
        path += l + (path[l] == ':');
    }
    return -1;
}

static inline void cdp_stop(cdp *b) {
    if (b->pid > 0) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, NULL, 0);
    }
    if (b->to >= 0) close(b->to);
    if (b->from >= 0) close(b->from);
    free(b->buf);
    memset(b, 0, sizeof *b);
    b->to = b->from = -1;
}

/* The next NUL-terminated message (malloc'd), or NULL at the deadline or EOF. */
static inline char *cdp_read_msg(cdp *b, double deadline) {
    for (;;) {
        char *z = b->len ? memchr(b->buf, 0, b->len) : NULL;
        if (z) {
            size_t l = (size_t)(z - b->buf);
            char *m = malloc(l + 1);
            if (!m) return NULL;
            memcpy(m, b->buf, l + 1);
            memmove(b->buf, z + 1, b->len - l - 1);
            b->len -= l + 1;
            return m;
        }
        double left = deadline - cdp_now();
        if (left <= 0) return NULL;
        struct pollfd p = {b->from, POLLIN, 0};
        int rc = poll(&p, 1, (int)(left * 1000) + 1);
        if (rc <= 0) continue;
        if (b->len + 65536 > b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 1 << 20;
            while (cap < b->len + 65536) cap *= 2;
            char *nb = realloc(b->buf, cap);
            if (!nb) return NULL;
            b->buf = nb;
            b->cap = cap;
        }
        ssize_t got = read(b->from, b->buf + b->len, b->cap - b->len);
        if (got <= 0) return NULL;
        b->len += (size_t)got;
    }
}

/* Sends method(params) (params: JSON object text or NULL) to the page
 * session (or to the browser when none is attached yet); returns the parsed
 * response (with "result"), or NULL (error, timeout) with the reason on
 * stderr. */
static inline ff_json_doc *cdp_call(cdp *b, const char *method, const char *params, double timeout_s) {
    int id = ++b->next_id;
    size_t n = strlen(method) + (params ? strlen(params) : 2) + 256;
    char *cmd = malloc(n);
    if (!cmd) return NULL;
    int l = snprintf(cmd, n, "{\"id\": %d, %s%s%s\"method\": \"%s\", \"params\": %s}", id, b->session[0] ? "\"sessionId\": \"" : "",
                     b->session, b->session[0] ? "\", " : "", method, params ? params : "{}");
    ssize_t w = write(b->to, cmd, (size_t)l + 1); /* with the NUL */
    free(cmd);
    if (w != l + 1) {
        fprintf(stderr, "cdp %s: write failed\n", method);
        return NULL;
    }
    double deadline = cdp_now() + timeout_s;
    for (;;) {
        char *m = cdp_read_msg(b, deadline);
        if (!m) {
            fprintf(stderr, "cdp %s: no response within %.0f s (chromium gone?)\n", method, timeout_s);
            return NULL;
        }
        ff_json_doc *d = NULL;
        ff_err err;
        int64_t got = -1;
        if (!ff_json_parse(m, strlen(m), "cdp", &d, &err) && !ff_json_get_int64(ff_json_root(d), "id", -1, &got) &&
            got == id) {
            const ff_json *e = ff_json_get(ff_json_root(d), "error");
            if (e) {
                fprintf(stderr, "cdp %s: %s\n", method, m);
                ff_json_free(d);
                d = NULL;
            }
            free(m);
            return d;
        }
        ff_json_free(d);
        free(m);
    }
}

/* Starts chromium with a fresh profile in user_dir (its output into log),
 * opens a page target and attaches to it. 0 on success. */
static inline int cdp_start(cdp *b, const char *chromium, const char *user_dir, const char *log) {
    memset(b, 0, sizeof *b);
    b->to = b->from = -1;
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return -1;
    char udd[1200];
    snprintf(udd, sizeof udd, "--user-data-dir=%s", user_dir);
    pid_t pid = fork();
    if (pid == 0) {
        int r = fcntl(in[0], F_DUPFD, 10), w = fcntl(out[1], F_DUPFD, 10);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (r < 0 || w < 0 || dup2(r, 3) < 0 || dup2(w, 4) < 0) _exit(126);
        for (int k = 5; k < 1024; k++) close(k);
        execl(chromium, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
              "--disable-component-update", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe", udd,
              "about:blank", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return -1;
    }
    b->pid = pid;
    b->to = in[1];
    b->from = out[0];
    ff_json_doc *d = cdp_call(b, "Target.createTarget", "{\"url\": \"about:blank\"}", 60);
    const char *tid = d ? ff_json_get_string(ff_json_get(ff_json_root(d), "result"), "targetId") : NULL;
    char params[256];
    snprintf(params, sizeof params, "{\"targetId\": \"%s\", \"flatten\": true}", tid ? tid : "");
    ff_json_free(d);
    if (!tid) return -1;
    d = cdp_call(b, "Target.attachToTarget", params, 30);
    const char *sid = d ? ff_json_get_string(ff_json_get(ff_json_root(d), "result"), "sessionId") : NULL;
    if (sid) snprintf(b->session, sizeof b->session, "%s", sid);
    ff_json_free(d);
    return sid ? 0 : -1;
}

/* Evaluates expr (which must give a string) in the page: malloc'd value or NULL. */
static inline char *cdp_eval(cdp *b, const char *expr) {
    char *params = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&params, &n);
    if (!f) return NULL;
    fputs("{\"expression\": ", f);
    ff_json_write_string(f, expr);
    fputs(", \"returnByValue\": true}", f);
    fclose(f);
    ff_json_doc *d = cdp_call(b, "Runtime.evaluate", params, 30);
    free(params);
    const char *v = d ? ff_json_get_string(ff_json_get(ff_json_get(ff_json_root(d), "result"), "result"), "value") : NULL;
    char *out = v ? strdup(v) : NULL;
    ff_json_free(d);
    return out;
}

/* Base64 (standard alphabet) into a malloc'd buffer; NULL when invalid. */
static inline unsigned char *cdp_base64(const char *s, size_t *out_n) {
    size_t n = strlen(s), k = 0;
    unsigned char *o = malloc(n / 4 * 3 + 3);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; o && i < n && s[i] != '='; i++) {
        char c = s[i];
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
              : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (v < 0) {
            free(o);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits);
        }
    }
    *out_n = k;
    return o;
}

#endif
