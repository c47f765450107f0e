"""The runtime safety library's parts: capabilities, dtype policy, memory estimate, backends, profiles."""
