/* server (ff_cserver_*): the coordinator process — a ZeroMQ ROUTER socket
 * in front of the state machine in coord.h.
 *
 * Every message is framed and validated (ff_wire) before the state machine
 * sees it: an oversized, malformed or wrong-version message, or one with
 * the wrong number of frames, is answered with an ff.Error naming the
 * problem, logged with the peer's routing id, counted, and dropped; the
 * coordinator keeps serving. ZMQ_MAXMSGSIZE is set at four times the
 * message limit as a memory guard only (ZeroMQ drops such peers without
 * telling), so the limit itself is enforced here, with a reply.
 *
 * Security: with a CURVE secret key the socket is a CURVE server (clients
 * and workers need the coordinator's public key; handshake failures are
 * logged from the socket monitor). With curve_allow as well, only peers
 * whose public key is in that folder get in (coordinator/zap.h). Without keys, a wildcard bind
 * (tcp://\*:P, tcp://0.0.0.0:P) is narrowed to 127.0.0.1 unless
 * allow_insecure_remote is set, and any other non-loopback address is
 * refused.
 *
 * The endpoint actually bound (useful with a ":*" port) is written to
 * <state_dir>/endpoint once the socket listens.
 *
 * With http (coordinator --http ADDR:PORT) the status page, JSON API and
 * metrics of coordinator/http.h are served; their URL (useful with port 0)
 * is written to <state_dir>/http. The HTTP threads reach the state machine
 * only through an inproc endpoint bound on this same socket, so the loop
 * answers them like any client (http.h, "Threads"). */
#ifndef FF_SERVER_H
#define FF_SERVER_H

#include <signal.h>
#include <stddef.h>

#include "core/ff_err.h"
#include "core/ff_log.h"

typedef struct {
    const char *bind;            /* default tcp://127.0.0.1:5555 */
    const char *state_dir;
    const char *curve_secret;    /* path of the coordinator's .key; NULL: no CURVE */
    const char *curve_allow;     /* folder of allowed peers' public keys (*.pub); NULL: any key */
    const char *shared_dir;      /* results written there by workers are taken (coord.h); NULL: refused */
    int allow_insecure_remote;   /* bind beyond loopback without CURVE */
    size_t max_message;          /* bytes; 0: FF_WIRE_MAX_DEFAULT */
    double worker_timeout_s;     /* default 10 */
    int keep_chunks;
    const char *const *output_roots; /* coord.h (none: <state_dir>/outputs) */
    size_t n_output_roots;
    size_t max_job_chunks, max_queued_chunks, keep_jobs; /* coord.h; 0: defaults */
    double keep_age_s, progress_timeout_s;              /* coord.h; 0: defaults */
    int test_hold_assembly;      /* TEST MODE (coord.h) */
    int quarantine_after;        /* coord.h; 0: default, < 0: never */
    const char *http;            /* ADDR:PORT of the HTTP server (http.h); NULL: none */
    const char *http_token;      /* path of the token file that enables HTTP actions; NULL: read-only */
    const ff_log *log;
    const volatile sig_atomic_t *stop;
} ff_cserver_opts;

ff_status ff_cserver_run(const ff_cserver_opts *o, ff_err *err);

/* The bind endpoint after the loopback rule (exposed for tests). */
ff_status ff_cserver_bind_endpoint(const char *bind, int have_curve, int allow_insecure_remote, char *out, size_t n,
                                   int *narrowed, ff_err *err);

#endif
