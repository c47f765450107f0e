"""Runtime safety demonstration: capabilities, backends, dtype, memory, diagnostics.

    python examples/runtime_safety_demo.py                     # this machine
    python examples/runtime_safety_demo.py --profile t4-linux  # a simulated platform
    python examples/runtime_safety_demo.py --list-profiles

Exit codes: 0 shown, 2 bad input (unknown profile, invalid profile or policy file).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "scripts"))
import _bootstrap

_bootstrap.ensure_package()

from preflight_action.errors import PreflightError  # noqa: E402
from preflight_action.runtime_safety import (  # noqa: E402
    check_vram_sufficient,
    configure_torch_backends,
    estimate_model_memory_mb,
    get_cached_capabilities,
    list_simulated_profiles,
    load_simulated_profile,
    log_runtime_diagnostics,
    select_safe_dtype,
)

RULE = "=" * 70


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Runtime safety system demonstration.")
    parser.add_argument("--profile", help="show a simulated capability profile (name or YAML path) instead of this machine")
    parser.add_argument("--list-profiles", action="store_true", help="list the shipped simulated profiles and exit")
    parser.add_argument("--model", default="flux-schnell", help="named model to estimate (default: flux-schnell)")
    parser.add_argument("--safety-margin-mb", type=float, default=2048, help="margin for the VRAM check (default 2048)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_profiles:
        print("\n".join(list_simulated_profiles()))
        return 0
    try:
        show(args)
    except PreflightError as exc:
        print(f"runtime_safety_demo: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyError as exc:
        print(f"runtime_safety_demo: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


def show(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    caps = load_simulated_profile(args.profile) if args.profile else get_cached_capabilities()
    print(RULE)
    print("Runtime Safety System Demonstration")
    print(RULE)

    print("\n1. Inspecting runtime capabilities...\n")
    print(caps.summary())
    if caps.simulated:
        print("(simulated: every answer below is what that platform would get, computed on this machine)")

    print("\n2. Configuring PyTorch backends...\n")
    changed = configure_torch_backends(caps=caps)
    if not changed:
        print("nothing to change" + ("" if caps.torch_available else " (torch is not installed)"))
    for setting, change in changed.items():
        print(f"{setting}: {change['from']} -> {change['to']} ({change['why']})")

    print("\n3. Selecting a safe dtype (model requests bfloat16)...\n")
    choice = select_safe_dtype("bfloat16", caps=caps)
    print(f"Using dtype: {choice.dtype}")
    print(f"Reason: {choice.reason}")

    print(f"\n4. Estimating memory for {args.model} in {choice.dtype}...\n")
    inference = estimate_model_memory_mb(args.model, choice.dtype)
    training = estimate_model_memory_mb(args.model, choice.dtype, mode="training")
    print(f"inference: {inference.total_mb}MB ({inference.includes})")
    print(f"training (Adam): {training.total_mb}MB")

    print("\n5. Pre-flight VRAM check...\n")
    ok, message = check_vram_sufficient(inference, safety_margin_mb=args.safety_margin_mb, caps=caps)
    if ok:
        print(f"VRAM check passed: {message}")
    else:
        print(f"Warning: {message}")
        print("Consider enabling CPU offload or using a smaller model")

    print("\n6. Logging runtime diagnostics (one JSON record)...\n")
    logger = logging.getLogger("runtime_safety_demo")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    record = log_runtime_diagnostics(logger, caps=caps)
    print(f"\nlogged {len(record['capabilities'])} capability facts, simulated={record['simulated']}")
    print(RULE)


if __name__ == "__main__":
    sys.exit(main())
