"""The kernel's own word on this node: NVIDIA Xid/SXid events, PCIe AER errors, GPUs off the bus, InfiniBand ports."""
