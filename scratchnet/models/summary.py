"""Layer-by-layer table of a model: output shape, parameters, multiply-adds, device, exchange traffic."""

from __future__ import annotations

from math import prod

from ..layers import Conv2D, Linear
from ..towers import Exchange


def multiply_adds(layer, output_shape: tuple) -> int:
    """Multiply-adds per image: a convolution does C/groups * k * k per output element, a dense layer in * out."""
    if isinstance(layer, Conv2D):
        return prod(output_shape[1:]) * (layer.in_ch // layer.groups) * layer.kernel * layer.kernel
    if isinstance(layer, Linear):
        return layer.in_features * layer.out_features
    return 0


def summarize(model) -> list[dict]:
    """One row per layer (per tower) and per exchange, for one image."""
    config = model.config
    shapes = [(1, config.in_channels, config.input_size, config.input_size)] * len(model.devices)
    rows = []
    for stage in model.stages:
        if isinstance(stage, Exchange):
            rows.append({"layer": f"exchange -> {stage.name}", "tower": "all", "device": "",
                         "output": "", "combined": "", "params": 0, "macs": 0,
                         "exchange_bytes": stage.bytes_per_image(shapes, model.dtype.itemsize)})
            shapes = stage.output_shapes(shapes)
            continue
        next_shapes = []
        for tower, device, shape in zip(stage.towers, stage.devices, shapes):
            for name, layer in tower:
                shape = layer.output_shape(shape)
                combined = (shape[1] * len(stage.towers), *shape[2:])
                rows.append({"layer": name, "tower": _tower_of(name), "device": device.name,
                             "output": "x".join(str(s) for s in shape[1:]),
                             "combined": "x".join(str(s) for s in combined),
                             "params": sum(int(v.size) for v in layer.params.values()),
                             "macs": multiply_adds(layer, shape), "exchange_bytes": 0})
            next_shapes.append(shape)
        shapes = next_shapes
    return rows


def _tower_of(name: str) -> str:
    parts = name.split(".")
    return parts[1].replace("tower", "") if len(parts) > 1 else "1"


def format_summary(model) -> str:
    rows = summarize(model)
    header = ("layer", "tower", "device", "tower output", "all towers", "params", "mult-adds", "exchanged B/img (fwd)")
    body = [(r["layer"], r["tower"], r["device"], r["output"], r["combined"], f"{r['params']:,}", f"{r['macs']:,}",
             f"{r['exchange_bytes']:,}" if r["exchange_bytes"] else "") for r in rows]
    total_params = sum(r["params"] for r in rows)
    total_macs = sum(r["macs"] for r in rows)
    total_bytes = sum(r["exchange_bytes"] for r in rows)
    footer = ("total", "", "", "", "", f"{total_params:,}", f"{total_macs:,}", f"{total_bytes:,}")
    table = [header] + body + [footer]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(row):
        return "  ".join(cell.rjust(w) if i >= 5 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    config = model.config
    title = (f"AlexNet {config.name!r}: {config.towers} tower(s), input {config.in_channels}x{config.input_size}x"
             f"{config.input_size}, {model.dtype.name}")
    notes = (f"Parameters: {total_params:,}. Multiply-adds per image (forward): {total_macs:,} "
             f"({total_macs / 1e6:.0f} million). Bytes crossing between towers per image: {total_bytes:,} "
             f"forward, the same again backward.")
    return "\n".join([title, "", line(header), rule, *(line(r) for r in body), rule, line(footer), "", notes,
                      init_note(config.init)])


def init_note(init: str) -> str:
    """What the weights start from, and why the paper model's default is not the paper's own."""
    from .config import INITS

    why = (" The paper's own (--init paper) blows fc8's logits up within a few steps on real photos and then "
           "stalls at chance; Caffe's fillers (--init caffe) do not blow up but learn nothing for 100 steps "
           "(lesson 12)." if init == "he-conv" else "")
    return f"Initialisation: {init}, {INITS[init]}.{why}"
