/* ff_cpus: how many CPU cores this process may use — the scheduler
 * affinity mask (taskset, cpusets, Slurm's --cpus-per-task binding) capped
 * by the cgroup's CPU quota (cgroup v2 cpu.max, v1 cpu.cfs_quota_us /
 * cpu.cfs_period_us, rounded up: a container limited to 1.5 CPUs gets 2).
 * A worker sizes its CPU threads with it, `farm --workers N` shares it
 * among its workers.
 *
 * Not here: NUMA placement, hyper-threads (a logical CPU counts as one). */
#ifndef FF_CPUS_H
#define FF_CPUS_H

/* At least 1. cgroup_root: "/sys/fs/cgroup" (NULL), or another folder in
 * tests (its cpu.max or cpu/cpu.cfs_quota_us files are read). */
int ff_cpus_usable(const char *cgroup_root);

/* Parts, for tests and messages: CPUs in the affinity mask (>= 1), and the
 * quota in CPUs rounded up (0: none or unreadable). */
int ff_cpus_affinity(void);
int ff_cpus_quota(const char *cgroup_root);

#endif
