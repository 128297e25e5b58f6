/* umt5: the older names of the T5-family encoder (models/t5.h), kept for the
 * Wan callers (pipeline/, cli/): ff_umt5_* is ff_t5_* with the big matrices
 * kept as stored (BF16 checkpoints stay BF16) and every weight placed on the
 * backend at load. A UMT5 config (model_type "umt5") gives the per-layer
 * relative position bias of UMT5EncoderModel; a T5 config is accepted too.
 *
 * Not here: anything new — use models/t5.h. */
#ifndef FF_UMT5_H
#define FF_UMT5_H

#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/t5.h"

typedef ff_t5_config ff_umt5_config;
typedef ff_t5 ff_umt5;

static inline ff_status ff_umt5_config_read(const char *path, ff_umt5_config *cfg, ff_err *err) {
    return ff_t5_config_read(path, cfg, err);
}
/* dir: the text_encoder folder (config.json + safetensors). */
static inline ff_status ff_umt5_load(ff_backend *be, const char *dir, ff_umt5 **out, ff_err *err) {
    return ff_t5_load(be, dir, FF_T5_AS_STORED, out, err);
}
static inline void ff_umt5_free(ff_umt5 *m) { ff_t5_free(m); }
static inline const ff_umt5_config *ff_umt5_get_config(const ff_umt5 *m) { return ff_t5_get_config(m); }
static inline ff_backend *ff_umt5_backend(const ff_umt5 *m) { return ff_t5_backend(m); }
static inline int64_t ff_umt5_bucket(const ff_umt5_config *cfg, int64_t rel) { return ff_t5_bucket(cfg, rel); }
/* last_hidden_state (see ff_t5_forward, without hooks). */
static inline ff_status ff_umt5_forward(ff_umt5 *m, const ff_tensor *ids, const ff_tensor *mask, ff_tensor *out,
                                        ff_err *err) {
    return ff_t5_forward(m, ids, mask, NULL, out, err);
}

#endif
