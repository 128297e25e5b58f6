#!/usr/bin/env python3
"""bench/gpu_torch.py: PyTorch doing the same ops and component as bench/gpu_ops.c,
at the same shapes, on the same GPU, for bench/gpu.sh to set side by side.

Prints the same machine-readable lines as bench_gpu_ops:

    OP <name> <shape> <ms per call> <GFLOP per call> <GB moved per call> <peak: fp32|tf32|bf16>
    SKIP <name> <shape> <reason...>

Rows with the same name and shape as a bench_gpu_ops row are the like-for-like
comparison: float32 with TF32 off (torch.backends.cuda.matmul.allow_tf32 =
False, torch.backends.cudnn.allow_tf32 = False), as framefarm's F32 path.
Rows named *_tf32 / *_bf16 are context only (what torch gets with tensor
cores); they have no framefarm counterpart.

The Wan ops are written as diffusers writes them (transformer_wan.py,
autoencoder_kl_wan.py): RMSNorm as x * rsqrt(mean(x^2) + eps) * w, AdaLN as
x * (1 + scale) + shift, rotary embedding on interleaved pairs, the VAE's
RMS_norm as F.normalize(x, dim=1) * scale * gamma + bias, the causal conv as
F.pad + F.conv3d, and one WanTransformerBlock (random weights, 1.3B width).

Timing: torch.cuda.Event around N back-to-back calls after one warm-up call
and one sizing call (N so the calls take >= --min-ms), the mean per call.

usage: python3 bench/gpu_torch.py [--device cuda|cpu] [--min-ms MS] [--small] [--no-block]
  --device cpu --small: tiny shapes, to check this script on a machine without a GPU.
Exit 2 with "no CUDA device: <reason>" when torch sees no GPU (and --device cuda).
"""
import argparse
import math
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # gpu.sh checks this first; keep the message plain anyway
    print(f"no torch: {e}")
    sys.exit(3)

EPS = 1e-6


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--min-ms", type=float, default=50.0)
    p.add_argument("--small", action="store_true")
    p.add_argument("--no-block", action="store_true")
    return p.parse_args()


class Bench:
    def __init__(self, device, min_ms):
        self.dev = torch.device(device)
        self.cuda = self.dev.type == "cuda"
        self.min_ms = min_ms
        self.fails = 0

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize(self.dev)

    def _span_ms(self, fn, n):
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(n):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) * 1e3

    def time_ms(self, fn):
        fn()  # warm-up (cuDNN benchmark, cuBLAS heuristics, caching allocator)
        self.sync()
        one = self._span_ms(fn, 1)
        n = max(1, min(1000, math.ceil(self.min_ms / one))) if one > 0 else 1000
        return self._span_ms(fn, n) / n

    def report(self, name, shape, fn, gflop, gbytes, peak="fp32"):
        try:
            with torch.inference_mode():
                ms = self.time_ms(fn)
        except RuntimeError as e:  # torch.cuda.OutOfMemoryError is one
            msg = " ".join(str(e).split())[:300]
            print(f"SKIP {name} {shape} failed: {msg}", flush=True)
            self.fails += 1
            if self.cuda:
                torch.cuda.empty_cache()
            return None
        print(f"OP {name} {shape} {ms:.4f} {gflop:.3f} {gbytes:.4f} {peak}", flush=True)
        return ms

    def rand(self, *shape, amp=1.0, dtype=torch.float32):
        g = torch.Generator(device="cpu").manual_seed(sum(shape) & 0xFFFF)
        # generate on the device when it is a GPU (fast), from a fixed seed either way
        if self.cuda:
            t = torch.empty(*shape, device=self.dev, dtype=torch.float32)
            t.uniform_(-amp, amp)
        else:
            t = (torch.rand(*shape, generator=g) * 2 - 1) * amp
        return t.to(dtype)


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def sdpa(q, k, v):
    """q (B, H, Lq, D) ... softmax(q k^T / sqrt(D)) v."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v)
    s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))  # torch < 2.0 (CPU dry runs)
    return torch.matmul(torch.softmax(s, dim=-1), v)


def rms_norm(x, w):
    # diffusers RMSNorm in float32
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def apply_rope(x, cos, sin):
    # diffusers WanAttnProcessor apply_rotary_emb: x (B, L, H, D), cos/sin (1, L, 1, D)
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x1 * s + x2 * c
    return out.type_as(x)


# ---- ops -------------------------------------------------------------------------------


def bench_linear(b, T, K, N):
    shape = f"{T}x{K}->{N}"
    x, w, bias = b.rand(T, K), b.rand(N, K, amp=1 / math.sqrt(K)), b.rand(N, amp=0.1)
    gf = 2e-9 * T * K * N
    gb = 4e-9 * (T * K + T * N + N + N * K)
    set_tf32(False)
    b.report("linear", shape, lambda: F.linear(x, w, bias), gf, gb)
    return x, w, bias


def bench_linears(b, T, D, Fd):
    for K, N in ((D, D), (D, Fd), (Fd, D)):
        x, w, bias = bench_linear(b, T, K, N)
        if (K, N) == (D, Fd):
            shape = f"{T}x{K}->{N}"
            # BF16 weights widened to F32 for an F32 GEMM: what framefarm's linear does with BF16 weights
            wb = w.to(torch.bfloat16)
            gb = 1e-9 * (4 * (T * K + T * N + N) + 2 * N * K)
            b.report("linear_bf16w", shape, lambda: F.linear(x, wb.float(), bias), 2e-9 * T * K * N, gb)
            # context: the tensor-core paths torch would use by default / in bf16
            set_tf32(True)
            b.report("linear_tf32", shape, lambda: F.linear(x, w, bias), 2e-9 * T * K * N,
                     4e-9 * (T * K + T * N + N + N * K), "tf32")
            set_tf32(False)
            xb, bb = x.to(torch.bfloat16), bias.to(torch.bfloat16)
            b.report("linear_bf16", shape, lambda: F.linear(xb, wb, bb), 2e-9 * T * K * N,
                     2e-9 * (T * K + T * N + N + N * K), "bf16")
            del wb, xb, bb
        del x, w, bias


def bench_sdpa(b, name, H, Lq, Lk, D, dtype=torch.float32, peak="fp32"):
    shape = f"{H}x{Lq}x{D}" if Lq == Lk else f"{H}x{Lq}:{Lk}x{D}"
    q, k, v = b.rand(1, H, Lq, D, dtype=dtype), b.rand(1, H, Lk, D, dtype=dtype), b.rand(1, H, Lk, D, dtype=dtype)
    es = 4 if dtype == torch.float32 else 2
    b.report(name, shape, lambda: sdpa(q, k, v), 4e-9 * H * Lq * Lk * D, 1e-9 * es * H * D * (2 * Lq + 2 * Lk), peak)
    del q, k, v


def bench_pointwise(b, T, D, H, Fd):
    hd = D // H
    shape, n = f"{T}x{D}", T * D
    gb = 4e-9 * n
    x, y, w, bias = b.rand(1, T, D), b.rand(1, T, D), b.rand(D), b.rand(D, amp=0.1)
    shift, scale = b.rand(1, 1, D, amp=0.1), b.rand(1, 1, D, amp=0.1)
    b.report("rms_norm", shape, lambda: rms_norm(x, w), 4e-9 * n, 2 * gb)
    b.report("layer_norm", shape, lambda: F.layer_norm(x, (D,), w, bias, EPS), 7e-9 * n, 2 * gb)
    b.report("modulate", shape, lambda: x * (1 + scale) + shift, 2e-9 * n, 2 * gb)
    b.report("add", shape, lambda: x + y, 1e-9 * n, 3 * gb)
    hshape = f"{T}x{H}x{hd}"
    x4 = x.view(1, T, H, hd)
    cos, sin = b.rand(1, T, 1, hd), b.rand(1, T, 1, hd)
    b.report("rope", hshape, lambda: apply_rope(x4, cos, sin), 3e-9 * n, 2 * gb + 8e-9 * T * hd)
    b.report("permute_0213", hshape, lambda: x4.permute(0, 2, 1, 3).contiguous(), 0, 2 * gb)
    b.report("copy_f32_bf16", shape, lambda: x.to(torch.bfloat16), 0, 6e-9 * n)
    del x, y, x4
    big = b.rand(T, Fd)
    b.report("gelu_tanh", f"{T}x{Fd}", lambda: F.gelu(big, approximate="tanh"), 1.2e-8 * T * Fd, 8e-9 * T * Fd)
    del big


def bench_conv(b, C, Fr, Hh, Ww):
    shape = f"1x{C}x{Fr}x{Hh}x{Ww}_k3"
    x, w, bias = b.rand(1, C, Fr, Hh, Ww), b.rand(C, C, 3, 3, 3, amp=1 / math.sqrt(27 * C)), b.rand(C, amp=0.1)
    P = Fr * Hh * Ww
    gf, gb = 2e-9 * C * P * C * 27, 4e-9 * (2 * C * P + C * C * 27 + C)
    # diffusers WanCausalConv3d: F.pad(x, (w_l, w_r, h_t, h_b, 2, 0)) then Conv3d(padding=0)
    fn = lambda: F.conv3d(F.pad(x, (1, 1, 1, 1, 2, 0)), w, bias)  # noqa: E731
    set_tf32(False)
    b.report("conv3d", shape, fn, gf, gb)
    set_tf32(True)
    b.report("conv3d_tf32", shape, fn, gf, gb, "tf32")
    set_tf32(False)
    del x, w, bias


def bench_vae_norms(b, C, Fr, Hh, Ww):
    shape, n = f"1x{C}x{Fr}x{Hh}x{Ww}", C * Fr * Hh * Ww
    x, g, beta = b.rand(1, C, Fr, Hh, Ww), b.rand(C), b.rand(C, amp=0.1)
    b.report("group_norm", f"{shape}_g32", lambda: F.group_norm(x, 32, g, beta, EPS), 7e-9 * n, 8e-9 * n)
    g4, b4, sc = g.view(C, 1, 1, 1), beta.view(C, 1, 1, 1), math.sqrt(C)
    # diffusers WanRMS_norm (channel_first): F.normalize(x, dim=1) * scale * gamma + bias
    b.report("l2norm_channels", shape, lambda: F.normalize(x, dim=1) * sc * g4 + b4, 5e-9 * n, 8e-9 * n)
    del x


# ---- one WanTransformerBlock ------------------------------------------------------------


def make_block(b, D, Fd, dtype):
    def lin(n, k):
        return (b.rand(n, k, amp=1 / math.sqrt(k), dtype=dtype), b.rand(n, amp=1 / math.sqrt(k), dtype=dtype))

    def attn():
        return {"q": lin(D, D), "k": lin(D, D), "v": lin(D, D), "o": lin(D, D),
                "nq": 1 + b.rand(D, amp=0.1, dtype=dtype), "nk": 1 + b.rand(D, amp=0.1, dtype=dtype)}

    return {"sst": b.rand(1, 6, D, amp=0.02, dtype=dtype), "attn1": attn(), "attn2": attn(),
            "n2w": 1 + b.rand(D, amp=0.1, dtype=dtype), "n2b": b.rand(D, amp=0.1, dtype=dtype),
            "ffn_in": lin(Fd, D), "ffn_out": lin(D, Fd)}


def wan_attention(x, ctx, a, H, rope=None):
    # diffusers WanAttnProcessor: to_q/k/v, norm_q/k across heads, rope, sdpa, to_out
    q, k, v = F.linear(x, *a["q"]), F.linear(ctx, *a["k"]), F.linear(ctx, *a["v"])
    q, k = rms_norm(q, a["nq"]), rms_norm(k, a["nk"])
    q, k, v = q.unflatten(2, (H, -1)), k.unflatten(2, (H, -1)), v.unflatten(2, (H, -1))
    if rope is not None:
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
    o = sdpa(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    o = o.transpose(1, 2).flatten(2, 3).type_as(q)
    return F.linear(o, *a["o"])


def wan_block(h, enc, temb, p, rope, H):
    # diffusers WanTransformerBlock.forward
    D = h.shape[-1]
    shift, scale, gate, c_shift, c_scale, c_gate = (p["sst"] + temb).chunk(6, dim=1)
    n = F.layer_norm(h, (D,), eps=EPS) * (1 + scale) + shift
    h = h + wan_attention(n, n, p["attn1"], H, rope) * gate
    n = F.layer_norm(h, (D,), p["n2w"], p["n2b"], EPS)
    h = h + wan_attention(n, enc, p["attn2"], H)
    n = F.layer_norm(h, (D,), eps=EPS) * (1 + c_scale) + c_shift
    f = F.linear(F.gelu(F.linear(n, *p["ffn_in"]), approximate="tanh"), *p["ffn_out"])
    return h + f * c_gate


def bench_block(b, T, D, H, Fd, Lt, dtype, name, peak):
    hd = D // H
    flops = (2.0 * T * D * D * 6 + 2.0 * Lt * D * D * 2 + 2.0 * T * D * Fd * 2
             + 4.0 * H * T * T * hd + 4.0 * H * T * Lt * hd)
    es = 4 if dtype == torch.float32 else 2
    params = 8 * (D * D + D) + 4 * D + 6 * D + 2 * D + 2 * D * Fd + Fd + D
    p = make_block(b, D, Fd, dtype)
    h, enc, temb = b.rand(1, T, D, dtype=dtype), b.rand(1, Lt, D, dtype=dtype), b.rand(1, 6, D, amp=0.1, dtype=dtype)
    rope = (b.rand(1, T, 1, hd, dtype=dtype), b.rand(1, T, 1, hd, dtype=dtype))
    set_tf32(False)
    b.report(name, f"T{T}:{Lt}", lambda: wan_block(h, enc, temb, p, rope, H), flops * 1e-9, es * params * 1e-9, peak)
    del p, h, enc, temb, rope


def main():
    args = parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: torch.cuda.is_available() is False"
              f" (torch {torch.__version__}, built for CUDA {torch.version.cuda})")
        return 2
    b = Bench(args.device, args.min_ms)
    if b.cuda:
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(b.dev)
        print(f"# gpu_torch: torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
              f"{torch.backends.cudnn.version()}) on {name}; min {args.min_ms:.0f} ms of calls per op")
    else:
        print(f"# gpu_torch: torch {torch.__version__} on {args.device}{' (--small shapes)' if args.small else ''}")
    sys.stdout.flush()
    set_tf32(False)

    T, D, H, Fd, hd, Lt = (256 if args.small else 32760), 1536, 12, 8960, 128, 512
    bench_linears(b, T, D, Fd)
    L1, L2 = (128, 512) if args.small else (8192, 32760)
    bench_sdpa(b, "sdpa", H, L1, L1, hd)
    bench_sdpa(b, "sdpa", H, L2, L2, hd)
    bench_sdpa(b, "sdpa_bf16", H, L2, L2, hd, torch.bfloat16, "bf16")
    bench_sdpa(b, "sdpa", H, T, Lt, hd)
    bench_pointwise(b, T, D, H, Fd)
    if args.small:
        bench_conv(b, 32, 3, 12, 20)
        bench_vae_norms(b, 64, 2, 12, 20)
    else:
        bench_conv(b, 384, 3, 60, 104)
        bench_conv(b, 96, 4, 480, 832)
        bench_vae_norms(b, 384, 4, 120, 208)
    if not args.no_block:
        Tb = 64 if args.small else 32760
        bench_block(b, Tb, D, H, Fd, Lt, torch.float32, "dit_block", "fp32")
        if b.cuda:
            bench_block(b, Tb, D, H, Fd, Lt, torch.bfloat16, "dit_block_bf16", "bf16")
    print(f"# done: {b.fails} failed")
    return 1 if b.fails else 0


if __name__ == "__main__":
    sys.exit(main())
