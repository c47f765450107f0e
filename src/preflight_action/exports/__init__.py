"""Exports: the report's one verdict written in the formats other engines read (JUnit XML, node_exporter textfile)."""
