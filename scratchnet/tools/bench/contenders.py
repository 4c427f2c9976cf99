"""The two contenders: one training step, one inference pass, one profiled step each.

A training step is what ``scratchnet train`` does per batch: forward
(train=True, dropout on), softmax cross-entropy, backward, and the paper's
SGD update (momentum 0.9, weight decay 5e-4), in place. PyTorch's is the
idiomatic equivalent: ``zero_grad(set_to_none=True)``, forward,
``cross_entropy``, ``backward``, ``torch.optim.SGD(momentum=0.9,
weight_decay=5e-4).step()``. Inference is a forward pass with train=False
(PyTorch: ``eval()`` under ``no_grad``). Both read the same float32 batch
(PyTorch through ``torch.from_numpy``, no copy).

Per-layer profiles are taken in the training step itself (not by timing
layers in isolation):

- ScratchNet: every layer's forward and backward is wrapped in a timer
  (``timing.scratchnet_layer_timers``); both towers' halves add up under one name.
- PyTorch: forward pre- and post-hooks time each module's forward; the
  post-hook also puts a hook on the module's output tensor, which fires when
  the gradient of that output has been computed. The autograd engine runs
  CPU work on the calling thread, module after module in reverse, so the
  time from one such event to the next is the backward of the module in
  between (its input-gradient and weight-gradient kernels); conv1's backward
  runs from its output's event to the end of ``backward()``. Tensor hooks do
  not wrap tensors (module backward hooks do, and break in-place ReLU).
- Both: the loss (forward and backward) and the optimiser step are rows of
  their own; "(rest)" is the step's wall time minus every row (Python glue,
  dropout reseeding, zero_grad, the autograd engine's bookkeeping).

torch is imported only inside ``TorchContender``.
"""

from __future__ import annotations

import numpy as np

from ...step import train_step
from .timing import LayerTimes, clock, scratchnet_layer_timers

LR = 0.01


def make_batch(config, batch: int, seed: int = 0):
    """A float32 (N, C, S, S) standard-normal batch and int64 labels, on the host."""
    rng = np.random.default_rng([seed, batch])
    x = rng.standard_normal((batch, config.in_channels, config.input_size, config.input_size), dtype=np.float32)
    labels = rng.integers(0, config.num_classes, batch).astype(np.int64)
    return x, labels


def _finish_profile(times: LayerTimes, total: float) -> dict:
    rows = times.rows()
    accounted = sum(sum(row.values()) for row in rows.values())
    rows["(rest)"] = {"forward": 0.0, "backward": 0.0, "other": max(total - accounted, 0.0)}
    return {"step_seconds": total, "rows": rows}


class ScratchNetContender:
    name, label = "scratchnet", "ScratchNet"

    def __init__(self, config, x, labels, seed: int = 0, model=None, engine: str = "fast"):
        from ...fast import sgd_class
        from ...layers import SoftmaxCrossEntropy
        from ...models import alexnet

        self.model = model if model is not None else alexnet(config, seed=seed, engine=engine)
        self.criterion = SoftmaxCrossEntropy()
        self.optimizer = sgd_class(self.model.engine)(self.model.params(), lr=LR, momentum=0.9, weight_decay=5e-4)
        self.x, self.labels = x, labels
        self.steps = 0
        self.last_loss = None

    def train_step(self) -> None:
        self.model.reseed_dropout(self.steps)
        self.steps += 1
        self.last_loss, _ = train_step(self.model, self.criterion, self.optimizer, self.x, self.labels)

    def infer_step(self):
        return self.model.forward(self.x, train=False)

    def profile_step(self) -> dict:
        """One training step with every layer timed. The towers run one after the other here: side by side,
        two layers would share the wall clock, and one timer per layer name would be written by two threads."""
        times, concurrent = LayerTimes(), self.model.concurrent_towers
        self.model.concurrent_towers = False
        try:
            return self._timed_step(times)
        finally:
            self.model.concurrent_towers = concurrent

    def _timed_step(self, times) -> dict:
        with scratchnet_layer_timers(self.model, times):
            start = clock()
            self.model.reseed_dropout(self.steps)
            self.steps += 1
            logits = self.model.forward(self.x, train=True)
            t = clock()
            self.last_loss = self.criterion.forward(logits, self.labels)
            times.add("loss", "forward", clock() - t)
            t = clock()
            dlogits = self.criterion.backward()
            times.add("loss", "backward", clock() - t)
            self.model.backward(dlogits)
            t = clock()
            self.optimizer.step(self.model.grads())
            times.add("sgd step", "other", clock() - t)
            total = clock() - start
        return _finish_profile(times, total)

    def loss_value(self) -> float:
        return float(self.last_loss)


class TorchContender:
    name, label = "torch", "PyTorch"

    def __init__(self, config, x, labels, threads: int, seed: int = 0, weights_from=None):
        import torch

        from .torch_alexnet import load_scratchnet_weights, torch_alexnet

        self.torch = torch
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.model = torch_alexnet(config, seed=seed)
        if weights_from is not None:
            load_scratchnet_weights(self.model, weights_from)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=0.9, weight_decay=5e-4)
        self.x = torch.from_numpy(x)
        self.labels = torch.from_numpy(labels)
        self.last_loss = None

    def train_step(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.torch.nn.functional.cross_entropy(self.model(self.x), self.labels)
        loss.backward()
        self.optimizer.step()
        self.last_loss = loss.detach()

    def infer_step(self):
        self.model.eval()
        with self.torch.no_grad():
            return self.model(self.x).numpy()

    def profile_step(self) -> dict:
        torch = self.torch
        times = LayerTimes()
        starts = {}
        arrivals = []  # (module name, time the gradient of its output was ready), in backward order
        handles = []

        def on_gradient(name):
            def hook(grad):
                arrivals.append((name, clock()))
            return hook

        for name, module in self.model.named_children():
            def before(module, inputs, _name=name):
                starts[_name] = clock()

            def after(module, inputs, output, _name=name):
                times.add(_name, "forward", clock() - starts[_name])
                if output.requires_grad:
                    output.register_hook(on_gradient(_name))

            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
        try:
            self.model.train()
            start = clock()
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(self.x)
            t = clock()
            loss = torch.nn.functional.cross_entropy(logits, self.labels)
            times.add("loss", "forward", clock() - t)
            backward_start = clock()
            loss.backward()
            backward_end = clock()
            previous_name, previous_time = "loss", backward_start
            for name, at in arrivals:
                times.add(previous_name, "backward", at - previous_time)
                previous_name, previous_time = name, at
            times.add(previous_name, "backward", backward_end - previous_time)
            t = clock()
            self.optimizer.step()
            times.add("sgd step", "other", clock() - t)
            total = clock() - start
            self.last_loss = loss.detach()
        finally:
            for handle in handles:
                handle.remove()
        # Rows in network order (the forward's), loss and update last.
        times.order = [n for n in times.order if n not in ("loss", "sgd step")] + ["loss", "sgd step"]
        return _finish_profile(times, total)

    def loss_value(self) -> float:
        return float(self.last_loss)
