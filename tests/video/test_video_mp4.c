/* test_video_mp4: the MP4 (H.264) writer. Built without FFmpeg it must say
 * so (FF_ERR_UNSUPPORTED) and the test is skipped; with FFmpeg it writes a
 * clip in two streamed chunks and ffprobe (skipped when absent) must report
 * the codec, frame count, size and frame rate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "video/video.h"

#define W 64
#define H 48
#define T 10

static int have_ffprobe(void) { return system("command -v ffprobe >/dev/null 2>&1") == 0; }

/* Writes a T-frame clip at 24000/1001 fps; returns 0 on success. */
static int write_clip(const char *path) {
    ff_err err = {0};
    ff_video_opts o;
    ff_video_opts_default(&o, FF_VIDEO_MP4, W, H);
    o.fps_num = 24000;
    o.fps_den = 1001;
    o.crf = 23;
    o.preset = "ultrafast";
    ff_video_writer *w = NULL;
    FF_CHECK_OK(ff_video_open(path, &o, &w, &err), &err);
    if (!w) return -1;
    ff_tensor fr;
    if (ff_tensor_allocv(&fr, FF_F32, &err, 4, (int64_t)T, (int64_t)H, (int64_t)W, (int64_t)3)) return -1;
    float *d = fr.data;
    for (int f = 0; f < T; f++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float *p = d + (((size_t)f * H + y) * W + x) * 3;
                p[0] = (float)x / W;
                p[1] = (float)y / H;
                p[2] = 0.5f + 0.4f * sinf(0.5f * (float)f);
            }
    /* streamed: 4 frames, then 6 */
    ff_tensor a, b;
    int64_t sa[4] = {4, H, W, 3}, sb[4] = {T - 4, H, W, 3};
    ff_tensor_view(&a, FF_F32, 4, sa, d, FF_LOC_HOST);
    ff_tensor_view(&b, FF_F32, 4, sb, d + (size_t)4 * H * W * 3, FF_LOC_HOST);
    FF_CHECK_OK(ff_video_write_frames(w, &a, &err), &err);
    FF_CHECK_OK(ff_video_write_frames(w, &b, &err), &err);
    FF_CHECK(ff_video_frames_written(w) == T);
    ff_status st = ff_video_close(w, &err);
    FF_CHECK_OK(st, &err);
    ff_tensor_free(&fr);
    return st == FF_OK ? 0 : -1;
}

static void test_mp4(void) {
    char path[512], cmd[1200], line[256];
    ff_err err = {0};
    ff_test_tmp_path("video_clip.mp4", path, sizeof path);
    remove(path);
    FF_REQUIRE(write_clip(path) == 0);

    /* odd sizes cannot be yuv420p */
    ff_video_opts o;
    ff_video_writer *w = NULL;
    char odd[512];
    ff_video_opts_default(&o, FF_VIDEO_MP4, 63, 48);
    FF_CHECK(ff_video_open(ff_test_tmp_path("odd.mp4", odd, sizeof odd), &o, &w, &err) == FF_ERR_ARG && !w);
    ff_video_opts_default(&o, FF_VIDEO_MP4, 64, 48);
    o.crf = 60;
    FF_CHECK(ff_video_open(odd, &o, &w, &err) == FF_ERR_ARG && !w);

    if (!have_ffprobe()) {
        remove(path);
        ff_test_skip("ffprobe not in PATH: the MP4 was written but cannot be inspected");
    }
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=codec_name,width,height,r_frame_rate,nb_read_frames,pix_fmt -of default=noprint_wrappers=1 '%s'",
             path);
    FILE *p = popen(cmd, "r");
    FF_REQUIRE(p);
    int width = 0, height = 0, frames = 0, got_rate = 0, h264 = 0, yuv420 = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (!strcmp(line, "codec_name=h264")) h264 = 1;
        else if (!strcmp(line, "pix_fmt=yuv420p")) yuv420 = 1;
        else if (!strcmp(line, "r_frame_rate=24000/1001")) got_rate = 1;
        else if (!strncmp(line, "width=", 6)) width = atoi(line + 6);
        else if (!strncmp(line, "height=", 7)) height = atoi(line + 7);
        else if (!strncmp(line, "nb_read_frames=", 15)) frames = atoi(line + 15);
    }
    FF_CHECK(pclose(p) == 0);
    FF_CHECK(h264);
    FF_CHECK(yuv420);
    FF_CHECK_MSG(width == W && height == H, "size %dx%d", width, height);
    FF_CHECK_MSG(frames == T, "%d frames", frames);
    FF_CHECK(got_rate);
    remove(path);
}

int main(void) {
    if (!ff_video_have_mp4()) {
        ff_err err = {0};
        ff_video_opts o;
        ff_video_writer *w = NULL;
        char path[512];
        ff_video_opts_default(&o, FF_VIDEO_MP4, W, H);
        ff_status st = ff_video_open(ff_test_tmp_path("nompeg.mp4", path, sizeof path), &o, &w, &err);
        if (st != FF_ERR_UNSUPPORTED || w || !strstr(err.msg, "built without FFmpeg")) {
            fprintf(stderr, "mp4 without FFmpeg: got %s: %s\n", ff_status_name(st), err.msg);
            return 1;
        }
        ff_test_skip("built without FFmpeg (MP4 writer reports FF_ERR_UNSUPPORTED as it should)");
    }
    FF_RUN(test_mp4);
    return ff_test_summary();
}
