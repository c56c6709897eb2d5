"""Benchmarks of the search and its driver (docs/performance.md says what each measures)."""


def build_botorch_kernel() -> None:
    """Build (or load) BoTorch's fused qLogNEHVI C++ kernel before anything is timed.

    BoTorch compiles it at the first multi-objective candidate of a process that finds no
    build for this interpreter in ~/.cache/torch_extensions: 45-80 s on this machine, once,
    and again after another venv built it last. Left to the drivers, whichever timed run
    came first paid it (results/scale/96x16-60s: 49 s inside its first generations).
    The drivers the benchmarks start use this interpreter, so they find it built."""
    # BoTorch has no public call for it; its acquisition functions call this on creation
    from botorch.acquisition.multi_objective.logei import _try_load_fused_kernel

    _try_load_fused_kernel()
