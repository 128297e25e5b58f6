/* server: see server.h. */
#include "coordinator/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "coordinator/coord.h"
#include "coordinator/http.h"
#include "coordinator/zap.h"
#include "core/ff_clock.h"
#include "proto/ff_net.h"
#include "proto/ff_wire.h"

ff_status ff_cserver_bind_endpoint(const char *bind, int have_curve, int allow_insecure_remote, char *out, size_t n,
                                   int *narrowed, ff_err *err) {
    *narrowed = 0;
    if (!bind) bind = "tcp://127.0.0.1:5555";
    if (strncmp(bind, "tcp://", 6)) {
        if (snprintf(out, n, "%s", bind) >= (int)n) return ff_err_set(err, FF_ERR_ARG, "endpoint too long");
        return FF_OK; /* ipc://, inproc://: local by nature */
    }
    const char *host = bind + 6, *colon = strrchr(host, ':');
    if (!colon) return ff_err_set(err, FF_ERR_ARG, "bind endpoint '%s' has no port (tcp://HOST:PORT)", bind);
    size_t hl = (size_t)(colon - host);
    int wildcard = (hl == 1 && host[0] == '*') || (hl == 7 && !strncmp(host, "0.0.0.0", 7));
    int loopback = (hl == 9 && !strncmp(host, "127.0.0.1", 9)) || (hl == 9 && !strncmp(host, "localhost", 9)) ||
                   (hl == 5 && !strncmp(host, "[::1]", 5));
    if (have_curve || allow_insecure_remote || loopback) {
        if (snprintf(out, n, "%s", bind) >= (int)n) return ff_err_set(err, FF_ERR_ARG, "endpoint too long");
        return FF_OK;
    }
    if (wildcard) {
        if (snprintf(out, n, "tcp://127.0.0.1%s", colon) >= (int)n) return ff_err_set(err, FF_ERR_ARG, "endpoint too long");
        *narrowed = 1;
        return FF_OK;
    }
    return ff_err_set(err, FF_ERR_ARG,
                      "refusing to bind %s without CURVE keys (anyone could submit jobs): give --curve-secret KEY "
                      "(framefarm keygen) or --insecure",
                      bind);
}

typedef struct {
    void *sock;
    const ff_log *log;
} send_ctx;

static ff_status do_send(void *user, const void *rid, size_t len, Ff__Envelope *env, ff_err *err) {
    send_ctx *s = user;
    return ff_net_send(s->sock, rid, len, env, ZMQ_DONTWAIT, err);
}

static void reply_error(void *sock, const zmq_msg_t *rid, Ff__Error__Code code, const char *msg) {
    if (zmq_msg_size((zmq_msg_t *)rid) == 0) return;
    Ff__Error e = FF__ERROR__INIT;
    e.has_code = 1;
    e.code = code;
    e.message = (char *)msg;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_ERROR;
    env.error = &e;
    ff_err err;
    ff_net_send(sock, zmq_msg_data((zmq_msg_t *)rid), zmq_msg_size((zmq_msg_t *)rid), &env, ZMQ_DONTWAIT, &err);
}

static void drain_monitor(void *mon, const ff_log *log, ff_metrics *metrics) {
    uint16_t ev;
    char addr[256];
    while (ff_net_monitor_next(mon, &ev, addr, sizeof addr)) {
        const char *what = ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? "authentication failed"
                           : ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error (wrong or missing CURVE key?)"
                           : ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ? "no detail (wrong or missing CURVE key?)"
                                                                        : NULL;
        if (what) FF_WARN(log, "refused a connection on %s: handshake failed: %s", addr, what);
        if (what && metrics) ff_metrics_on_refused_connection(metrics);
    }
}

static ff_status write_endpoint(const char *dir, const char *name, const char *ep, ff_err *err) {
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return ff_err_set(err, FF_ERR_IO, "%s: %s", tmp, strerror(errno));
    int bad = fprintf(f, "%s\n", ep) < 0;
    if (fclose(f)) bad = 1;
    if (bad || rename(tmp, path)) return ff_err_set(err, FF_ERR_IO, "%s: %s", path, strerror(errno));
    return FF_OK;
}

/* The state machine's counts for a metrics scrape (http_metrics.h). */
static void publish_counts(const ff_coord *c, ff_metrics *m, double now) {
    ff_coord_stats s;
    ff_coord_counts k;
    ff_coord_get_stats(c, &s);
    ff_coord_get_counts(c, &k);
    ff_metrics_counts mc = {0};
    memcpy(mc.jobs, k.jobs, sizeof mc.jobs);
    memcpy(mc.chunks, k.chunks, sizeof mc.chunks);
    mc.workers_idle = k.workers_idle;
    mc.workers_busy = k.workers_busy;
    mc.workers_cancelling = k.workers_cancelling;
    mc.workers_quarantined = k.workers_quarantined;
    mc.dispatched = s.dispatched;
    mc.completed = s.completed;
    mc.retries = s.requeued;
    mc.refused_messages = s.refused;
    mc.jobs_done = s.jobs_done;
    mc.jobs_failed = s.jobs_failed;
    ff_metrics_set_counts(m, &mc, now);
}

/* Starts the HTTP server (http.h): an inproc endpoint on the coordinator's
 * socket for its requests, the metrics, the token; its URL into <state>/http. */
static ff_status http_start(const ff_cserver_opts *o, void *ctx, void *sock, ff_metrics **metrics, ff_http **http,
                            ff_err *err) {
    char token[FF_HTTP_TOKEN_MAX + 1] = "", inproc[64];
    ff_status st = o->http_token ? ff_http_token_load(o->http_token, token, sizeof token, err) : FF_OK;
    if (st) return st;
    snprintf(inproc, sizeof inproc, "inproc://ff-coord-http-%p", sock);
    if (zmq_bind(sock, inproc)) return ff_err_set(err, FF_ERR_IO, "binding %s: %s", inproc, zmq_strerror(errno));
    if ((st = ff_metrics_create(o->worker_timeout_s > 0 ? o->worker_timeout_s : 10, metrics, err))) return st;
    ff_http_opts ho = {0};
    ho.listen = o->http;
    ho.token = token[0] ? token : NULL;
    ho.zmq_ctx = ctx;
    ho.coord_endpoint = inproc;
    ho.state_dir = o->state_dir;
    ho.metrics = *metrics;
    ho.log = o->log;
    st = ff_http_start(&ho, http, err);
    memset(token, 0, sizeof token);
    if (!st) st = write_endpoint(o->state_dir, "http", ff_http_url(*http), err);
    if (st) return st;
    FF_INFO(o->log, "status page at %s (%s)", ff_http_url(*http),
            o->http_token ? "actions with the token" : "read-only: no --http-token");
    return FF_OK;
}

ff_status ff_cserver_run(const ff_cserver_opts *o, ff_err *err) {
    size_t max_msg = o->max_message ? o->max_message : FF_WIRE_MAX_DEFAULT;
    char ep[512];
    int narrowed = 0;
    ff_status st = ff_cserver_bind_endpoint(o->bind, o->curve_secret != NULL, o->allow_insecure_remote, ep, sizeof ep,
                                            &narrowed, err);
    if (st) return st;
    if (narrowed)
        FF_WARN(o->log, "no CURVE keys: binding %s instead of %s (loopback only; --insecure binds every interface)", ep,
                o->bind);
    char secret[FF_NET_KEY_LEN + 1];
    if (o->curve_secret && (st = ff_net_key_load(o->curve_secret, secret, err))) return st;

    void *ctx = zmq_ctx_new(), *sock = NULL, *mon = NULL;
    ff_zap *zap = NULL;
    ff_http *http = NULL;
    ff_metrics *metrics = NULL;
    if (!ctx) return ff_err_set(err, FF_ERR_IO, "zmq_ctx_new: %s", zmq_strerror(errno));
    if (o->curve_allow) { /* before the socket: without a handler libzmq lets every key in */
        if (!o->curve_secret) {
            zmq_ctx_term(ctx);
            return ff_err_set(err, FF_ERR_ARG, "--curve-allow needs --curve-secret (it checks CURVE keys)");
        }
        if ((st = ff_zap_start(ctx, o->curve_allow, o->log, &zap, err))) {
            zmq_ctx_term(ctx);
            return st;
        }
        FF_INFO(o->log, "CURVE allow-list: %zu keys from %s", ff_zap_key_count(zap), o->curve_allow);
    }
    sock = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, zero = 0;
    int64_t guard = (int64_t)max_msg * 4 + 65536;
    if (!sock || zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &guard, sizeof guard)) {
        st = ff_err_set(err, FF_ERR_IO, "coordinator socket: %s", zmq_strerror(errno));
        goto done;
    }
    if (o->curve_secret) {
        st = ff_net_curve_server(sock, secret, err);
        memset(secret, 0, sizeof secret);
        if (st) goto done;
        if (zap && zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "framefarm", 9)) {
            st = ff_err_set(err, FF_ERR_IO, "coordinator socket: ZAP domain: %s", zmq_strerror(errno));
            goto done;
        }
    }
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://ff-coord-mon-%p", sock);
    if (zmq_socket_monitor(sock, mon_ep,
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0 &&
        (mon = zmq_socket(ctx, ZMQ_PAIR))) {
        zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_connect(mon, mon_ep)) {
            zmq_close(mon);
            mon = NULL;
        }
    }
    if (zmq_bind(sock, ep)) {
        st = ff_err_set(err, FF_ERR_IO, "binding %s: %s", ep, zmq_strerror(errno));
        goto done;
    }
    char bound[512];
    size_t bl = sizeof bound;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, bound, &bl)) snprintf(bound, sizeof bound, "%s", ep);
    send_ctx sc = {sock, o->log};
    ff_coord_opts co = {0};
    co.state_dir = o->state_dir;
    co.worker_timeout_s = o->worker_timeout_s;
    co.keep_chunks = o->keep_chunks;
    co.output_roots = o->output_roots;
    co.n_output_roots = o->n_output_roots;
    co.max_job_chunks = o->max_job_chunks;
    co.max_queued_chunks = o->max_queued_chunks;
    co.keep_jobs = o->keep_jobs;
    co.keep_age_s = o->keep_age_s;
    co.progress_timeout_s = o->progress_timeout_s;
    co.test_hold_assembly = o->test_hold_assembly;
    co.quarantine_after = o->quarantine_after;
    co.shared_dir = o->shared_dir;
    co.log = o->log;
    co.send = do_send;
    co.user = &sc;
    ff_coord *c = NULL;
    if ((st = ff_coord_open(&co, ff_now_s(), &c, err))) goto done;
    if ((st = write_endpoint(o->state_dir, "endpoint", bound, err))) {
        ff_coord_close(c);
        goto done;
    }
    if (o->http && (st = http_start(o, ctx, sock, &metrics, &http, err))) {
        ff_coord_close(c);
        goto done;
    }
    FF_INFO(o->log, "coordinator listening on %s%s, state in %s, messages up to %zu bytes", bound,
            o->curve_secret ? " (CURVE)" : "", o->state_dir, max_msg);
    double last_tick = 0;
    while (!(o->stop && *o->stop)) {
        zmq_pollitem_t items[2] = {{sock, 0, ZMQ_POLLIN, 0}, {mon, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, mon ? 2 : 1, 100);
        if (rc < 0) {
            if (errno == EINTR) continue;
            st = ff_err_set(err, FF_ERR_IO, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        if (mon && (items[1].revents & ZMQ_POLLIN)) drain_monitor(mon, o->log, metrics);
        int handled = 0;
        if (items[0].revents & ZMQ_POLLIN) {
            if ((st = ff_coord_begin(c, err))) break;
            for (int k = 0; k < 1000; k++) {
                ff_net_msg m;
                ff_err e2 = {0};
                ff_status rs = ff_net_recv(sock, 1, ZMQ_DONTWAIT, &m, &e2);
                if (rs == FF_ERR_NOT_FOUND) {
                    ff_net_msg_close(&m);
                    break;
                }
                char who[160];
                ff_net_rid_text(&m.rid, who, sizeof who);
                Ff__Envelope *env = NULL;
                Ff__Error__Code code = FF__ERROR__CODE__MALFORMED;
                if (!rs)
                    rs = ff_wire_unpack(zmq_msg_data(&m.payload), zmq_msg_size(&m.payload), max_msg, &env, &code, &e2);
                if (metrics)
                    ff_metrics_on_message(metrics, zmq_msg_data(&m.rid), zmq_msg_size(&m.rid), zmq_msg_size(&m.payload),
                                          rs ? NULL : env, ff_now_s());
                if (rs) {
                    FF_WARN(o->log, "refused a message from %s: %s", who, e2.msg);
                    ff_coord_note_refused(c);
                    reply_error(sock, &m.rid, code, e2.msg);
                } else {
                    ff_status hs = ff_coord_handle(c, zmq_msg_data(&m.rid), zmq_msg_size(&m.rid), env, ff_now_s(), &e2);
                    if (hs) FF_WARN(o->log, "handling a %s message from %s: %s", ff_wire_body_name(env->body_case), who, e2.msg);
                    ff_wire_free(env);
                }
                ff_net_msg_close(&m);
                handled++;
            }
            if ((st = ff_coord_commit(c, err))) break;
        }
        double t = ff_now_s();
        if (handled || t - last_tick >= 0.1) {
            if ((st = ff_coord_begin(c, err))) break;
            ff_status ts = ff_coord_tick(c, t, err);
            if ((st = ff_coord_commit(c, err))) break;
            if (ts) FF_WARN(o->log, "%s", err->msg);
            last_tick = t;
        }
        if (metrics && ff_metrics_counts_wanted(metrics)) publish_counts(c, metrics, ff_now_s());
    }
    ff_http_stop(http); /* before the socket and the context its requests use */
    http = NULL;
    ff_coord_stats s;
    ff_coord_get_stats(c, &s);
    FF_INFO(o->log, "coordinator stopping: %llu tasks dispatched, %llu completed, %llu re-queued, %llu messages refused",
            (unsigned long long)s.dispatched, (unsigned long long)s.completed, (unsigned long long)s.requeued,
            (unsigned long long)s.refused);
    ff_coord_close(c);
done:
    if (mon) {
        zmq_socket_monitor(sock, NULL, 0);
        zmq_close(mon);
    }
    if (sock) zmq_close(sock);
    ff_http_stop(http);
    ff_zap_stop(zap);
    zmq_ctx_term(ctx);
    ff_metrics_free(metrics);
    return st;
}
