/* http (ff_http_*): the coordinator's web status page, JSON API and
 * Prometheus metrics, served with libmicrohttpd (coordinator --http).
 *
 * Routes (GET; HEAD too):
 *   /                    the status page (coordinator/http_page.html, embedded
 *                        at build time: no external assets)
 *   /api/jobs            a page of the job list: the StatusReply of
 *                        `framefarm status` as JSON (status_json.h);
 *                        ?after=ID&limit=N&newest=1 (each parameter maps onto
 *                        a StatusQuery field; one the coordinator's .proto
 *                        lacks is refused with 400)
 *   /api/jobs/ID         one job: the object `framefarm status ID --json` prints
 *                        (?chunks=FIRST&limit=N pages its chunks)
 *   /api/jobs/ID/chunks/C/thumb.png[?frame=K]   a finished chunk's frame (http_thumb.h)
 *   /api/workers         the WorkersReply of `framefarm workers` as JSON
 *   /api/actions         {"enabled": bool, "actions": [{"verb", "value"}]}: what POST offers
 *   /metrics             Prometheus text (http_metrics.h)
 * Actions (POST /api/jobs/ID/VERB[?value=V]) exist only with a token
 * (coordinator --http-token FILE) and need "Authorization: Bearer TOKEN";
 * without a token configured, or with a missing or wrong one, they are
 * refused with 403. The verbs are the ACTIONS table in http.c, one line
 * each, naming the Envelope body the coordinator takes for it.
 *
 * Threads: libmicrohttpd answers on its own threads (opts.threads). They
 * never touch the coordinator's state: each API request is a ZeroMQ
 * request over inproc to the coordinator's own ROUTER socket (the event
 * loop binds opts.coord_endpoint on it), answered by the event loop exactly
 * as a `framefarm status` client's request is, so the loop stays the only
 * owner of the state and SQLite, and an HTTP request costs the loop what a
 * status request costs. JSON encoding, thumbnails and metrics text are
 * made on the HTTP threads. The loop does not wait for HTTP; an HTTP thread
 * waits for the loop at most opts.ask_timeout_s (then 503).
 *
 * Bounded: request line + headers within FF_HTTP_HEADER_BYTES (larger: 4xx
 * from libmicrohttpd), URLs within FF_HTTP_MAX_URL (414), bodies within
 * FF_HTTP_MAX_BODY (413), connections (opts.max_connections, per address
 * opts.max_per_ip), idle connections closed after opts.timeout_s; replies
 * are pages of at most the coordinator's page size. Only the fixed routes
 * above exist, ids are decimal numbers: no file is served by name.
 *
 * Ownership: ff_http_start returns a server the caller stops with
 * ff_http_stop (before the ZeroMQ context and the metrics go). */
#ifndef FF_HTTP_H
#define FF_HTTP_H

#include <stddef.h>

#include "coordinator/http_metrics.h"
#include "core/ff_err.h"
#include "core/ff_log.h"

#define FF_HTTP_MAX_URL 2048
#define FF_HTTP_MAX_BODY 4096
#define FF_HTTP_HEADER_BYTES 16384
#define FF_HTTP_TOKEN_MIN 16
#define FF_HTTP_TOKEN_MAX 256

typedef struct {
    const char *listen;         /* "ADDR:PORT", ":PORT" or "PORT" (127.0.0.1); port 0: any free port */
    const char *token;          /* the action token itself (NULL: no actions) */
    void *zmq_ctx;              /* the coordinator's ZeroMQ context */
    const char *coord_endpoint; /* inproc:// endpoint bound on the coordinator's socket */
    const char *state_dir;      /* the coordinator's --state (chunk frames for thumbnails) */
    ff_metrics *metrics;        /* may be NULL: /metrics is 404 */
    const ff_log *log;
    int threads;                /* default 2 */
    unsigned max_connections;   /* default 64 */
    unsigned max_per_ip;        /* default 32 */
    unsigned timeout_s;         /* idle connections; default 15 */
    double ask_timeout_s;       /* default 5 */
} ff_http_opts;

typedef struct ff_http ff_http;

/* 0 when built without libmicrohttpd (ff_http_start then fails with
 * FF_ERR_UNSUPPORTED, "built without HTTP support"). */
int ff_http_available(void);
ff_status ff_http_start(const ff_http_opts *o, ff_http **out, ff_err *err);
/* The port listened on (useful after port 0) and the page's URL. */
int ff_http_port(const ff_http *h);
const char *ff_http_url(const ff_http *h);
void ff_http_stop(ff_http *h);

/* "ADDR:PORT" | ":PORT" | "PORT" -> numeric host ("127.0.0.1" unless
 * given; "localhost" is 127.0.0.1; IPv6 as [::1]:PORT) and port 0..65535. */
ff_status ff_http_parse_listen(const char *s, char *host, size_t n, int *port, ff_err *err);
/* Reads a token file: FF_HTTP_TOKEN_MIN..MAX printable ASCII characters
 * without spaces (a trailing newline is allowed). */
ff_status ff_http_token_load(const char *path, char *buf, size_t n, ff_err *err);

#endif
