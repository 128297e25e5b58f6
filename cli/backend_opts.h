/* cli/backend_opts: the backend choice shared by `framefarm golden` and
 * `framefarm render`: --backend cpu|cuda[:N] and --device N (the CUDA
 * ordinal after CUDA_VISIBLE_DEVICES, as the CUDA runtime counts). The
 * precision flag (--precision f32|bf16|bf16-all) parses with
 * ff_precision_parse (kernels/ops.h). Not here: creating the backend. */
#ifndef FF_CLI_BACKEND_OPTS_H
#define FF_CLI_BACKEND_OPTS_H

#include <stddef.h>

/* The backend name into buf: backend (NULL: "cpu") without device; with
 * device N, "cuda:N", allowed with backend NULL, "cuda" or "cuda:N". Returns
 * 0, or -1 with a one-line reason in why (N not an ordinal >= 0, or backend
 * names another device). */
int ff_cli_backend_name(const char *backend, const char *device, char *buf, size_t n, char *why, size_t why_n);

#endif
