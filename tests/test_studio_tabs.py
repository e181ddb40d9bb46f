"""The Fashion and Music tabs, driven end to end through their API names with gradio_client,
as a script or another tool would drive them: a real server on 127.0.0.1, the real library,
the embedded pipelines (no model). Last, the Persona tab's memory inspector, whose reads go
to the director's memory thread."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import mido  # noqa: E402
import pytest  # noqa: E402
import soundfile  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from PIL import Image  # noqa: E402
from pypdf import PdfReader  # noqa: E402

from persona.card import load_persona  # noqa: E402
from persona.director import Director  # noqa: E402
from persona.engine.jobs import JobRunner  # noqa: E402
from persona.engine.settings import Settings  # noqa: E402
from persona.memory.retrieval import Recall  # noqa: E402
from studio import music_tab  # noqa: E402
from studio.context import StudioContext  # noqa: E402
from studio.fashion_tab import build_fashion_tab  # noqa: E402
from studio.jobs import JobCancelled  # noqa: E402
from persona.engine.library import Library  # noqa: E402
from studio.music_tab import MAX_STEMS, build_music_tab  # noqa: E402
from studio.persona_tab import build_persona_tab  # noqa: E402
from studio_helpers import HTTP_TIMEOUT, WAIT_S  # noqa: E402

BRIEF = "flowers on Venus"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_tabs(context: StudioContext) -> gr.Blocks:
    with gr.Blocks() as demo:
        with gr.Tabs():
            with gr.Tab("Fashion", id="fashion"):
                build_fashion_tab(context)
            with gr.Tab("Music", id="music"):
                build_music_tab(context)
    return demo


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    settings = Settings()
    assert settings.fashion.diffusion is None  # the embedded default: no diffusion model
    library = Library(tmp_path_factory.mktemp("library"))
    context = StudioContext(settings=settings, persona=load_persona(settings.persona, settings.personas_dir), library=library)
    jobs = JobRunner(concurrency=1, max_queue=16, fan_daily_quota=5)  # the runner fans' pieces share, as in the server
    context.service = SimpleNamespace(runtime=SimpleNamespace(jobs=jobs, director=None, memory=None, artifacts=None))
    demo = build_tabs(context)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")),
                    httpx_kwargs={"timeout": HTTP_TIMEOUT})
    try:
        yield SimpleNamespace(client=client, context=context, library=library)
    finally:
        client.close()
        demo.close()
        library.close()
        jobs.close()


def value_of(output):
    """An output the server sent as gr.update(...) arrives as a dict with its value inside."""
    return output["value"] if isinstance(output, dict) and output.get("__type__") == "update" else output


def test_every_action_has_an_api_name(studio):
    endpoints = set(studio.client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {
        "/design_candidates", "/keep_looks", "/export_lookbook", "/open_design", "/edit_design", "/colorways", "/reference_palette",
        "/apply_palette", "/make_prints", "/diffusion_look", "/plan_music", "/compose_music", "/cancel_compose",
    } <= endpoints


def test_twelve_looks_keep_six_lookbook(studio, tmp_path):
    client = studio.client
    gallery, keep, design_id, name, status = client.predict(BRIEF, 24, 12, 7, api_name="/design_candidates")
    assert len(gallery) == 24 and all(Path(item["image"]).is_file() for item in gallery)
    first_cut = value_of(keep)
    assert len(first_cut) == 12 and len(keep["choices"]) == 24
    assert name == "Flowers On Venus" and "24 candidates" in status

    board, coherence, status = client.predict(first_cut[:6], "Venus Garden", api_name="/keep_looks")
    with Image.open(board) as image:
        assert image.width == 6 * 300
    assert "6 looks" in coherence and "palette spread" in coherence

    pdf, archive, status = client.predict(api_name="/export_lookbook")
    pages = PdfReader(pdf).pages
    assert len(pages) == 1 + 6  # the cover with the board, then a page a look
    assert "Venus Garden" in pages[0].extract_text()
    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
    assert "venus-garden/lookbook.pdf" in names and "venus-garden/board.png" in names
    assert sum(name.endswith("/spec.json") for name in names) == 6

    kinds = [artifact.kind for artifact in studio.library.search()]
    assert kinds.count("collection") >= 2 and "design" in kinds  # the kept board and the lookbook; the candidates
    lookbook = studio.library.search("Lookbook", kind="collection")[0]
    assert {path.suffix for path in lookbook.files} == {".pdf", ".zip", ".png"}
    assert len(lookbook.settings["looks_specs"]) == 6 and lookbook.settings["brief"] == BRIEF and lookbook.seed == 7


def test_keep_refuses_an_empty_cut(studio):
    studio.client.predict(BRIEF, 8, 4, 1, api_name="/design_candidates")
    with pytest.raises(Exception, match="Tick at least one look"):
        studio.client.predict([], "Nothing", api_name="/keep_looks")


def test_open_edit_colorways_and_palette(studio, tmp_path):
    client = studio.client
    client.predict(BRIEF, 6, 3, 2, api_name="/design_candidates")
    spec_text, front, back, _ = client.predict("flower-venus-0001", api_name="/open_design")
    spec = json.loads(spec_text)
    assert Path(front).is_file() and Path(back).is_file()

    edited_text, changes, front, back, status = client.predict(spec_text, "darker and add pockets", api_name="/edit_design")
    edited = json.loads(edited_text)
    assert edited["id"] == spec["id"] and edited["palette"] != spec["palette"]
    assert "palette" in changes and "details" in changes
    with pytest.raises(Exception, match="design spec"):
        client.predict('{"category": "gown"}', "longer", api_name="/edit_design")

    gallery, status = client.predict(edited_text, 3, 5, api_name="/colorways")
    assert len(gallery) == 3 and all(item["caption"] for item in gallery)

    picture = tmp_path / "moodboard.png"
    image = Image.new("RGB", (120, 80), "#1B2A4A")
    image.paste(Image.new("RGB", (40, 80), "#E0703A"), (0, 0))
    image.save(picture)
    reference, swatches, table, palette, status = client.predict(handle_file(str(picture)), 3, 0.3, api_name="/reference_palette")
    assert Path(swatches).is_file() and len(palette) == len(table["data"]) == 2
    assert abs(sum(color["share"] for color in palette) - 1) < 0.02
    recast_text, front, back, status = client.predict(edited_text, palette, api_name="/apply_palette")
    assert [color["hex"] for color in json.loads(recast_text)["palette"]] == [color["hex"] for color in palette]
    assert "her DNA" in status  # on it, or a drift warning
    neon = [{"name": "Neon Green", "hex": "#39FF14", "share": 0.7}, {"name": "Persimmon", "hex": "#E0703A", "share": 0.3}]
    _, _, _, status = client.predict(edited_text, neon, api_name="/apply_palette")
    assert "**Off her DNA:** Neon Green (#39FF14) is ΔE" in status and "Persimmon (" not in status
    recorded = studio.library.search(kind="design")[0].settings["fingerprint"]
    assert recorded["drift"] and recorded["colours"][0]["name"] == "Neon Green" and recorded["colours"][1]["delta_e"] == 0

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    with pytest.raises(Exception, match="not a readable"):
        client.predict(handle_file(str(not_an_image)), 3, 0.3, api_name="/reference_palette")
    assert {"design", "palette"} <= set(studio.library.kinds())


def test_prints(studio):
    gallery, archive, status = studio.client.predict("celestial garden", 4, 128, 3, api_name="/make_prints")
    assert len(gallery) == 4
    with Image.open(gallery[0]["image"]) as tile:
        assert tile.size == (128, 128)
    with zipfile.ZipFile(archive) as bundle:
        assert len([name for name in bundle.namelist() if name.endswith(".png")]) == 4
    artifact = studio.library.search(kind="print")[0]
    assert artifact.settings == {"brief": "celestial garden", "count": 4, "size": 128, "seed": 3} and len(artifact.files) == 4


def test_diffusion_says_it_is_not_configured(studio):
    studio.client.predict(BRIEF, 2, 1, 0, api_name="/design_candidates")
    spec_text, *_ = studio.client.predict("flower-venus-0001", api_name="/open_design")
    with pytest.raises(Exception, match="fashion.diffusion.model_dir"):
        studio.client.predict(spec_text, 1, 1, True, api_name="/diffusion_look")


def test_diffusion_look_when_configured(studio, tmp_path, monkeypatch):
    """A tiny SDXL-Turbo built in code stands in for a real checkpoint: loaded on first use,
    run in the GPU group, the look saved with what made it."""
    from test_fashion_diffusion import clip_text_config, sdxl_unet, tiny_vae, write_clip_tokenizer

    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from pipelines.fashion.config import DiffusionConfig
    from pipelines.fashion.metadata import read_png_metadata

    tokenizer = write_clip_tokenizer(tmp_path / "clip-vocab")
    StableDiffusionXLPipeline(
        unet=sdxl_unet(),
        vae=tiny_vae(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4),
        text_encoder=CLIPTextModel(clip_text_config(tokenizer)), text_encoder_2=CLIPTextModelWithProjection(clip_text_config(tokenizer)),
        tokenizer=tokenizer, tokenizer_2=tokenizer, scheduler=EulerDiscreteScheduler(timestep_spacing="trailing"),
    ).save_pretrained(tmp_path / "tiny-sdxl-turbo")
    config = DiffusionConfig(model_dir=tmp_path / "tiny-sdxl-turbo", architecture="sdxl-turbo", device="cpu", dtype="float32")
    monkeypatch.setattr(studio.context.settings.fashion, "diffusion", config)

    studio.client.predict(BRIEF, 2, 1, 0, api_name="/design_candidates")
    spec_text, *_ = studio.client.predict("flower-venus-0001", api_name="/open_design")
    look, about, status = studio.client.predict(spec_text, 11, 1, True, api_name="/diffusion_look")
    spec, parameters = read_png_metadata(Path(look))
    assert spec.id == "flower-venus-0001" and "Seed: 11" in parameters
    assert "sdxl-turbo" in about and "seed 11" in about
    artifact = studio.library.search(kind="look")[0]
    assert artifact.seed == 11 and artifact.settings["record"]["architecture"] == "sdxl-turbo"


def test_compose_one_minute(studio):
    client = studio.client
    planned = client.predict("rainy Seoul night, hopeful", 1, 5, None, "", "", "", api_name="/plan_music")
    title, bpm, tonic, mode, meter, genre, seed, sections, instruments, summary = planned
    assert sections["data"] and instruments["data"] and title in summary

    outputs = client.predict(title, bpm, tonic, mode, meter, genre, seed, sections, instruments, api_name="/compose_music")
    ran = studio.context.runtime.jobs.jobs(None)
    assert ran and ran[0].kind == "studio:compose" and ran[0].status == "done"  # on the runner fans' pieces share
    master, players, (roll, archive, midi, stems, summary) = outputs[0], outputs[1:1 + MAX_STEMS], outputs[1 + MAX_STEMS:]
    audio, rate = soundfile.read(master)
    assert rate == 48_000 and 50 < len(audio) / rate < 75
    playing = [value_of(player) for player in players if value_of(player)]
    assert len(playing) == len(instruments["data"]) == len(stems["data"])
    assert Path(roll).is_file() and Path(midi).is_file()

    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
        song = mido.MidiFile(file=io.BytesIO(bundle.read(next(name for name in names if name.endswith(".mid")))))
        assert song.type == 1 and len(song.tracks) > len(instruments["data"]) - 1
        wavs = [name for name in names if name.endswith(".wav")]
        assert len(wavs) == len(stems["data"]) + 1  # the stems and the master
        lengths = {soundfile.info(io.BytesIO(bundle.read(name))).frames for name in wavs}
        assert len(lengths) == 1  # equal-length stems
        manifest = json.loads(bundle.read(next(name for name in names if name.endswith("manifest.json"))))
    assert [entry["path"] for entry in manifest["files"] if entry["kind"] == "stem"] == [row[0] for row in stems["data"]]

    artifact = studio.library.search(kind="composition")[0]
    assert artifact.settings["plan"]["title"] == title and artifact.seed == seed
    assert any(path.suffix == ".zip" for path in artifact.files)


def test_a_bad_plan_names_the_field(studio):
    client = studio.client
    title, bpm, tonic, mode, meter, genre, seed, sections, instruments, _ = client.predict("lofi study", 0.5, 1, None, "", "", "", api_name="/plan_music")
    with pytest.raises(Exception, match="bpm"):
        client.predict(title, 500, tonic, mode, meter, genre, seed, sections, instruments, api_name="/compose_music")
    sections["data"][0][2] = "i xyz"
    with pytest.raises(Exception, match=r"sections\.0\.chords"):
        client.predict(title, bpm, tonic, mode, meter, genre, seed, sections, instruments, api_name="/compose_music")
    with pytest.raises(Exception, match="time_signature"):
        client.predict(title, bpm, tonic, mode, "four", genre, seed, sections, instruments, api_name="/compose_music")


def test_musicgen_stem_when_configured(studio, tmp_path, monkeypatch):
    """A tiny random MusicGen-Melody stands in for the real weights: its stem joins the bundle
    with its licence, and a commercial export refuses it."""
    from pipelines.music.config import MusicgenConfig
    from pipelines.music.musicgen import save_random_musicgen

    config = MusicgenConfig(model_dir=save_random_musicgen(tmp_path / "musicgen-melody-tiny"), model_name="facebook/musicgen-melody", max_seconds_per_call=3.0)
    monkeypatch.setattr(studio.context.settings.music, "musicgen", config)
    client = studio.client
    plan = client.predict("night drive", 0.25, 2, 240, "A minor", "", "", api_name="/plan_music")[:9]
    with pytest.raises(Exception, match="non-commercial"):
        client.predict(*plan, True, api_name="/compose_music")
    outputs = client.predict(*plan, False, api_name="/compose_music")
    stems, summary = outputs[-2], outputs[-1]
    assert stems["data"][-1][1] == "MusicGen" and stems["data"][-1][-1] == "CC-BY-NC-4.0"
    assert "not cleared for commercial use" in summary and "similarity" in summary


def test_cancel_stops_composing_and_saves_nothing(studio, monkeypatch):
    """Cancel is pressed at a known point, while the bundle is exported: the export's first step
    waits until the button was pressed, then the job's own progress checks see the flag."""
    exporting, pressed, left = threading.Event(), threading.Event(), threading.Event()
    stopped_by: list[BaseException] = []
    export_bundle = music_tab.export_bundle

    def export_pausing_at_its_first_step(*args, progress, **kwargs):
        def report(step: str, done: float) -> None:
            if not exporting.is_set():
                exporting.set()
                pressed.wait(WAIT_S)
            progress(step, done)

        try:
            return export_bundle(*args, progress=report, **kwargs)
        except BaseException as error:
            stopped_by.append(error)
            raise
        finally:
            left.set()  # the worker thread is out of the export: it saves after it or not at all

    monkeypatch.setattr(music_tab, "export_bundle", export_pausing_at_its_first_step)
    client = studio.client
    planned = client.predict("slow ambient drift", 2, 9, None, "", "", "", api_name="/plan_music")
    before = len(studio.library.search(kind="composition"))
    job = client.submit(*planned[:9], api_name="/compose_music")
    try:
        assert exporting.wait(WAIT_S), job.exception() if job.done() else "the export never started"
        client.predict(api_name="/cancel_compose")
    finally:
        pressed.set()  # never leave the worker waiting, pressed or not
    with pytest.raises(Exception):
        job.result(timeout=WAIT_S)
    assert left.wait(WAIT_S), "the worker thread is still exporting"
    assert len(stopped_by) == 1 and isinstance(stopped_by[0], JobCancelled), stopped_by
    assert len(studio.library.search(kind="composition")) == before


def test_reopeners_fill_every_output(studio):
    """The Library reopens each kind in the tab that made it: one value per output component."""
    reopeners = studio.context.reopeners
    assert {kind for reopener in reopeners for kind in reopener.kinds} >= {"design", "collection", "print", "look", "composition", "palette"}
    for artifact in studio.library.search(limit=50):
        reopener = next(reopener for reopener in reopeners if artifact.kind in reopener.kinds)
        values = reopener.fill(artifact.settings)
        assert len(values) == len(reopener.outputs), artifact.kind


class ThreadRecordingMemory:
    """Stands in for the runtime's PersonaMemory: answers as an empty memory, noting the thread of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def _called(self, name: str) -> None:
        self.calls.append((name, threading.current_thread().name))

    def inspect(self, fan_id: str) -> tuple[dict, list]:
        self._called("inspect")
        return {"relationship": {"turns": 0}}, []

    def recall(self, fan_id: str, text: str) -> Recall:
        self._called("recall")
        return Recall()

    def forget(self, fan_id: str) -> int:
        self._called("forget")
        return 0


def test_the_memory_inspector_reads_on_the_directors_memory_thread(tmp_path):
    settings = Settings()
    card = load_persona(settings.persona, settings.personas_dir)
    context = StudioContext(settings=settings, persona=card, library=Library(tmp_path / "library"))
    with gr.Blocks() as demo:
        build_persona_tab(context, demo)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path / "downloads"), httpx_kwargs={"timeout": HTTP_TIMEOUT})
    memory = ThreadRecordingMemory()
    director = Director(card, backend=None, prompts=None, params=None, memory=memory)
    try:
        with pytest.raises(Exception, match="still starting"):
            client.predict("studio", api_name="/memory_show")
        context.service = SimpleNamespace(runtime=SimpleNamespace(director=director, memory=memory, jobs=None, artifacts=None))
        state, rows, summary = client.predict("studio", api_name="/memory_show")
        assert state == {"relationship": {"turns": 0}} and rows["data"] == [] and "0 memories" in summary
        assert client.predict("studio", "Do you remember me?", api_name="/memory_recall")["headers"][0] == "use"
        exported = json.loads(Path(client.predict("studio", api_name="/memory_export")).read_text())
        assert exported == {"fan_id": "studio", "state": {"relationship": {"turns": 0}}, "memories": []}
        assert client.predict("studio", True, api_name="/memory_forget")[0].startswith("Forgot 0 memories")
    finally:
        client.close()
        demo.close()
        context.library.close()
        asyncio.run(director.close())
    assert [name for name, _ in memory.calls] == ["inspect", "recall", "inspect", "forget"]
    assert all(thread.startswith("atelier-memory") for _, thread in memory.calls), memory.calls
