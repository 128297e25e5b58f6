/* worker (ff_worker_*): the worker process — a DEALER socket to the
 * coordinator, heartbeats, and one render thread.
 *
 * The network thread (the caller's) sends a heartbeat every heartbeat_s
 * (worker id, name, backend, device memory, the task it holds, the model it
 * has loaded), passes each task it is given to the render thread, forwards
 * what the render thread produces (progress per step, compressed frames as
 * they are decoded, then done or failed) and flags a cancel. The worker id
 * ("w-" + 16 random hex digits) is also the socket's routing id, so a
 * restarted coordinator recognises the worker when it reconnects (ZeroMQ
 * reconnects by itself).
 *
 * Shared output directory (shared_dir): instead of streaming compressed
 * frames in ResultFrames, the worker writes each task's frames as a chunk
 * frames file (coordinator/assemble.h format) under a temporary name in
 * shared_dir, syncs it, renames it to "j<job>-c<chunk>-<task>.frames" and
 * sends only that name with the file's size and zlib crc32 in TaskDone; the
 * coordinator (started with the same directory as its --shared-dir) checks
 * and takes it. A task that fails leaves no file behind.
 *
 * TEST MODES (command line only, never from a job): test_no_render renders
 * nothing (see worker_render.h); test_stall_step > 0 makes the first task
 * stop after that denoising step and wait, heartbeating, until it is
 * cancelled or the process is killed — so tests can kill a worker
 * mid-chunk without depending on timing; with test_hold_file it goes on
 * (and finishes the task) once that file exists, so a test decides when
 * a chunk may end. test_shared_fault damages the
 * first task's shared file after its checksum is taken (1: one byte
 * flipped, 2: the file removed), so tests can check that the coordinator
 * refuses it. test_ignore_tasks drops every task it is given and keeps
 * heartbeating idle (a worker whose render thread is wedged or whose tasks
 * are lost), so tests can check that the coordinator takes the chunk back
 * and counts it. test_fail_tasks fails every task at once with an error
 * (a broken worker), so tests can check retries and quarantine.
 *
 * The last finished result is kept until the coordinator acknowledges it,
 * and sent again when a restarted coordinator asks (worker_held.h).
 *
 * Frames are sent in ResultFrames of at most FF_WIRE_MAX_FRAMES_RAW
 * decompressed bytes (one frame when a frame is larger). */
#ifndef FF_WORKER_H
#define FF_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_log.h"

typedef struct {
    const char *connect;      /* tcp://host:port */
    const char *server_key;   /* coordinator's public key file (.pub): CURVE; NULL: plain */
    const char *client_key;   /* our key pair NAME(.pub/.key); NULL: ephemeral */
    const char *backend;      /* "cpu" (default), "cuda", "cuda:N" */
    int threads;              /* CPU threads (0: OpenMP default) */
    int64_t vram_budget;      /* advertised device bytes; 0: the machine's memory (cpu) */
    double heartbeat_s;       /* default 1 */
    const char *name;         /* default host:pid/backend */
    int test_no_render;       /* TEST MODE */
    int test_stall_step;      /* TEST MODE */
    const char *test_hold_file; /* TEST MODE: with test_stall_step, the stalled task goes on once this file exists */
    int test_shared_fault;    /* TEST MODE: 1 corrupt, 2 remove the first shared file */
    int test_ignore_tasks;    /* TEST MODE: drop every task, heartbeat idle */
    int test_fail_tasks;      /* TEST MODE: fail every task at once (a broken worker) */
    const char *shared_dir;   /* write results there (see above); NULL: inline frames */
    int max_tasks;            /* exit after this many tasks (0: never) */
    const ff_log *log;
    const volatile sig_atomic_t *stop; /* set by a signal handler in main */
} ff_worker_opts;

/* Runs until *o->stop: a task in progress is then stopped at its next
 * transformer block (or step, or decoded chunk) and reported to the
 * coordinator as unfinished (TaskFailed not_started: not an attempt); the
 * worker waits at most FF_WORKER_STOP_S seconds for that before it exits. */
#define FF_WORKER_STOP_S 10
#define FF_WORKER_STOP_LINGER_MS 300 /* then its last messages get this long to leave */
/* A worker whose handshake with the coordinator fails this many times in a
 * row without detail (ZeroMQ reconnects every 100 ms), or once with a
 * refused CURVE key or a protocol mismatch, logs the reason and
 * ff_worker_run fails with it (FF_ERR_ARG). */
#define FF_WORKER_HANDSHAKE_TRIES 5
ff_status ff_worker_run(const ff_worker_opts *o, ff_err *err);

#endif
