/* ff_wire (ff_wire_*): framing and validation of framefarm protocol
 * messages (proto/framefarm.proto, compiled by protoc-c at build time).
 *
 * A message on the wire is one packed ff.Envelope: the last (for a DEALER,
 * only) frame of a ZeroMQ multipart message; a ROUTER socket sees
 * [routing id, payload]. This module works on bytes only, never on sockets
 * (ff_net does the ZeroMQ side), so hostile input can be fuzzed directly.
 *
 * ff_wire_unpack refuses, with a message naming the reason and an
 * ff.Error code to send back:
 *  - OVERSIZED: more than max_bytes (checked before anything is parsed);
 *  - MALFORMED: not a protocol buffer Envelope, no body, or a field this
 *               protocol version does not have (peers of one version never
 *               send one; protobuf-c would keep it, and reads some of them
 *               back differently);
 *  - VERSION:   version missing or not FF_PROTO_VERSION (both named);
 *  - INVALID:   a body whose fields are missing or out of range (task ids,
 *               frame counts, sizes, string lengths; a job spec must pass
 *               ff_jobspec_check when it travels inside a task).
 * A refused message never reaches the coordinator's state.
 *
 * Not here: which peer may send which body (the coordinator decides), job
 * spec defaults (ff_jobspec_normalize). */
#ifndef FF_WIRE_H
#define FF_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "framefarm.pb-c.h"

#define FF_PROTO_VERSION 1u
/* Default cap on one message (a chunk's frames travel in pieces below it). */
#define FF_WIRE_MAX_DEFAULT ((size_t)64 << 20)
#define FF_WIRE_MAX_ID 64          /* worker ids */
#define FF_WIRE_MAX_TEXT 4096      /* messages, paths, names */
#define FF_WIRE_MAX_LOG (1u << 20) /* a failed task's log */
/* Decompressed bytes of one ResultFrames message: at most this, or one
 * frame when a frame is larger (a worker splits what it decoded into
 * messages below it; a coordinator refuses more, so that checking one
 * message's frames stays a short, bounded piece of work). */
#define FF_WIRE_MAX_FRAMES_RAW ((size_t)64 << 20)

/* Sets env->version to FF_PROTO_VERSION and packs it into a malloc'd
 * buffer (*buf owned by the caller). */
ff_status ff_wire_pack(Ff__Envelope *env, uint8_t **buf, size_t *len, ff_err *err);

/* Parses and validates len bytes. On FF_OK *env is owned by the caller
 * (ff_wire_free); otherwise *code (may be NULL) says which ff.Error to
 * reply with and err says why. */
ff_status ff_wire_unpack(const uint8_t *buf, size_t len, size_t max_bytes, Ff__Envelope **env,
                         Ff__Error__Code *code, ff_err *err);
void ff_wire_free(Ff__Envelope *env);

/* Field checks of an unpacked envelope (ff_wire_unpack calls it). */
ff_status ff_wire_validate(const Ff__Envelope *env, ff_err *err);

/* "heartbeat", "task", ... ("none" when no body is set). */
const char *ff_wire_body_name(Ff__Envelope__BodyCase c);
const char *ff_wire_error_code_name(Ff__Error__Code c);

/* 1 when s is a usable worker id: 1..FF_WIRE_MAX_ID of [A-Za-z0-9._:-]. */
int ff_wire_id_ok(const char *s);

#endif
