/* Process helpers for the farm integration tests (header-only): start the
 * real framefarm binary ($FF_BIN) with its output in a log file, run it to
 * completion capturing stdout, poll a condition with a generous bound, and
 * kill what a test started (SIGKILL, by pid). */
#ifndef FF_FARM_PROC_H
#define FF_FARM_PROC_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FP_MAX_PROCS 32

typedef struct {
    pid_t pids[FP_MAX_PROCS];
    int n;
} fp_procs;

static inline const char *fp_bin(void) {
    const char *b = getenv("FF_BIN");
    return b && *b ? b : NULL;
}

static inline double fp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline void fp_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Starts FF_BIN args... (NULL-terminated), stdout+stderr appended to log. */
static inline pid_t fp_start(fp_procs *ps, const char *log, char *const *args) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        char *argv[40];
        int k = 0;
        argv[k++] = (char *)"framefarm";
        for (int i = 0; args[i] && k < 39; i++) argv[k++] = args[i];
        argv[k] = NULL;
        execv(fp_bin(), argv);
        _exit(127);
    }
    if (pid > 0 && ps->n < FP_MAX_PROCS) ps->pids[ps->n++] = pid;
    return pid;
}

static inline void fp_kill(fp_procs *ps, pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    for (int i = 0; i < ps->n; i++)
        if (ps->pids[i] == pid) ps->pids[i] = 0;
}

static inline void fp_kill_all(fp_procs *ps) {
    for (int i = 0; i < ps->n; i++) fp_kill(ps, ps->pids[i]);
    ps->n = 0;
}

/* Runs FF_BIN args to completion; stdout into out (may be NULL), stderr
 * appended to errlog (may be NULL); returns the exit code (-1: signal). */
static inline int fp_run(char *const *args, char *out, size_t out_n, const char *errlog) {
    int pfd[2];
    if (pipe(pfd)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], 1);
        close(pfd[1]);
        int fd = open(errlog ? errlog : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        char *argv[40];
        int k = 0;
        argv[k++] = (char *)"framefarm";
        for (int i = 0; args[i] && k < 39; i++) argv[k++] = args[i];
        argv[k] = NULL;
        execv(fp_bin(), argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t got = 0;
    char sink[4096];
    for (;;) {
        char *dst = out && got + 1 < out_n ? out + got : sink;
        size_t cap = out && got + 1 < out_n ? out_n - got - 1 : sizeof sink;
        ssize_t r = read(pfd[0], dst, cap);
        if (r <= 0) break;
        if (dst != sink) got += (size_t)r;
    }
    if (out && out_n) out[got] = 0;
    close(pfd[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Reads a whole (small) file into buf; 0 on success. */
static inline int fp_read(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t r = fread(buf, 1, n - 1, f);
    buf[r] = 0;
    fclose(f);
    return 0;
}

static inline int fp_same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        char x[8192], y[8192];
        size_t na = fread(x, 1, sizeof x, fa), nb = fread(y, 1, sizeof y, fb);
        if (na != nb || memcmp(x, y, na)) same = 0;
        if (na == 0) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

#endif
