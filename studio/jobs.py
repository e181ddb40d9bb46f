"""What the studio tabs share: pipeline errors shown as messages, a Cancel button
that reaches a running job, scratch folders for the files a job hands to the browser, and
saving to the library.

    flags = CancelFlags()
    cancelled = flags.start(request)                 # at the start of a job
    export_bundle(..., progress=reporter(progress, cancelled))
    flags.cancel(request)                            # the Cancel button
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from pydantic import ValidationError

from persona.engine.jobs import JobCancelled  # raised inside a job's progress callback once it is cancelled
from pipelines.validation import describe_validation_error

if TYPE_CHECKING:
    from studio.context import StudioContext
    from persona.engine.library import Artifact

SCRATCH = Path(tempfile.gettempdir()) / "atelier-studio"  # the temp dir: Gradio serves files from it
SCRATCH_KEEP_S = 24 * 3600


class CancelFlags:
    """One flag per browser session (or gradio_client): Cancel sets it, the job checks it between
    steps. Gradio's own `cancels=` stops the event; the flag stops the work in its thread too."""

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, request: gr.Request | None) -> threading.Event:
        flag = threading.Event()
        with self._lock:
            self._flags[_session(request)] = flag
        return flag

    def cancel(self, request: gr.Request | None) -> None:
        with self._lock:
            flag = self._flags.get(_session(request))
        if flag is not None:
            flag.set()


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "-"


def check(cancelled: threading.Event | None) -> None:
    if cancelled is not None and cancelled.is_set():
        raise JobCancelled()


def reporter(progress: gr.Progress, cancelled: threading.Event | None, start: float = 0.0, span: float = 1.0) -> Callable[[str, float], None]:
    """A pipeline's `progress(step, fraction)` callback shown on the Gradio progress bar,
    raising JobCancelled once the job is cancelled (the pipelines then clean up after themselves)."""

    def report(step: str, done: float) -> None:
        check(cancelled)
        progress(start + span * min(max(done, 0.0), 1.0), desc=step)

    return report


@contextmanager
def pipeline_errors(source: str) -> Iterator[None]:
    """Pipeline errors become a gr.Error with the pipeline's own message (pydantic errors name
    the field, after `source`); a cancelled job says so."""
    try:
        yield
    except gr.Error:
        raise
    except JobCancelled:
        raise gr.Error("Cancelled: nothing was saved.", title="Cancelled", print_exception=False) from None
    except ValidationError as error:
        raise gr.Error(describe_validation_error(error, source), print_exception=False) from None
    except (ValueError, LookupError, OSError) as error:  # PlanError, EditError, UploadError, DesignSpecError, LibraryError ...
        raise gr.Error(str(error), print_exception=False) from None


def scratch_dir(kind: str) -> Path:
    """A fresh folder for one job's files; folders older than a day are swept away."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - SCRATCH_KEEP_S
    for old in SCRATCH.iterdir():
        try:
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=SCRATCH))


def save(context: StudioContext, kind: str, title: str, settings: dict[str, Any], files: list[Path], seed: int | None = None) -> Artifact:
    """Add to the library; a refusal becomes a gr.Error."""
    with pipeline_errors("library"):
        return context.library.add(kind, title[:200], settings, [Path(file) for file in files], seed=seed)


def saved_note(artifact: Artifact) -> str:
    return f"Saved to the library as **{artifact.title}** (`{artifact.id}`)."
