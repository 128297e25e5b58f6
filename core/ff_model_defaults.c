/* ff_model_defaults: see ff_model_defaults.h. */
#include "core/ff_model_defaults.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "core/ff_json.h"

void ff_model_defaults_read(const char *model, ff_model_defaults *d) {
    *d = (ff_model_defaults){480, 832, 81, 50, 16, 256, 256, 192, 192, 0, 5.0, ""};
    char path[4200];
    if (snprintf(path, sizeof path, "%s/model_index.json", model) >= (int)sizeof path) return;
    ff_json_doc *doc = NULL;
    if (ff_json_parse_file(path, &doc, NULL)) return;
    const ff_json *root = ff_json_root(doc), *o = ff_json_get(root, "_framefarm_defaults");
    const char *label = ff_json_get_string(root, "_framefarm_model");
    if (label) snprintf(d->label, sizeof d->label, "%s", label);
    struct {
        const char *key;
        int *dst;
    } ints[] = {{"height", &d->height},
                {"width", &d->width},
                {"num_frames", &d->frames},
                {"num_inference_steps", &d->steps},
                {"fps", &d->fps},
                {"tile_sample_min_height", &d->tile_min_h},
                {"tile_sample_min_width", &d->tile_min_w},
                {"tile_sample_stride_height", &d->tile_stride_h},
                {"tile_sample_stride_width", &d->tile_stride_w}};
    for (size_t i = 0; o && i < sizeof ints / sizeof ints[0]; i++) {
        int64_t v;
        if (!ff_json_get_int64(o, ints[i].key, *ints[i].dst, &v) && v >= 1 && v <= (1 << 20)) *ints[i].dst = (int)v;
    }
    d->has_tile = o && ff_json_get(o, "tile_sample_min_height") != NULL;
    double g;
    if (o && !ff_json_get_double(o, "guidance_scale", d->guidance, &g) && isfinite(g)) d->guidance = g;
    ff_json_free(doc);
}
