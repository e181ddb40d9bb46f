"""Music benchmark: prints one JSON object.

CPU (always), for a piece of --minutes (default 3) from a brief, as `atelier compose` makes it:
- the pipeline the target is set on (plan + compose + her signature report + the FluidSynth
  stems + the master): wall and CPU seconds for each stage and in total, CPU seconds a minute
  of music, and the real-time factor (seconds of music a second of work; the target is
  3 minutes in <= 6 s, 30x);
- then the bundle export, timed apart: MIDI, the stems encoded to 24-bit WAV, hashed and
  written twice (the folder and the zip: about 1 GB for 3 minutes) on a second thread while
  the mix is mastered again, the piano roll, the manifest, publishing; 24-bit encoding timed
  alone besides;
- side by side in the same run, a plain FluidSynth render of the same MIDI to one stereo WAV
  (the `fluidsynth` command, reverb and chorus off as ours are, 48 kHz 24-bit): the floor any
  soundfont render costs, and ours over it as a ratio;
- the whole `atelier compose` command once, start to exit, imports and bundle included.

Each in-process figure is the best of --repeat runs (the machine may be shared). CPU seconds
count every thread of the process (two synths render at once; the bundle writer encodes on a
second core).

GPU (--gpu): MusicGen's real-time factor at batch 1 and 8 (small and melody architectures,\nrandom weights, fp16), on a lent GPU.

Run: .venv/bin/python bench/music.py [--minutes 3] [--repeat 2] [--gpu]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.cpu import describe_cpu  # noqa: E402

from persona.card import load_persona  # noqa: E402
from pipelines.music.bundle import BITS, export_bundle, sum_stems  # noqa: E402
from pipelines.music.composer import compose  # noqa: E402
from pipelines.music.master import master  # noqa: E402
from pipelines.music.midi import midi_bytes  # noqa: E402
from pipelines.music.planner import MusicBrief, ProceduralPlanner  # noqa: E402
from pipelines.music.render import FLUIDSYNTH_GAIN, SAMPLE_RATE, find_soundfont, render_stems  # noqa: E402
from pipelines.music.signature import SignatureCatalogue  # noqa: E402
from pipelines.music.wav import write_wav  # noqa: E402
from persona.engine.settings import load_settings  # noqa: E402

BRIEF = "rainy Seoul night, hopeful"
TARGET_S_FOR_3_MINUTES = 6.0
# export_bundle's progress stages, named for what runs between one report and the next.
# The stems are rendered first (as export_bundle would) so that the render and the rest can be told apart.
EXPORT_STAGES = {"midi": "write_midi", "render": "export_setup", "stems": "queue_stem_writes", "master": "master_again_while_stems_are_written",
                 "piano roll": "piano_roll", "manifest": "finish_writes_and_manifest", "done": "publish"}


class Clock:
    """Wall and process CPU seconds (all threads) between marks."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def mark(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        spent = self.stages.setdefault(stage, {"wall_s": 0.0, "cpu_s": 0.0})
        spent["wall_s"] += wall - self.wall
        spent["cpu_s"] += cpu - self.cpu
        self.wall, self.cpu = wall, cpu


class NullSink:
    def write(self, data: bytes) -> int:
        return len(data)


def compose_once(minutes: float, soundfont: Path | None, out: Path) -> tuple[dict, dict, dict, float, bytes]:
    """One piece as `atelier compose` makes it: ({pipeline stage: seconds}, {export stage: seconds},
    {component: CPU seconds alone}, its duration in seconds, its MIDI)."""
    settings = load_settings()
    card = load_persona(settings.persona, settings.personas_dir)
    clock = Clock()
    plan = ProceduralPlanner(card.music, persona=card.name).plan(MusicBrief(text=BRIEF, minutes=minutes, seed=0))
    clock.mark("plan")
    score = compose(plan)
    clock.mark("compose")
    catalogue = SignatureCatalogue.from_dna(card.music, persona=card.name)
    catalogue.report(score)
    clock.mark("signature")
    rendered = render_stems(score, soundfont)
    clock.mark("render_stems_fluidsynth")
    master(sum_stems([stem.audio for stem in rendered.stems]), SAMPLE_RATE)
    clock.mark("master")
    pipeline = clock.stages

    clock = Clock()
    current = ["midi"]

    def progress(stage: str, fraction: float) -> None:
        if stage != current[0]:
            clock.mark(EXPORT_STAGES.get(current[0], current[0]))
            current[0] = stage

    export_bundle(score, out, soundfont=soundfont, rendered=rendered, overwrite=True, progress=progress)
    clock.mark(EXPORT_STAGES.get(current[0], current[0]))

    started = time.process_time()
    for stem in rendered.stems:
        write_wav(NullSink(), stem.audio, SAMPLE_RATE, BITS, [])
    components = {"encode_stems_24_bit_alone_cpu_s": time.process_time() - started}
    return pipeline, clock.stages, components, plan.duration_s, midi_bytes(score)


def plain_fluidsynth(midi: bytes, soundfont: Path, folder: Path) -> dict:
    """The `fluidsynth` command rendering the MIDI to a 48 kHz 24-bit stereo WAV."""
    executable = shutil.which("fluidsynth")
    if executable is None:
        return {"skipped": "no fluidsynth command (Debian package fluidsynth)"}
    (folder / "piece.mid").write_bytes(midi)
    command = [executable, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", str(FLUIDSYNTH_GAIN), "-r", str(SAMPLE_RATE),
               "-O", "s24", "-T", "wav", "-F", str(folder / "plain.wav"), str(soundfont), str(folder / "piece.mid")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


def whole_command(minutes: float, folder: Path) -> dict:
    """`atelier compose` as a producer runs it, imports and all."""
    atelier = Path(sys.executable).parent / "atelier"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([str(atelier), "compose", BRIEF, "--minutes", str(minutes), "--out", str(folder), "--overwrite"],
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        return {"failed": result.stderr.strip().splitlines()[-1:]}
    return {"wall_s": round(wall, 2), "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2)}


def cpu_benchmark(minutes: float, repeat: int) -> dict:
    settings = load_settings()
    soundfont, reason = find_soundfont(settings.music.soundfont)
    runs, exports, plains, alone = [], [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for _ in range(repeat):
            stages, export_stages, components, duration_s, midi = compose_once(minutes, soundfont, scratch / "bundles")
            runs.append(stages)
            exports.append(export_stages)
            alone.append(components)
            if soundfont is not None:
                plains.append(plain_fluidsynth(midi, soundfont, scratch))
        bundle_bytes = sum(path.stat().st_size for path in (scratch / "bundles").rglob("*") if path.is_file())
        command = whole_command(minutes, scratch / "command")
    music_minutes = duration_s / 60

    def figures(stages: dict[str, dict[str, float]]) -> dict:
        return {stage: {"wall_s": round(spent["wall_s"], 3), "cpu_s": round(spent["cpu_s"], 3),
                        "cpu_s_per_music_minute": round(spent["cpu_s"] / music_minutes, 3)} for stage, spent in stages.items()}

    def total(stages: dict[str, dict[str, float]], kind: str) -> float:
        return sum(spent[kind] for spent in stages.values())

    best = min(runs, key=lambda stages: total(stages, "wall_s"))
    total_wall, total_cpu = total(best, "wall_s"), total(best, "cpu_s")
    best_export = min(exports, key=lambda stages: total(stages, "wall_s"))
    result = {
        "brief": BRIEF,
        "music_s": round(duration_s, 2),
        "renderer": f"fluidsynth {soundfont.name}" if soundfont else f"built-in synth ({reason})",
        "pipeline": "plan + compose + signature + stems + master",
        "total_wall_s": round(total_wall, 2),
        "total_cpu_s": round(total_cpu, 2),
        "cpu_s_per_music_minute": round(total_cpu / music_minutes, 3),
        "real_time_factor": round(duration_s / total_wall, 1),
        "target": f"3 minutes in <= {TARGET_S_FOR_3_MINUTES:g} s of wall and of CPU time (>= {180 / TARGET_S_FOR_3_MINUTES:g}x real time)",
        "meets_target": duration_s / max(total_wall, total_cpu) >= 180 / TARGET_S_FOR_3_MINUTES,
        "stages": figures(best),
        "runs_total_wall_s": [round(total(stages, "wall_s"), 2) for stages in runs],
        "bundle_export": {
            "what": "MIDI, 24-bit stems and master written to the folder and the zip, hashed; piano roll; manifest",
            "wall_s": round(total(best_export, "wall_s"), 2),
            "cpu_s": round(total(best_export, "cpu_s"), 2),
            "bundle_bytes": bundle_bytes,
            "stages": figures(best_export),
            **{name: round(min(components[name] for components in alone), 3) for name in alone[0]},
        },
    }
    valid = [plain for plain in plains if "cpu_s" in plain]
    if valid:
        plain = min(valid, key=lambda figures: figures["wall_s"])
        render = best.get("render_stems_fluidsynth", {"wall_s": 0.0, "cpu_s": 0.0})
        result["plain_fluidsynth"] = {
            "what": "the fluidsynth command, same MIDI and soundfont, one stereo 24-bit WAV, reverb and chorus off",
            "wall_s": round(plain["wall_s"], 2),
            "cpu_s": round(plain["cpu_s"], 2),
            "cpu_s_per_music_minute": round(plain["cpu_s"] / music_minutes, 3),
            "real_time_factor": round(duration_s / plain["wall_s"], 1),
            "ours_over_plain_cpu": round(total_cpu / plain["cpu_s"], 2),
            "ours_over_plain_wall": round(total_wall / plain["wall_s"], 2),
            "our_stem_render_over_plain_cpu": round(render["cpu_s"] / plain["cpu_s"], 2),
            "note": "ours renders every part to its own stereo stem (two synths at once) and masters the mix",
        }
    elif plains:
        result["plain_fluidsynth"] = plains[0]
    result["atelier_compose_command"] = command
    return result


def gpu(seconds: float = 10.0) -> dict:
    """MusicGen's real-time factor on the lent GPU: the published small and melody
    architectures with random weights (the compute is the same), fp16, text + chroma
    conditioned, classifier-free guidance, at batch 1 and 8. rtf = audio seconds a wall
    second for each item of the batch; throughput = audio seconds a wall second in all."""
    import torch

    from pipelines.music.musicgen import random_musicgen, real_size_config

    if not torch.cuda.is_available():
        return {"skipped": "needs a lent GPU (CUDA)"}
    figures: dict = {"device": torch.cuda.get_device_name(0), "audio_seconds": seconds}
    for name in ("musicgen-small", "musicgen-melody"):
        model, tokenizer = random_musicgen(real_size_config(name))
        model = model.to("cuda", torch.float16)
        frames_per_s = model.config.audio_encoder.frame_rate
        steps = round(seconds * frames_per_s) + model.config.decoder.num_codebooks - 1
        for batch in (1, 8):
            text = tokenizer(["lo-fi city pop, rainy night, hopeful, 84 bpm, D dorian"] * batch, return_tensors="pt").to("cuda")
            chroma = torch.zeros(batch, model.config.chroma_length, 12, device="cuda", dtype=torch.float16)
            chroma[..., 2] = 1  # a held D
            def generate(new_tokens: int) -> None:
                with torch.inference_mode():
                    model.generate(**text, input_features=chroma, max_new_tokens=new_tokens, do_sample=True, guidance_scale=3.0, top_k=250)
                torch.cuda.synchronize()
            generate(16)  # warm-up: kernels, allocator
            started = time.perf_counter()
            generate(steps)
            wall = time.perf_counter() - started
            figures[f"{name}_batch_{batch}"] = {"wall_s": round(wall, 2), "rtf": round(seconds / wall, 2), "throughput_audio_s_per_s": round(batch * seconds / wall, 2)}
        del model
        torch.cuda.empty_cache()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the piece (default: 3)")
    parser.add_argument("--repeat", type=int, default=2, help="in-process runs; the best is reported (default: 2)")
    parser.add_argument("--gpu", action="store_true", help="also the MusicGen real-time factor (needs a lent GPU)")
    args = parser.parse_args()
    result: dict = {"date": dt.date.today().isoformat(), "machine": describe_cpu(),
                    "load_average_at_start": [round(load, 2) for load in os.getloadavg()]}
    result["compose_bundle"] = cpu_benchmark(args.minutes, max(args.repeat, 1))
    if args.gpu:
        result["gpu"] = gpu()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
