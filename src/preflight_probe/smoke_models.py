"""Small real models with random weights (nothing downloaded): torchvision resnet18, a torch.nn encoder.

Runs inside the smoke worker under the diagnosed interpreter: stdlib + torch only.
"""

from __future__ import annotations

from typing import Any

MODELS = ("resnet18", "transformer")
# Parameter counts of the models below, for stub mode (no torch to count them).
PARAM_COUNTS = {"resnet18": 11_181_642, "transformer": 77_194}
NUM_CLASSES = 10
D_MODEL, HEADS, FFN, LAYERS, SEQ_LEN = 64, 4, 128, 2, 16


def build(name: str, device: Any = "cpu") -> Any:
    """The model called ``name`` with random weights on ``device`` (``"meta"`` allocates nothing)."""
    import torch

    with torch.device(device):
        if name == "resnet18":
            import torchvision

            return torchvision.models.resnet18(weights=None, num_classes=NUM_CLASSES)
        if name == "transformer":
            layer = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, FFN, dropout=0.0, batch_first=True)
            return torch.nn.Sequential(
                torch.nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False),
                torch.nn.Flatten(),
                torch.nn.Linear(D_MODEL * SEQ_LEN, NUM_CLASSES),
            )
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")


def example_input(name: str, batch: int, image_size: int, generator: Any) -> Any:
    """A float32 CPU input batch for ``name`` drawn from ``generator``."""
    import torch

    if name == "resnet18":
        return torch.randn(batch, 3, image_size, image_size, generator=generator)
    return torch.randn(batch, SEQ_LEN, D_MODEL, generator=generator)


def param_count(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))
