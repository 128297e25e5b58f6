/* zap (ff_zap_*): the coordinator's CURVE allow-list — a ZeroMQ ZAP
 * handler (RFC 27, inproc://zeromq.zap.01) on a thread of its own that
 * accepts a CURVE peer only when its public key is one of the *.pub files
 * (Z85, `framefarm keygen`) of a folder, read once at start. A refused peer
 * (a worker or client that has the coordinator's public key but a key pair
 * that is not listed) fails the handshake (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
 * on both sides) and is logged with its key and address.
 *
 * Not here: CURVE itself (proto/ff_net.h), the socket (server.c), which
 * must be a CURVE server created in the same context after ff_zap_start
 * (libzmq lets everyone in when no handler is bound).
 *
 * Ownership: ff_zap_start returns an owned handler; ff_zap_stop stops the
 * thread, closes its socket and frees it — before zmq_ctx_term. */
#ifndef FF_ZAP_H
#define FF_ZAP_H

#include <stddef.h>

#include "core/ff_err.h"
#include "core/ff_log.h"

typedef struct ff_zap ff_zap;

/* Loads the keys of allow_dir (FF_ERR_NOT_FOUND when it has no readable
 * *.pub; FF_ERR_FORMAT naming the file for a bad key), binds the ZAP
 * endpoint in ctx and starts the thread. log may be NULL. */
ff_status ff_zap_start(void *ctx, const char *allow_dir, const ff_log *log, ff_zap **out, ff_err *err);
size_t ff_zap_key_count(const ff_zap *z);
void ff_zap_stop(ff_zap *z); /* NULL is a no-op */

#endif
