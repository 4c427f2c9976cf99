"""The two-device split of the paper's Figure 2: towers and exchange points.

A model is a chain of stages. A ``TowerStage`` runs each tower's layers on
that tower's device, seeing only that tower's maps. An ``Exchange`` is the
one place where data crosses between towers: every consumer reads the
concatenation (along axis 1, channels or features) of every tower's output,
copied onto the consumer's device. In the backward pass each tower gets back
the sum of the gradients its output received from every consumer.

Each exchange counts the bytes that cross between towers (a transfer from
tower s to consumer t with s != t), forward and backward, whether or not the
towers sit on different devices, so that ``scratchnet summary`` can predict
the traffic that ``--device gpu:0,1`` will see.
"""

from __future__ import annotations

import contextvars
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from .backend import Device, get_array_module

_blas_controller = None


def _blas():
    """threadpoolctl's handle on NumPy's BLAS (OpenBLAS, MKL, ...), made once."""
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController().select(user_api="blas")
    return _blas_controller


def _blas_threads() -> int:
    """Threads NumPy's BLAS uses now (the CPU count where threadpoolctl finds no BLAS to set)."""
    counts = [info["num_threads"] for info in _blas().info()]
    return max(counts) if counts else os.cpu_count() or 1


class TowerStage:
    """Per tower, a list of (name, layer) run in order on that tower's device."""

    def __init__(self, towers: list[list[tuple[str, object]]], devices: list[Device]):
        if len(towers) != len(devices):
            raise ValueError(f"TowerStage: {len(towers)} towers but {len(devices)} devices")
        self.towers = towers
        self.devices = devices
        # With ``concurrent`` (the fast engine sets it, once, where the kernels
        # allow it) the towers run on the host in threads of their own, each
        # with its share of BLAS's threads: NumPy releases the GIL inside BLAS
        # and the Numba kernels, and two single-threaded GEMMs side by side
        # beat one two-threaded GEMM after the other at these sizes
        # (benchmarks/README.md). Otherwise one after the other.
        self.concurrent = False
        # With ``share_kernel_threads``, side by side, each tower's compiled
        # (Numba) kernels also run on its share of Numba's threads; otherwise
        # both towers' parallel kernels each start a team of all of them,
        # twice as many threads as cores. Off: on 2 cores it gave no speed-up
        # we could measure (benchmarks/README.md, ``benchmarks/towers.py``).
        self.share_kernel_threads = False
        self._pool = None

    def runs_concurrently(self) -> bool:
        """Whether the next pass runs the towers side by side (see ``concurrent``)."""
        return self._blas_threads_per_tower() > 0

    def _blas_threads_per_tower(self) -> int:
        """BLAS threads each tower gets when they run side by side; 0 when they run one after the other.

        Side by side only when ``concurrent``, on the host, with at least one BLAS thread per tower.
        """
        if not (self.concurrent and len(self.towers) > 1 and all(d.is_host for d in self.devices)):
            return 0
        return _blas_threads() // len(self.towers)

    def _map(self, function, inputs):
        threads = self._blas_threads_per_tower()
        if not threads:
            return [function(t, x) for t, x in enumerate(inputs)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=len(self.towers), thread_name_prefix="tower")
        # Each tower's thread runs in a copy of the caller's context, so that
        # settings such as NumPy's errstate (a context variable) hold there too.
        contexts = [contextvars.copy_context() for _ in self.towers]
        kernel_threads = threads if self.share_kernel_threads else None
        with _blas().limit(limits=threads):
            return list(self._pool.map(lambda context, t, x: context.run(_in_tower, kernel_threads, function, t, x),
                                       contexts, range(len(self.towers)), inputs))

    def forward(self, xs: list, train: bool) -> list:
        def run_tower(t, x):
            with self.devices[t]:
                for _, layer in self.towers[t]:
                    x = layer.forward(x, train)
            return x

        return self._map(run_tower, xs)

    def backward(self, dys: list) -> list:
        def run_tower(t, dy):
            with self.devices[t]:
                for _, layer in reversed(self.towers[t]):
                    dy = layer.backward(dy)
            return dy

        return self._map(run_tower, dys)

    def output_shapes(self, input_shapes: list[tuple]) -> list[tuple]:
        shapes = []
        for tower, shape in zip(self.towers, input_shapes):
            for _, layer in tower:
                shape = layer.output_shape(shape)
            shapes.append(shape)
        return shapes


def _in_tower(kernel_threads: int | None, function, t, x):
    """function(t, x) in a tower's thread, its Numba kernels on ``kernel_threads`` threads (None: all).

    Numba's thread count is the calling thread's own, so it is set in the
    tower's thread, on every call (the thread pool reuses its threads; Numba
    may have been imported since the last call: the kernels load on first use).
    """
    numba = sys.modules.get("numba")
    if numba is not None and hasattr(numba, "set_num_threads"):
        numba.set_num_threads(min(kernel_threads or numba.config.NUMBA_NUM_THREADS, numba.config.NUMBA_NUM_THREADS))
    return function(t, x)


class Exchange:
    """All-gather of the towers' outputs along axis 1 onto each consumer's device.

    ``sources``: the devices of the producing towers; ``targets``: the
    devices of the consuming towers (the fc8 exchange has one consumer).
    Consumer t of tower s's output is "the same tower" when s == t; every
    other pair crosses between towers and is counted in bytes.
    """

    def __init__(self, name: str, sources: list[Device], targets: list[Device]):
        self.name = name
        self.sources = sources
        self.targets = targets
        self.bytes_forward = 0
        self.bytes_backward = 0
        self._widths = None

    def __repr__(self) -> str:
        return f"Exchange({self.name!r}, {len(self.sources)} -> {len(self.targets)})"

    def reset_counters(self) -> None:
        self.bytes_forward = self.bytes_backward = 0

    def forward(self, xs: list, train: bool = True) -> list:
        self._widths = [x.shape[1] for x in xs]
        outputs = []
        for t, target in enumerate(self.targets):
            parts = []
            for s, x in enumerate(xs):
                if s != t:
                    self.bytes_forward += x.nbytes
                parts.append(target.put(x))
            with target:
                outputs.append(parts[0] if len(parts) == 1 else get_array_module(parts[0]).concatenate(parts, axis=1))
        return outputs

    def backward(self, dys: list) -> list:
        offsets = [sum(self._widths[:s]) for s in range(len(self._widths))]
        dxs = []
        for s, source in enumerate(self.sources):
            total = None
            for t, dy in enumerate(dys):
                piece = dy[:, offsets[s]:offsets[s] + self._widths[s]]
                if s != t:
                    self.bytes_backward += piece.nbytes
                piece = source.put(piece)
                with source:
                    total = piece if total is None else total + piece
            dxs.append(total)
        return dxs

    def output_shapes(self, input_shapes: list[tuple]) -> list[tuple]:
        first = input_shapes[0]
        width = sum(shape[1] for shape in input_shapes)
        return [(first[0], width, *first[2:]) for _ in self.targets]

    def bytes_per_image(self, input_shapes: list[tuple], itemsize: int) -> int:
        """Bytes crossing between towers in one direction for one image."""
        per_tower = [itemsize * math.prod(shape[1:]) for shape in input_shapes]
        return sum(size for s, size in enumerate(per_tower) for t in range(len(self.targets)) if s != t)

