/* zap: see zap.h. */
#include "coordinator/zap.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "proto/ff_net.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

struct ff_zap {
    void *sock;          /* REP, bound to ZAP_ENDPOINT; used by the thread only once started */
    const ff_log *log;
    char dir[1024];
    uint8_t (*keys)[32]; /* allowed public keys, binary */
    size_t n_keys;
    pthread_t th;
    int started;
    atomic_int stop;
};

static ff_status load_keys(ff_zap *z, const char *dir, ff_err *err) {
    DIR *d = opendir(dir);
    if (!d) return ff_err_set(err, FF_ERR_NOT_FOUND, "--curve-allow %s: %s", dir, strerror(errno));
    ff_status st = FF_OK;
    size_t cap = 0;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".pub") || e->d_name[0] == '.') continue;
        char path[4200], z85[FF_NET_KEY_LEN + 1];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
            st = ff_err_set(err, FF_ERR_ARG, "--curve-allow: path too long in %s", dir);
            break;
        }
        if ((st = ff_net_key_load(path, z85, err))) break;
        if (z->n_keys == cap) {
            size_t nc = cap ? cap * 2 : 16;
            uint8_t(*nk)[32] = realloc(z->keys, nc * sizeof *nk);
            if (!nk) {
                st = ff_err_set(err, FF_ERR_NOMEM, "--curve-allow: out of memory");
                break;
            }
            z->keys = nk;
            cap = nc;
        }
        if (!zmq_z85_decode(z->keys[z->n_keys], z85)) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: not a Z85 CURVE public key", path);
            break;
        }
        z->n_keys++;
    }
    closedir(d);
    if (!st && !z->n_keys)
        st = ff_err_set(err, FF_ERR_NOT_FOUND, "--curve-allow %s: no public keys (*.pub) in it: nobody could connect", dir);
    return st;
}

static int allowed(const ff_zap *z, const uint8_t *key) {
    for (size_t i = 0; i < z->n_keys; i++)
        if (!memcmp(z->keys[i], key, 32)) return 1;
    return 0;
}

/* One request: [version, request id, domain, address, identity, mechanism, credentials...]. */
static void handle(ff_zap *z) {
    zmq_msg_t part[8];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->sock, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < 8) part[n++] = m;
        else zmq_msg_close(&m);
    }
    if (n < 6) { /* not a ZAP request: nothing sensible to answer on a REP that got a partial message */
        for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
        return;
    }
    char mech[16] = "", addr[64] = "", key_z85[FF_NET_KEY_LEN + 1] = "?";
    size_t ml = zmq_msg_size(&part[5]), al = zmq_msg_size(&part[3]);
    memcpy(mech, zmq_msg_data(&part[5]), ml < sizeof mech - 1 ? ml : sizeof mech - 1);
    memcpy(addr, zmq_msg_data(&part[3]), al < sizeof addr - 1 ? al : sizeof addr - 1);
    int ok = 0;
    if (!strcmp(mech, "CURVE") && n >= 7 && zmq_msg_size(&part[6]) == 32) {
        const uint8_t *key = zmq_msg_data(&part[6]);
        ok = allowed(z, key);
        zmq_z85_encode(key_z85, key, 32);
    }
    if (ok) FF_DEBUG(z->log, "CURVE key %s from %s is allowed", key_z85, addr);
    else FF_WARN(z->log, "refused a %s peer from %s: key %s is not in --curve-allow %s", mech, addr, key_z85, z->dir);
    const char *code = ok ? "200" : "400", *text = ok ? "OK" : "key not allowed";
    zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(z->sock, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
    zmq_send(z->sock, code, 3, ZMQ_SNDMORE);
    zmq_send(z->sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(z->sock, ok ? key_z85 : "", ok ? FF_NET_KEY_LEN : 0, ZMQ_SNDMORE); /* user id */
    zmq_send(z->sock, "", 0, 0);                                               /* metadata */
    for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
}

static void *zap_main(void *arg) {
    ff_zap *z = arg;
    while (!atomic_load(&z->stop)) {
        zmq_pollitem_t it = {z->sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, 100);
        if (rc < 0) {
            if (errno == EINTR) continue;
            break; /* ETERM */
        }
        if (rc > 0) handle(z);
    }
    return NULL;
}

ff_status ff_zap_start(void *ctx, const char *allow_dir, const ff_log *log, ff_zap **out, ff_err *err) {
    ff_zap *z = calloc(1, sizeof *z);
    if (!z) return ff_err_set(err, FF_ERR_NOMEM, "--curve-allow: out of memory");
    z->log = log;
    atomic_init(&z->stop, 0);
    snprintf(z->dir, sizeof z->dir, "%s", allow_dir);
    ff_status st = load_keys(z, allow_dir, err);
    int zero = 0;
    if (!st && (!(z->sock = zmq_socket(ctx, ZMQ_REP)) || zmq_setsockopt(z->sock, ZMQ_LINGER, &zero, sizeof zero) ||
                zmq_bind(z->sock, ZAP_ENDPOINT)))
        st = ff_err_set(err, FF_ERR_IO, "ZAP handler (%s): %s", ZAP_ENDPOINT, zmq_strerror(errno));
    if (!st && pthread_create(&z->th, NULL, zap_main, z))
        st = ff_err_set(err, FF_ERR_INTERNAL, "ZAP handler: cannot start its thread");
    if (st) {
        ff_zap_stop(z);
        return st;
    }
    z->started = 1;
    *out = z;
    return FF_OK;
}

size_t ff_zap_key_count(const ff_zap *z) { return z->n_keys; }

void ff_zap_stop(ff_zap *z) {
    if (!z) return;
    atomic_store(&z->stop, 1);
    if (z->started) pthread_join(z->th, NULL);
    if (z->sock) zmq_close(z->sock);
    free(z->keys);
    free(z);
}
