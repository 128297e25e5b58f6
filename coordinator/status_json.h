/* status_json (ff_status_json_*): the one JSON form of the coordinator's
 * status replies, shared by `framefarm status --json` / `workers --json`
 * and the HTTP API (/api/jobs, /api/jobs/ID, /api/workers: http.h).
 *
 * It writes any protobuf-c message by walking its descriptor, so a field
 * added to proto/framefarm.proto appears in every JSON output at once:
 *  - keys are the .proto field names, in field-number order, except that
 *    a few lead fields come first and two are renamed for the documented
 *    form (and the scripts that read it): JobStatus {"job" (job_id),
 *    "state", "name", ...}, ChunkStatus {"chunk", "item", "state",
 *    "worker", ...}, WorkerStatus {"worker" (worker_id), "state", ...};
 *  - an optional field that is not set is null (a string, a message, a
 *    scalar whose has_ flag is 0); repeated fields are arrays; enums are
 *    their value names; bytes are base64; doubles and floats are written
 *    with the fewest digits that read back to the same value (not-finite:
 *    null); 64-bit integers are plain numbers;
 *  - of a oneof, only the member that is set is written;
 *  - one object on one line: {"key": value, "key": value} (", " and ": "
 *    separators, no trailing newline).
 *
 * Not here: which messages a request gets (coord.c), HTTP (http.c). */
#ifndef FF_STATUS_JSON_H
#define FF_STATUS_JSON_H

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

/* Writes msg (NULL: null) as one JSON object to f. */
void ff_status_json_write(FILE *f, const ProtobufCMessage *msg);

/* The JSON key of a field of desc (the lead renames above; else the field
 * name). */
const char *ff_status_json_key(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *field);

#endif
