/* cmd_vae: placeholder until the VAE issue lands. */
#include <stdio.h>

#include "cli/cli.h"

int ff_cmd_vae(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "framefarm %s: not built yet (VAE issue)\n", argv[0]);
    return FF_EXIT_USAGE;
}
