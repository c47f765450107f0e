"""Summaries: many preflight reports merged into one Markdown + JSON verdict."""
