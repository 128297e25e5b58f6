/* A raw HTTP/1.1 client for the farm tests (header-only): sends exactly the
 * bytes given (so malformed requests can be sent too) to 127.0.0.1:port,
 * reads the answer until the server closes (bounded in time and size), and
 * returns the status code (-1: no HTTP answer) with the body found. */
#ifndef FF_HTTP_CLIENT_H
#define FF_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int status;
    char *raw;        /* the whole answer, NUL-terminated (malloc'd) */
    const char *body; /* into raw */
    size_t body_len;
} hc_reply;

static inline int hc_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends n bytes of req and reads the reply (at most 8 MiB, 30 s). */
static inline int hc_raw(int port, const char *req, size_t n, hc_reply *r) {
    memset(r, 0, sizeof *r);
    r->status = -1;
    int fd = hc_connect(port);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may close early (a refused request): read its answer */
        off += (size_t)w;
    }
    size_t cap = 1 << 16, len = 0;
    r->raw = malloc(cap + 1);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (r->raw && len < (8u << 20)) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 30000) <= 0) break;
        if (len == cap) {
            char *nb = realloc(r->raw, cap * 2 + 1);
            if (!nb) break;
            r->raw = nb;
            cap *= 2;
        }
        ssize_t got = recv(fd, r->raw + len, cap - len, 0);
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    if (!r->raw) return -1;
    r->raw[len] = 0;
    int code = 0;
    if (sscanf(r->raw, "HTTP/1.%*d %d", &code) == 1) r->status = code;
    const char *b = strstr(r->raw, "\r\n\r\n");
    r->body = b ? b + 4 : r->raw + len;
    r->body_len = (size_t)(r->raw + len - r->body);
    return r->status;
}

/* method path with optional extra header lines ("Name: value\r\n..."), no body. */
static inline int hc_request(int port, const char *method, const char *path, const char *headers, hc_reply *r) {
    size_t n = strlen(method) + strlen(path) + (headers ? strlen(headers) : 0) + 128;
    char *req = malloc(n);
    if (!req) return -1;
    snprintf(req, n, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n", method, path, headers ? headers : "");
    int s = hc_raw(port, req, strlen(req), r);
    free(req);
    return s;
}

static inline void hc_free(hc_reply *r) {
    free(r->raw);
    memset(r, 0, sizeof *r);
}

#endif
