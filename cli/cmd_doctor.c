/* framefarm doctor: what this binary and machine can do.
 *
 *   framefarm doctor      (no arguments; --help)
 *
 * The NVIDIA driver is looked for on its own (the kernel module's
 * /proc/driver/nvidia/version and the user-space libcuda.so.1, which is
 * asked for the CUDA version it supports), so that "no CUDA device" says
 * which of these it is: no NVIDIA driver at all, a driver older than this
 * build's CUDA runtime, or a driver without devices. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kernels/kernels_info.h"
#include "kernels/ops.h"
#include "video/image.h"

#if FF_BUILD_FARM
#include <protobuf-c/protobuf-c.h>
#include <sqlite3.h>
#include <zmq.h>
#endif
#if FF_BUILD_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#endif
#if FF_BUILD_MPI
#include <mpi.h>
#endif

/* The optional libraries, each as its build option found it. */
static void print_farm_libs(void) {
#if FF_BUILD_FARM
    int maj, min, pat;
    zmq_version(&maj, &min, &pat);
    printf("  zeromq       %d.%d.%d\n", maj, min, pat);
    printf("  protobuf-c   %s\n", protobuf_c_version());
    printf("  sqlite       %s\n", sqlite3_libversion());
#else
    printf("  farm libraries: not built (FRAMEFARM_FARM=OFF)\n");
#endif
#if FF_BUILD_FFMPEG
    unsigned av = avcodec_version();
    printf("  libavcodec   %u.%u.%u\n", av >> 16, (av >> 8) & 0xff, av & 0xff);
    unsigned af = avformat_version();
    printf("  libavformat  %u.%u.%u\n", af >> 16, (af >> 8) & 0xff, af & 0xff);
#else
    printf("  ffmpeg       not built (FRAMEFARM_FFMPEG: no MP4 output)\n");
#endif
#if FF_BUILD_MPI
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(mpi, &len);
    char *nl = strchr(mpi, ',');
    if (nl) *nl = '\0';
    printf("  mpi          %s\n", mpi);
#else
    printf("  mpi          not built (FRAMEFARM_MPI: no framefarm mpi)\n");
#endif
}

typedef struct {
    int module;          /* /proc/driver/nvidia/version exists */
    char version[64];    /* the kernel module's version ("550.54.15"), "" when unknown */
    int libcuda;         /* libcuda.so.1 loads */
    int cuda_major, cuda_minor; /* what libcuda supports (cuDriverGetVersion), 0 when unknown */
} nv_driver;

static void probe_driver(nv_driver *d) {
    memset(d, 0, sizeof *d);
    FILE *f = fopen("/proc/driver/nvidia/version", "r");
    if (f) {
        d->module = 1;
        char line[512];
        if (fgets(line, sizeof line, f)) { /* "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue ..." */
            const char *k = strstr(line, "Kernel Module");
            if (k && sscanf(k + 13, " %63s", d->version) != 1) d->version[0] = 0;
        }
        fclose(f);
    }
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h) {
        d->libcuda = 1;
        int (*get)(int *) = (int (*)(int *))dlsym(h, "cuDriverGetVersion");
        int v = 0;
        if (get && get(&v) == 0 && v > 0) d->cuda_major = v / 1000, d->cuda_minor = v % 1000 / 10;
        dlclose(h);
    }
}

static void describe_driver(const nv_driver *d, char *buf, size_t n) {
    char cuda[48] = "";
    if (d->cuda_major) snprintf(cuda, sizeof cuda, ", supports CUDA %d.%d", d->cuda_major, d->cuda_minor);
    if (!d->module && !d->libcuda)
        snprintf(buf, n, "no NVIDIA driver (no /proc/driver/nvidia/version, no libcuda.so.1)");
    else if (!d->module)
        snprintf(buf, n, "libcuda.so.1%s, but no NVIDIA kernel module (no /proc/driver/nvidia/version)", cuda);
    else if (!d->libcuda)
        snprintf(buf, n, "kernel module %s, but no libcuda.so.1 (the user-space driver is not installed)",
                 d->version[0] ? d->version : "(unknown version)");
    else
        snprintf(buf, n, "%s%s", d->version[0] ? d->version : "(unknown version)", cuda);
}

int ff_cmd_doctor(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: framefarm doctor\n"
                   "  version, backends, NVIDIA driver, CUDA devices, cores, memory and library versions\n");
            return FF_EXIT_OK;
        }
        fprintf(stderr, "framefarm doctor: unknown argument '%s' (doctor takes none; see framefarm doctor --help)\n",
                argv[i]);
        return FF_EXIT_USAGE;
    }
    char buf[1024], cuda_info[256], drv[256];
    printf("framefarm %s\n", FF_VERSION);
    printf("backends:\n");
    printf("  cpu          %s\n", ff_kernels_cpu_info(buf, sizeof buf));
    int built = ff_backend_cuda_compiled();
    printf("  cuda         %s\n", built ? ff_kernels_cuda_info(cuda_info, sizeof cuda_info) : "not built");
    nv_driver d;
    probe_driver(&d);
    describe_driver(&d, drv, sizeof drv);
    printf("nvidia driver: %s\n", drv);
    int ndev = ff_backend_cuda_describe(buf, sizeof buf);
    printf("cuda devices: %d\n", ndev);
    int rt_major = 0, rt_minor = 0;
    const char *rt = built ? strstr(cuda_info, "CUDA runtime ") : NULL;
    if (rt && sscanf(rt + 13, "%d.%d", &rt_major, &rt_minor) != 2) rt_major = 0;
    if (ndev > 0 || !built) printf("  %s\n", buf);
    else if (!d.module && !d.libcuda) printf("  no CUDA device: no NVIDIA driver\n");
    else if (d.cuda_major && rt_major &&
             (d.cuda_major < rt_major || (d.cuda_major == rt_major && d.cuda_minor < rt_minor)))
        printf("  no CUDA device: the NVIDIA driver supports CUDA %d.%d, older than this build's CUDA runtime %d.%d "
               "(update the driver)\n", d.cuda_major, d.cuda_minor, rt_major, rt_minor);
    else printf("  %s\n", buf); /* a driver and no device (or another failure): the runtime's words */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    struct sysinfo si;
    double mem_gib = 0, avail_gib = 0;
    if (sysinfo(&si) == 0) {
        mem_gib = (double)si.totalram * si.mem_unit / (1 << 30);
        avail_gib = (double)(si.freeram + si.bufferram) * si.mem_unit / (1 << 30);
    }
    printf("cpu cores: %ld\n", cores);
    printf("memory: %.1f GiB total, %.1f GiB free\n", mem_gib, avail_gib);
    printf("libraries:\n");
    print_farm_libs();
    printf("  image input  PNG %s, JPEG %s\n", ff_image_have_png() ? "yes (libpng)" : "no (built without PNG support)",
           ff_image_have_jpeg() ? "yes (libjpeg)" : "no (built without JPEG support)");
    return FF_EXIT_OK;
}
