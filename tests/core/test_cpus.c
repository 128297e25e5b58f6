/* ff_cpus: the cores a process may use — the affinity mask (this process's
 * own, checked against sched_getaffinity after narrowing it to one CPU) and
 * the cgroup quota read from cgroup v2 cpu.max and v1 cpu.cfs_quota_us /
 * cpu.cfs_period_us files written here ("max", 1.5 CPUs rounds up to 2,
 * 0.5 to 1, a quota above the affinity does not raise it). */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/ff_cpus.h"
#include "tests/common/ff_test.h"

static char g_dir[1024];

static void write_file(const char *name, const char *text) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    FF_REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

static void test_quota_v2(void) {
    write_file("cpu.max", "max 100000\n");
    FF_CHECK(ff_cpus_quota(g_dir) == 0);
    write_file("cpu.max", "150000 100000\n");
    FF_CHECK(ff_cpus_quota(g_dir) == 2);
    write_file("cpu.max", "50000 100000\n");
    FF_CHECK(ff_cpus_quota(g_dir) == 1);
    write_file("cpu.max", "400000 100000\n");
    FF_CHECK(ff_cpus_quota(g_dir) == 4);
    int aff = ff_cpus_affinity();
    FF_CHECK(ff_cpus_usable(g_dir) == (aff < 4 ? aff : 4));
    write_file("cpu.max", "100000 100000\n");
    FF_CHECK(ff_cpus_usable(g_dir) == 1);
    write_file("cpu.max", "garbage\n");
    FF_CHECK(ff_cpus_quota(g_dir) == 0 && ff_cpus_usable(g_dir) == aff);
    char path[1200];
    snprintf(path, sizeof path, "%s/cpu.max", g_dir);
    remove(path);
}

static void test_quota_v1(void) {
    char sub[1200];
    snprintf(sub, sizeof sub, "%s/cpu", g_dir);
    mkdir(sub, 0755);
    write_file("cpu/cpu.cfs_quota_us", "-1\n");
    write_file("cpu/cpu.cfs_period_us", "100000\n");
    FF_CHECK(ff_cpus_quota(g_dir) == 0);
    write_file("cpu/cpu.cfs_quota_us", "250000\n");
    FF_CHECK(ff_cpus_quota(g_dir) == 3);
}

static void test_affinity(void) {
    cpu_set_t old, one;
    FF_REQUIRE(sched_getaffinity(0, sizeof old, &old) == 0);
    FF_CHECK(ff_cpus_affinity() == CPU_COUNT(&old));
    FF_CHECK(ff_cpus_usable(NULL) >= 1 && ff_cpus_usable(NULL) <= CPU_COUNT(&old));
    int first = 0;
    while (!CPU_ISSET(first, &old)) first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    FF_REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
    FF_CHECK(ff_cpus_affinity() == 1 && ff_cpus_usable(NULL) == 1);
    sched_setaffinity(0, sizeof old, &old);
}

int main(void) {
    ff_test_tmp_path("cpus_test", g_dir, sizeof g_dir);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", g_dir, g_dir);
    if (system(cmd) != 0) return 1;
    FF_RUN(test_quota_v2);
    FF_RUN(test_quota_v1);
    FF_RUN(test_affinity);
    int rc = ff_test_summary();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (!rc && system(cmd) != 0) return 1;
    return rc;
}
