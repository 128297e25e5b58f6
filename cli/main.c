/* framefarm: the single binary; dispatches to the subcommands in cli/. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} subcommand;

static const subcommand subcommands[] = {
    {"render", ff_cmd_render, "prompt to video: render [--model DIR] --prompt TEXT --out FILE.mp4|FILE.y4m|DIR/ (render --help)"},
    {"init-model", ff_cmd_init_model, "init-model NAME DIR: write an embedded SMOKE-TEST model, e.g. tiny (random weights, noise-like videos)"},
    {"doctor", ff_cmd_doctor, "print version, backends, CUDA devices, cores, memory and library versions"},
    {"golden", ff_cmd_golden, "run golden cases against diffusers reference data: golden [--backend cpu|cuda] PATH..."},
    {"vae", ff_cmd_vae, "Wan VAE: vae decode|encode --model DIR --in X.safetensors --out Y.safetensors"},
    {"encode-prompt", ff_cmd_encode_prompt, "UMT5: encode-prompt --model DIR --prompt TEXT [--negative TEXT] --out E.safetensors"},
    {"plan", ff_cmd_plan, "memory plan: plan --model DIR --height H --width W --frames F --budget 8GiB [--dtype bf16|f32]"},
    {"transformer", ff_cmd_transformer, "Wan transformer forward: transformer --model DIR/transformer --in X --out Y"},
#if FF_BUILD_MPI
    {"mpi", ff_cmd_mpi, "one video across MPI ranks: mpirun -np N framefarm mpi [--vae-split time|space] JOB.json"},
#endif
#if FF_BUILD_FARM
    {"coordinator", ff_cmd_coordinator, "farm coordinator: coordinator [--bind tcp://*:5555] --state DIR [--curve-secret KEY]"},
    {"worker", ff_cmd_worker, "farm worker: worker --connect tcp://HOST:5555 [--device N] [--vram-budget 8G]"},
    {"submit", ff_cmd_submit, "submit a job to the farm: submit JOB.json [--wait] [--connect EP]"},
    {"status", ff_cmd_status, "farm jobs and chunks: status [JOB] [--json]"},
    {"cancel", ff_cmd_cancel, "cancel a farm job: cancel JOB"},
    {"workers", ff_cmd_workers, "the farm's workers: workers [--json] [--release ID]"},
    {"retry", ff_cmd_retry, "queue a farm job's failed and cancelled chunks again: retry JOB"},
    {"priority", ff_cmd_priority, "change a farm job's priority: priority JOB P (higher first)"},
    {"pause", ff_cmd_pause, "stop dispatching a farm job's chunks: pause JOB"},
    {"resume", ff_cmd_resume, "dispatch a paused farm job again: resume JOB"},
    {"logs", ff_cmd_logs, "a farm job's chunk logs (workers' lines included): logs JOB [CHUNK]"},
    {"keygen", ff_cmd_keygen, "CURVE key pair for the farm: keygen NAME (NAME.pub, NAME.key)"},
    {"farm", ff_cmd_farm, "coordinator + N local workers for one job: farm --workers N JOB.json"},
    {"slurm", ff_cmd_slurm, "Slurm batch scripts: slurm submit JOB.json --workers N | --mpi --ntasks N [--dry-run]"},
#endif
};

static void usage(FILE *f) {
    fprintf(f, "usage: framefarm <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].help);
    fprintf(f, "  %-10s %s\n", "version", "print the version");
}

static volatile sig_atomic_t stop_flag; /* the one signal flag: set by SIGINT/SIGTERM */

static void on_stop_signal(int sig) { stop_flag = sig; /* non-zero: which one (farm exits 128 + it) */ }

const volatile sig_atomic_t *ff_cli_catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &stop_flag;
}

void ff_cli_report(const char *cmd, const ff_err *err) {
    fprintf(stderr, "framefarm %s: %s\n", cmd, err->msg[0] ? err->msg : ff_status_name(err->code));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return FF_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return FF_EXIT_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("framefarm %s\n", FF_VERSION);
        return FF_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (!strcmp(cmd, subcommands[i].name)) return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "framefarm: unknown command '%s'\n", cmd);
    usage(stderr);
    return FF_EXIT_USAGE;
}
