"""preflight-action: tell a PyTorch team whether each machine can really run their stack."""

__version__ = "0.1.0"
