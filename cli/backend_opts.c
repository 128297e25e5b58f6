/* cli/backend_opts: --backend and --device into one backend name (see the header). */
#include "cli/backend_opts.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ff_cli_backend_name(const char *backend, const char *device, char *buf, size_t n, char *why, size_t why_n) {
    if (!device) {
        int k = snprintf(buf, n, "%s", backend ? backend : "cpu");
        if (k >= 0 && (size_t)k < n) return 0;
        snprintf(why, why_n, "--backend %.64s: name too long", backend);
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long dev = strtol(device, &end, 10);
    if (device[0] < '0' || device[0] > '9' || !end || *end || errno || dev > INT_MAX) {
        snprintf(why, why_n, "--device %.64s: want a CUDA device ordinal (0, 1, ...)", device);
        return -1;
    }
    int k = snprintf(buf, n, "cuda:%ld", dev);
    if (k < 0 || (size_t)k >= n) {
        snprintf(why, why_n, "--device %.64s: name too long", device);
        return -1;
    }
    if (backend && strcmp(backend, "cuda") != 0 && strcmp(backend, buf) != 0) {
        snprintf(why, why_n, "--device %ld contradicts --backend %.64s (use --backend cuda or cuda:%ld)", dev, backend,
                 dev);
        return -1;
    }
    return 0;
}
