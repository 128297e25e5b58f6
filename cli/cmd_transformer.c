/* cmd_transformer: placeholder until the Wan transformer issue lands. */
#include <stdio.h>

#include "cli/cli.h"

int ff_cmd_transformer(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "framefarm %s: not built yet (Wan transformer issue)\n", argv[0]);
    return FF_EXIT_USAGE;
}
