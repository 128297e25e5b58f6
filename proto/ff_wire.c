/* ff_wire: see ff_wire.h. */
#include "proto/ff_wire.h"

#include <stdlib.h>
#include <string.h>

#include "proto/ff_jobspec.h"

ff_status ff_wire_pack(Ff__Envelope *env, uint8_t **buf, size_t *len, ff_err *err) {
    env->has_version = 1;
    env->version = FF_PROTO_VERSION;
    size_t n = ff__envelope__get_packed_size(env);
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return ff_err_set(err, FF_ERR_NOMEM, "packing a %zu-byte %s message: out of memory", n,
                              ff_wire_body_name(env->body_case));
    size_t w = ff__envelope__pack(env, b);
    if (w != n) {
        free(b);
        return ff_err_set(err, FF_ERR_INTERNAL, "packing %s: wrote %zu of %zu bytes", ff_wire_body_name(env->body_case),
                          w, n);
    }
    *buf = b;
    *len = n;
    return FF_OK;
}

void ff_wire_free(Ff__Envelope *env) {
    if (env) ff__envelope__free_unpacked(env, NULL);
}

const char *ff_wire_body_name(Ff__Envelope__BodyCase c) {
    switch (c) {
    case FF__ENVELOPE__BODY_HEARTBEAT: return "heartbeat";
    case FF__ENVELOPE__BODY_TASK: return "task";
    case FF__ENVELOPE__BODY_PROGRESS: return "progress";
    case FF__ENVELOPE__BODY_FRAMES: return "frames";
    case FF__ENVELOPE__BODY_DONE: return "done";
    case FF__ENVELOPE__BODY_FAILED: return "failed";
    case FF__ENVELOPE__BODY_CANCEL: return "cancel";
    case FF__ENVELOPE__BODY_SUBMIT: return "submit";
    case FF__ENVELOPE__BODY_SUBMIT_REPLY: return "submit_reply";
    case FF__ENVELOPE__BODY_STATUS: return "status";
    case FF__ENVELOPE__BODY_STATUS_REPLY: return "status_reply";
    case FF__ENVELOPE__BODY_WORKERS: return "workers";
    case FF__ENVELOPE__BODY_WORKERS_REPLY: return "workers_reply";
    case FF__ENVELOPE__BODY_ERROR: return "error";
    case FF__ENVELOPE__BODY_CONTROL: return "control";
    case FF__ENVELOPE__BODY_LOGS: return "logs";
    case FF__ENVELOPE__BODY_LOGS_REPLY: return "logs_reply";
    case FF__ENVELOPE__BODY_RESULT_ACK: return "result_ack";
    default: return "none";
    }
}

const char *ff_wire_error_code_name(Ff__Error__Code c) {
    switch (c) {
    case FF__ERROR__CODE__VERSION: return "version";
    case FF__ERROR__CODE__MALFORMED: return "malformed";
    case FF__ERROR__CODE__OVERSIZED: return "oversized";
    case FF__ERROR__CODE__INVALID: return "invalid";
    case FF__ERROR__CODE__NOT_FOUND: return "not-found";
    default: return "error";
    }
}

int ff_wire_id_ok(const char *s) {
    if (!s) return 0;
    size_t n = strlen(s);
    if (n < 1 || n > FF_WIRE_MAX_ID) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                 c == ':' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

static int text_ok(const char *s, size_t max) { return !s || strlen(s) <= max; }

#define BAD(...) ff_err_set(err, FF_ERR_FORMAT, __VA_ARGS__)

ff_status ff_wire_validate(const Ff__Envelope *env, ff_err *err) {
    const char *what = ff_wire_body_name(env->body_case);
    switch (env->body_case) {
    case FF__ENVELOPE__BODY_HEARTBEAT: {
        const Ff__Heartbeat *h = env->heartbeat;
        if (!ff_wire_id_ok(h->worker_id)) return BAD("heartbeat: worker_id missing or not 1..%d of [A-Za-z0-9._:-]", FF_WIRE_MAX_ID);
        if (!text_ok(h->name, 256) || !text_ok(h->backend, 64) || !text_ok(h->loaded_model, FF_WIRE_MAX_TEXT))
            return BAD("heartbeat from %s: name/backend/loaded_model too long", h->worker_id);
        if (h->has_device_bytes && h->device_bytes < 0) return BAD("heartbeat from %s: negative device_bytes", h->worker_id);
        return FF_OK;
    }
    case FF__ENVELOPE__BODY_TASK: {
        const Ff__ChunkTask *t = env->task;
        if (!t->has_task_id || !t->task_id || !t->has_job_id || !t->has_chunk || !t->has_item || !t->has_lat_start ||
            !t->has_lat_count || !t->has_lat_total || !t->spec)
            return BAD("task: task_id, job_id, chunk, item, lat_start/count/total and spec are required");
        if (t->lat_start < 0 || t->lat_count < 1 || t->lat_total < 1 || t->lat_start > t->lat_total - t->lat_count)
            return BAD("task %llu: latent window [%d, +%d) outside 0..%d", (unsigned long long)t->task_id, t->lat_start,
                       t->lat_count, t->lat_total);
        ff_err se = {0};
        if (ff_jobspec_check(t->spec, &se)) return BAD("task %llu: %s", (unsigned long long)t->task_id, se.msg);
        if (t->item >= ff_jobspec_items(t->spec))
            return BAD("task %llu: item %u of a %zu-item job", (unsigned long long)t->task_id, t->item,
                       ff_jobspec_items(t->spec));
        if (t->lat_total != ff_jobspec_lat_total(t->spec))
            return BAD("task %llu: lat_total %d but %d frames have %d latent frames", (unsigned long long)t->task_id,
                       t->lat_total, t->spec->frames, ff_jobspec_lat_total(t->spec));
        return FF_OK;
    }
    case FF__ENVELOPE__BODY_PROGRESS: {
        const Ff__Progress *p = env->progress;
        if (!p->has_task_id || !p->task_id) return BAD("progress: task_id is required");
        if (p->stage < 0 || p->stage > 2 || p->done < 0 || p->total < 0 || p->done > p->total || p->total > 1000000000)
            return BAD("progress for task %llu: stage %d, %lld of %lld is impossible", (unsigned long long)p->task_id,
                       p->stage, (long long)p->done, (long long)p->total);
        return FF_OK;
    }
    case FF__ENVELOPE__BODY_FRAMES: {
        const Ff__ResultFrames *f = env->frames;
        if (!f->has_task_id || !f->task_id || !f->has_t0 || !f->has_count || !f->has_width || !f->has_height ||
            !f->has_rgb_zlib)
            return BAD("frames: task_id, t0, count, width, height and rgb_zlib are required");
        if (f->t0 < 0 || f->t0 > 1000000 || f->count < 1 || f->count > 4096 || f->width < 1 || f->width > 16384 ||
            f->height < 1 || f->height > 16384 || f->rgb_zlib.len < 1)
            return BAD("frames for task %llu: t0 %d, %d frames of %dx%d, %zu bytes is impossible",
                       (unsigned long long)f->task_id, f->t0, f->count, f->width, f->height, f->rgb_zlib.len);
        return FF_OK;
    }
    case FF__ENVELOPE__BODY_DONE: {
        const Ff__TaskDone *d = env->done;
        if (!d->has_task_id || !d->task_id || !d->has_frames || d->frames < 1 || d->frames > 1000000)
            return BAD("done: task_id and a positive frame count are required");
        if (d->shared_path) {
            if (!d->shared_path[0] || strlen(d->shared_path) > FF_WIRE_MAX_TEXT || d->shared_path[0] == '/' ||
                strstr(d->shared_path, ".."))
                return BAD("done for task %llu: shared_path must be a relative path without '..'",
                           (unsigned long long)d->task_id);
            if (!d->has_shared_size || !d->has_shared_crc32)
                return BAD("done for task %llu: shared_path needs shared_size and shared_crc32",
                           (unsigned long long)d->task_id);
        }
        if (!text_ok(d->log, FF_WIRE_MAX_LOG)) return BAD("done for task %llu: log too long", (unsigned long long)d->task_id);
        return FF_OK;
    }
    case FF__ENVELOPE__BODY_FAILED: {
        const Ff__TaskFailed *f = env->failed;
        if (!f->has_task_id || !f->task_id) return BAD("failed: task_id is required");
        if (!text_ok(f->message, FF_WIRE_MAX_TEXT) || !text_ok(f->log, FF_WIRE_MAX_LOG))
            return BAD("failed for task %llu: message or log too long", (unsigned long long)f->task_id);
        return FF_OK;
    }
    case FF__ENVELOPE__BODY_CANCEL:
        if (!(env->cancel->has_job_id && env->cancel->job_id) && !(env->cancel->has_task_id && env->cancel->task_id))
            return BAD("cancel: a job_id or task_id is required");
        return FF_OK;
    case FF__ENVELOPE__BODY_SUBMIT:
        if (!env->submit->spec) return BAD("submit: no job spec");
        return FF_OK;
    case FF__ENVELOPE__BODY_SUBMIT_REPLY:
        if (!env->submit_reply->has_job_id) return BAD("submit_reply: no job_id");
        return FF_OK;
    case FF__ENVELOPE__BODY_ERROR:
        if (!text_ok(env->error->message, FF_WIRE_MAX_TEXT)) return BAD("error: message too long");
        return FF_OK;
    case FF__ENVELOPE__BODY_STATUS:
    case FF__ENVELOPE__BODY_STATUS_REPLY:
    case FF__ENVELOPE__BODY_WORKERS_REPLY:
        return FF_OK;
    case FF__ENVELOPE__BODY_WORKERS:
        if (env->workers->release && !ff_wire_id_ok(env->workers->release))
            return BAD("workers: release needs a worker id of 1..%d of [A-Za-z0-9._:-]", FF_WIRE_MAX_ID);
        return FF_OK;
    case FF__ENVELOPE__BODY_CONTROL: {
        const Ff__JobControl *k = env->control;
        if (!k->has_job_id || !k->job_id || !k->has_op || k->op == FF__JOB_CONTROL__OP__NONE)
            return BAD("control: an op and a job_id are required");
        if (k->op == FF__JOB_CONTROL__OP__PRIORITY && !k->has_priority) return BAD("control: priority needs a value");
        return FF_OK;
    }
    case FF__ENVELOPE__BODY_LOGS:
        if (!env->logs->has_job_id || !env->logs->job_id) return BAD("logs: a job_id is required");
        return FF_OK;
    case FF__ENVELOPE__BODY_LOGS_REPLY:
        if (!text_ok(env->logs_reply->text, FF_WIRE_MAX_LOG)) return BAD("logs_reply: text too long");
        return FF_OK;
    case FF__ENVELOPE__BODY_RESULT_ACK:
        if (!env->result_ack->has_task_id || !env->result_ack->task_id) return BAD("result_ack: task_id is required");
        return FF_OK;
    default: return BAD("message without a body (%s)", what);
    }
}

/* The first field this version's .proto does not have, anywhere in m
 * (0: none). protobuf-c keeps such fields and packs them back, and some of
 * them (an overlong field 0) it accepts but then cannot read back: a spec
 * carrying one would be accepted and could not be copied or stored. */
static uint32_t unknown_field(const ProtobufCMessage *m, int depth) {
    if (!m || depth > 8) return 0;
    if (m->n_unknown_fields) return m->unknown_fields[0].tag ? m->unknown_fields[0].tag : UINT32_MAX;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        uint32_t u = 0;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t k = 0; k < n && !u; k++) u = unknown_field(arr[k], depth + 1);
        } else {
            if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)(base + f->quantifier_offset) != f->id)
                continue;
            u = unknown_field(*(ProtobufCMessage *const *)(base + f->offset), depth + 1);
        }
        if (u) return u;
    }
    return 0;
}

ff_status ff_wire_unpack(const uint8_t *buf, size_t len, size_t max_bytes, Ff__Envelope **env, Ff__Error__Code *code,
                         ff_err *err) {
    Ff__Error__Code dummy;
    if (!code) code = &dummy;
    *env = NULL;
    if (max_bytes && len > max_bytes) {
        *code = FF__ERROR__CODE__OVERSIZED;
        return ff_err_set(err, FF_ERR_FORMAT, "message of %zu bytes is over the limit of %zu bytes", len, max_bytes);
    }
    if (len == 0) {
        *code = FF__ERROR__CODE__MALFORMED;
        return ff_err_set(err, FF_ERR_FORMAT, "empty message");
    }
    Ff__Envelope *e = ff__envelope__unpack(NULL, len, buf);
    if (!e) {
        *code = FF__ERROR__CODE__MALFORMED;
        return ff_err_set(err, FF_ERR_FORMAT, "malformed message (%zu bytes): not a framefarm protocol envelope", len);
    }
    if (!e->has_version || e->version != FF_PROTO_VERSION) {
        *code = FF__ERROR__CODE__VERSION;
        if (e->has_version)
            ff_err_set(err, FF_ERR_FORMAT, "protocol version %u is not supported (this side speaks version %u)",
                       e->version, FF_PROTO_VERSION);
        else
            ff_err_set(err, FF_ERR_FORMAT, "message without a protocol version (this side speaks version %u)",
                       FF_PROTO_VERSION);
        ff__envelope__free_unpacked(e, NULL);
        return FF_ERR_FORMAT;
    }
    if (e->body_case == FF__ENVELOPE__BODY__NOT_SET) {
        *code = FF__ERROR__CODE__MALFORMED;
        ff__envelope__free_unpacked(e, NULL);
        return ff_err_set(err, FF_ERR_FORMAT, "malformed message (%zu bytes): envelope without a body", len);
    }
    uint32_t unknown = unknown_field(&e->base, 0);
    if (unknown) { /* peers of one version never send fields it does not have */
        const char *what = ff_wire_body_name(e->body_case);
        *code = FF__ERROR__CODE__MALFORMED;
        ff__envelope__free_unpacked(e, NULL);
        return ff_err_set(err, FF_ERR_FORMAT, "malformed %s message: field %u is not in protocol version %u", what,
                          unknown == UINT32_MAX ? 0 : unknown, FF_PROTO_VERSION);
    }
    ff_status st = ff_wire_validate(e, err);
    if (st) {
        *code = FF__ERROR__CODE__INVALID;
        ff__envelope__free_unpacked(e, NULL);
        return st;
    }
    *env = e;
    return FF_OK;
}
