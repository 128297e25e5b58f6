/* libFuzzer entry point for the wire protocol (clang only; not a ctest
 * test; scripts/test.sh runs it for a bounded time on tests/fuzz/corpus/
 * fuzz_wire). The input is one message as a coordinator or a worker
 * receives it: ff_wire_unpack must accept it (and then the envelope passes
 * validation again, packs, and what it packs into is accepted too) or
 * refuse it with FF_ERR_FORMAT and an ff.Error code. A job
 * spec it carries goes where the coordinator takes it: clone, normalise,
 * item outputs. The deterministic counterpart in CI's ctest run is
 * tests/farm/test_wire_fuzz.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ff_jobspec.h"
#include "proto/ff_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void take_spec(const Ff__JobSpec *spec) {
    Ff__JobSpec *s = NULL;
    ff_err err = {0};
    if (ff_jobspec_clone(spec, &s, &err)) return;
    if (!ff_jobspec_normalize(s, &err)) {
        if (ff_jobspec_check(s, &err)) abort(); /* normalised specs stay valid */
        char out[4200];
        size_t items = ff_jobspec_items(s);
        if (items < 1) abort();
        (void)ff_jobspec_item_output(s, 0, out, sizeof out, &err);
        (void)ff_jobspec_item_output(s, items - 1, out, sizeof out, &err);
        const char *p, *n;
        uint64_t seed;
        ff_jobspec_item(s, items - 1, &p, &n, &seed);
        if (!p || !n) abort();
    }
    ff_jobspec_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Ff__Envelope *e = NULL;
    Ff__Error__Code code = FF__ERROR__CODE__UNKNOWN;
    ff_err err = {0};
    ff_status st = ff_wire_unpack(data, size, FF_WIRE_MAX_DEFAULT, &e, &code, &err);
    if (st) {
        if (st != FF_ERR_FORMAT || e || !err.msg[0]) abort();
        return 0;
    }
    if (ff_wire_validate(e, &err)) abort();
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (ff_wire_pack(e, &b1, &n1, &err)) abort();
    Ff__Envelope *again = NULL;
    if (ff_wire_unpack(b1, n1, 0, &again, NULL, &err)) { /* what we send, we take */
        fprintf(stderr, "re-packed %s refused: %s\n", ff_wire_body_name(e->body_case), err.msg);
        abort();
    }
    if (ff_wire_pack(again, &b2, &n2, &err)) abort(); /* (bytes may differ: protobuf-c re-encodes unknown fields) */
    if (e->body_case == FF__ENVELOPE__BODY_SUBMIT) take_spec(e->submit->spec);
    if (e->body_case == FF__ENVELOPE__BODY_TASK) take_spec(e->task->spec);
    free(b1);
    free(b2);
    ff_wire_free(again);
    ff_wire_free(e);
    return 0;
}
