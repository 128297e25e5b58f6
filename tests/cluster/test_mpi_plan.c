/* cluster/mpi_plan and cluster/mpi_job, without MPI: windows for every
 * F x N (1 rank = the whole video; N not dividing F; more ranks than the
 * video can use), cores partition the frames, overlaps are exactly O frames
 * and no frame lies in three windows, merge weights form a ramp that sums to
 * ~1, the temporal decode covers every pixel frame once (with cross-fades
 * only inside overlaps), tile runs partition the grid; the job file's keys,
 * aliases, defaults and refusals. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cluster/mpi_job.h"
#include "cluster/mpi_plan.h"
#include "tests/common/ff_test.h"

static void test_windows(void) {
    ff_err err = {0};
    for (int64_t F = 1; F <= 24; F++)
        for (int N = 1; N <= 9; N++)
            for (int O = 1; O <= 3; O++) {
                ff_mpi_plan p;
                FF_REQUIRE_OK(ff_mpi_plan_make(F, N, O, 4, &p, &err), &err);
                int W = p.n_windows;
                FF_CHECK_MSG(W >= 1 && W <= N && (W == 1 || F / W >= O), "F %lld N %d O %d: %d windows", (long long)F, N, O, W);
                FF_CHECK(W == (F / O < N ? (F / O < 1 ? 1 : (int)(F / O)) : N));
                FF_CHECK(p.core[0] == 0 && p.core[W] == F);
                for (int k = 0; k < W; k++) {
                    int64_t s, e;
                    ff_mpi_plan_window(&p, k, &s, &e);
                    FF_CHECK(p.core[k + 1] > p.core[k]);                       /* cores are not empty */
                    FF_CHECK(e == p.core[k + 1] && s == (k ? p.core[k] - O : 0)); /* overlap O, in the previous core */
                    FF_CHECK(s >= (k ? p.core[k - 1] : 0));
                }
                for (int64_t f = 0; f < F; f++) {
                    int in = 0;
                    for (int k = 0; k < W; k++) {
                        int64_t s, e;
                        ff_mpi_plan_window(&p, k, &s, &e);
                        in += f >= s && f < e;
                    }
                    FF_CHECK_MSG(in >= 1 && in <= 2, "F %lld N %d O %d: frame %lld in %d windows", (long long)F, N, O, (long long)f, in);
                    FF_CHECK(ff_mpi_plan_in_overlap(&p, f) == (in == 2));
                    int m = ff_mpi_plan_owner(&p, f);
                    FF_CHECK(f >= p.core[m] && f < p.core[m + 1]);
                    /* temporal decode: the owner keeps f; a cross-fade only inside an overlap, never on a
                       window's first (warm-up) frame */
                    for (int64_t q = 0; q < ff_mpi_plan_pixel_count(&p, f); q++) {
                        int o, l;
                        float w;
                        ff_mpi_plan_decode_pixel(&p, f, q, &o, &l, &w);
                        FF_CHECK(o == m && ff_mpi_plan_decode_kept(&p, o, f));
                        if (l >= 0) FF_CHECK(in == 2 && l == m + 1 && w > 0 && w < 1 && ff_mpi_plan_decode_kept(&p, l, f));
                    }
                }
                FF_CHECK(ff_mpi_plan_pixel_frames(&p) == 1 + 4 * (F - 1));
                ff_mpi_plan_free(&p);
            }
    ff_mpi_plan p;
    FF_CHECK(ff_mpi_plan_make(0, 2, 1, 4, &p, &err) == FF_ERR_ARG);
    FF_CHECK(ff_mpi_plan_make(5, 2, 0, 4, &p, &err) == FF_ERR_ARG && strstr(err.msg, "overlap") != NULL);
    /* 1 rank: one window, the whole video */
    FF_REQUIRE_OK(ff_mpi_plan_make(21, 1, 2, 4, &p, &err), &err);
    int64_t s, e;
    ff_mpi_plan_window(&p, 0, &s, &e);
    FF_CHECK(p.n_windows == 1 && s == 0 && e == 21 && !ff_mpi_plan_in_overlap(&p, 20));
    ff_mpi_plan_free(&p);
    /* 13 latent frames on 4 ranks, overlap 2 (the mpirun tests' plan) */
    FF_REQUIRE_OK(ff_mpi_plan_make(13, 4, 2, 4, &p, &err), &err);
    const int64_t want[4][2] = {{0, 3}, {1, 6}, {4, 9}, {7, 13}};
    for (int k = 0; k < 4; k++) {
        ff_mpi_plan_window(&p, k, &s, &e);
        FF_CHECK_MSG(s == want[k][0] && e == want[k][1], "window %d [%lld, %lld)", k, (long long)s, (long long)e);
    }
    ff_mpi_plan_free(&p);
}

static void test_weights(void) {
    for (int O = 1; O <= 8; O++) {
        float prev = 0;
        for (int j = 0; j < O; j++) {
            float we, wl;
            ff_mpi_plan_merge_weights(O, j, &we, &wl);
            FF_CHECK(wl > prev && wl < 1 && we > 0 && fabsf(we + wl - 1.0f) < 1e-6f);
            prev = wl;
        }
    }
}

static void test_tiles(void) {
    for (int n = 1; n <= 12; n++)
        for (int N = 1; N <= 6; N++) {
            int next = 0;
            for (int r = 0; r < N; r++) {
                int t0, c;
                ff_mpi_plan_tiles(n, N, r, &t0, &c);
                FF_CHECK(t0 == next && c >= 0);
                next = t0 + c;
            }
            FF_CHECK(next == n);
        }
}

static ff_status job_from(const char *text, ff_mpi_job *j, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_mpi_job_default(j);
    ff_status st = ff_json_parse(text, strlen(text), "job.json", &doc, err);
    if (st) return st;
    return ff_mpi_job_from_json(doc, "job.json", j, err);
}

static void test_job(void) {
    ff_err err = {0};
    ff_mpi_job j;
    FF_CHECK_OK(job_from("{\"prompt\": \"a boat\", \"out\": \"v.y4m\"}", &j, &err), &err);
    FF_CHECK(j.seed == 42 && j.overlap == 2 && j.vae_warmup == 4 && j.vae_split == FF_MPI_SPLIT_TIME && j.tile == -1 &&
             j.comm == FF_MPI_COMM_AUTO && !strcmp(j.backend, "cpu") && !j.model && j.crf == -1);
    ff_mpi_job_free(&j);
    FF_CHECK_OK(job_from("{\"model\": \"m\", \"prompt\": \"p\", \"negative_prompt\": \"n\", \"seed\": 7, \"frames\": 33,"
                         " \"height\": 64, \"width\": 96, \"steps\": 3, \"guidance_scale\": 4.5, \"guidance_scale_2\": 2,"
                         " \"fps\": 24, \"crf\": 0, \"output\": \"o.mp4\", \"tile\": true, \"tile_size\": 64, \"tile_stride\": 48,"
                         " \"vae_split\": \"space\", \"overlap\": 3, \"vae_warmup\": 0, \"comm\": \"mpi\", \"backend\": \"cuda\","
                         " \"threads\": 2, \"timeout_s\": 30, \"name\": \"x\", \"max_sequence_length\": 64}",
                         &j, &err),
                &err);
    FF_CHECK(!strcmp(j.model, "m") && !strcmp(j.negative_prompt, "n") && j.seed == 7 && j.frames == 33 && j.height == 64 &&
             j.width == 96 && j.steps == 3 && j.has_guidance && j.guidance == 4.5 && j.has_guidance_2 && j.guidance_2 == 2 &&
             j.fps == 24 && j.crf == 0 && !strcmp(j.out, "o.mp4") && j.tile == 1 && j.tile_size == 64 && j.tile_stride == 48 &&
             j.vae_split == FF_MPI_SPLIT_SPACE && j.overlap == 3 && j.vae_warmup == 0 && j.comm == FF_MPI_COMM_MPI &&
             !strcmp(j.backend, "cuda") && j.threads == 2 && j.timeout_s == 30 && j.max_sequence_length == 64);
    ff_mpi_job_free(&j);
    const struct {
        const char *text, *msg;
    } bad[] = {{"{\"prompt\": \"p\", \"out\": \"o\", \"overlpa\": 2}", "unknown key \"overlpa\""},
               {"{\"prompt\": \"p\", \"out\": \"o\", \"overlap\": 0}", "\"overlap\""},
               {"{\"prompt\": \"p\", \"out\": \"o\", \"vae_split\": \"both\"}", "\"vae_split\""},
               {"{\"prompt\": \"p\", \"out\": \"o\", \"comm\": \"tcp\"}", "\"comm\""},
               {"{\"prompt\": \"p\", \"out\": \"o\", \"frames\": 1.5}", "\"frames\""},
               {"{\"prompt\": \"p\", \"out\": \"o\", \"tile\": 1}", "\"tile\""},
               {"{\"prompt\": \"p\", \"out\": \"o\", \"seed\": -1}", "\"seed\""},
               {"{\"out\": \"o\"}", "\"prompt\" is required"},
               {"{\"prompt\": \"p\"}", "\"out\" is required"},
               {"[1, 2]", "JSON object"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ff_status st = job_from(bad[i].text, &j, &err);
        FF_CHECK_MSG(st == FF_ERR_FORMAT && strstr(err.msg, bad[i].msg) && strstr(err.msg, "job.json"), "%s -> %s", bad[i].text,
                     err.msg);
        ff_mpi_job_free(&j);
    }
    ff_mpi_split sp;
    ff_mpi_comm_kind ck;
    FF_CHECK(!ff_mpi_split_parse("space", &sp) && sp == FF_MPI_SPLIT_SPACE && ff_mpi_split_parse("x", &sp) == -1);
    FF_CHECK(!ff_mpi_comm_parse("nccl", &ck) && ck == FF_MPI_COMM_NCCL && !strcmp(ff_mpi_comm_name(ck), "nccl"));
}

int main(void) {
    FF_RUN(test_windows);
    FF_RUN(test_weights);
    FF_RUN(test_tiles);
    FF_RUN(test_job);
    return ff_test_summary();
}
