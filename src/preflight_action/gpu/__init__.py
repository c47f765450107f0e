"""NVIDIA GPU truth: NVML readings, their policy and the per-SKU reference."""
