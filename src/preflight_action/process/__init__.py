"""Starting, reading and stopping child processes: the worker's client, its cached copy, signals, process trees."""
