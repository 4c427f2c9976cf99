"""Tooling around the teaching core: the benchmark (``scratchnet bench``) and the paper's claims re-measured
(``scratchnet reproduce``). The layers, kernels, models and optimiser import nothing from here."""
