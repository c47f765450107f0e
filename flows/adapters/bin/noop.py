#!/usr/bin/env python3
"""No-op sweep adapter: prints one JSON line. Used to measure runner overhead and in tests."""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sleep-ms", type=float, default=0.0)
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--skip", action="store_true")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    if args.sleep_ms:
        time.sleep(args.sleep_ms / 1000)
    if args.exit_code:
        print(f"noop: exiting with code {args.exit_code} as asked", file=sys.stderr)
        return args.exit_code
    metrics: dict[str, object] = {"ok": True, "seed": args.seed, "tag": args.tag}
    if args.skip:
        metrics["skip_reason"] = "asked to skip"
    print(json.dumps(metrics), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
