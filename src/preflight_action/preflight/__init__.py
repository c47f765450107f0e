"""The preflight: options, checks, report, triage and their renderings."""
