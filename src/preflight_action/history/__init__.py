"""Run history: a JSON-lines file of per-node figures, carried between runs, and the trends read from it."""
