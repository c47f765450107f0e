#!/usr/bin/env python3
"""Sweep adapter: torch.compile a small MLP in one mode; print compile time, speed and the gap to eager."""

from __future__ import annotations

import argparse
import time

import adapter_common as common


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--mode", choices=["eager", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"], required=True
    )
    parser.add_argument("--backend", choices=["inductor", "aot_eager", "eager"], default="inductor")
    parser.add_argument("--dtype", choices=common.DTYPES, default="float32")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--iters", type=int, default=20)
    common.add_runtime_args(parser)
    args = parser.parse_args()

    import torch

    device = common.setup(torch, args.device, args.seed, args.threads)
    dtype = getattr(torch, args.dtype)
    model = torch.nn.Sequential(
        torch.nn.Linear(args.width, args.width * 2),
        torch.nn.GELU(),
        torch.nn.Linear(args.width * 2, args.width),
        torch.nn.LayerNorm(args.width),
    ).to(device, dtype)
    model.eval()
    x = torch.randn(args.batch, args.width, device=device, dtype=dtype)
    with torch.no_grad():
        expected = model(x).float()
        eager_ms = common.time_ms(torch, device, lambda: model(x), args.iters, 2)
        compile_s = 0.0
        if args.mode == "eager":
            compiled = model
        else:
            compiled = torch.compile(model, mode=args.mode, backend=args.backend)
            start = time.perf_counter()
            compiled(x)
            common.synchronize(torch, device)
            compile_s = time.perf_counter() - start
        got = compiled(x).float()
        ms = common.time_ms(torch, device, lambda: compiled(x), args.iters, 2)
    max_rel_error = float((got - expected).abs().max() / (expected.abs().max() or 1.0))
    common.emit(
        mode=args.mode,
        backend=args.backend if args.mode != "eager" else "none",
        device=device,
        dtype=args.dtype,
        compile_s=round(compile_s, 3),
        ms_per_iter=round(ms, 4),
        eager_ms_per_iter=round(eager_ms, 4),
        speedup=round(eager_ms / ms, 3) if ms else 0.0,
        max_rel_error=max_rel_error,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
