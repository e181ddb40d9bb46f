"""Fans' pieces on their connections: `job` frames while a piece is made, an `artifact` frame
when it is done.

The job runner reports every change from its worker threads; the feed hops each report onto the
event loop and emits it in every session of the job's fan whose client accepts jobs (a session
whose connection dropped keeps the frames in its ring, for a resume). A piece that finished
while no connection of the fan's was there to take it is held in the frame log and goes out
after `ready` at the fan's next hello, with fresh signed URLs.
"""

from __future__ import annotations

import asyncio
import json
import logging

from persona.engine.artifacts import PORTFOLIO, FanArtifact
from persona.engine.jobs import JobSnapshot
from persona.engine.service import ChatService
from serving import protocol
from serving.sessions import Session, SessionHub

log = logging.getLogger(__name__)


def job_frame(job: JobSnapshot) -> protocol.Job:
    return protocol.Job(seq=0, job=job.id, kind=job.kind, status=job.status, progress=round(job.progress, 3), position=job.position,
                        step=job.step, error=job.error or "", request=job.request)


def artifact_frame(service: ChatService, artifact: FanArtifact, job: str | None = None) -> protocol.Artifact:
    links, expires = service.artifact_links(artifact)
    files = [protocol.ArtifactFile(name=file.name, media_type=file.media_type, size=file.size, role=file.role, url=links[file.name])
             for file in artifact.files]
    return protocol.Artifact(seq=0, artifact=artifact.id, job=job, kind=artifact.kind, public=artifact.owner == PORTFOLIO, title=artifact.title,
                             description=artifact.description, summary=artifact.summary, files=files, preview=links.get(artifact.preview or ""),
                             expires=expires)


class JobFeed:
    def __init__(self, service: ChatService, hub: SessionHub, loop: asyncio.AbstractEventLoop):
        self.service = service
        self.hub = hub
        self.loop = loop
        self._unlisten = service.runtime.jobs.listen(self._on_change) if service.runtime.jobs is not None else None

    def close(self) -> None:
        if self._unlisten is not None:
            self._unlisten()

    def _on_change(self, job: JobSnapshot) -> None:
        """On a worker thread (or the thread that submitted or cancelled)."""
        if job.owner is None or job.kind not in ("look", "print", "song"):
            return  # the studio's work
        try:
            self.loop.call_soon_threadsafe(self._deliver, job)
        except RuntimeError:  # the loop has closed: shutting down
            pass

    def _deliver(self, job: JobSnapshot) -> None:
        sessions = [session for session in self.hub.of_fan(job.owner) if session.accepts_jobs]
        frame = job_frame(job)
        for session in sessions:
            session.emit(frame)
        if job.status == "done" and isinstance(job.result, FanArtifact):
            self._hand_over(sessions, job.owner, job.result, job.id)

    def _hand_over(self, sessions: list[Session], fan_id: str, artifact: FanArtifact, job: str | None) -> None:
        frame = artifact_frame(self.service, artifact, job)
        for session in sessions:
            session.emit(frame)
        if not any(session.listener is not None for session in sessions):
            self.hub.log.hold(fan_id, artifact.id, job)  # nobody took it now: at their next hello

    def at_hello(self, session: Session, missed: list[str]) -> None:
        """After `ready`: the fan's pieces that finished while they were away (not those the
        resumed frames already carry)."""
        if not session.accepts_jobs:
            return
        held = take_held(self.service, self.hub, session.fan_id)
        carried = {frame.get("artifact") for frame in map(json.loads, missed) if frame.get("type") == "artifact"} if held else set()
        for artifact, job in held:
            if artifact.id not in carried:
                session.emit(artifact_frame(self.service, artifact, job))


def take_held(service: ChatService, hub: SessionHub, fan_id: str) -> list[tuple[FanArtifact, str | None]]:
    """The fan's pieces waiting to be delivered (those still kept), with their job ids; from here
    on they count as delivered."""
    if service.artifacts is None:
        return []
    held = hub.log.held(fan_id)
    if held:
        hub.log.delivered(fan_id, [artifact_id for artifact_id, _ in held])
    return [(artifact, job) for artifact_id, job in held if (artifact := service.artifacts.get(fan_id, artifact_id)) is not None]


def held_as_markdown(service: ChatService, hub: SessionHub, fan_id: str) -> str:
    """The fan's pieces waiting to be delivered, as Markdown links for an OpenAI-compatible
    client (signed for this fan); they count as delivered."""
    return "\n\n".join(artifact_markdown(service, artifact) for artifact, _ in take_held(service, hub, fan_id))


def artifact_markdown(service: ChatService, artifact: FanArtifact) -> str:
    links, _ = service.artifact_links(artifact)
    preview = f"![{artifact.title}]({links[artifact.preview]})\n" if artifact.preview in links else ""
    files = ", ".join(f"[{file.name}]({links[file.name]})" for file in artifact.files)
    return f"{preview}**{artifact.title}** ({artifact.kind}): {artifact.description}\n{files}"
