/* cuda_cudnn: 3-D convolutions through cuDNN 9's backend (graph) API, for
 * conv3d / conv2d in the BF16 precisions (ops.h: TF32 tensor cores in
 * FF_PREC_BF16, BF16 operands in FF_PREC_BF16_ALL).
 *
 * cuDNN is loaded with dlopen on the first convolution that wants it
 * (FF_CUDNN_LIB, else libcudnn.so.9, else libcudnn.so), so the binary runs
 * where it is absent: every call then answers FF_ERR_UNSUPPORTED with the
 * reason and cuda_conv.cu keeps its im2col path. A load failure is
 * remembered; the reason is in cuda_cudnn_describe.
 *
 * Per shape (dims, strides, padding, operand types, pointer alignment) one
 * execution plan is built and cached (cuda_host_plan.c's plan cache): an
 * operation graph of one CONVOLUTION_FORWARD node over NCDHW-packed
 * tensors, the engine configurations of heuristics mode A in their order,
 * minus those cuDNN marks non-deterministic (a farm's frames must not
 * depend on which worker rendered them), FFT, Winograd or down-converting
 * inputs; the first that finalises with a workspace under
 * FF_CUDNN_WS_MAX is the plan (with FF_CUDNN_AUTOTUNE=1, the fastest of the
 * first few, timed once on the call's own data). A shape with no plan is
 * remembered too. Operands: F32 x and w as they are (a BF16 w widened into
 * scratch2) for TF32; for BF16, x and an F32 w rounded into scratch2; y is
 * F32 in both (ops.h: F32 accumulation and output), so a cuDNN without a
 * mixed BF16-in / F32-out engine leaves FF_PREC_BF16_ALL to im2col. The
 * workspace is the context's scratch buffer.
 * Not here: the bias and the im2col fallback (cuda_conv.cu). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_host_plan.h"
#include "kernels/cuda/cuda_internal.h"

#ifndef FF_HAVE_CUDNN_H /* built without cuDNN's headers: every convolution takes im2col */
ff_status cuda_cudnn_conv3d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const int stride[3],
                            const int pad[6], int bf16, ff_tensor *out, ff_err *err) {
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: built without cuDNN headers", be->name);
}
void cuda_cudnn_release(cuda_ctx *ctx) {}
const char *cuda_cudnn_describe(cuda_ctx *ctx, char *buf, size_t n) {
    snprintf(buf, n, "no cuDNN: built without its headers");
    return buf;
}
#else
#include <cudnn_graph.h>
#include <dlfcn.h>

#define FF_CUDNN_WS_MAX ((int64_t)1 << 30) /* workspace bytes a plan may ask for */
#define CUDNN_PLANS 96
#define MAX_CFGS 16   /* engine configurations looked at per shape */
#define TUNE_CFGS 4   /* timed with FF_CUDNN_AUTOTUNE=1 */

/* The deprecated-but-supported attributes giving a graph and a plan their
 * handle (cuDNN 9 still reads them; naming the enum constants would trip
 * -Werror=deprecated-declarations). */
#define ATTR_OPERATIONGRAPH_HANDLE ((cudnnBackendAttributeName_t)800)
#define ATTR_EXECUTION_PLAN_HANDLE ((cudnnBackendAttributeName_t)400)

typedef cudnnStatus_t (*fn_create)(cudnnHandle_t *);
typedef cudnnStatus_t (*fn_destroy)(cudnnHandle_t);
typedef cudnnStatus_t (*fn_set_stream)(cudnnHandle_t, cudaStream_t);
typedef size_t (*fn_version)(void);
typedef const char *(*fn_errstr)(cudnnStatus_t);
typedef void (*fn_lasterr)(char *, size_t);
typedef cudnnStatus_t (*fn_bcreate)(cudnnBackendDescriptorType_t, cudnnBackendDescriptor_t *);
typedef cudnnStatus_t (*fn_bdestroy)(cudnnBackendDescriptor_t);
typedef cudnnStatus_t (*fn_bfinalize)(cudnnBackendDescriptor_t);
typedef cudnnStatus_t (*fn_bset)(cudnnBackendDescriptor_t, cudnnBackendAttributeName_t, cudnnBackendAttributeType_t,
                                 int64_t, const void *);
typedef cudnnStatus_t (*fn_bget)(cudnnBackendDescriptor_t const, cudnnBackendAttributeName_t,
                                 cudnnBackendAttributeType_t, int64_t, int64_t *, void *);
typedef cudnnStatus_t (*fn_bexecute)(cudnnHandle_t, cudnnBackendDescriptor_t, cudnnBackendDescriptor_t);

struct cuda_cudnn {
    void *lib;
    int failed;     /* the load failed: why[] says why; never tried again */
    char why[FF_ERR_MSG_MAX];
    char lib_name[64];
    size_t version;
    int autotune;
    cudnnHandle_t handle;
    cuda_plan_cache *plans;
    fn_create create;
    fn_destroy destroy;
    fn_set_stream set_stream;
    fn_version get_version;
    fn_errstr errstr;
    fn_lasterr lasterr;
    fn_bcreate bcreate;
    fn_bdestroy bdestroy;
    fn_bfinalize bfinalize;
    fn_bset bset;
    fn_bget bget;
    fn_bexecute bexecute;
};

typedef struct cuda_cudnn cudnn_lib;

/* ---- loading ----------------------------------------------------------------------- */

static void *sym(cudnn_lib *c, const char *name) {
    void *p = dlsym(c->lib, name);
    if (!p && !c->failed) {
        c->failed = 1;
        snprintf(c->why, sizeof c->why, "%s has no %s", c->lib_name, name);
    }
    return p;
}

static void conv_plan_free(void *user, void *p);

/* Loads the library and creates the handle, once; 0 when usable. */
static int cudnn_ready(cuda_ctx *ctx) {
    if (ctx->cudnn) return ctx->cudnn->failed ? -1 : 0;
    cudnn_lib *c = (cudnn_lib *)calloc(1, sizeof *c);
    if (!c) return -1; /* not remembered: a later call may find memory */
    ctx->cudnn = c;
    const char *env = getenv("FF_CUDNN_LIB");
    const char *names[3] = {env && *env ? env : NULL, "libcudnn.so.9", "libcudnn.so"};
    for (int i = 0; i < 3 && !c->lib; i++) {
        if (!names[i]) continue;
        c->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (c->lib) snprintf(c->lib_name, sizeof c->lib_name, "%s", names[i]);
    }
    if (!c->lib) {
        const char *e = dlerror();
        c->failed = 1;
        snprintf(c->why, sizeof c->why, "cuDNN not loaded (%s)", e ? e : "libcudnn.so.9 not found");
        return -1;
    }
    c->create = (fn_create)sym(c, "cudnnCreate");
    c->destroy = (fn_destroy)sym(c, "cudnnDestroy");
    c->set_stream = (fn_set_stream)sym(c, "cudnnSetStream");
    c->get_version = (fn_version)sym(c, "cudnnGetVersion");
    c->errstr = (fn_errstr)sym(c, "cudnnGetErrorString");
    c->bcreate = (fn_bcreate)sym(c, "cudnnBackendCreateDescriptor");
    c->bdestroy = (fn_bdestroy)sym(c, "cudnnBackendDestroyDescriptor");
    c->bfinalize = (fn_bfinalize)sym(c, "cudnnBackendFinalize");
    c->bset = (fn_bset)sym(c, "cudnnBackendSetAttribute");
    c->bget = (fn_bget)sym(c, "cudnnBackendGetAttribute");
    c->bexecute = (fn_bexecute)sym(c, "cudnnBackendExecute");
    c->lasterr = (fn_lasterr)dlsym(c->lib, "cudnnGetLastErrorString"); /* optional */
    if (c->failed) return -1;
    c->version = c->get_version();
    if (c->version < 90000) {
        c->failed = 1;
        snprintf(c->why, sizeof c->why, "%s is cuDNN %zu (the backend API used here needs 9.x)", c->lib_name,
                 c->version);
        return -1;
    }
    cudnnStatus_t s = c->create(&c->handle);
    if (s == CUDNN_STATUS_SUCCESS) s = c->set_stream(c->handle, ctx->compute);
    if (s != CUDNN_STATUS_SUCCESS) {
        c->failed = 1;
        snprintf(c->why, sizeof c->why, "cudnnCreate / cudnnSetStream: %s", c->errstr(s));
        return -1;
    }
    ff_err e = {0};
    if (cuda_plan_cache_create(CUDNN_PLANS, conv_plan_free, c, &c->plans, &e)) {
        c->failed = 1;
        memcpy(c->why, e.msg, sizeof c->why);
        return -1;
    }
    const char *tune = getenv("FF_CUDNN_AUTOTUNE");
    c->autotune = tune && !strcmp(tune, "1");
    return 0;
}

void cuda_cudnn_release(cuda_ctx *ctx) {
    cudnn_lib *c = ctx->cudnn;
    if (!c) return;
    cuda_plan_cache_free(c->plans); /* before the handle and the library */
    if (c->handle && c->destroy) c->destroy(c->handle);
    if (c->lib) dlclose(c->lib);
    free(c);
    ctx->cudnn = NULL;
}

const char *cuda_cudnn_describe(cuda_ctx *ctx, char *buf, size_t n) {
    if (cudnn_ready(ctx) || !ctx->cudnn) {
        snprintf(buf, n, "no cuDNN: %s", ctx->cudnn ? ctx->cudnn->why : "out of memory");
        return buf;
    }
    snprintf(buf, n, "cuDNN %zu (%s)", ctx->cudnn->version, ctx->cudnn->lib_name);
    return buf;
}

/* ---- descriptors ---------------------------------------------------------------------- */

/* A failed cuDNN call: FF_ERR_DEVICE naming it, with cuDNN's last message. */
static ff_status cudnn_fail(cudnn_lib *c, ff_err *err, const char *call, int line, cudnnStatus_t s) {
    char last[256] = "";
    if (c->lasterr) c->lasterr(last, sizeof last);
    return ff_err_set(err, FF_ERR_DEVICE, "cudnn: %s failed at kernels/cuda/cuda_cudnn.c:%d: %s%s%s", call, line,
                      c->errstr(s), *last ? ": " : "", last);
}

#define DNN(call)                                                                                                      \
    do {                                                                                                               \
        cudnnStatus_t s__ = (call);                                                                                    \
        if (s__ != CUDNN_STATUS_SUCCESS) {                                                                             \
            st = cudnn_fail(c, err, #call, __LINE__, s__);                                                             \
            goto done;                                                                                                 \
        }                                                                                                              \
    } while (0)

/* A finalised tensor descriptor: dims (n), packed strides, uid, alignment. */
static ff_status tensor_desc(cudnn_lib *c, cudnnDataType_t dt, const int64_t *dims, int n, int64_t uid, int64_t align,
                             cudnnBackendDescriptor_t *out, ff_err *err) {
    ff_status st = FF_OK;
    cudnnBackendDescriptor_t d = NULL;
    int64_t strides[5];
    strides[n - 1] = 1;
    for (int i = n - 2; i >= 0; i--) strides[i] = strides[i + 1] * dims[i + 1];
    DNN(c->bcreate(CUDNN_BACKEND_TENSOR_DESCRIPTOR, &d));
    DNN(c->bset(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt));
    DNN(c->bset(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, n, dims));
    DNN(c->bset(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, n, strides));
    DNN(c->bset(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
    DNN(c->bset(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align));
    DNN(c->bfinalize(d));
    *out = d;
    d = NULL;
done:
    if (d) c->bdestroy(d);
    return st;
}

/* ---- plans ------------------------------------------------------------------------------ */

enum { UID_X = 1, UID_W = 2, UID_Y = 3 };

typedef struct {
    int64_t x[5], w[5], y[5];
    int32_t stride[3], pad[6];
    int32_t bf16;  /* operands BF16 (else F32 on TF32 tensor cores) */
    int32_t align; /* common byte alignment of the operands */
} conv_key;

#define KEEP_MAX (MAX_CFGS + 8)

/* Descriptors a plan depends on, destroyed only with it (cuDNN does not say
 * that a finalised descriptor survives the ones it was built from). */
typedef struct {
    cudnnBackendDescriptor_t d[KEEP_MAX];
    int n;
} dnn_keep;

static void keep_push(dnn_keep *k, cudnnBackendDescriptor_t d) {
    if (d && k->n < KEEP_MAX) k->d[k->n++] = d;
}

static void keep_free(cudnn_lib *c, dnn_keep *k) {
    while (k->n > 0) c->bdestroy(k->d[--k->n]);
}

typedef struct {
    cudnnBackendDescriptor_t plan; /* NULL: no plan for this shape (remembered) */
    int64_t ws;
    dnn_keep keep; /* the graph, its nodes, heuristics and engine configurations */
} conv_plan;

static void conv_plan_free(void *user, void *p) {
    cudnn_lib *c = (cudnn_lib *)user;
    conv_plan *cp = (conv_plan *)p;
    if (cp->plan) c->bdestroy(cp->plan);
    keep_free(c, &cp->keep);
    free(cp);
}

/* Is this engine configuration acceptable (numerical notes)? -1 on a query failure. */
static int cfg_acceptable(cudnn_lib *c, cudnnBackendDescriptor_t cfg) {
    cudnnBackendDescriptor_t eng = NULL;
    int ok = -1;
    if (c->bcreate(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng) != CUDNN_STATUS_SUCCESS) return -1;
    int64_t n = 0;
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    if (c->bget(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &eng) ==
            CUDNN_STATUS_SUCCESS &&
        c->bget(eng, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE, CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n,
                notes) == CUDNN_STATUS_SUCCESS) {
        ok = 1;
        for (int64_t i = 0; i < n; i++) {
            switch (notes[i]) {
            case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC:
            case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS:
            case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION:
            case CUDNN_NUMERICAL_NOTE_FFT:
            case CUDNN_NUMERICAL_NOTE_WINOGRAD:
            case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4:
            case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
            case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13: ok = 0; break;
            default: break;
            }
        }
    }
    c->bdestroy(eng);
    return ok;
}

/* Runs plan once on the operands (variant pack) and returns its status. */
static cudnnStatus_t run_plan(cudnn_lib *c, cudnnBackendDescriptor_t plan, void *x, void *w, void *y, void *ws) {
    cudnnBackendDescriptor_t vp = NULL;
    void *ptrs[3] = {x, w, y};
    int64_t uids[3] = {UID_X, UID_W, UID_Y};
    cudnnStatus_t s = c->bcreate(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp);
    if (s == CUDNN_STATUS_SUCCESS) s = c->bset(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptrs);
    if (s == CUDNN_STATUS_SUCCESS) s = c->bset(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids);
    if (s == CUDNN_STATUS_SUCCESS) s = c->bset(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws);
    if (s == CUDNN_STATUS_SUCCESS) s = c->bfinalize(vp);
    if (s == CUDNN_STATUS_SUCCESS) s = c->bexecute(c->handle, plan, vp);
    if (vp) c->bdestroy(vp);
    return s;
}

/* The operation graph of one convolution: y = conv(x, w); y_bf16 chooses y's type. */
static ff_status build_graph(cudnn_lib *c, const conv_key *k, int y_bf16, dnn_keep *keep,
                             cudnnBackendDescriptor_t *graph, ff_err *err) {
    ff_status st = FF_OK;
    cudnnBackendDescriptor_t tx = NULL, tw = NULL, ty = NULL, conv = NULL, op = NULL, g = NULL;
    const cudnnDataType_t in_t = k->bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    const cudnnDataType_t y_t = y_bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT, comp = CUDNN_DATA_FLOAT;
    if ((st = tensor_desc(c, in_t, k->x, 5, UID_X, k->align, &tx, err)) ||
        (st = tensor_desc(c, in_t, k->w, 5, UID_W, k->align, &tw, err)) ||
        (st = tensor_desc(c, y_t, k->y, 5, UID_Y, k->align, &ty, err)))
        goto done;
    {
        const int64_t sd = 3, dil[3] = {1, 1, 1};
        const int64_t str[3] = {k->stride[0], k->stride[1], k->stride[2]};
        const int64_t pre[3] = {k->pad[0], k->pad[2], k->pad[4]}, post[3] = {k->pad[1], k->pad[3], k->pad[5]};
        const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
        DNN(c->bcreate(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &conv));
        DNN(c->bset(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp));
        DNN(c->bset(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
        DNN(c->bset(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &sd));
        DNN(c->bset(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 3, dil));
        DNN(c->bset(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 3, str));
        DNN(c->bset(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 3, pre));
        DNN(c->bset(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 3, post));
        DNN(c->bfinalize(conv));
    }
    {
        const float alpha = 1.0f, beta = 0.0f;
        DNN(c->bcreate(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, &op));
        DNN(c->bset(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tx));
        DNN(c->bset(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tw));
        DNN(c->bset(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &ty));
        DNN(c->bset(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv));
        DNN(c->bset(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha));
        DNN(c->bset(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta));
        DNN(c->bfinalize(op));
    }
    DNN(c->bcreate(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &g));
    DNN(c->bset(g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op));
    DNN(c->bset(g, ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &c->handle));
    DNN(c->bfinalize(g));
    *graph = g;
done: /* success or not, the parts live as long as the plan record (keep) */
    keep_push(keep, tx), keep_push(keep, tw), keep_push(keep, ty), keep_push(keep, conv), keep_push(keep, op);
    keep_push(keep, g);
    return st;
}

/* The plan of the top comment for graph g, or *out NULL when no engine configuration qualifies.
 * Autotuning runs candidates on x, w, y with workspace from the context's scratch. */
static ff_status choose_plan(cuda_ctx *ctx, cudnn_lib *c, cudnnBackendDescriptor_t g, void *x, void *w, void *y,
                             dnn_keep *keep, cudnnBackendDescriptor_t *out, int64_t *ws_out, ff_err *err) {
    ff_status st = FF_OK;
    cudnnBackendDescriptor_t heur = NULL, cfgs[MAX_CFGS] = {NULL}, cand[TUNE_CFGS] = {NULL};
    int64_t cand_ws[TUNE_CFGS] = {0}, ncfg = 0;
    int ncand = 0;
    *out = NULL;
    *ws_out = 0;
    const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    DNN(c->bcreate(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur));
    DNN(c->bset(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g));
    DNN(c->bset(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode));
    DNN(c->bfinalize(heur));
    for (int i = 0; i < MAX_CFGS; i++) DNN(c->bcreate(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[i]));
    DNN(c->bget(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, MAX_CFGS, &ncfg, cfgs));
    const int want = c->autotune ? TUNE_CFGS : 1;
    for (int64_t i = 0; i < ncfg && i < MAX_CFGS && ncand < want; i++) {
        if (cfg_acceptable(c, cfgs[i]) != 1) continue;
        cudnnBackendDescriptor_t plan = NULL;
        int64_t ws = 0, n = 0;
        if (c->bcreate(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) != CUDNN_STATUS_SUCCESS) continue;
        if (c->bset(plan, ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &c->handle) != CUDNN_STATUS_SUCCESS ||
            c->bset(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i]) !=
                CUDNN_STATUS_SUCCESS ||
            c->bfinalize(plan) != CUDNN_STATUS_SUCCESS ||
            c->bget(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws) !=
                CUDNN_STATUS_SUCCESS ||
            ws > FF_CUDNN_WS_MAX) {
            c->bdestroy(plan); /* this engine does not take the shape: the next one may */
            continue;
        }
        cand[ncand] = plan;
        cand_ws[ncand++] = ws;
    }
    int best = ncand > 0 ? 0 : -1;
    if (ncand > 1) { /* FF_CUDNN_AUTOTUNE: the fastest of the candidates, each timed after a warm-up run */
        cudaEvent_t e0 = NULL, e1 = NULL;
        float best_ms = 0.0f;
        best = 0; /* untimed (no events): the heuristic's first */
        if (cudaEventCreate(&e0) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess) {
            best = -1;
            for (int i = 0; i < ncand; i++) {
                void *ws = NULL;
                if ((st = cuda_scratch(ctx, cand_ws[i] > 0 ? (size_t)cand_ws[i] : 1, &ws, err))) break;
                float ms = 0.0f;
                if (run_plan(c, cand[i], x, w, y, ws) != CUDNN_STATUS_SUCCESS || cudaEventRecord(e0, ctx->compute) ||
                    run_plan(c, cand[i], x, w, y, ws) != CUDNN_STATUS_SUCCESS || cudaEventRecord(e1, ctx->compute) ||
                    cudaEventSynchronize(e1) || cudaEventElapsedTime(&ms, e0, e1)) {
                    cudaGetLastError();
                    continue;
                }
                if (best < 0 || ms < best_ms) best = i, best_ms = ms;
            }
        }
        cudaGetLastError();
        if (e0) cudaEventDestroy(e0);
        if (e1) cudaEventDestroy(e1);
        if (st) goto done;
    }
    if (best >= 0) {
        *out = cand[best];
        *ws_out = cand_ws[best];
        cand[best] = NULL;
    }
done:
    for (int i = 0; i < TUNE_CFGS; i++)
        if (cand[i]) c->bdestroy(cand[i]);
    keep_push(keep, heur);
    for (int i = 0; i < MAX_CFGS; i++) keep_push(keep, cfgs[i]);
    return st;
}

/* ---- the convolution ------------------------------------------------------------------------ */

static int64_t align_of(const void *p) {
    const uintptr_t a = (uintptr_t)p;
    int64_t al = 16;
    while (al > 2 && (a & (uintptr_t)(al - 1))) al >>= 1;
    return al;
}

ff_status cuda_cudnn_conv3d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const int stride[3],
                            const int pad[6], int bf16, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (cudnn_ready(ctx))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: %s", be->name,
                          ctx->cudnn ? ctx->cudnn->why : "cannot allocate the cuDNN state");
    cudnn_lib *c = ctx->cudnn;
    ff_status st = FF_OK;
    const int64_t nx = ff_tensor_numel(x), nw = ff_tensor_numel(w);
    /* operands: scratch2 = [x BF16 (bf16)][w converted (when needed)], 256-aligned */
    const size_t es = bf16 ? 2 : 4;
    const size_t xbytes = bf16 ? cuda_align256((size_t)nx * 2) : 0;
    const int w_conv = bf16 ? w->dtype != FF_BF16 : w->dtype != FF_F32;
    const size_t wbytes = w_conv ? cuda_align256((size_t)nw * es) : 0;
    void *s2 = NULL;
    if (xbytes + wbytes && (st = cuda_scratch2(ctx, xbytes + wbytes, &s2, err))) return st;
    void *xp = x->data, *wp = w->data;
    if (bf16) {
        xp = s2;
        if ((st = cuda_round_bf16(ctx, (const float *)x->data, xp, nx, err))) return st;
    }
    if (w_conv) {
        wp = (char *)s2 + xbytes;
        st = bf16 ? cuda_round_bf16(ctx, (const float *)w->data, wp, nw, err)
                  : cuda_widen_f32(ctx, w->data, w->dtype, (float *)wp, nw, err);
        if (st) return st;
    }

    conv_key key;
    memset(&key, 0, sizeof key);
    for (int i = 0; i < 5; i++) {
        key.x[i] = x->shape[i];
        key.w[i] = w->shape[i];
        key.y[i] = out->shape[i];
    }
    for (int i = 0; i < 3; i++) key.stride[i] = stride[i];
    for (int i = 0; i < 6; i++) key.pad[i] = pad[i];
    key.bf16 = bf16;
    int64_t al = align_of(xp);
    if (align_of(wp) < al) al = align_of(wp);
    if (align_of(out->data) < al) al = align_of(out->data);
    key.align = (int32_t)al;

    conv_plan *cp = (conv_plan *)cuda_plan_cache_get(c->plans, &key, sizeof key);
    if (!cp) {
        cp = (conv_plan *)calloc(1, sizeof *cp);
        if (!cp) return ff_err_set(err, FF_ERR_NOMEM, "cudnn: cannot allocate a plan record");
        /* y is F32 in both modes (ops.h: BF16 operands, F32 accumulation and output); a cuDNN
         * without an engine for BF16 x / w with an F32 y leaves FF_PREC_BF16_ALL to im2col */
        cudnnBackendDescriptor_t g = NULL;
        ff_err gerr;
        memset(&gerr, 0, sizeof gerr);
        if (!build_graph(c, &key, 0, &cp->keep, &g, &gerr)) /* a typing cuDNN refuses: no plan */
            st = choose_plan(ctx, c, g, xp, wp, out->data, &cp->keep, &cp->plan, &cp->ws, err);
        if (!cp->plan) keep_free(c, &cp->keep); /* a remembered "no plan" holds nothing */
        ff_status pst = st ? st : cuda_plan_cache_put(c->plans, &key, sizeof key, cp, err);
        if (pst) {
            conv_plan_free(c, cp);
            return pst;
        }
    }
    if (!cp->plan)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: cuDNN has no deterministic plan for this convolution",
                          be->name);
    void *ws = NULL;
    if ((st = cuda_scratch(ctx, cp->ws > 0 ? (size_t)cp->ws : 1, &ws, err))) return st;
    cudnnStatus_t s = run_plan(c, cp->plan, xp, wp, out->data, ws);
    if (s != CUDNN_STATUS_SUCCESS) return cudnn_fail(c, err, "cudnnBackendExecute", __LINE__, s);
    return FF_OK;
}
#endif /* FF_HAVE_CUDNN_H */
