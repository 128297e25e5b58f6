"""bench/cpu_side_by_side.py: the PyTorch side of bench/cpu_side_by_side.sh.

Subcommands (each run in its own process by the shell script, so that each
side's peak RSS is its own):

  make DIR              random-weight models from the real configs in
                        ../shared/configs (Wan 2.1 VAE; Wan transformer at the
                        1.3B width with 1 block; UMT5 encoder at the real width
                        with --umt5-layers layers) saved with save_pretrained
                        (safetensors, F32), and the inputs, under DIR.
  run CASE DIR OUT      one torch run of CASE (vae128, vae256, dit1024,
                        dit4096, umt5) on DIR's weights and inputs; writes the
                        output to OUT (safetensors) and prints one line
                        "time_s <best> <all...>".
  compare A B           rel_l2 = ||a - b|| / ||b|| between the single tensors
                        of two safetensors files (float64).
  report DIR --ff BIN   every case on both sides (torch: this script's run;
                        framefarm: BIN = bench_cpu_side_by_side), each in its
                        own process reaped with wait4 for its peak RSS; prints
                        and (--md) writes the markdown table of
                        bench/results/cpu_side_by_side.md.

Needs torch, diffusers (AutoencoderKLWan, WanTransformer3DModel), transformers
(UMT5EncoderModel), safetensors: the virtual environment that
cpu_side_by_side.sh makes. Never used by the tests.
"""
import argparse
import json
import os
import sys
import time


def _torch_setup(threads):
    import torch

    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    return torch


# ---- the cases --------------------------------------------------------------
# latents (B, z, F, h, w) of the VAE decodes: 128x128x17 and 256x256x9 videos
VAE_CASES = {"vae128": (1, 16, 5, 16, 16), "vae256": (1, 16, 3, 32, 32)}
# hidden_states (B, C, F, H, W) with patch 1x2x2: 1024 and 4096 tokens
DIT_CASES = {"dit1024": (1, 16, 4, 32, 32), "dit4096": (1, 16, 4, 64, 64)}
TEXT_LEN = 512


def cmd_make(a):
    torch = _torch_setup(a.threads)
    from safetensors.torch import save_file
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    cfg_root = os.path.join(a.configs, "wan2.1-t2v-1.3b")
    os.makedirs(a.dir, exist_ok=True)
    torch.manual_seed(a.seed)

    with open(os.path.join(cfg_root, "vae", "config.json")) as f:
        vcfg = json.load(f)
    vae = AutoencoderKLWan.from_config(vcfg)
    vae.save_pretrained(os.path.join(a.dir, "vae"), safe_serialization=True)
    del vae

    with open(os.path.join(cfg_root, "transformer", "config.json")) as f:
        tcfg = json.load(f)
    tcfg["num_layers"] = 1
    dit = WanTransformer3DModel.from_config(tcfg)
    dit.save_pretrained(os.path.join(a.dir, "transformer"), safe_serialization=True)
    del dit

    with open(os.path.join(cfg_root, "text_encoder", "config.json")) as f:
        ecfg = json.load(f)
    ecfg["num_layers"] = a.umt5_layers
    ecfg["vocab_size"] = a.umt5_vocab
    enc = UMT5EncoderModel(UMT5Config(**{k: v for k, v in ecfg.items() if k != "architectures"}))
    enc.save_pretrained(os.path.join(a.dir, "text_encoder"), safe_serialization=True)
    del enc

    g = torch.Generator().manual_seed(a.seed + 1)
    for name, shape in VAE_CASES.items():
        save_file({"latents": torch.randn(shape, generator=g)}, os.path.join(a.dir, f"in_{name}.safetensors"))
    text = torch.randn((1, TEXT_LEN, tcfg["text_dim"]), generator=g)
    for name, shape in DIT_CASES.items():
        save_file(
            {
                "hidden_states": torch.randn(shape, generator=g),
                "timestep": torch.tensor([999], dtype=torch.int64),
                "encoder_hidden_states": text,
            },
            os.path.join(a.dir, f"in_{name}.safetensors"),
        )
    ids = torch.randint(1, a.umt5_vocab, (1, TEXT_LEN), generator=g)
    valid = TEXT_LEN * 3 // 4  # a padded tail, as a real prompt has
    ids[:, valid:] = 0
    mask = torch.zeros((1, TEXT_LEN), dtype=torch.int64)
    mask[:, :valid] = 1
    save_file({"input_ids": ids, "attention_mask": mask}, os.path.join(a.dir, "in_umt5.safetensors"))
    print(f"made {a.dir}")


def _timed(fn, reps):
    times = []
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, times


def cmd_run(a):
    torch = _torch_setup(a.threads)
    from safetensors.torch import load_file, save_file

    inp = load_file(os.path.join(a.dir, f"in_{a.case}.safetensors"))
    if a.case in VAE_CASES:
        from diffusers import AutoencoderKLWan

        m = AutoencoderKLWan.from_pretrained(os.path.join(a.dir, "vae"), torch_dtype=torch.float32).eval()
        z = inp["latents"]
        out, times = _timed(lambda: m.decode(z, return_dict=False)[0], a.reps)
    elif a.case in DIT_CASES:
        from diffusers import WanTransformer3DModel

        m = WanTransformer3DModel.from_pretrained(os.path.join(a.dir, "transformer"), torch_dtype=torch.float32).eval()
        x, t, e = inp["hidden_states"], inp["timestep"], inp["encoder_hidden_states"]
        out, times = _timed(lambda: m(x, t, e, return_dict=False)[0], a.reps)
    elif a.case == "umt5":
        from transformers import UMT5EncoderModel

        m = UMT5EncoderModel.from_pretrained(os.path.join(a.dir, "text_encoder"), dtype=torch.float32).eval()
        ids, mask = inp["input_ids"], inp["attention_mask"]
        out, times = _timed(lambda: m(input_ids=ids, attention_mask=mask).last_hidden_state, a.reps)
    else:
        sys.exit(f"unknown case {a.case}")
    save_file({"out": out.contiguous()}, a.out)
    print("time_s %.4f %s" % (min(times), " ".join("%.4f" % t for t in times)))


def cmd_compare(a):
    from safetensors.numpy import load_file
    import numpy as np

    def only(path):
        d = load_file(path)
        if len(d) != 1:
            sys.exit(f"{path}: {len(d)} tensors, want 1")
        return next(iter(d.values())).astype(np.float64)

    x, ref = only(a.a), only(a.b)
    if x.shape != ref.shape:
        sys.exit(f"shapes differ: {x.shape} vs {ref.shape}")
    print("rel_l2 %.3e" % (np.linalg.norm(x - ref) / max(np.linalg.norm(ref), 1e-300)))


# ---- the report: both sides per case, each in its own process ---------------

CASE_DESC = {
    "vae128": "Wan 2.1 VAE decode, latents 1x16x5x16x16 -> video 1x3x17x128x128",
    "vae256": "Wan 2.1 VAE decode, latents 1x16x3x32x32 -> video 1x3x9x256x256",
    "dit1024": "Wan transformer forward, 1.3B width, 1 block, 1024 tokens (1x16x4x32x32), 512 text tokens",
    "dit4096": "Wan transformer forward, 1.3B width, 1 block, 4096 tokens (1x16x4x64x64), 512 text tokens",
    "umt5": "UMT5 encoder, d_model 4096, 64 heads, d_ff 10240, 2 layers, 512 tokens (384 valid)",
}


def _loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def _spawn(cmd, env):
    """Runs cmd, reaping it with wait4 so that its own peak RSS is read; returns
    (best seconds, all seconds, peak RSS MiB, the framefarm backend line or None)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env, text=True)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{out}\n{err[-4000:]}")
    t, info = None, None
    for line in out.splitlines():
        if line.startswith("time_s "):
            v = [float(x) for x in line.split()[1:]]
            t = (v[0], v[1:])
        elif line.startswith("backend "):
            info = line[len("backend "):]
    if t is None:
        sys.exit(f"{' '.join(cmd)}: no time_s line in:\n{out}")
    return t[0], t[1], ru.ru_maxrss / 1024.0, info


def _rel_l2(a, b):
    """rel_l2 by a `compare` child: numpy and torch stay out of this process (see cmd_report)."""
    import subprocess

    out = subprocess.run([sys.executable, os.path.abspath(__file__), "compare", a, b], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"compare {a} {b} failed:\n{out.stderr}")
    return float(out.stdout.split()[1])


def _versions():
    import subprocess

    code = (
        "import re, torch, diffusers, transformers\n"
        "cfg = torch.__config__.show()\n"
        "libs = [m.group(0) for m in (re.search(r'Math Kernel Library Version [\\d.]+', cfg),"
        " re.search(r'MKL-DNN v[\\d.]+', cfg)) if m]\n"
        "print(f'torch {torch.__version__} (PyPI wheel; {\", \".join(libs)}), diffusers {diffusers.__version__}"
        " (source at the golden commit 58eb52c0), transformers {transformers.__version__}')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return out.stdout.strip() or f"(versions unavailable: {out.stderr.strip()[-200:]})"


def _machine():
    import platform
    import subprocess

    model, cores = "?", os.cpu_count()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024
    return f"{model}, {cores} cores, {mem:.0f} GiB RAM, {platform.platform()}"


def cmd_report(a):
    # This process forks the measured ones: Linux carries a process's peak RSS
    # across fork + exec, so it must stay small (no torch, no numpy here), or
    # every child would report at least this process's size.
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    me = os.path.abspath(__file__)
    rows, info = [], None
    for case in a.cases.split():
        tmp_t = os.path.join(a.dir, f"out_torch_{case}.safetensors")
        tmp_f = os.path.join(a.dir, f"out_ff_{case}.safetensors")
        load0 = _loadavg()
        t_t, all_t, rss_t, _ = _spawn(
            [sys.executable, me, "--threads", str(a.threads), "run", case, a.dir, tmp_t, "--reps", str(a.reps)], env
        )
        load1 = _loadavg()
        t_f, all_f, rss_f, info = _spawn(
            [a.ff, case, a.dir, tmp_f, "--threads", str(a.threads), "--reps", str(a.reps)], env
        )
        load2 = _loadavg()
        r = _rel_l2(tmp_f, tmp_t)
        rows.append((case, t_t, all_t, t_f, all_f, rss_t, rss_f, r, (load0, load1, load2)))
        print(
            f"{case}: torch {t_t:.3f} s {rss_t:.0f} MiB | framefarm {t_f:.3f} s {rss_f:.0f} MiB | "
            f"time x{t_f / t_t:.2f} rss x{rss_f / rss_t:.2f} rel_l2 {r:.2e} | load {load0:.1f}/{load1:.1f}/{load2:.1f}",
            flush=True,
        )
        for p in (tmp_t, tmp_f):
            os.remove(p)
    quiet = max(max(x[8]) for x in rows) <= a.quiet
    lines = [
        "# CPU side by side: framefarm vs PyTorch (diffusers / transformers)",
        "",
        f"Written by `{a.command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"- machine: {_machine()}",
        f"- threads: {a.threads} on both sides (`torch.set_num_threads`, `--threads`; OMP_NUM_THREADS={a.threads})",
        f"- {_versions()}",
        f"- framefarm: {info}",
        f"- same safetensors weights (random, real configs from ../shared/configs) and inputs on both sides;"
        f" best of {a.reps} runs of the model call alone (weights loaded); peak RSS of each side's whole"
        f" process (wait4); rel_l2 = ||framefarm - torch|| / ||torch||",
        f"- load average (1 min) before torch / before framefarm / after, per row: "
        + ("quiet machine" if quiet else f"**NOT quiet (some reading > {a.quiet}): timings are upper bounds, rerun on an idle machine**"),
        "",
        "| case | what | torch s | framefarm s | time ratio | torch RSS MiB | framefarm RSS MiB | RSS ratio | rel_l2 | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for case, t_t, all_t, t_f, all_f, rss_t, rss_f, r, ld in rows:
        lines.append(
            f"| {case} | {CASE_DESC[case]} | {t_t:.3f} | {t_f:.3f} | {t_f / t_t:.2f} | {rss_t:.0f} | {rss_f:.0f} |"
            f" {rss_f / rss_t:.2f} | {r:.1e} | {ld[0]:.1f} / {ld[1]:.1f} / {ld[2]:.1f} |"
        )
    lines += [
        "",
        "All runs (seconds): " + "; ".join(
            f"{c}: torch {' '.join('%.3f' % x for x in at)}, framefarm {' '.join('%.3f' % x for x in af)}"
            for c, _, at, _, af, *_ in rows
        ),
        "",
    ]
    if a.md:
        with open(a.md, "w") as f:
            f.write("\n".join(lines))
        print(f"wrote {a.md}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--configs", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "configs"))
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--umt5-layers", type=int, default=2)
    m.add_argument("--umt5-vocab", type=int, default=32128)
    r = sub.add_parser("run")
    r.add_argument("case")
    r.add_argument("dir")
    r.add_argument("out")
    r.add_argument("--reps", type=int, default=1)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    rp = sub.add_parser("report")
    rp.add_argument("dir")
    rp.add_argument("--ff", required=True, help="the bench_cpu_side_by_side binary")
    rp.add_argument("--reps", type=int, default=2)
    rp.add_argument("--cases", default="vae128 vae256 dit1024 dit4096 umt5")
    rp.add_argument("--md", default=None, help="markdown file to write")
    rp.add_argument("--command", default="sh bench/cpu_side_by_side.sh")
    rp.add_argument("--quiet", type=float, default=1.0, help="load average above which the run is flagged")
    a = p.parse_args()
    {"make": cmd_make, "run": cmd_run, "compare": cmd_compare, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
