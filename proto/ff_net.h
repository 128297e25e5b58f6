/* ff_net (ff_net_*): the ZeroMQ side of the protocol — sending and
 * receiving ff_wire envelopes, CURVE keys, and the one-shot request a client
 * makes (framefarm submit/status/cancel/workers).
 *
 * Framing: a DEALER sends [payload]; a ROUTER sees [routing id, payload]
 * and answers [routing id, payload]. Any other frame count is refused as
 * malformed (and every part is drained first, so the socket stays usable).
 *
 * CURVE keys are Z85 text files of 40 characters: NAME.pub (public) and
 * NAME.key (secret, mode 0600), written by ff_net_keygen_files
 * (`framefarm keygen NAME`). A server needs its secret key; a client needs
 * the server's public key and a key pair of its own (an ephemeral one when
 * it has none). Without keys nothing is encrypted.
 *
 * Ownership: sockets and contexts belong to the caller; received payloads
 * live in a zmq_msg_t the caller closes (ff_net_msg_close). */
#ifndef FF_NET_H
#define FF_NET_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "core/ff_err.h"
#include "framefarm.pb-c.h"

#define FF_NET_KEY_LEN 40 /* Z85 characters of a CURVE key */

typedef struct {
    zmq_msg_t rid;     /* ROUTER only: the peer's routing id */
    zmq_msg_t payload; /* the packed envelope */
    int parts;         /* frames received */
} ff_net_msg;

/* Sends env (packed by ff_wire_pack) to rid (NULL on a DEALER). flags: 0 or
 * ZMQ_DONTWAIT. */
ff_status ff_net_send(void *sock, const void *rid, size_t rid_len, Ff__Envelope *env, int flags, ff_err *err);
/* Receives one whole multipart message (blocking unless flags has
 * ZMQ_DONTWAIT: then FF_ERR_NOT_FOUND when none is waiting). router: 1
 * when sock is a ROUTER (expects 2 parts) else 1 part. A wrong number of
 * parts is FF_ERR_FORMAT (m->rid still holds the sender when known). On any
 * return m must be closed with ff_net_msg_close. */
ff_status ff_net_recv(void *sock, int router, int flags, ff_net_msg *m, ff_err *err);
void ff_net_msg_close(ff_net_msg *m);

/* Routing id as printable text (hex when not printable) into buf. */
const char *ff_net_rid_text(const zmq_msg_t *rid, char *buf, size_t n);

/* ---- CURVE ----------------------------------------------------------------- */

ff_status ff_net_keygen_files(const char *base, ff_err *err);
/* Reads a 40-character Z85 key from path (trailing whitespace allowed). */
ff_status ff_net_key_load(const char *path, char key[FF_NET_KEY_LEN + 1], ff_err *err);
ff_status ff_net_curve_server(void *sock, const char *secret_z85, ff_err *err);
/* client_pub/client_sec may be NULL: an ephemeral key pair is made. */
ff_status ff_net_curve_client(void *sock, const char *server_pub, const char *client_pub, const char *client_sec,
                              ff_err *err);
/* 1 when this libzmq supports CURVE. */
int ff_net_have_curve(void);

/* ---- clients ------------------------------------------------------------------ */

typedef struct {
    const char *endpoint;    /* tcp://host:port */
    const char *server_key;  /* path of the coordinator's .pub; NULL: no CURVE */
    const char *client_key;  /* base path of our own key pair (NAME.pub/.key); NULL: ephemeral */
    int timeout_ms;          /* for the whole request */
    size_t max_reply;        /* bytes (0 = FF_WIRE_MAX_DEFAULT) */
} ff_net_client_opts;

/* Connects, sends req and waits for one reply. An ff.Error reply becomes
 * FF_ERR_ARG (the server refused: its message) and *reply stays NULL; no
 * reply in time is FF_ERR_IO ("no reply from ... within N ms"), with the
 * CURVE handshake failure named when the socket monitor saw one. */
/* One pending event of a zmq_socket_monitor socket (never blocks): 1 and
 * the event number (and the peer address, into addr when addr_n > 0), 0 when
 * none is pending. The coordinator's log and the clients' errors both read
 * their monitors with it. */
int ff_net_monitor_next(void *mon, uint16_t *event, char *addr, size_t addr_n);
/* 1 for the ZMQ_EVENT_HANDSHAKE_FAILED_* events (a CURVE key missing or wrong). */
int ff_net_handshake_failed(uint16_t event);

ff_status ff_net_request(void *ctx, const ff_net_client_opts *o, Ff__Envelope *req, Ff__Envelope **reply, ff_err *err);

#endif
