#!/usr/bin/env python3
"""Sweep adapter: time a batched matmul or conv2d in one dtype; print one JSON line of metrics."""

from __future__ import annotations

import argparse

import adapter_common as common


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--op", choices=["matmul", "conv2d"], default="matmul")
    parser.add_argument("--dtype", choices=common.DTYPES, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--memory-fraction", type=float, default=None)
    common.add_runtime_args(parser)
    args = parser.parse_args()

    import torch

    device = common.setup(torch, args.device, args.seed, args.threads, args.memory_fraction)
    dtype = getattr(torch, args.dtype)
    if args.op == "matmul":
        a = torch.randn(args.batch, args.size, args.size, dtype=torch.float64)
        b = torch.randn(args.batch, args.size, args.size, dtype=torch.float64)
        x, y = a.to(device, dtype), b.to(device, dtype)

        def fn() -> torch.Tensor:
            return torch.bmm(x, y)

        flops = 2.0 * args.batch * args.size**3
        reference = torch.bmm(a[:1], b[:1])
    else:
        a = torch.randn(args.batch, args.channels, args.size, args.size, dtype=torch.float64)
        conv = torch.nn.Conv2d(args.channels, args.channels, 3, padding=1, dtype=torch.float64)
        x = a.to(device, dtype)
        conv_dev = torch.nn.Conv2d(args.channels, args.channels, 3, padding=1).to(device, dtype)
        conv_dev.load_state_dict({k: v.to(dtype) for k, v in conv.state_dict().items()})

        def fn() -> torch.Tensor:
            with torch.no_grad():
                return conv_dev(x)

        flops = 2.0 * args.batch * args.channels * args.channels * 9 * args.size**2
        with torch.no_grad():
            reference = conv(a[:1])
    try:
        result = fn()
    except RuntimeError as exc:
        if "not implemented" in str(exc).lower() or "unsupported" in str(exc).lower():
            return common.skip(f"{args.op} in {args.dtype} on {device}: {str(exc).splitlines()[0][:200]}", device=device)
        raise
    got = result[:1].to("cpu", torch.float64)
    max_rel_error = float((got - reference).abs().max() / (reference.abs().max() or 1.0))
    ms = common.time_ms(torch, device, fn, args.iters, args.warmup)
    common.emit(
        op=args.op,
        device=device,
        dtype=args.dtype,
        batch=args.batch,
        ms_per_iter=round(ms, 4),
        tflops=round(flops / (ms / 1000) / 1e12, 6),
        max_rel_error=max_rel_error,
        peak_memory_mb=common.peak_memory_mb(torch, device),
        threads=torch.get_num_threads(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
