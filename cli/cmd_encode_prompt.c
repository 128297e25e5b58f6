/* cmd_encode_prompt: placeholder until the UMT5 text encoder issue lands. */
#include <stdio.h>

#include "cli/cli.h"

int ff_cmd_encode_prompt(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "framefarm %s: not built yet (UMT5 text encoder issue)\n", argv[0]);
    return FF_EXIT_USAGE;
}
