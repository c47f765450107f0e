"""Helpers the tests share: real broken runtimes, a fake GitHub API, a one-node Slurm cluster, report builders."""
