/* slurm_scripts: the batch scripts of cluster/slurm/ (*.sbatch), embedded in
 * the binary at build time (cluster/slurm/embed.cmake) so that `framefarm
 * slurm submit` can write them into a run directory wherever the binary is
 * installed. Farm builds only. */
#ifndef FF_SLURM_SCRIPTS_H
#define FF_SLURM_SCRIPTS_H

typedef struct {
    const char *name; /* "coordinator.sbatch" */
    const char *text; /* the file, NUL-terminated */
} ff_slurm_script;

/* Sorted by name, ended by {NULL, NULL}. */
extern const ff_slurm_script ff_slurm_scripts[];

#endif
