/* framefarm doctor: what this binary and machine can do. */
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

int ff_cmd_doctor(int argc, char **argv) {
    (void)argc;
    (void)argv;
    char buf[1024];
    printf("framefarm %s\n", FF_VERSION);
    printf("backends:\n");
    printf("  cpu          %s\n", ff_kernels_cpu_info(buf, sizeof buf));
    printf("  cuda         %s\n", ff_backend_cuda_compiled() ? ff_kernels_cuda_info(buf, sizeof buf) : "not built");
    int ndev = ff_backend_cuda_describe(buf, sizeof buf);
    printf("cuda devices: %d\n", ndev);
    printf("  %s\n", buf);
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
