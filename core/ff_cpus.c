/* ff_cpus: see ff_cpus.h. */
#include "core/ff_cpus.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ff_cpus_affinity(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* quota / period rounded up; 0 for "max", a negative quota or nothing readable. */
static int quota_cpus(long long quota, long long period) {
    if (quota <= 0 || period <= 0) return 0;
    long long n = (quota + period - 1) / period;
    return n > 1 << 20 ? 1 << 20 : (int)n;
}

/* cgroup v2 cpu.max of one folder: -1 when absent, 0 for "max", else CPUs. */
static int v2_max(const char *dir) {
    char path[4400], buf[128];
    snprintf(path, sizeof path, "%s/cpu.max", dir); /* "max 100000" or "150000 100000" */
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long q = 0, p = 0;
    int got = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    if (!got || !strncmp(buf, "max", 3) || sscanf(buf, "%lld %lld", &q, &p) != 2) return 0;
    return quota_cpus(q, p);
}

/* The tightest cpu.max from this process's cgroup (/proc/self/cgroup's
 * "0::PATH") up to the root: -1 when there is none to read. */
static int v2_own(const char *root) {
    char rel[4200] = "", line[4200];
    FILE *f = fopen("/proc/self/cgroup", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            memcpy(rel, line + 3, strlen(line + 3) + 1);
            rel[strcspn(rel, "\n")] = 0;
        }
    if (f) fclose(f);
    int best = -1;
    for (;;) {
        char dir[8200];
        snprintf(dir, sizeof dir, "%s%s", root, rel);
        int q = v2_max(dir);
        if (q > 0 && (best <= 0 || q < best)) best = q;
        else if (q == 0 && best < 0) best = 0;
        char *slash = strrchr(rel, '/');
        if (!slash || !rel[0]) break;
        *slash = 0;
    }
    return best;
}

int ff_cpus_quota(const char *root) {
    int q = root ? v2_max(root) : v2_own("/sys/fs/cgroup");
    if (q >= 0) return q;
    if (!root) root = "/sys/fs/cgroup";
    char path[4200];
    FILE *f;
    long long p = 0; /* v1 */
    snprintf(path, sizeof path, "%s/cpu/cpu.cfs_quota_us", root);
    if (!(f = fopen(path, "r"))) return 0;
    long long q1 = 0;
    int ok = fscanf(f, "%lld", &q1) == 1;
    fclose(f);
    snprintf(path, sizeof path, "%s/cpu/cpu.cfs_period_us", root);
    if (!ok || !(f = fopen(path, "r"))) return 0;
    ok = fscanf(f, "%lld", &p) == 1;
    fclose(f);
    return ok ? quota_cpus(q1, p) : 0;
}

int ff_cpus_usable(const char *cgroup_root) {
    int n = ff_cpus_affinity(), q = ff_cpus_quota(cgroup_root);
    if (q > 0 && q < n) n = q;
    return n > 0 ? n : 1;
}
