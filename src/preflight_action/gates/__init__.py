"""Gates: the report's one verdict mapped to a scheduler's or runner's contract (Slurm, node-problem-detector, runner hooks)."""
