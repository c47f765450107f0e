"""The runtime matrix: per-node status over preflight, smoke and sweep artifacts."""
