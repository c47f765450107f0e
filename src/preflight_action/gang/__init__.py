"""preflight-gang: the gang all-reduce across nodes, started once per node by torchrun's flags, srun or an Indexed Job."""
