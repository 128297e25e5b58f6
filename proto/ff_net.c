/* ff_net: see ff_net.h. */
#include "proto/ff_net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/ff_clock.h"
#include "proto/ff_wire.h"

ff_status ff_net_send(void *sock, const void *rid, size_t rid_len, Ff__Envelope *env, int flags, ff_err *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    ff_status st = ff_wire_pack(env, &buf, &len, err);
    if (st) return st;
    if (rid && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | flags) < 0) {
        int e = errno;
        free(buf);
        return ff_err_set(err, FF_ERR_IO, "sending %s: %s", ff_wire_body_name(env->body_case), zmq_strerror(e));
    }
    int rc = zmq_send(sock, buf, len, flags);
    int e = errno;
    free(buf);
    if (rc < 0) return ff_err_set(err, FF_ERR_IO, "sending %s: %s", ff_wire_body_name(env->body_case), zmq_strerror(e));
    return FF_OK;
}

void ff_net_msg_close(ff_net_msg *m) {
    zmq_msg_close(&m->rid);
    zmq_msg_close(&m->payload);
}

ff_status ff_net_recv(void *sock, int router, int flags, ff_net_msg *m, ff_err *err) {
    zmq_msg_init(&m->rid);
    zmq_msg_init(&m->payload);
    m->parts = 0;
    int want = router ? 2 : 1;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, m->parts == 0 ? flags : 0) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            if (e == EAGAIN && m->parts == 0) return ff_err_set(err, FF_ERR_NOT_FOUND, "no message waiting");
            return ff_err_set(err, FF_ERR_IO, "receiving: %s", zmq_strerror(e));
        }
        int more = zmq_msg_more(&part);
        m->parts++;
        if (router && m->parts == 1) zmq_msg_move(&m->rid, &part);
        else if (m->parts == want) zmq_msg_move(&m->payload, &part);
        zmq_msg_close(&part);
        if (!more) break;
    }
    if (m->parts != want)
        return ff_err_set(err, FF_ERR_FORMAT, "malformed message: %d frames (a framefarm message is one frame)",
                          m->parts - (router ? 1 : 0));
    return FF_OK;
}

const char *ff_net_rid_text(const zmq_msg_t *rid, char *buf, size_t n) {
    const unsigned char *p = zmq_msg_data((zmq_msg_t *)rid);
    size_t len = zmq_msg_size((zmq_msg_t *)rid);
    int printable = len > 0;
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x21 || p[i] > 0x7e) printable = 0;
    size_t o = 0;
    if (n == 0) return buf;
    buf[0] = 0;
    if (printable) {
        snprintf(buf, n, "%.*s", (int)(len > 64 ? 64 : len), (const char *)p);
        return buf;
    }
    for (size_t i = 0; i < len && o + 3 < n; i++) o += (size_t)snprintf(buf + o, n - o, "%02x", p[i]);
    return buf;
}

/* ---- CURVE ------------------------------------------------------------------ */

int ff_net_have_curve(void) { return zmq_has("curve"); }

static ff_status write_key(const char *path, const char *key, mode_t mode, ff_err *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) return ff_err_set(err, FF_ERR_IO, "%s: %s (refusing to overwrite a key)", path, strerror(errno));
    char line[FF_NET_KEY_LEN + 2];
    snprintf(line, sizeof line, "%s\n", key);
    ssize_t w = write(fd, line, strlen(line));
    int bad = w != (ssize_t)strlen(line);
    if (close(fd) != 0) bad = 1;
    if (bad) {
        unlink(path);
        return ff_err_set(err, FF_ERR_IO, "%s: write failed", path);
    }
    return FF_OK;
}

ff_status ff_net_keygen_files(const char *base, ff_err *err) {
    if (!ff_net_have_curve()) return ff_err_set(err, FF_ERR_UNSUPPORTED, "this libzmq was built without CURVE");
    char pub[FF_NET_KEY_LEN + 1], sec[FF_NET_KEY_LEN + 1], path[4200];
    if (zmq_curve_keypair(pub, sec)) return ff_err_set(err, FF_ERR_INTERNAL, "zmq_curve_keypair: %s", zmq_strerror(errno));
    if (snprintf(path, sizeof path, "%s.key", base) >= (int)sizeof path)
        return ff_err_set(err, FF_ERR_ARG, "key path too long");
    ff_status st = write_key(path, sec, 0600, err);
    memset(sec, 0, sizeof sec);
    if (st) return st;
    snprintf(path, sizeof path, "%s.pub", base);
    st = write_key(path, pub, 0644, err);
    if (st) {
        snprintf(path, sizeof path, "%s.key", base);
        unlink(path);
    }
    return st;
}

ff_status ff_net_key_load(const char *path, char key[FF_NET_KEY_LEN + 1], ff_err *err) {
    FILE *f = fopen(path, "r");
    if (!f) return ff_err_set(err, FF_ERR_IO, "CURVE key %s: %s", path, strerror(errno));
    char buf[128];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) buf[--n] = 0;
    if (n != FF_NET_KEY_LEN) return ff_err_set(err, FF_ERR_FORMAT, "CURVE key %s: expected %d Z85 characters, found %zu", path, FF_NET_KEY_LEN, n);
    uint8_t raw[32];
    if (!zmq_z85_decode(raw, buf)) return ff_err_set(err, FF_ERR_FORMAT, "CURVE key %s: not Z85 text", path);
    memcpy(key, buf, FF_NET_KEY_LEN + 1);
    return FF_OK;
}

ff_status ff_net_curve_server(void *sock, const char *secret_z85, ff_err *err) {
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_z85, FF_NET_KEY_LEN))
        return ff_err_set(err, FF_ERR_IO, "enabling CURVE on the server socket: %s", zmq_strerror(errno));
    return FF_OK;
}

ff_status ff_net_curve_client(void *sock, const char *server_pub, const char *client_pub, const char *client_sec,
                              ff_err *err) {
    char pub[FF_NET_KEY_LEN + 1], sec[FF_NET_KEY_LEN + 1];
    if (!client_pub || !client_sec) {
        if (zmq_curve_keypair(pub, sec)) return ff_err_set(err, FF_ERR_INTERNAL, "zmq_curve_keypair: %s", zmq_strerror(errno));
        client_pub = pub;
        client_sec = sec;
    }
    int rc = zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pub, FF_NET_KEY_LEN) ||
             zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, client_pub, FF_NET_KEY_LEN) ||
             zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, client_sec, FF_NET_KEY_LEN);
    memset(sec, 0, sizeof sec);
    if (rc) return ff_err_set(err, FF_ERR_IO, "enabling CURVE on the client socket: %s", zmq_strerror(errno));
    return FF_OK;
}

/* ---- clients ------------------------------------------------------------------ */

static ff_status client_keys(void *sock, const ff_net_client_opts *o, ff_err *err) {
    if (!o->server_key) return FF_OK;
    char spub[FF_NET_KEY_LEN + 1], cpub[FF_NET_KEY_LEN + 1], csec[FF_NET_KEY_LEN + 1], path[4200];
    ff_status st = ff_net_key_load(o->server_key, spub, err);
    if (st) return st;
    if (!o->client_key) return ff_net_curve_client(sock, spub, NULL, NULL, err);
    snprintf(path, sizeof path, "%s.pub", o->client_key);
    if ((st = ff_net_key_load(path, cpub, err))) return st;
    snprintf(path, sizeof path, "%s.key", o->client_key);
    if ((st = ff_net_key_load(path, csec, err))) return st;
    st = ff_net_curve_client(sock, spub, cpub, csec, err);
    memset(csec, 0, sizeof csec);
    return st;
}

int ff_net_monitor_next(void *mon, uint16_t *event, char *addr, size_t addr_n) {
    zmq_msg_t a, b;
    zmq_msg_init(&a);
    zmq_msg_init(&b);
    if (zmq_msg_recv(&a, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&a);
        zmq_msg_close(&b);
        return 0;
    }
    if (zmq_msg_more(&a)) zmq_msg_recv(&b, mon, 0);
    *event = 0;
    if (zmq_msg_size(&a) >= 6) memcpy(event, zmq_msg_data(&a), 2);
    if (addr_n) snprintf(addr, addr_n, "%.*s", (int)zmq_msg_size(&b), (const char *)zmq_msg_data(&b));
    zmq_msg_close(&a);
    zmq_msg_close(&b);
    return 1;
}

int ff_net_handshake_failed(uint16_t event) {
    return event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
           event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
}

/* Reads pending monitor events; returns a handshake failure description,
 * counts failures, and says whether the server refused our key (ZAP). */
static const char *monitor_failure(void *mon, int *failures, int *refused) {
    const char *why = NULL;
    uint16_t ev;
    while (ff_net_monitor_next(mon, &ev, NULL, 0))
        if (ff_net_handshake_failed(ev)) {
            ++*failures;
            if (ev != ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) *refused = 1; /* ZAP's no, or a protocol mismatch: final */
            why = ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                      ? "the coordinator refused this client's CURVE key (is its .pub in the coordinator's --curve-allow?)"
                      : "the connection was refused during the handshake (a CURVE key is missing or wrong)";
        }
    return why;
}

ff_status ff_net_request(void *ctx, const ff_net_client_opts *o, Ff__Envelope *req, Ff__Envelope **reply, ff_err *err) {
    *reply = NULL;
    void *sock = zmq_socket(ctx, ZMQ_DEALER), *mon = NULL;
    if (!sock) return ff_err_set(err, FF_ERR_IO, "zmq_socket: %s", zmq_strerror(errno));
    int zero = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    ff_status st = client_keys(sock, o, err);
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://ff-client-mon-%p", sock);
    if (!st && zmq_socket_monitor(sock, mon_ep,
                                  ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                      ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
        mon = zmq_socket(ctx, ZMQ_PAIR);
        if (mon) {
            zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero);
            if (zmq_connect(mon, mon_ep)) {
                zmq_close(mon);
                mon = NULL;
            }
        }
    }
    if (!st && zmq_connect(sock, o->endpoint))
        st = ff_err_set(err, FF_ERR_ARG, "connecting to '%s': %s", o->endpoint, zmq_strerror(errno));
    if (!st) st = ff_net_send(sock, NULL, 0, req, 0, err);
    int64_t deadline = ff_now_ms() + (o->timeout_ms > 0 ? o->timeout_ms : 10000);
    const char *handshake = NULL;
    int hs_failures = 0, hs_refused = 0;
    while (!st) {
        zmq_pollitem_t items[2] = {{sock, 0, ZMQ_POLLIN, 0}, {mon, 0, ZMQ_POLLIN, 0}};
        int64_t left = deadline - ff_now_ms();
        if (left <= 0) {
            st = ff_err_set(err, FF_ERR_IO, "no reply from %s within %d ms: %s", o->endpoint, o->timeout_ms,
                            handshake ? handshake : "is the coordinator running (and are the CURVE keys right)?");
            break;
        }
        int rc = zmq_poll(items, mon ? 2 : 1, (long)left);
        if (rc < 0) {
            if (errno == EINTR) continue;
            st = ff_err_set(err, FF_ERR_IO, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        if (mon && (items[1].revents & ZMQ_POLLIN)) {
            const char *why = monitor_failure(mon, &hs_failures, &hs_refused);
            if (why) handshake = why;
            if (hs_refused || hs_failures >= 3) { /* refused for good: no need to wait for the timeout */
                st = ff_err_set(err, FF_ERR_IO, "%s: %s", o->endpoint, handshake);
                break;
            }
        }
        if (!(items[0].revents & ZMQ_POLLIN)) continue;
        ff_net_msg m;
        st = ff_net_recv(sock, 0, 0, &m, err);
        if (!st) {
            Ff__Error__Code code;
            st = ff_wire_unpack(zmq_msg_data(&m.payload), zmq_msg_size(&m.payload),
                                o->max_reply ? o->max_reply : FF_WIRE_MAX_DEFAULT, reply, &code, err);
            if (st) ff_err_wrap(err, "reply from %s: ", o->endpoint);
        }
        ff_net_msg_close(&m);
        if (!st && (*reply)->body_case == FF__ENVELOPE__BODY_ERROR) {
            st = ff_err_set(err, FF_ERR_ARG, "%s refused the request (%s): %s", o->endpoint,
                            ff_wire_error_code_name((*reply)->error->code),
                            (*reply)->error->message ? (*reply)->error->message : "");
            ff_wire_free(*reply);
            *reply = NULL;
        }
        break;
    }
    if (mon) {
        zmq_socket_monitor(sock, NULL, 0);
        zmq_close(mon);
    }
    zmq_close(sock);
    return st;
}
