"""Progress and cancellation for long pipeline calls: diffusion steps, MusicGen windows.

A long call takes `progress`, called with (steps done, steps in all) as it goes, and
`cancel`, a threading.Event or a callable that returns True once the caller wants it to
stop. The call checks `cancel` between its steps and raises `Cancelled` rather than return
unfinished work:

    cancel = threading.Event()                      # the UI's Cancel button sets it
    look = designer.generate(spec, visual, progress=lambda done, total: ..., cancel=cancel)
    stem = renderer.render(score, prompt, cancel=lambda: time.monotonic() > deadline)
"""

from __future__ import annotations

import threading
from collections.abc import Callable

CancelSignal = threading.Event | Callable[[], bool]
ProgressCallback = Callable[[int, int], None]


class Cancelled(RuntimeError):
    """The call was cancelled between two of its steps; nothing half-made was returned."""


def is_cancelled(cancel: CancelSignal | None) -> bool:
    """Whether the caller has asked to stop: the event is set, or the callable returns true."""
    if cancel is None:
        return False
    return cancel.is_set() if isinstance(cancel, threading.Event) else bool(cancel())
