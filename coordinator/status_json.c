/* status_json: see status_json.h. */
#include "coordinator/status_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"

/* Fields written first, in this order, with their JSON key. */
typedef struct {
    const char *field, *key;
} lead_field;

typedef struct {
    const char *message; /* full .proto name */
    lead_field lead[5];
} lead_table;

static const lead_table LEADS[] = {
    {"ff.JobStatus", {{"job_id", "job"}, {"state", "state"}, {"name", "name"}}},
    {"ff.ChunkStatus", {{"chunk", "chunk"}, {"item", "item"}, {"state", "state"}, {"worker", "worker"}}},
    {"ff.WorkerStatus", {{"worker_id", "worker"}, {"state", "state"}}},
};

static const lead_table *leads_of(const ProtobufCMessageDescriptor *d) {
    for (size_t i = 0; i < sizeof LEADS / sizeof LEADS[0]; i++)
        if (!strcmp(LEADS[i].message, d->name)) return &LEADS[i];
    return NULL;
}

const char *ff_status_json_key(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *field) {
    const lead_table *t = leads_of(desc);
    for (size_t k = 0; t && k < sizeof t->lead / sizeof t->lead[0] && t->lead[k].field; k++)
        if (!strcmp(t->lead[k].field, field->name)) return t->lead[k].key;
    return field->name;
}

static void write_double(FILE *f, double v) {
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) { /* the shortest that reads back exactly */
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, f);
}

static void write_base64(FILE *f, const uint8_t *p, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputc('"', f);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(A[v >> 18 & 63], f);
        fputc(A[v >> 12 & 63], f);
        fputc(i + 1 < n ? A[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? A[v & 63] : '=', f);
    }
    fputc('"', f);
}

/* One value of field fd stored at p (an element, for repeated fields). */
static void write_value(FILE *f, const ProtobufCFieldDescriptor *fd, const void *p) {
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: fprintf(f, "%" PRId32, *(const int32_t *)p); break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: fprintf(f, "%" PRIu32, *(const uint32_t *)p); break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: fprintf(f, "%" PRId64, *(const int64_t *)p); break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: fprintf(f, "%" PRIu64, *(const uint64_t *)p); break;
    case PROTOBUF_C_TYPE_FLOAT: write_double(f, *(const float *)p); break;
    case PROTOBUF_C_TYPE_DOUBLE: write_double(f, *(const double *)p); break;
    case PROTOBUF_C_TYPE_BOOL: fputs(*(const protobuf_c_boolean *)p ? "true" : "false", f); break;
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, v);
        if (ev) ff_json_write_string(f, ev->name);
        else fprintf(f, "%d", v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        if (s) ff_json_write_string(f, s);
        else fputs("null", f);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        write_base64(f, b->data, b->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: ff_status_json_write(f, *(ProtobufCMessage *const *)p); break;
    }
}

static size_t value_size(const ProtobufCFieldDescriptor *fd) {
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT: return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

/* Writes field fd of m as "key": value; returns 0 when it is a oneof
 * member that is not set (nothing written). */
static int write_field(FILE *f, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd, int first) {
    const char *base = (const char *)m;
    const void *val = base + fd->offset;
    int present = 1;
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (*(const uint32_t *)(base + fd->quantifier_offset) != fd->id) return 0;
    } else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL) {
        if (fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_MESSAGE)
            present = *(void *const *)val != NULL;
        else
            present = *(const protobuf_c_boolean *)(base + fd->quantifier_offset) != 0;
    }
    if (!first) fputs(", ", f);
    ff_json_write_string(f, ff_status_json_key(m->descriptor, fd));
    fputs(": ", f);
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(const size_t *)(base + fd->quantifier_offset), sz = value_size(fd);
        const char *arr = *(const char *const *)val;
        fputc('[', f);
        for (size_t i = 0; i < n; i++) {
            if (i) fputs(", ", f);
            write_value(f, fd, arr + i * sz);
        }
        fputc(']', f);
    } else if (!present) {
        fputs("null", f);
    } else {
        write_value(f, fd, val);
    }
    return 1;
}

void ff_status_json_write(FILE *f, const ProtobufCMessage *m) {
    if (!m) {
        fputs("null", f);
        return;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const lead_table *t = leads_of(d);
    size_t nlead = 0;
    const ProtobufCFieldDescriptor *lead[5] = {0};
    for (size_t k = 0; t && k < sizeof t->lead / sizeof t->lead[0] && t->lead[k].field; k++) {
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(d, t->lead[k].field);
        if (fd) lead[nlead++] = fd;
    }
    int first = 1;
    fputc('{', f);
    for (size_t k = 0; k < nlead; k++)
        if (write_field(f, m, lead[k], first)) first = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        int is_lead = 0;
        for (size_t k = 0; k < nlead; k++) is_lead |= lead[k] == fd;
        if (!is_lead && write_field(f, m, fd, first)) first = 0;
    }
    fputc('}', f);
}
