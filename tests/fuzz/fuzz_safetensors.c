/* libFuzzer entry point for ff_st_open (clang only; not a ctest test).
 *
 *   cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DFRAMEFARM_FARM=OFF -DFRAMEFARM_CUDA=OFF
 *   cmake --build build-fuzz --target fuzz_safetensors
 *   build-fuzz/tests/fuzz_safetensors -max_total_time=60 corpus/
 *
 * The input becomes the bytes of a file (an anonymous memfd opened by its
 * /proc path, so nothing touches the disk). An accepted file must keep every
 * tensor inside the file, and every tensor must load. The deterministic
 * counterpart that runs in CI is tests/core/test_safetensors_fuzz.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/ff_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("ff_st_fuzz", MFD_CLOEXEC);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ff_err err = {0};
    ff_st_file *f;
    if (ff_st_open(path, &f, &err) == FF_OK) {
        for (size_t i = 0; i < ff_st_count(f); i++) {
            const ff_st_entry *e = ff_st_entry_at(f, i);
            if (e->offset > size || e->nbytes > size - e->offset) abort(); /* outside the file */
            ff_tensor t;
            if (ff_st_load(f, e->name, e->dtype, &t, &err) != FF_OK) abort();
            if (e->nbytes && memcmp(t.data, data + e->offset, e->nbytes) != 0) abort();
            ff_tensor_free(&t);
        }
        ff_st_close(f);
    } else if (!strstr(err.msg, path))
        abort(); /* every error names the file */
    close(fd);
    return 0;
}
