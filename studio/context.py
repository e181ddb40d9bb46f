"""What every studio tab is built from: settings, the persona, the library of artifacts and,
once the serving app has started it, the chat service it shares with /ws/chat."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from persona.card import PersonaCard
from persona.engine.jobs import Progress

T = TypeVar("T")

if TYPE_CHECKING:
    import gradio as gr

    from persona.engine.runtime import Runtime
    from persona.engine.service import ChatService
    from persona.engine.settings import Settings
    from persona.engine.library import Library

# Model-bound jobs (diffusion, composing, stems) share this Gradio concurrency group, limited
# by settings.studio.gpu_concurrency; the queue holds at most settings.studio.max_queue. Their
# work itself runs on the engine's job runner, which fans' pieces share (`run_model_bound`).
GPU_GROUP = "gpu"


@dataclass
class Reopener:
    """How the Library reopens an artifact in the tab that made it: `fill(settings)` returns
    one value (or gr.update) per component in `outputs`, in order."""

    kinds: set[str]
    tab_id: str
    outputs: list[gr.Component]
    fill: Callable[[dict[str, Any]], list[Any]]


@dataclass
class StudioContext:
    settings: Settings
    persona: PersonaCard
    library: Library
    service: ChatService | None = None  # set once the serving app has started the chat service
    reopeners: list[Reopener] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime | None:
        return self.service.runtime if self.service is not None else None

    def run_model_bound(self, kind: str, work: Callable[[Progress], T], progress: Progress) -> T:
        """`work(report)` on the job runner the fans' pieces share: one queue, one limit on
        model-bound work, whoever asked. Blocks this (Gradio worker) thread until it is done;
        `progress(step, fraction)` is called here, with the queue place while it waits, and may
        raise JobCancelled to cancel. Before the chat service has started, the work runs here."""
        jobs = self.runtime.jobs if self.runtime is not None else None
        if jobs is None:
            return work(progress)
        return jobs.run(f"studio:{kind}", work, title=kind, progress=progress)
