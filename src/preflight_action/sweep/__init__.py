"""Flow-driven runtime sweeps: plan, bound, run, report and merge sweeps of PyTorch workloads."""
