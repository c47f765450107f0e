"""Smoke runs of small real models (real / simulated / stub) with a memory guard and retention."""
