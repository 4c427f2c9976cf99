"""The layers the one-layer scripts in ``benchmarks/`` time, read off the model itself so they cannot drift from it."""

from __future__ import annotations

from ...layers import Conv2D
from ...models import alexnet, summarize


def three_by_three_convs(model_name: str) -> dict:
    """{"conv3": (in channels, out channels, side of the maps), ...}: tower 1's 3x3 stride-1 convolutions."""
    model = alexnet(model_name, engine="reference")
    outputs = {row["layer"]: row["output"] for row in summarize(model)}
    found = {}
    for stage in model.stages:
        for name, layer in getattr(stage, "towers", [[]])[0]:
            if isinstance(layer, Conv2D) and layer.kernel == 3 and layer.stride == 1:
                side = int(outputs[name].split("x")[-1])  # pad 1, stride 1: the input's side too
                found[name.split(".")[0]] = (layer.in_ch, layer.out_ch, side)
    return found
