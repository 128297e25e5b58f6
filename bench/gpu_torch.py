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

The speed table of issue 14 (bench/gpu_speed.sh) uses two more modes, which
run diffusers' real modules from the peer source (--peer DIR: the src/ of
../shared/peers/diffusers-58eb52c0-src.tar.gz) on the same random weights
framefarm loads:

  --make-model DIR --configs CFG [--tokenizer-from TINY] [--text-encoder]
      writes a diffusers pipeline folder: WanTransformer3DModel.from_config
      (CFG/transformer) in bf16 and AutoencoderKLWan.from_config (CFG/vae) in
      float32 (as diffusers keeps the Wan VAE), random weights of the classes'
      own initialisation, made on the GPU and saved with save_pretrained;
      with --text-encoder also transformers' UMT5EncoderModel (CFG/text_encoder)
      in bf16; model_index.json and scheduler/ from CFG, tokenizer/ from TINY
      (framefarm's embedded model: its ids are valid rows of any vocabulary).
  --speed DIR [--reps N] [--rows a,b,...]
      prints "SPEED <name> <shape> <ms>" rows: sdpa_self_bf16 / sdpa_cross_bf16
      (F.scaled_dot_product_attention in bf16, the fastest of torch's SDPA
      backends, each timed), dit_block_bf16 (blocks[0] of the model in bf16),
      dit_forward_1.3b_480p_bf16 (the whole model in bf16, 21 x 60 x 104 latent,
      512 text tokens, t = 999), vae_decode_480p_81f (AutoencoderKLWan.decode in
      float32 with torch's default TF32 convolutions, after a 3-frame warm-up)
      and, with a text encoder in DIR, text_encoder_umt5_bf16 (one prompt of 512
      tokens). Medians of --reps CUDA-event timings after a warm-up.
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
    p.add_argument("--make-model", metavar="DIR")
    p.add_argument("--configs", metavar="CFG")
    p.add_argument("--tokenizer-from", metavar="TINY")
    p.add_argument("--text-encoder", action="store_true")
    p.add_argument("--speed", metavar="DIR")
    p.add_argument("--peer", metavar="SRC", help="diffusers src/ folder (default: already importable)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--rows", default="")
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



# ---- the speed table (issue 14): diffusers' real modules on framefarm's weights ------------


def peer_classes(peer):
    """WanTransformer3DModel and AutoencoderKLWan from the peer diffusers source."""
    if peer:
        sys.path.insert(0, peer)
    from diffusers.models.autoencoders.autoencoder_kl_wan import AutoencoderKLWan
    from diffusers.models.transformers.transformer_wan import WanTransformer3DModel
    return WanTransformer3DModel, AutoencoderKLWan


def make_model(args):
    import json
    import os
    import shutil
    cfg, out = args.configs, args.make_model
    if not cfg or not os.path.isdir(cfg):
        print(f"--make-model needs --configs CFG (a folder like ../shared/configs/wan2.1-t2v-1.3b), got {cfg}")
        return 2
    dev = torch.device(args.device)
    Dit, Vae = peer_classes(args.peer)
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(cfg, "model_index.json"), out)
    shutil.copytree(os.path.join(cfg, "scheduler"), os.path.join(out, "scheduler"), dirs_exist_ok=True)
    if args.tokenizer_from:
        shutil.copytree(os.path.join(args.tokenizer_from, "tokenizer"), os.path.join(out, "tokenizer"),
                        dirs_exist_ok=True)
    torch.manual_seed(0)
    t0 = time.time()
    with torch.device(dev):
        dit = Dit.from_config(Dit.load_config(os.path.join(cfg, "transformer")))
    dit = dit.to(torch.bfloat16)
    keep = set(getattr(dit, "_keep_in_fp32_modules", None) or [])  # as from_pretrained(torch_dtype=bf16) keeps them
    for name, prm in dit.named_parameters():
        if keep.intersection(name.split(".")):
            prm.data = prm.data.float()
    dit.save_pretrained(os.path.join(out, "transformer"), safe_serialization=True)
    n = sum(p.numel() for p in dit.parameters())
    del dit
    print(f"# make-model: transformer {n / 1e9:.2f} B parameters (bf16) in {time.time() - t0:.1f} s", flush=True)
    t0 = time.time()
    with torch.device(dev):
        vae = Vae.from_config(Vae.load_config(os.path.join(cfg, "vae")))
    vae.save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
    del vae
    print(f"# make-model: vae (float32) in {time.time() - t0:.1f} s", flush=True)
    if args.text_encoder:
        from transformers import UMT5Config, UMT5EncoderModel
        t0 = time.time()
        tcfg = UMT5Config.from_json_file(os.path.join(cfg, "text_encoder", "config.json"))
        with torch.device(dev):
            te = UMT5EncoderModel(tcfg)
        te = te.to(torch.bfloat16)
        te.save_pretrained(os.path.join(out, "text_encoder"), safe_serialization=True, max_shard_size="20GB")
        n = sum(p.numel() for p in te.parameters())
        del te
        print(f"# make-model: text encoder {n / 1e9:.2f} B parameters (bf16) in {time.time() - t0:.1f} s", flush=True)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return 0


def median_ms(fn, reps, cuda, warm=True):
    if warm:
        fn()  # warm-up
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(max(1, reps)):
        if cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    k = len(times)
    return times[k // 2] if k % 2 else 0.5 * (times[k // 2 - 1] + times[k // 2])


def speed_line(name, shape, ms, note=""):
    print(f"SPEED {name} {shape} {ms:.4f}" + (f"  # {note}" if note else ""), flush=True)


def speed_sdpa(dev, name, L, Lk, reps, small):
    H, D = 12, 128
    q = torch.randn(1, H, L, D, device=dev, dtype=torch.bfloat16)
    k = torch.randn(1, H, Lk, D, device=dev, dtype=torch.bfloat16)
    v = torch.randn(1, H, Lk, D, device=dev, dtype=torch.bfloat16)
    shape = f"{H}x{L}x{D}" if L == Lk else f"{H}x{L}:{Lk}x{D}"
    best, which = None, []
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        backends = [("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION)]
        if hasattr(SDPBackend, "CUDNN_ATTENTION"):
            backends.append(("cudnn", SDPBackend.CUDNN_ATTENTION))
    except ImportError:
        backends = []
    for label, bk in backends:
        try:
            with sdpa_kernel([bk]):
                ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v), reps, dev.type == "cuda")
        except RuntimeError as e:
            which.append(f"{label}: n/a ({' '.join(str(e).split())[:60]})")
            continue
        which.append(f"{label} {ms:.3f}")
        if best is None or ms < best:
            best = ms
    default = median_ms(lambda: F.scaled_dot_product_attention(q, k, v), reps, dev.type == "cuda")
    which.append(f"default {default:.3f}")
    if best is None or default < best:
        best = default
    speed_line(name, shape, best, "torch SDPA backends (ms): " + ", ".join(which))


def speed(args):
    import os
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    rows = set(r for r in args.rows.split(",") if r)
    want = lambda r: not rows or r in rows  # noqa: E731
    small = args.small
    L = 300 if small else 32760
    print(f"# gpu_torch --speed: torch {torch.__version__} on {torch.cuda.get_device_name(dev) if cuda else 'cpu'}, "
          f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}",
          flush=True)
    with torch.inference_mode():
        if want("sdpa_self_bf16"):
            speed_sdpa(dev, "sdpa_self_bf16", L, L, args.reps, small)
        if want("sdpa_cross_bf16"):
            speed_sdpa(dev, "sdpa_cross_bf16", L, 16 if small else 512, args.reps, small)
    Dit, Vae = peer_classes(args.peer)
    f, h, w, Lt = (1, 8, 8, 16) if small else (21, 60, 104, 512)
    with torch.inference_mode():
        if want("dit_forward_1.3b_480p_bf16") or want("dit_block_bf16"):
            dit = Dit.from_pretrained(os.path.join(args.speed, "transformer"), torch_dtype=torch.bfloat16).to(dev)
            c = dit.config
            x = torch.randn(1, c.in_channels, f, h, w, device=dev, dtype=torch.bfloat16)
            text = torch.randn(1, Lt, c.text_dim, device=dev, dtype=torch.bfloat16)
            t = torch.tensor([999], device=dev)
            shape = f"1x16x{f}x{h}x{w}:{Lt}"
            if want("dit_block_bf16"):
                # blocks[0] on the inputs the model gives it (diffusers WanTransformer3DModel.forward)
                rope = dit.rope(x)
                hs = dit.patch_embedding(x).flatten(2).transpose(1, 2).contiguous()
                temb, tproj, enc, _ = dit.condition_embedder(t, text, None)
                tproj = tproj.unflatten(1, (6, -1))
                ms = median_ms(lambda: dit.blocks[0](hs, enc, tproj, rope), args.reps, cuda)
                speed_line("dit_block_bf16", f"T{hs.shape[1]}:{Lt}", ms)
                del hs, enc, tproj, temb, rope
            if want("dit_forward_1.3b_480p_bf16"):
                ms = median_ms(lambda: dit(x, t, text, return_dict=False), args.reps, cuda)
                speed_line("dit_forward_1.3b_480p_bf16", shape, ms, f"{c.num_layers} layers, dim "
                           f"{c.num_attention_heads * c.attention_head_dim}")
            del dit, x, text
            if cuda:
                torch.cuda.empty_cache()
        if want("vae_decode_480p_81f"):
            vae = Vae.from_pretrained(os.path.join(args.speed, "vae"), torch_dtype=torch.float32).to(dev)
            z = torch.randn(1, vae.config.z_dim, f, h, w, device=dev)
            zw = torch.randn(1, vae.config.z_dim, min(f, 3), h, w, device=dev)
            vae.decode(zw, return_dict=False)  # warm-up: cuDNN, allocator
            if cuda:
                torch.cuda.synchronize()
            ms = median_ms(lambda: vae.decode(z, return_dict=False), 1, cuda, warm=False)
            speed_line("vae_decode_480p_81f", f"1x16x{f}x{h}x{w}", ms, "float32, cudnn.allow_tf32 "
                       f"{torch.backends.cudnn.allow_tf32}, one timed decode after a {min(f, 3)}-frame warm-up")
            del vae, z, zw
            if cuda:
                torch.cuda.empty_cache()
        te_dir = os.path.join(args.speed, "text_encoder")
        if want("text_encoder_umt5_bf16") and os.path.isdir(te_dir):
            from transformers import UMT5EncoderModel
            te = UMT5EncoderModel.from_pretrained(te_dir, torch_dtype=torch.bfloat16).to(dev)
            ids = torch.randint(0, min(32000, te.config.vocab_size), (1, 512), device=dev)
            mask = torch.zeros(1, 512, dtype=torch.long, device=dev)
            mask[:, :24] = 1  # a 24-token prompt padded to 512, as WanPipeline tokenizes it
            ms = median_ms(lambda: te(ids, mask).last_hidden_state, args.reps, cuda)
            speed_line("text_encoder_umt5_bf16", "1x512", ms)
            del te
    return 0

def main():
    args = parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: torch.cuda.is_available() is False"
              f" (torch {torch.__version__}, built for CUDA {torch.version.cuda})")
        return 2
    if args.make_model:
        return make_model(args)
    if args.speed:
        return speed(args)
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
