"""GitHub: the sticky PR comment, workflow annotations and the composite action's helper."""
