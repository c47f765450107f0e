"""References that do not use the library under test.

A matmul that is wrong everywhere (patched, miscompiled, a broken BLAS) agrees
with a float64 reference computed by the same torch. These references come from
pure Python instead: exact integer products, ``math.fsum`` dot products on a
slice, and closed-form element-wise results.
"""

from __future__ import annotations

import math
import operator
import os
from typing import Any


def small_ints(rows: int, cols: int, seed: int, span: int) -> list[list[int]]:
    """Deterministic integers in [-span, span] from a 32-bit LCG (no torch, no random module state)."""
    state = seed & 0xFFFFFFFF
    out = []
    for _ in range(rows):
        row = []
        for _ in range(cols):
            state = (1664525 * state + 1013904223) & 0xFFFFFFFF
            row.append((state >> 16) % (2 * span + 1) - span)
        out.append(row)
    return out


def int_matmul(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    columns = [[row[j] for row in b] for j in range(len(b[0]))]
    return [[sum(map(operator.mul, row, col)) for col in columns] for row in a]


def exact_product_mismatches(torch: Any, device: str, dtype: Any, size: tuple[int, int, int], span: int) -> dict[str, Any]:
    """Multiply small-integer matrices whose exact product every float dtype represents; count wrong cells."""
    m, k, n = size
    a, b = small_ints(m, k, 7, span), small_ints(k, n, 11, span)
    want = int_matmul(a, b)
    got = (torch.tensor(a, dtype=dtype, device=device) @ torch.tensor(b, dtype=dtype, device=device)).to("cpu").float().tolist()
    wrong = [(i, j) for i in range(m) for j in range(n) if got[i][j] != want[i][j]]
    first = wrong[0] if wrong else None
    return {
        "cells": m * n,
        "wrong_cells": len(wrong),
        "first_wrong": None if first is None else {"at": list(first), "got": got[first[0]][first[1]], "expected": want[first[0]][first[1]]},
    }


def slice_rel_error(a_rows: list[list[float]], b_cols: list[list[float]], got: list[list[float]]) -> float:
    """Max relative error of ``got`` (rows x cols of a product) against ``math.fsum`` dot products."""
    ref = [[math.fsum(map(operator.mul, row, col)) for col in b_cols] for row in a_rows]
    scale = max((abs(v) for r in ref for v in r), default=0.0) or 1.0
    worst = max((abs(got[i][j] - ref[i][j]) for i in range(len(ref)) for j in range(len(ref[i]))), default=0.0)
    return worst / scale if math.isfinite(worst) else float("inf")


def matmul_slice_error(torch: Any, a: Any, b: Any, product: Any, rows: int = 4, cols: int = 8) -> float:
    """``product`` (a @ b, any device/dtype) checked on its first rows x cols against pure Python."""
    a_rows = a[:rows].to("cpu", torch.float64).tolist()
    b_cols = b[:, :cols].to("cpu", torch.float64).t().tolist()
    got = product[:rows, :cols].to("cpu", torch.float64).tolist()
    return slice_rel_error(a_rows, b_cols, got)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def elementwise_slice_error(rows: list[list[float]], got: list[float]) -> float:
    """``sigmoid(sum(exp(row)) + mean(abs(row)))`` per row, closed form in Python, vs ``got``."""
    ref = [sigmoid(math.fsum(math.exp(v) for v in row) + math.fsum(abs(v) for v in row) / len(row)) for row in rows]
    worst = max((abs(got[i] - ref[i]) for i in range(len(ref))), default=0.0)
    scale = max((abs(r) for r in ref), default=0.0) or 1.0
    return worst / scale if math.isfinite(worst) else float("inf")


MATMUL_OPS = (("torch", "matmul"), ("torch", "mm"), ("torch.Tensor", "__matmul__"), ("torch.Tensor", "matmul"), ("torch.Tensor", "mm"))


def foreign_ops(torch: Any) -> dict[str, str]:
    """Matmul entry points replaced by Python code from outside torch's package: name -> the file that did it."""
    home = os.path.dirname(os.path.realpath(getattr(torch, "__file__", "") or ""))
    found = {}
    for owner_name, attr in MATMUL_OPS:
        owner = torch if owner_name == "torch" else torch.Tensor
        code = getattr(getattr(owner, attr, None), "__code__", None)  # builtins have none
        filename = getattr(code, "co_filename", None)
        if filename and home and not os.path.realpath(filename).startswith(home + os.sep):
            found[f"{owner_name}.{attr}"] = filename
    return found
