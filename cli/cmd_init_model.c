/* framefarm init-model NAME DIR [--force]
 * Writes an embedded smoke-test model (pipeline/tiny_model.h): a family's
 * tiny pipeline folder from its table ("tiny": Wan 2.1 layout) with seeded
 * random weights. Its videos are noise-like; it exists so that render, the
 * farm and mpirun work without downloading a model. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/family.h"
#include "pipeline/tiny_model.h"

static void usage(FILE *f) {
    fprintf(f, "usage: framefarm init-model NAME DIR [--force]\n"
               "  writes the embedded SMOKE-TEST model NAME (random weights: its videos are noise-like) to DIR;\n"
               "  --force rewrites a framefarm tiny model already there. NAME:");
    for (const ff_family *const *a = ff_family_all(); *a; a++)
        if ((*a)->tiny) fprintf(f, " %s (%s)", (*a)->tiny->name, (*a)->class_name);
    fprintf(f, "\n");
}

int ff_cmd_init_model(int argc, char **argv) {
    const char *kind = NULL, *dir = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force")) force = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return FF_EXIT_OK;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "framefarm init-model: unknown option '%s'\n", argv[i]);
            return FF_EXIT_USAGE;
        } else if (!kind) kind = argv[i];
        else if (!dir) dir = argv[i];
        else {
            usage(stderr);
            return FF_EXIT_USAGE;
        }
    }
    if (!kind || !dir) {
        usage(stderr);
        return FF_EXIT_USAGE;
    }
    const ff_family *fam = ff_family_find_tiny(kind);
    if (!fam) {
        fprintf(stderr, "framefarm init-model: unknown model '%s' (see framefarm init-model --help)\n", kind);
        return FF_EXIT_USAGE;
    }
    ff_err err = {0};
    ff_status st = ff_tiny_model_create(kind, dir, force, &err);
    if (st) {
        ff_cli_report("init-model", &err);
        return st == FF_ERR_ARG ? FF_EXIT_USAGE : FF_EXIT_FAIL;
    }
    printf("wrote the %s smoke-test model (%s, version %d; seeded random weights, its videos are noise-like) to %s\n",
           kind, fam->class_name, fam->tiny->version, dir);
    return FF_EXIT_OK;
}
