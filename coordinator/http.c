/* http: see http.h.
 *
 * Compiled for real only with FF_HAVE_MHD (set by CMake when pkg-config
 * finds libmicrohttpd); otherwise ff_http_start says "built without HTTP
 * support". The listen-address and token readers work in every build. */
#include "coordinator/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ff_status ff_http_parse_listen(const char *s, char *host, size_t n, int *port, ff_err *err) {
    if (!s || !*s) return ff_err_set(err, FF_ERR_ARG, "--http: give ADDR:PORT, :PORT or PORT");
    const char *colon = strrchr(s, ':'), *ps = colon ? colon + 1 : s;
    char h[64] = "127.0.0.1";
    if (colon && colon > s) {
        size_t hl = (size_t)(colon - s);
        if (s[0] == '[') { /* [v6]:port */
            if (hl < 3 || s[hl - 1] != ']')
                return ff_err_set(err, FF_ERR_ARG, "--http '%s': an IPv6 address goes in brackets ([::1]:8080)", s);
            s++;
            hl -= 2;
        }
        if (hl >= sizeof h) return ff_err_set(err, FF_ERR_ARG, "--http '%s': address too long", s);
        memcpy(h, s, hl);
        h[hl] = 0;
        if (!strcmp(h, "localhost")) snprintf(h, sizeof h, "127.0.0.1");
        unsigned char a[16];
        if (inet_pton(AF_INET, h, a) != 1 && inet_pton(AF_INET6, h, a) != 1)
            return ff_err_set(err, FF_ERR_ARG, "--http '%s': '%s' is not a numeric IPv4 or IPv6 address (or localhost)", s, h);
    }
    char *end;
    errno = 0;
    long p = strtol(ps, &end, 10);
    if (!*ps || *end || errno || p < 0 || p > 65535 || !isdigit((unsigned char)*ps))
        return ff_err_set(err, FF_ERR_ARG, "--http: bad port '%s' (0..65535; 0 picks a free one)", ps);
    if (strlen(h) + 1 > n) return ff_err_set(err, FF_ERR_ARG, "--http: address too long");
    memcpy(host, h, strlen(h) + 1);
    *port = (int)p;
    return FF_OK;
}

ff_status ff_http_token_load(const char *path, char *buf, size_t n, ff_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ff_err_set(err, FF_ERR_IO, "--http-token %s: %s", path, strerror(errno));
    char tmp[FF_HTTP_TOKEN_MAX + 8];
    size_t got = fread(tmp, 1, sizeof tmp - 1, f);
    fclose(f);
    tmp[got] = 0;
    while (got && (tmp[got - 1] == '\n' || tmp[got - 1] == '\r')) tmp[--got] = 0;
    if (got < FF_HTTP_TOKEN_MIN || got > FF_HTTP_TOKEN_MAX || got + 1 > n)
        return ff_err_set(err, FF_ERR_ARG, "--http-token %s: the token must be %d to %d characters (it has %zu%s)", path,
                          FF_HTTP_TOKEN_MIN, FF_HTTP_TOKEN_MAX, got, got > FF_HTTP_TOKEN_MAX ? " or more" : "");
    for (size_t i = 0; i < got; i++)
        if (tmp[i] <= ' ' || tmp[i] > '~')
            return ff_err_set(err, FF_ERR_ARG, "--http-token %s: the token must be printable ASCII without spaces", path);
    memcpy(buf, tmp, got + 1);
    return FF_OK;
}

#ifndef FF_HAVE_MHD

int ff_http_available(void) { return 0; }
ff_status ff_http_start(const ff_http_opts *o, ff_http **out, ff_err *err) {
    (void)o;
    *out = NULL;
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "--http: built without HTTP support (libmicrohttpd was not found at build time)");
}
int ff_http_port(const ff_http *h) {
    (void)h;
    return 0;
}
const char *ff_http_url(const ff_http *h) {
    (void)h;
    return "";
}
void ff_http_stop(ff_http *h) { (void)h; }

#else

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <zmq.h>

#include "coordinator/http_thumb.h"
#include "coordinator/status_json.h"
#include "core/ff_json.h"
#include "proto/ff_net.h"
#include "proto/ff_wire.h"

/* The page, embedded by coordinator/http_embed.cmake from http_page.html. */
extern const unsigned char ff_http_page[];
extern const size_t ff_http_page_len;

/* Actions: POST /api/jobs/ID/<verb>[?value=V]. Each names the Envelope body
 * field the coordinator takes for it (its message has job_id, and the
 * field named by `value` when the verb takes one). Adding a verb the
 * coordinator understands is one line here. */
typedef struct {
    const char *verb, *body, *value;
} http_action;
static const http_action ACTIONS[] = {
    {"cancel", "cancel", NULL},
};

/* Query parameters of the API, mapped onto StatusQuery fields; one the
 * coordinator's StatusQuery does not have is refused (400). */
typedef struct {
    const char *param, *field;
} http_param;
static const http_param LIST_PARAMS[] = {{"after", "after_job"}, {"limit", "job_limit"}, {"newest", "newest_first"}};
static const http_param JOB_PARAMS[] = {{"chunks", "chunk_offset"}, {"limit", "chunk_limit"}, {"outputs", "output_offset"}};

struct ff_http {
    ff_http_opts o;
    char token[FF_HTTP_TOKEN_MAX + 1];
    char endpoint[256];
    char *state_dir;
    char url[128];
    int port;
    atomic_int stopping;    /* ff_http_stop: requests waiting for the loop give up */
    struct MHD_Daemon *d;
};

typedef struct {
    size_t uri_len; /* the whole request target, query included */
    size_t body;    /* bytes of request body seen (discarded) */
    int seen, answered;
} req_state;

/* Bodies past FF_HTTP_MAX_BODY are read and dropped up to this, then refused
 * with 413; a longer one closes the connection. */
#define FF_HTTP_DISCARD_MAX ((size_t)1 << 20)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- responses ---------------------------------------------------------------- */

static enum MHD_Result respond(ff_http *h, struct MHD_Connection *c, unsigned status, const char *type, void *body,
                               size_t n, int owned, const char *cache) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache ? cache : "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
    if (!strncmp(type, "text/html", 9))
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                                "frame-ancestors 'none'");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    if (h->o.metrics) ff_metrics_on_http(h->o.metrics, status);
    return ret;
}

static enum MHD_Result fail(ff_http *h, struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result fail(ff_http *h, struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return MHD_NO;
    fputs("{\"error\": ", f);
    ff_json_write_string(f, msg);
    fputs("}\n", f);
    if (fclose(f)) {
        free(buf);
        return MHD_NO;
    }
    FF_DEBUG(h->o.log, "http: %u %s", status, msg);
    return respond(h, c, status, "application/json", buf, n, 1, NULL);
}

/* ---- asking the event loop ---------------------------------------------------------- */

/* Sends req to the coordinator over inproc and waits for its reply. Returns
 * 200 with *rep (owned by the caller), or an HTTP status with why. */
static unsigned ask(ff_http *h, Ff__Envelope *req, Ff__Envelope **rep, char *why, size_t why_n) {
    *rep = NULL;
    void *s = zmq_socket(h->o.zmq_ctx, ZMQ_DEALER);
    if (!s) {
        snprintf(why, why_n, "zmq_socket: %s", zmq_strerror(errno));
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    unsigned status = MHD_HTTP_OK;
    ff_err e = {0};
    if (zmq_connect(s, h->endpoint)) {
        snprintf(why, why_n, "connecting to the coordinator: %s", zmq_strerror(errno));
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
    } else if (ff_net_send(s, NULL, 0, req, 0, &e)) {
        snprintf(why, why_n, "%s", e.msg);
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
    } else {
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        double until = now_s() + h->o.ask_timeout_s;
        int rc = 0;
        while (!atomic_load(&h->stopping) && now_s() < until) { /* in slices, so that a stop does not wait */
            rc = zmq_poll(&it, 1, 100);
            if (rc > 0 || (rc < 0 && errno != EINTR)) break;
            rc = 0;
        }
        ff_net_msg m;
        Ff__Error__Code code;
        if (rc <= 0) {
            snprintf(why, why_n, "the coordinator did not answer within %.1f s", h->o.ask_timeout_s);
            status = MHD_HTTP_SERVICE_UNAVAILABLE;
        } else if (ff_net_recv(s, 0, 0, &m, &e) ||
                   ff_wire_unpack(zmq_msg_data(&m.payload), zmq_msg_size(&m.payload), FF_WIRE_MAX_DEFAULT, rep, &code, &e)) {
            snprintf(why, why_n, "reply from the coordinator: %s", e.msg);
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            ff_net_msg_close(&m);
        } else {
            ff_net_msg_close(&m);
        }
    }
    zmq_close(s);
    if (status == MHD_HTTP_OK && (*rep)->body_case == FF__ENVELOPE__BODY_ERROR) {
        const Ff__Error *er = (*rep)->error;
        snprintf(why, why_n, "%s", er->message ? er->message : ff_wire_error_code_name(er->code));
        status = er->code == FF__ERROR__CODE__NOT_FOUND                                            ? MHD_HTTP_NOT_FOUND
                 : er->code == FF__ERROR__CODE__INVALID || er->code == FF__ERROR__CODE__MALFORMED ? MHD_HTTP_BAD_REQUEST
                 : er->code == FF__ERROR__CODE__OVERSIZED                                         ? MHD_HTTP_CONTENT_TOO_LARGE
                                                                                                  : MHD_HTTP_INTERNAL_SERVER_ERROR;
        ff_wire_free(*rep);
        *rep = NULL;
    }
    return status;
}

/* The message in env's oneof body (NULL when none). */
static const ProtobufCMessage *body_of(const Ff__Envelope *env) {
    const ProtobufCMessageDescriptor *d = &ff__envelope__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].id == (uint32_t)env->body_case && d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
            return *(ProtobufCMessage *const *)((const char *)env + d->fields[i].offset);
    return NULL;
}

static enum MHD_Result reply_json(ff_http *h, struct MHD_Connection *c, const ProtobufCMessage *m) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return fail(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    ff_status_json_write(f, m);
    fputc('\n', f);
    if (fclose(f)) {
        free(buf);
        return fail(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    return respond(h, c, MHD_HTTP_OK, "application/json", buf, n, 1, NULL);
}

/* ---- parameters ---------------------------------------------------------------- */

/* A decimal number without sign or spaces; -1 when s is not one. */
static int parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || strlen(s) > 20) return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Sets an optional integer field of m by name: 0, or -1 no such field, -2
 * out of its range. */
static int set_int_field(ProtobufCMessage *m, const char *name, int64_t v) {
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (!fd || fd->label == PROTOBUF_C_LABEL_REPEATED) return -1;
    char *base = (char *)m;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_UINT32:
        if (v < 0 || v > (int64_t)UINT32_MAX) return -2;
        *(uint32_t *)(base + fd->offset) = (uint32_t)v;
        break;
    case PROTOBUF_C_TYPE_INT32:
        if (v < INT32_MIN || v > INT32_MAX) return -2;
        *(int32_t *)(base + fd->offset) = (int32_t)v;
        break;
    case PROTOBUF_C_TYPE_UINT64:
        if (v < 0) return -2;
        *(uint64_t *)(base + fd->offset) = (uint64_t)v;
        break;
    case PROTOBUF_C_TYPE_INT64: *(int64_t *)(base + fd->offset) = v; break;
    case PROTOBUF_C_TYPE_BOOL:
        if (v != 0 && v != 1) return -2;
        *(protobuf_c_boolean *)(base + fd->offset) = (protobuf_c_boolean)v;
        break;
    default: return -1;
    }
    if (fd->label == PROTOBUF_C_LABEL_OPTIONAL) *(protobuf_c_boolean *)(base + fd->quantifier_offset) = 1;
    return 0;
}

/* Applies the query parameters of table to m; 0, or an HTTP status with why. */
static unsigned apply_params(struct MHD_Connection *c, const http_param *t, size_t n, ProtobufCMessage *m, char *why,
                             size_t why_n) {
    for (size_t i = 0; i < n; i++) {
        const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, t[i].param);
        if (!v) continue;
        uint64_t x;
        int r = parse_u64(v, &x) || x > (uint64_t)INT64_MAX ? -2 : set_int_field(m, t[i].field, (int64_t)x);
        if (r == -1) {
            snprintf(why, why_n, "parameter '%s' is not supported by this coordinator", t[i].param);
            return MHD_HTTP_BAD_REQUEST;
        }
        if (r) {
            snprintf(why, why_n, "bad value '%.40s' for '%s' (a number in range)", v, t[i].param);
            return MHD_HTTP_BAD_REQUEST;
        }
    }
    return 0;
}

/* ---- routes ------------------------------------------------------------------------- */

static enum MHD_Result api_status(ff_http *h, struct MHD_Connection *c, uint64_t job) {
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    char why[1200];
    unsigned bad = job ? apply_params(c, JOB_PARAMS, sizeof JOB_PARAMS / sizeof JOB_PARAMS[0], &q.base, why, sizeof why)
                       : apply_params(c, LIST_PARAMS, sizeof LIST_PARAMS / sizeof LIST_PARAMS[0], &q.base, why, sizeof why);
    if (bad) return fail(h, c, bad, "%s", why);
    q.has_job_id = job != 0;
    q.job_id = job;
    Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
    req.body_case = FF__ENVELOPE__BODY_STATUS;
    req.status = &q;
    unsigned st = ask(h, &req, &rep, why, sizeof why);
    if (st != MHD_HTTP_OK) return fail(h, c, st, "%s", why);
    enum MHD_Result r;
    if (rep->body_case != FF__ENVELOPE__BODY_STATUS_REPLY || (job && rep->status_reply->n_jobs != 1))
        r = fail(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "unexpected '%s' reply", ff_wire_body_name(rep->body_case));
    else if (job)
        r = reply_json(h, c, &rep->status_reply->jobs[0]->base);
    else
        r = reply_json(h, c, &rep->status_reply->base);
    ff_wire_free(rep);
    return r;
}

static enum MHD_Result api_workers(ff_http *h, struct MHD_Connection *c) {
    Ff__WorkersQuery q = FF__WORKERS_QUERY__INIT;
    Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
    req.body_case = FF__ENVELOPE__BODY_WORKERS;
    req.workers = &q;
    char why[1200];
    unsigned st = ask(h, &req, &rep, why, sizeof why);
    if (st != MHD_HTTP_OK) return fail(h, c, st, "%s", why);
    enum MHD_Result r = rep->body_case == FF__ENVELOPE__BODY_WORKERS_REPLY
                            ? reply_json(h, c, &rep->workers_reply->base)
                            : fail(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "unexpected '%s' reply", ff_wire_body_name(rep->body_case));
    ff_wire_free(rep);
    return r;
}

static enum MHD_Result api_thumb(ff_http *h, struct MHD_Connection *c, uint64_t job, uint64_t chunk) {
    uint64_t frame = 0, w = 160, hh = 160;
    const char *fs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "frame");
    const char *ws = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "w");
    const char *hs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "h");
    if ((fs && (parse_u64(fs, &frame) || frame > 100000)) || (ws && (parse_u64(ws, &w) || !w || w > FF_THUMB_MAX_SIDE)) ||
        (hs && (parse_u64(hs, &hh) || !hh || hh > FF_THUMB_MAX_SIDE)) || chunk > UINT32_MAX)
        return fail(h, c, MHD_HTTP_BAD_REQUEST, "thumbnail: frame 0..100000, w and h 1..%d", FF_THUMB_MAX_SIDE);
    uint8_t *png = NULL;
    size_t n = 0;
    ff_err e = {0};
    ff_status st = ff_thumb_chunk_png(h->state_dir, job, (uint32_t)chunk, (int)frame, (int)w, (int)hh, &png, &n, &e);
    if (st == FF_ERR_NOT_FOUND || st == FF_ERR_IO) return fail(h, c, MHD_HTTP_NOT_FOUND, "%s", e.msg);
    if (st) return fail(h, c, st == FF_ERR_FORMAT ? MHD_HTTP_UNPROCESSABLE_CONTENT : MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", e.msg);
    return respond(h, c, MHD_HTTP_OK, "image/png", png, n, 1, "max-age=3600");
}

static int token_ok(const ff_http *h, struct MHD_Connection *c) {
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!a || strncmp(a, "Bearer ", 7)) return 0;
    a += 7;
    size_t la = strlen(a), lt = strlen(h->token);
    unsigned char diff = la != lt;
    for (size_t i = 0; i < lt; i++) diff |= (unsigned char)(h->token[i] ^ (i < la ? a[i] : 0)); /* no early exit */
    return diff == 0;
}

static enum MHD_Result api_action(ff_http *h, struct MHD_Connection *c, uint64_t job, const char *verb) {
    if (!h->token[0])
        return fail(h, c, MHD_HTTP_FORBIDDEN, "actions are off: the coordinator was started without --http-token FILE");
    if (!token_ok(h, c))
        return fail(h, c, MHD_HTTP_FORBIDDEN, "actions need the header 'Authorization: Bearer TOKEN' with the coordinator's token");
    const http_action *a = NULL;
    for (size_t i = 0; i < sizeof ACTIONS / sizeof ACTIONS[0]; i++)
        if (!strcmp(ACTIONS[i].verb, verb)) a = &ACTIONS[i];
    if (!a) return fail(h, c, MHD_HTTP_NOT_FOUND, "no action '%.40s' (GET /api/actions lists them)", verb);
    const ProtobufCFieldDescriptor *bf = protobuf_c_message_descriptor_get_field_by_name(&ff__envelope__descriptor, a->body);
    const ProtobufCMessageDescriptor *bd = bf ? bf->descriptor : NULL;
    ProtobufCMessage *body = bd ? calloc(1, bd->sizeof_message) : NULL;
    if (!body) return fail(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "action '%s': no message for it", verb);
    protobuf_c_message_init(bd, body);
    char why[1200];
    enum MHD_Result r;
    const char *vs = a->value ? MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "value") : NULL;
    int64_t v = 0;
    int bad = 0;
    if (a->value) {
        char *end;
        errno = 0;
        v = vs ? strtoll(vs, &end, 10) : 0;
        bad = !vs || !*vs || *end || errno || set_int_field(body, a->value, v) != 0;
    }
    if (bad) {
        r = fail(h, c, MHD_HTTP_BAD_REQUEST, "action '%s' needs ?value=N (an integer in range)", verb);
    } else if (set_int_field(body, "job_id", (int64_t)job)) {
        r = fail(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "action '%s': its message has no job_id", verb);
    } else {
        Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
        *(uint32_t *)((char *)&req + bf->quantifier_offset) = bf->id;
        *(ProtobufCMessage **)((char *)&req + bf->offset) = body;
        unsigned st = ask(h, &req, &rep, why, sizeof why);
        if (st != MHD_HTTP_OK) {
            r = fail(h, c, st, "%s", why);
        } else {
            FF_INFO(h->o.log, "http: %s job %llu", verb, (unsigned long long)job);
            const ProtobufCMessage *m = body_of(rep);
            if (rep->body_case == FF__ENVELOPE__BODY_STATUS_REPLY && rep->status_reply->n_jobs == 1)
                m = &rep->status_reply->jobs[0]->base;
            r = reply_json(h, c, m);
            ff_wire_free(rep);
        }
    }
    free(body); /* its fields are plain integers */
    return r;
}

/* {"enabled": bool, "actions": [{"verb": V, "value": FIELD or null}, ...]}: what the page may offer. */
static enum MHD_Result api_actions(ff_http *h, struct MHD_Connection *c) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return fail(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    fprintf(f, "{\"enabled\": %s, \"actions\": [", h->token[0] ? "true" : "false");
    for (size_t i = 0; i < sizeof ACTIONS / sizeof ACTIONS[0]; i++) {
        fprintf(f, "%s{\"verb\": ", i ? ", " : "");
        ff_json_write_string(f, ACTIONS[i].verb);
        fputs(", \"value\": ", f);
        if (ACTIONS[i].value) ff_json_write_string(f, ACTIONS[i].value);
        else fputs("null", f);
        fputc('}', f);
    }
    fputs("]}\n", f);
    if (fclose(f)) {
        free(buf);
        return fail(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    return respond(h, c, MHD_HTTP_OK, "application/json", buf, n, 1, NULL);
}

static enum MHD_Result api_metrics(ff_http *h, struct MHD_Connection *c) {
    if (!h->o.metrics) return fail(h, c, MHD_HTTP_NOT_FOUND, "no metrics");
    char *text = NULL;
    size_t n = 0;
    ff_err e = {0};
    if (ff_metrics_render(h->o.metrics, 1.0, now_s(), &text, &n, &e))
        return fail(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", e.msg);
    return respond(h, c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, n, 1, NULL);
}

/* Splits a path into at most max segments ("/a/b" -> "a", "b"); -1 when
 * it has more, an empty segment, or does not start with '/'. */
static int split_path(const char *url, char seg[][48], int max) {
    if (url[0] != '/') return -1;
    int n = 0;
    const char *p = url + 1;
    if (!*p) return 0;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (!l || l >= sizeof seg[0] || n == max) return -1;
        memcpy(seg[n], p, l);
        seg[n++][l] = 0;
        if (!e) return n;
        p = e + 1;
    }
}

static enum MHD_Result route(ff_http *h, struct MHD_Connection *c, const char *url, const char *method) {
    int get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
    int post = !strcmp(method, MHD_HTTP_METHOD_POST);
    char seg[6][48];
    int n = split_path(url, seg, 6);
    uint64_t id = 0, ch = 0;
    if (n < 0) return fail(h, c, MHD_HTTP_NOT_FOUND, "no such page");
    /* what exists, and with which method */
    int page = n == 0 || (n == 1 && !strcmp(seg[0], "index.html"));
    int metrics = n == 1 && !strcmp(seg[0], "metrics");
    int api = n >= 2 && !strcmp(seg[0], "api");
    int jobs = api && n == 2 && !strcmp(seg[1], "jobs");
    int workers = api && n == 2 && !strcmp(seg[1], "workers");
    int actions = api && n == 2 && !strcmp(seg[1], "actions");
    int job_ok = api && n >= 3 && !strcmp(seg[1], "jobs") && !parse_u64(seg[2], &id) && id;
    int job = job_ok && n == 3;
    int action = job_ok && n == 4;
    int thumb = job_ok && n == 6 && !strcmp(seg[3], "chunks") && !parse_u64(seg[4], &ch) && !strcmp(seg[5], "thumb.png");
    if (!(page || metrics || jobs || workers || actions || job || action || thumb))
        return fail(h, c, MHD_HTTP_NOT_FOUND, "no such page");
    if (action ? !post : !get) return fail(h, c, MHD_HTTP_METHOD_NOT_ALLOWED, "%s is not allowed here", method);
    if (page) return respond(h, c, MHD_HTTP_OK, "text/html; charset=utf-8", (void *)ff_http_page, ff_http_page_len, 0, NULL);
    if (metrics) return api_metrics(h, c);
    if (jobs) return api_status(h, c, 0);
    if (job) return api_status(h, c, id);
    if (workers) return api_workers(h, c);
    if (actions) return api_actions(h, c);
    if (thumb) return api_thumb(h, c, id, ch);
    return api_action(h, c, id, seg[3]);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_n, void **req_cls) {
    ff_http *h = cls;
    (void)version;
    (void)upload;
    req_state *rs = *req_cls; /* made by on_uri for every request */
    if (!rs) return MHD_NO;
    if (!rs->seen) { /* the headers are in: check what can be checked before any body */
        rs->seen = 1;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t len = 0;
        if (cl && (parse_u64(cl, &len) || len > FF_HTTP_MAX_BODY)) {
            rs->answered = 1;
            return fail(h, c, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %d bytes", FF_HTTP_MAX_BODY);
        }
        return MHD_YES;
    }
    if (*upload_n) { /* bodies are not used: counted and dropped (a long one is refused after its end) */
        rs->body += *upload_n;
        *upload_n = 0;
        return rs->body > FF_HTTP_DISCARD_MAX ? MHD_NO : MHD_YES; /* past that: the connection is closed */
    }
    if (rs->answered) return MHD_YES;
    if (rs->body > FF_HTTP_MAX_BODY) return fail(h, c, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %d bytes", FF_HTTP_MAX_BODY);
    if (rs->uri_len > FF_HTTP_MAX_URL) return fail(h, c, MHD_HTTP_URI_TOO_LONG, "URL over %d bytes", FF_HTTP_MAX_URL);
    return route(h, c, url, method);
}

/* Called once per request with the whole request target (MHD hands the
 * access handler the path only): the request's state starts here. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls;
    (void)c;
    req_state *rs = calloc(1, sizeof *rs);
    if (rs) rs->uri_len = strlen(uri);
    return rs;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode why) {
    (void)cls;
    (void)c;
    (void)why;
    free(*req_cls);
    *req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    ff_http *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    FF_DEBUG(h->o.log, "http: %s", msg);
}

int ff_http_available(void) { return 1; }

ff_status ff_http_start(const ff_http_opts *o, ff_http **out, ff_err *err) {
    *out = NULL;
    char host[64];
    int port;
    ff_status st = ff_http_parse_listen(o->listen, host, sizeof host, &port, err);
    if (st) return st;
    if (!o->zmq_ctx || !o->coord_endpoint || !o->state_dir)
        return ff_err_set(err, FF_ERR_ARG, "http: zmq_ctx, coord_endpoint and state_dir are required");
    ff_http *h = calloc(1, sizeof *h);
    if (!h || !(h->state_dir = strdup(o->state_dir))) {
        free(h);
        return ff_err_set(err, FF_ERR_NOMEM, "http: out of memory");
    }
    h->o = *o;
    atomic_init(&h->stopping, 0);
    h->o.token = NULL;
    h->o.state_dir = h->state_dir;
    if (h->o.threads <= 0) h->o.threads = 2;
    if (!h->o.max_connections) h->o.max_connections = 64;
    if (!h->o.max_per_ip) h->o.max_per_ip = 32;
    if (!h->o.timeout_s) h->o.timeout_s = 15;
    if (!(h->o.ask_timeout_s > 0)) h->o.ask_timeout_s = 5;
    if (o->token) snprintf(h->token, sizeof h->token, "%s", o->token);
    snprintf(h->endpoint, sizeof h->endpoint, "%s", o->coord_endpoint);
    h->o.coord_endpoint = h->endpoint;
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a4;
    } else {
        inet_pton(AF_INET6, host, &a6.sin6_addr);
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    }
    h->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, h,                      //
                            MHD_OPTION_SOCK_ADDR, sa,                                              //
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)h->o.threads,                   //
                            MHD_OPTION_CONNECTION_LIMIT, h->o.max_connections,                     //
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->o.max_per_ip,                   //
                            MHD_OPTION_CONNECTION_TIMEOUT, h->o.timeout_s,                         //
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)FF_HTTP_HEADER_BYTES * 2,  //
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)NULL,               //
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, (void *)NULL,                     //
                            MHD_OPTION_STRICT_FOR_CLIENT, (int)1,                                  //
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, (void *)h,                     //
                            MHD_OPTION_END);
    if (!h->d) {
        free(h->state_dir);
        free(h);
        return ff_err_set(err, FF_ERR_IO, "http: cannot listen on %s port %d (in use, or not an address of this machine?)",
                          host, port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di && di->port ? di->port : port;
    snprintf(h->url, sizeof h->url, strchr(host, ':') ? "http://[%s]:%d/" : "http://%s:%d/", host, h->port);
    *out = h;
    return FF_OK;
}

int ff_http_port(const ff_http *h) { return h ? h->port : 0; }
const char *ff_http_url(const ff_http *h) { return h ? h->url : ""; }

void ff_http_stop(ff_http *h) {
    if (!h) return;
    atomic_store(&h->stopping, 1);
    MHD_stop_daemon(h->d);
    free(h->state_dir);
    free(h);
}

#endif
