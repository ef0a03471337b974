"""Loaded by a service process whose `PYTHONPATH` names this directory (`bench/paced.py
--gc-trace`): every garbage collection is written as one line, `<wall time> <generation>
<seconds paused> <objects collected>`, to `$GC_TRACE_DIR/<pid>.gc`, so pauses can be matched
to a timed window afterwards. Not part of any service; a diagnostic only."""

import gc
import os
import time
from typing import Any

_DIR = os.environ.get("GC_TRACE_DIR")

if _DIR:
    _out = open(os.path.join(_DIR, f"{os.getpid()}.gc"), "a", buffering=1)  # noqa: SIM115
    _began = 0.0

    def _trace(phase: str, info: dict[str, Any]) -> None:
        global _began
        if phase == "start":
            _began = time.perf_counter()
            return
        paused = time.perf_counter() - _began
        _out.write(f"{time.time():.6f} {info['generation']} {paused:.6f} {info['collected']}\n")

    gc.callbacks.append(_trace)
