#!/usr/bin/env python3
"""Sweep adapter: forward (and backward) passes of a small model with random weights; one JSON line."""

from __future__ import annotations

import argparse
from typing import Any

import adapter_common as common


def build(torch: Any, name: str) -> Any:
    nn = torch.nn
    if name == "tiny_mlp":
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(128), nn.ReLU(), nn.Linear(128, 10))
    if name == "tiny_cnn":
        return nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(32, 10),
        )
    import torchvision

    return getattr(torchvision.models, name)(weights=None, num_classes=10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["tiny_mlp", "tiny_cnn", "resnet18", "mobilenet_v3_small"], required=True)
    parser.add_argument("--dtype", choices=common.DTYPES, default="float32")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--backward", action="store_true")
    common.add_runtime_args(parser)
    args = parser.parse_args()

    import torch

    device = common.setup(torch, args.device, args.seed, args.threads)
    dtype = getattr(torch, args.dtype)
    model = build(torch, args.model)
    x = torch.randn(args.batch, 3, args.image_size, args.image_size)
    model(x[:1])  # materialise lazy layers in float32 before the dtype cast
    model = model.to(device, dtype).train(args.backward)
    x = x.to(device, dtype)
    outputs: list[Any] = []

    def step() -> None:
        if args.backward:
            model.zero_grad(set_to_none=True)
            out = model(x)
            out.float().sum().backward()
        else:
            with torch.no_grad():
                out = model(x)
        outputs[:] = [out]

    ms = common.time_ms(torch, device, step, args.iters, 1)
    finite = bool(torch.isfinite(outputs[0].float()).all())
    common.emit(
        model=args.model,
        device=device,
        dtype=args.dtype,
        batch=args.batch,
        ms_per_iter=round(ms, 3),
        samples_per_s=round(args.batch / (ms / 1000), 2),
        output_finite=finite,
        parameters=sum(p.numel() for p in model.parameters()),
        peak_memory_mb=common.peak_memory_mb(torch, device),
    )
    return 0 if finite else common.fail(f"{args.model} produced non-finite outputs in {args.dtype} on {device}")


if __name__ == "__main__":
    raise SystemExit(main())
