/* families: the registry of pipeline families — one line per family table
 * (pipeline/family_*.c). The only list of families in the code base. */
#include <stdio.h>
#include <string.h>

#include "pipeline/family.h"

extern const ff_family ff_family_wan;
extern const ff_family ff_family_wan_i2v;
extern const ff_family ff_family_cogvideox;
extern const ff_family ff_family_hunyuan;

static const ff_family *const families[] = {
    &ff_family_wan,
    &ff_family_wan_i2v,
    &ff_family_cogvideox,
    &ff_family_hunyuan,
    NULL,
};

const ff_family *const *ff_family_all(void) { return families; }

const ff_family *ff_family_find(const char *class_name) {
    for (int i = 0; class_name && families[i]; i++)
        if (!strcmp(families[i]->class_name, class_name)) return families[i];
    return NULL;
}

const ff_family *ff_family_find_tiny(const char *name) {
    for (int i = 0; name && families[i]; i++)
        if (families[i]->tiny && !strcmp(families[i]->tiny->name, name)) return families[i];
    return NULL;
}

const char *ff_family_supported(char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; families[i] && k < n; i++) {
        int w = snprintf(buf + k, n - k, "%s%s", i ? ", " : "", families[i]->class_name);
        if (w < 0) break;
        k += (size_t)w;
    }
    return buf;
}
