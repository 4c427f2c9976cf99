"""The reference layers and the fast engine compute the same numbers, layer by layer and over a whole
training step; the reference files hold none of the engine's machinery, and the core imports no tooling."""

from __future__ import annotations

import ast
import pathlib
import sys

import numpy as np
import pytest

from scratchnet.fast import FastConv2D, FastLayer, Workspace, fast_twin, sgd_class
from scratchnet.layers import LRN, Conv2D, Dropout, Flatten, Linear, MaxPool, ReLU, SoftmaxCrossEntropy, Tanh
from scratchnet.models import alexnet
from scratchnet.step import train_step

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "scratchnet"
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


def normal(seed, shape, dtype):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def one_image_per_chunk(conv):
    conv = fast_twin(conv)
    conv.workspace = Workspace(chunk_bytes=1)
    return conv


# name -> (build(dtype) -> reference layer, input shape); every layer family, and the fast paths' edges:
# Winograd (3x3 stride 1, pads 0-2, groups), im2col's strides and conv1's 11x11, chunks of one image.
LAYERS = {
    "conv 3x3 s1 p1 (Winograd)": (lambda d: Conv2D(3, 4, 3, 1, 1, bias=0.2, rng=0, dtype=d), (2, 3, 7, 6)),
    "conv 3x3 s1 p2 groups=2 (Winograd)": (lambda d: Conv2D(4, 6, 3, 1, 2, 2, rng=1, dtype=d), (2, 4, 5, 8)),
    "conv 3x3 s1 p0 odd (Winograd)": (lambda d: Conv2D(2, 3, 3, 1, 0, rng=2, dtype=d), (3, 2, 9, 7)),
    "conv 5x5 s1 p2 groups=2": (lambda d: Conv2D(4, 6, 5, 1, 2, 2, rng=3, dtype=d), (2, 4, 9, 9)),
    "conv 11x11 s4 (conv1)": (lambda d: Conv2D(3, 4, 11, 4, 0, rng=4, dtype=d), (2, 3, 27, 27)),
    "conv 3x3 s2 p1 groups=2": (lambda d: Conv2D(4, 6, 3, 2, 1, 2, rng=5, dtype=d), (3, 4, 9, 8)),
    "linear": (lambda d: Linear(7, 5, bias=0.1, rng=6, dtype=d), (4, 7)),
    "relu": (lambda d: ReLU(), (2, 3, 4, 5)),
    "tanh": (lambda d: Tanh(), (3, 7)),
    "lrn": (lambda d: LRN(5, 0.5, 0.75, 1.0), (2, 7, 3, 4)),
    "lrn groups=2": (lambda d: LRN(5, 1e-4, 0.75, 2.0, groups=2), (2, 8, 3, 3)),
    "maxpool 3/2": (lambda d: MaxPool(3, 2), (2, 3, 9, 7)),
    "maxpool 3/2 pad 1": (lambda d: MaxPool(3, 2, pad=1), (1, 2, 6, 5)),
    "dropout": (lambda d: Dropout(0.5, seed=3), (4, 6)),
    "flatten": (lambda d: Flatten(), (2, 3, 2, 2)),
}


def run_layer(layer, x, dy):
    """y, dx and every gradient of one forward and backward, as copies (the fast engine reuses dx's memory)."""
    if isinstance(layer, Dropout):
        layer.rng = np.random.default_rng(9)  # the same mask for both engines
    y = layer.forward(x.copy(), train=True).copy()  # a copy in: an in-place ReLU may overwrite its input
    dx = layer.backward(dy.copy()).copy()
    return {"y": y, "dx": dx, **{f"d{name}": grad.copy() for name, grad in layer.grads.items()}}


def assert_engines_equal(reference, fast, x, dy, dtype):
    expected, got = run_layer(reference, x, dy), run_layer(fast, x, dy)
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name].dtype == dtype, name
        scale = max(float(np.abs(value).max()), 1.0)
        np.testing.assert_allclose(got[name], value, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * scale,
                                   err_msg=name)


TWINS = [(name, fast_twin) for name in LAYERS] + [(name + ", chunks of one image", one_image_per_chunk)
                                                  for name in LAYERS if name.startswith("conv")]


@pytest.mark.parametrize("case, twin", TWINS, ids=[case for case, _ in TWINS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_layer_equals_its_fast_twin(case, twin, dtype, numba_switch):
    build, shape = LAYERS[case.removesuffix(", chunks of one image")]
    reference = build(dtype)
    fast = twin(build(dtype))
    x = normal(1, shape, dtype)
    dy = normal(2, reference.output_shape(shape), dtype)
    assert_engines_equal(reference, fast, x, dy, dtype)
    if isinstance(reference, (Conv2D, Linear, ReLU, LRN, MaxPool)):
        assert isinstance(fast, FastLayer)


def test_the_equality_check_catches_a_wrong_fast_path(monkeypatch):
    """A fast convolution whose chunks overwrite dW instead of adding to it: equal for one chunk, caught for three."""
    original = FastConv2D._backward_chunk
    monkeypatch.setattr(FastConv2D, "_backward_chunk",
                        lambda self, x, dy, accumulate, dx: original(self, x, dy, False, dx))
    build, shape = LAYERS["conv 5x5 s1 p2 groups=2"]
    x, dy = normal(1, (3, *shape[1:]), np.float64), normal(2, (3, 6, 9, 9), np.float64)
    assert_engines_equal(build(np.float64), fast_twin(build(np.float64)), x, dy, np.float64)
    with pytest.raises(AssertionError, match="dW"):
        assert_engines_equal(build(np.float64), one_image_per_chunk(build(np.float64)), x, dy, np.float64)


def training_steps(engine: str, name: str, dtype, towers: int, steps: int = 2) -> dict:
    model = alexnet(name, towers=towers, seed=5, dtype=dtype, engine=engine)
    rng = np.random.default_rng(0)
    size = model.config.input_size
    x = rng.standard_normal((3, 3, size, size)).astype(dtype)
    labels = rng.integers(0, model.config.num_classes, 3)
    optimizer, criterion = sgd_class(engine)(model.params(), lr=0.05), SoftmaxCrossEntropy()
    out = {}
    for step in range(steps):
        model.reseed_dropout(step)
        loss, logits = train_step(model, criterion, optimizer, x, labels)
        out[f"loss {step}"], out[f"logits {step}"] = np.array(loss), logits.copy()
    out.update({f"grad {k}": v.copy() for k, v in model.grads().items()})
    out.update({f"param {k}": v.copy() for k, v in model.params().items()})
    return out


# float64 on the tiny models; float32 on cifar too, whose 3x3 convolutions take Winograd's path.
@pytest.mark.parametrize("name, towers, dtype", [("tiny", 2, np.float64), ("tiny", 1, np.float64),
                                                 ("tiny", 2, np.float32), ("cifar", 2, np.float32)])
def test_a_whole_training_step_is_the_same_on_both_engines(name, towers, dtype, numba_switch):
    reference = training_steps("reference", name, dtype, towers)
    fast = training_steps("fast", name, dtype, towers)
    assert set(fast) == set(reference) and any(k.startswith("grad conv3") for k in fast)
    for key, value in reference.items():
        scale = max(float(np.abs(value).max()), 1.0)
        np.testing.assert_allclose(fast[key], value, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * scale,
                                   err_msg=key)


def test_the_engine_is_explicit_and_checked():
    assert alexnet("tiny").engine == "fast"
    assert alexnet("tiny", engine="reference").engine == "reference"
    assert not any(isinstance(layer, FastLayer) for _, layer in alexnet("tiny", engine="reference").layers())
    with pytest.raises(ValueError, match="engine must be one of reference, fast"):
        alexnet("tiny", engine="winograd")


def test_the_reference_convolution_holds_no_engine_machinery():
    source = (PACKAGE / "layers" / "conv.py").read_text().lower()
    for word in ("winograd", "workspace", "chunk", "reuse", "input_grad", "buffer"):
        assert word not in source, word
    for path in (PACKAGE / "layers").glob("*.py"):
        text = path.read_text()
        assert "workspace" not in text.lower() and "dx_buffer" not in text and "inplace" not in text, path.name


CORE = ("layers", "kernels", "models", "fast", "backend.py", "towers.py", "optim.py", "step.py")
TOOLING = ("cli", "commands", "train", "tools")


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every scratchnet module ``path`` imports, as a dotted name relative to the package."""
    names = set()
    package = path.relative_to(PACKAGE).parent.parts
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and not (node.module or "").startswith("scratchnet."):
                continue
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + (node.module.split(".") if node.module else []))
            module = module.removeprefix("scratchnet.")
            names.add(module)
            names.update(f"{module}.{alias.name}".lstrip(".") for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name.removeprefix("scratchnet.") for alias in node.names
                         if alias.name.startswith("scratchnet."))
    return {name for name in names if name}


def test_the_core_imports_no_tooling():
    files = [p for entry in CORE for p in ((PACKAGE / entry).glob("*.py") if (PACKAGE / entry).is_dir()
                                           else [PACKAGE / entry])]
    assert len(files) > 20
    for path in files:
        for module in imported_modules(path):
            assert module.split(".")[0] not in TOOLING, f"{path.relative_to(PACKAGE)} imports {module}"


QUICK_TRAIN = ["--model", "tiny", "--dataset", "digits", "--limit-train", "100", "--val-size", "50",
               "--batch-size", "50", "--log-every", "2"]


def test_train_says_its_engine_and_an_old_checkpoint_resumes_on_either(tmp_path, capsys):
    """The engine is in the first model line, and not in a run's identity: a checkpoint written before the
    engine was a setting (no "engine" in its settings) resumes, on the engine asked for."""
    from scratchnet.checkpoint import load_checkpoint, save_checkpoint
    from scratchnet.cli import main

    run = tmp_path / "run"
    assert main(["train", *QUICK_TRAIN, "--epochs", "1", "--engine", "reference", "--out", str(run)]) == 0
    assert "2 towers, both on cpu, reference engine);" in capsys.readouterr().out
    checkpoint = load_checkpoint(run)
    meta = dict(checkpoint["meta"])
    assert meta["settings"].pop("engine") == "reference"
    save_checkpoint(run / "checkpoint.npz", model_state=checkpoint["model"], meta=meta,
                    velocity=checkpoint["velocity"], extra=checkpoint["extra"])
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert "fast engine);" in capsys.readouterr().out
    assert load_checkpoint(run)["meta"]["epoch"] == 2
    with pytest.raises(SystemExit):
        main(["train", *QUICK_TRAIN, "--engine", "winograd"])
    assert "invalid choice: 'winograd'" in capsys.readouterr().err


def test_bench_says_its_engine(monkeypatch, capsys):
    from scratchnet.cli import main

    monkeypatch.setitem(sys.modules, "torch", None)  # ScratchNet alone
    assert main(["bench", "--quick", "--vs", "none", "--threads", "1", "--engine", "reference",
                 "--layer-repeats", "0", "--no-inference"]) == 0
    assert "ScratchNet's reference engine" in capsys.readouterr().out
