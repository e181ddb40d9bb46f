"""The Fashion tab: a brief in, many candidate designs out, curated into a collection and
exported as a lookbook; prints, colourways, palettes from reference images, edits in the
designer's own words and, on a GPU server, diffusion looks.

Every action is an API endpoint as well (gradio_client), named after what it does:

    design_candidates   brief, candidates, looks, seed      -> gallery, first cut ticked, status
    keep_looks          ticked ids, collection name          -> line-up board, coherence, status
    export_lookbook     (the kept collection)                -> lookbook PDF, zip, status
    open_design         design id                            -> spec JSON, front and back flats
    edit_design         spec JSON, instruction               -> spec JSON, changes, flats, status
    colorways           spec JSON, how many, seed            -> gallery, palettes, status
    reference_palette   image file, colours, harmony         -> image, swatches, palette table, palette, status
    apply_palette       spec JSON, palette                   -> spec JSON, flats, status
    make_prints         brief, count, size, seed             -> gallery, zip, status
    diffusion_look      spec JSON, seed, steps, from flat    -> look image, what made it, status

The work is the pipelines' (pipelines/fashion/); this module only lays it out and saves what
is made to the library, with the settings that reopen it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, ImageDraw

from persona.creations import fashion_fingerprint
from pipelines.fashion.brief import DesignBrief, ProceduralDesigner
from pipelines.fashion.collection import Collection, lineup_board, propose_collection
from pipelines.fashion.edits import apply_edit
from pipelines.fashion.flats import draw_flat, flat_to_png
from pipelines.fashion.images import load_upload_file
from pipelines.fashion.lookbook import export_collection, print_tile, slugify, zip_folder
from pipelines.fashion.metadata import procedural_parameters, save_png
from pipelines.fashion.palette import colorways as make_colorways
from pipelines.fashion.palette import extract_palette, harmonize, recolor_tile
from pipelines.fashion.prints import make_tile, tile_preview
from pipelines.fashion.spec import DesignSpec, DesignSpecError, PaletteColor
from pipelines.fonts import draw_text, text_font
from studio.context import GPU_GROUP, Reopener, StudioContext
from studio.jobs import CancelFlags, JobCancelled, check, pipeline_errors, reporter, save, saved_note, scratch_dir

THUMB_PX = 240  # gallery flats
PREVIEW_TILE_PX = 256  # prints inside flats on screen; the lookbook export draws them at 1024
FLAT_PX = 480  # the design's front and back
BOARD_PX = 300  # per look on the line-up board
MAX_CANDIDATES = 300
MAX_PRINTS = 200
MAX_COLORWAYS = 12
MAX_PALETTE = 8  # a spec holds at most 8 colours

NOT_CONFIGURED = (
    "Diffusion looks are not configured: set fashion.diffusion.model_dir to a local diffusers folder "
    "(SDXL, SDXL-Turbo or FLUX, with model_index.json inside) in the config (see configs/gpu.yaml) "
    "or ATELIER_FASHION__DIFFUSION__MODEL_DIR, and restart the studio. Flats, prints and lookbooks need no model."
)


class FashionTab:
    def __init__(self, context: StudioContext):
        self.context = context
        self.card = context.persona
        self.flags = CancelFlags()
        self._designer = None
        self._designer_lock = threading.Lock()

    # --- candidates and the collection ---------------------------------------------------

    def design_candidates(self, brief_text: str, count: float, looks: float, seed: float,
                          request: gr.Request | None = None, progress: gr.Progress = gr.Progress()) -> tuple:
        cancelled = self.flags.start(request)
        count, looks, seed = _whole(count, "candidates", 1, MAX_CANDIDATES), _whole(looks, "looks", 1, MAX_CANDIDATES), _whole(seed, "seed", 0, 2**32 - 1)
        with pipeline_errors("brief"):
            brief = DesignBrief(text=brief_text or "", n=count, seed=seed)
            progress(0.0, desc="designing")
            specs = ProceduralDesigner(self.card.fashion, self.card.visual).design(brief)
            cut = propose_collection(specs, min(looks, len(specs)), name=_title(brief.text), brief=brief.text)
            folder = scratch_dir("candidates")
            items = []
            for index, spec in enumerate(specs):
                check(cancelled)
                progress((index, len(specs)), desc="drawing flats", unit="designs")
                items.append((str(self._thumbnail(spec, folder / f"{index + 1:03d}-{spec.id}.png")), _caption(index, spec)))
            (folder / "candidates.json").write_text(json.dumps([spec.model_dump(mode="json") for spec in specs], indent=2, ensure_ascii=False))
        settings = {"mode": "candidates", "brief": brief.text, "count": count, "looks": looks, "seed": seed}
        artifact = save(self.context, "design", f"{count} candidates: {brief.text}", settings,
                        [folder / "candidates.json", *[Path(path) for path, _ in items]], seed=seed)
        state = {"brief": brief.text, "count": count, "looks": looks, "seed": seed, "specs": [spec.model_dump(mode="json") for spec in specs]}
        choices = [(_caption(index, spec), spec.id) for index, spec in enumerate(specs)]
        kept = [spec.id for spec in cut.looks]
        status = (f"{len(specs)} candidates from {', '.join(brief.keywords) or 'her fashion DNA'}; a first cut of {len(kept)} "
                  f"looks in one colour story is ticked. {saved_note(artifact)}")
        return (items, gr.update(choices=choices, value=kept), state, gr.update(choices=[spec.id for spec in specs], value=None),
                _title(brief.text), status)

    def keep_looks(self, candidates: dict | None, keep: list[str] | None, name: str | None,
                   progress: gr.Progress = gr.Progress()) -> tuple:
        specs = self._candidate_specs(candidates)
        keep = list(dict.fromkeys(keep or []))
        if not keep:
            raise gr.Error("Tick at least one look to keep.")
        unknown = [look for look in keep if look not in specs]
        if unknown:
            raise gr.Error(f"keep: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not among the candidates; design candidates first")
        with pipeline_errors("collection"):
            collection = Collection(name=(name or "").strip() or _title(candidates.get("brief", "")), brief=candidates.get("brief", ""),
                                    looks=[specs[look] for look in keep])
            progress(0.2, desc="line-up board")
            folder = scratch_dir("collection")
            board = self._board(collection, folder / "board.png")
            coherence = collection.coherence()
            (folder / "collection.json").write_text(json.dumps({**collection.model_dump(mode="json"), "coherence": coherence.model_dump()}, indent=2, ensure_ascii=False))
        settings = {**_brief_settings(candidates), "name": collection.name, "keep": keep, "looks_specs": [look.model_dump(mode="json") for look in collection.looks]}
        artifact = save(self.context, "collection", collection.name, settings, [board, folder / "collection.json"], seed=candidates.get("seed"))
        state = {"collection": collection.model_dump(mode="json"), **_brief_settings(candidates)}
        return str(board), coherence_markdown(collection), state, f"{len(collection.looks)} looks kept. {saved_note(artifact)}"

    def export_lookbook(self, collection_state: dict | None, request: gr.Request | None = None,
                        progress: gr.Progress = gr.Progress()) -> tuple:
        if not collection_state:
            raise gr.Error("Keep some looks first: the lookbook is made from the kept collection.")
        cancelled = self.flags.start(request)
        with pipeline_errors("collection"):
            collection = Collection.model_validate(collection_state["collection"])
            out = scratch_dir("lookbook")
            lookbook = export_collection(collection, out, progress=reporter(progress, cancelled))
        pdf, archive = lookbook.pdf, lookbook.archive
        settings = {**{key: value for key, value in collection_state.items() if key != "collection"}, "name": collection.name,
                    "export": "lookbook", "keep": [look.id for look in collection.looks],
                    "looks_specs": [look.model_dump(mode="json") for look in collection.looks]}
        artifact = save(self.context, "collection", f"Lookbook: {collection.name}", settings, [pdf, archive, lookbook.board],
                        seed=collection_state.get("seed"))
        return str(pdf), str(archive), f"Lookbook of {len(collection.looks)} looks: a PDF and a zip with every flat, print and spec. {saved_note(artifact)}"

    # --- one design -----------------------------------------------------------------------

    def open_design(self, candidates: dict | None, design_id: str | None) -> tuple:
        specs = self._candidate_specs(candidates)
        if not design_id or design_id not in specs:
            raise gr.Error(f"design id: {design_id!r} is not among the candidates; choose one of the gallery's designs")
        spec = specs[design_id]
        front, back = self._flats(spec, scratch_dir("design"))
        return _spec_json(spec), str(front), str(back), f"Opened **{spec.name}** ({spec.id}). {dna_note(fashion_fingerprint(spec, self.card))}"

    def edit_design(self, spec_text: str, instruction: str, candidates: dict | None) -> tuple:
        spec = parse_spec(spec_text)
        with pipeline_errors("edit"):
            edited, changes = apply_edit(spec, instruction or "", palette_names=self.card.visual.palette)
            folder = scratch_dir("edit")
            front, back = self._flats(edited, folder)
            (folder / "spec.json").write_text(_spec_json(edited))
        settings = {"mode": "edit", "instruction": instruction, "source": spec.model_dump(mode="json"), "spec": edited.model_dump(mode="json")}
        artifact = save(self.context, "design", f"{edited.name}: {instruction}", settings, [folder / "spec.json", front, back], seed=edited.provenance.seed)
        changed = "\n".join(f"- {change}" for change in changes) or "- nothing changed"
        return _spec_json(edited), changed, str(front), str(back), _replace_candidate(candidates, edited), saved_note(artifact)

    def colorways(self, spec_text: str, count: float, seed: float) -> tuple:
        spec = parse_spec(spec_text)
        count, seed = _whole(count, "colourways", 1, MAX_COLORWAYS), _whole(seed, "seed", 0, 2**32 - 1)
        with pipeline_errors("colourways"):
            palettes = make_colorways(spec.palette, self.card.visual.palette, count, seed)
            folder = scratch_dir("colorways")
            tile = print_tile(spec, PREVIEW_TILE_PX)
            items = []
            for index, palette in enumerate(palettes, start=1):
                recast = spec.model_copy(update={"palette": palette})
                image = flat_to_png(draw_flat(recast, "front", recolor_tile(tile, spec.palette, palette) if tile else None), width=FLAT_PX // 3 * 2)
                path = save_png(image, folder / f"{index:02d}-colorway.png", recast, procedural_parameters(recast, f"colourway {index}, front flat"))
                items.append((str(path), f"{index:02d}  " + " / ".join(color.name for color in palette)))
        as_data = [[color.model_dump(mode="json") for color in palette] for palette in palettes]
        settings = {"mode": "colorways", "spec": spec.model_dump(mode="json"), "count": count, "seed": seed, "colorways": as_data}
        artifact = save(self.context, "design", f"{spec.name}: {count} colourways", settings, [Path(path) for path, _ in items], seed=seed)
        return items, as_data, f"{len(palettes)} colourways of **{spec.name}** in her palette; click one to use it. {saved_note(artifact)}"

    def use_colorway(self, spec_text: str, palettes: list | None, candidates: dict | None, selected: gr.SelectData) -> tuple:
        if not palettes or selected.index is None or selected.index >= len(palettes):
            raise gr.Error("Make colourways first.")
        return self.apply_palette(spec_text, palettes[selected.index], candidates)

    def reference_palette(self, upload: str | None, colours: float, strength: float) -> tuple:
        if not upload:
            raise gr.Error("Upload a reference image first (PNG, JPEG or WEBP).")
        colours = _whole(colours, "colours", 1, MAX_PALETTE)
        if not 0.0 <= float(strength) <= 1.0:
            raise gr.Error(f"harmony: expected 0 (the image's own colours) to 1 (snapped to hers), got {strength}")
        with pipeline_errors("reference image"):
            image = load_upload_file(_upload_path(upload))  # size, format and pixel count checked before decoding
            extracted = extract_palette(image, k=colours, names=self.card.visual.palette)
            palette = harmonize(extracted, self.card.visual.palette, float(strength))
            folder = scratch_dir("palette")
            reference = folder / "reference.png"
            preview = image.copy()
            preview.thumbnail((1024, 1024))
            preview.save(reference)
            swatches = folder / "palette.png"
            swatch_strip(palette).save(swatches)
        as_data = [color.model_dump(mode="json") for color in palette]
        table = [[color.name, color.hex, round(100 * color.share, 1)] for color in palette]
        settings = {"mode": "reference", "colours": colours, "strength": float(strength), "palette": as_data,
                    "extracted": [color.model_dump(mode="json") for color in extracted]}
        artifact = save(self.context, "palette", f"Palette: {', '.join(color.name for color in palette[:3])}", settings, [swatches, reference])
        return str(reference), str(swatches), table, as_data, f"{len(palette)} colours, harmonised with hers at {float(strength):.0%}. {saved_note(artifact)}"

    def apply_palette(self, spec_text: str, palette: list | None, candidates: dict | None) -> tuple:
        spec = parse_spec(spec_text)
        if not palette:
            raise gr.Error("palette: make a palette first (from a reference image or a colourway)")
        with pipeline_errors("palette"):
            recast = DesignSpec.model_validate({**spec.model_dump(mode="json"), "palette": palette})
            folder = scratch_dir("recast")
            front, back = self._flats(recast, folder)
            (folder / "spec.json").write_text(_spec_json(recast))
        fingerprint = fashion_fingerprint(recast, self.card)
        settings = {"mode": "palette", "source": spec.model_dump(mode="json"), "spec": recast.model_dump(mode="json"), "fingerprint": fingerprint}
        artifact = save(self.context, "design", f"{recast.name} in {recast.palette[0].name}", settings, [folder / "spec.json", front, back],
                        seed=recast.provenance.seed)
        return _spec_json(recast), str(front), str(back), _replace_candidate(candidates, recast), f"{saved_note(artifact)} {dna_note(fingerprint)}"

    # --- prints -----------------------------------------------------------------------------

    def make_prints(self, brief_text: str, count: float, size: float, seed: float,
                    request: gr.Request | None = None, progress: gr.Progress = gr.Progress()) -> tuple:
        cancelled = self.flags.start(request)
        count, size, seed = _whole(count, "count", 1, MAX_PRINTS), _whole(size, "size", 64, 2048), _whole(seed, "seed", 0, 2**32 - 1)
        with pipeline_errors("brief"):
            brief = DesignBrief(text=brief_text or "", n=count, seed=seed)
            items, archive = self.draw_prints(brief, size, cancelled, progress)
        settings = {"brief": brief.text, "count": count, "size": size, "seed": seed}
        artifact = save(self.context, "print", f"{count} prints: {brief.text}", settings, [Path(path) for path, _ in items], seed=seed)
        return items, str(archive), [path for path, _ in items], f"{count} seamless tiles at {size}²; click one to see it repeat. {saved_note(artifact)}"

    def draw_prints(self, brief: DesignBrief, size: int, cancelled: threading.Event | None = None,
                    progress: gr.Progress | None = None) -> tuple[list[tuple[str, str]], Path]:
        """The brief's tiles (gallery items) and a zip of them; each PNG carries its spec."""
        out = scratch_dir("prints")
        folder = out / slugify(brief.text or "prints")
        items = []
        for index, spec in enumerate(ProceduralDesigner(self.card.fashion, self.card.visual).design(brief), start=1):
            check(cancelled)
            if progress is not None:
                progress((index - 1, brief.n), desc="print tiles", unit="tiles")
            if spec.print.type == "solid":  # a print run is for patterns, as `atelier prints` does
                spec = spec.model_copy(update={"print": spec.print.model_copy(update={"type": "ripple"})})
            tile = make_tile(spec.print, spec.palette, spec.provenance.seed, size)
            path = save_png(tile, folder / f"{index:04d}-{spec.print.type}.png", spec, procedural_parameters(spec, f"{spec.print.type} print tile"))
            items.append((str(path), f"{index:02d}  {spec.print.type}" + (f": {spec.print.motif}" if spec.print.motif else "")))
        archive = out / f"{folder.name}.zip"
        zip_folder(folder, archive, folder.name)
        return items, archive

    # --- diffusion looks ------------------------------------------------------------------

    def diffusion_note(self) -> str:
        config = self.context.settings.fashion.diffusion
        if config is None:
            return f"**Diffusion looks are off.** {NOT_CONFIGURED}"
        return (f"Diffusion looks with **{config.architecture}** from `{config.model_dir}` (loaded on first use)"
                + ("; *from flat* follows the technical flat through the ControlNet." if config.controlnet_dir else "."))

    def diffusion_look(self, spec_text: str, seed: float | None, steps: float | None, from_flat: bool,
                       request: gr.Request | None = None, progress: gr.Progress = gr.Progress()) -> tuple:
        config = self.context.settings.fashion.diffusion
        if config is None:
            raise gr.Error(NOT_CONFIGURED, title="Diffusion not configured", print_exception=False)
        spec = parse_spec(spec_text)
        seed = None if seed is None or seed < 0 else _whole(seed, "seed", 0, 2**32 - 1)
        steps = None if not steps else _whole(steps, "steps", 1, 150)
        try:
            from pipelines.fashion.diffusion import Cancelled, DiffusionError
        except ImportError as error:
            raise gr.Error(f"Diffusion looks need diffusers and torch installed on this server: {error}", print_exception=False) from None

        cancelled = self.flags.start(request)

        def work(report: Callable[[str, float], None]):
            report("loading the diffusion model", 0.0)
            designer = self._diffusion_designer()
            options = {"seed": seed, "steps": steps, "progress": lambda step, total: report(f"denoising: step {step} of {total}", step / max(total, 1)),
                       "cancel": cancelled}
            if from_flat and designer.controlnet_dir is not None:
                flat = flat_to_png(draw_flat(spec, "front", print_tile(spec, PREVIEW_TILE_PX)), width=1024)
                return designer.from_flat(spec, flat, self.card.visual, **options)
            return designer.generate(spec, self.card.visual, **options)

        try:
            look = self.context.run_model_bound("diffusion look", work, lambda step, done: progress(done, desc=step))
        except (Cancelled, JobCancelled):
            raise gr.Error("Cancelled: no look was made.", title="Cancelled", print_exception=False) from None
        except (DiffusionError, ValueError) as error:
            raise gr.Error(str(error), print_exception=False) from None
        folder = scratch_dir("look")
        path = save_png(look.image, folder / f"{look.spec.id}-look-{look.record.seed}.png", look.spec, look.record.a1111_parameters())
        settings = {"spec": spec.model_dump(mode="json"), "seed": look.record.seed, "steps": look.record.steps, "from_flat": bool(from_flat),
                    "record": look.record.model_dump(mode="json")}
        artifact = save(self.context, "look", f"{spec.name}: look", settings, [path], seed=look.record.seed)
        record = look.record
        about = f"{record.model} ({record.architecture}, {record.mode}), {record.steps} steps, seed {record.seed}, {record.size[0]}×{record.size[1]}, {record.seconds:.1f} s"
        return str(path), about, saved_note(artifact)

    def _diffusion_designer(self):
        with self._designer_lock:  # loaded once, on first use
            if self._designer is None:
                self._designer = self.context.settings.fashion.diffusion.load()
            return self._designer

    def cancel(self, request: gr.Request | None = None) -> str:
        self.flags.cancel(request)
        return "Cancelled."

    # --- drawing helpers --------------------------------------------------------------------

    def _thumbnail(self, spec: DesignSpec, path: Path) -> Path:
        image = flat_to_png(draw_flat(spec, "front", print_tile(spec, PREVIEW_TILE_PX)), width=THUMB_PX)
        return save_png(image, path, spec, procedural_parameters(spec, "technical flat, front"))

    def _flats(self, spec: DesignSpec, folder: Path) -> tuple[Path, Path]:
        tile = print_tile(spec, PREVIEW_TILE_PX)
        paths = []
        for view in ("front", "back"):
            image = flat_to_png(draw_flat(spec, view, tile), width=FLAT_PX)
            paths.append(save_png(image, folder / f"{spec.id}-{view}.png", spec, procedural_parameters(spec, f"technical flat, {view}")))
        return paths[0], paths[1]

    def _board(self, collection: Collection, path: Path) -> Path:
        tiles = {spec.id: tile for spec in collection.looks if (tile := print_tile(spec, PREVIEW_TILE_PX)) is not None}
        lineup_board(collection, width_per_look=BOARD_PX, prints=tiles).save(path)
        return path

    def _candidate_specs(self, candidates: dict | None) -> dict[str, DesignSpec]:
        if not candidates or not candidates.get("specs"):
            raise gr.Error("Design candidates first: there are none yet.")
        return {spec["id"]: DesignSpec.model_validate(spec) for spec in candidates["specs"]}

    # --- reopening from the library -----------------------------------------------------------

    def candidates_outputs(self, settings: dict[str, Any]) -> list[Any]:
        """brief, candidates, looks, seed, gallery, keep, candidates state, design id, collection name."""
        brief = DesignBrief(text=settings.get("brief", ""), n=int(settings.get("count", 24)), seed=int(settings.get("seed", 0)))
        specs = ProceduralDesigner(self.card.fashion, self.card.visual).design(brief)
        looks = int(settings.get("looks", 12))
        keep = settings.get("keep") or [spec.id for spec in propose_collection(specs, min(looks, len(specs))).looks]
        for edited in settings.get("looks_specs", []):  # kept looks may have been edited since
            specs = [DesignSpec.model_validate(edited) if spec.id == edited["id"] else spec for spec in specs]
        folder = scratch_dir("candidates")
        items = [(str(self._thumbnail(spec, folder / f"{index + 1:03d}-{spec.id}.png")), _caption(index, spec)) for index, spec in enumerate(specs)]
        state = {"brief": brief.text, "count": brief.n, "looks": looks, "seed": brief.seed, "specs": [spec.model_dump(mode="json") for spec in specs]}
        return [brief.text, brief.n, looks, brief.seed, items,
                gr.update(choices=[(_caption(index, spec), spec.id) for index, spec in enumerate(specs)], value=keep), state,
                gr.update(choices=[spec.id for spec in specs], value=None), settings.get("name") or _title(brief.text)]


def build_fashion_tab(context: StudioContext) -> FashionTab:
    tab = FashionTab(context)
    gpu = {"concurrency_id": GPU_GROUP, "concurrency_limit": context.settings.studio.gpu_concurrency}
    candidates = gr.State(None)
    collection = gr.State(None)
    colorway_palettes = gr.State(None)
    print_paths = gr.State([])

    with gr.Tabs() as sections:
        with gr.Tab("Collection", id="fashion-collection"):
            gr.Markdown(f"Give {tab.card.name} a brief; she draws dozens of candidates (the same brief and seed give the same designs). "
                        "Click a candidate to open it and to tick or untick it, keep the looks you want, then export the lookbook.")
            with gr.Row():
                brief = gr.Textbox(label="Brief", placeholder="flowers on Venus", lines=2, scale=3, elem_id="fashion-brief")
                with gr.Column(scale=2):
                    count = gr.Slider(1, MAX_CANDIDATES, value=48, step=1, label="Candidates", elem_id="fashion-count")
                    looks = gr.Slider(1, 48, value=12, step=1, label="Looks in the first cut", elem_id="fashion-looks")
                    seed = gr.Number(0, precision=0, label="Seed")
            with gr.Row():
                design_button = gr.Button("Design candidates", variant="primary", elem_id="fashion-design-candidates")
                design_cancel = gr.Button("Cancel", variant="stop")
            gallery = gr.Gallery(label="Candidates", columns=6, height=520, object_fit="contain", allow_preview=False, elem_id="fashion-gallery")
            keep = gr.CheckboxGroup(label="Keep", elem_id="fashion-keep", info="the proposed first cut is ticked; click candidates above to tick or untick them")
            with gr.Row():
                collection_name = gr.Textbox(label="Collection name", scale=3, elem_id="fashion-collection-name")
                keep_button = gr.Button("Keep these looks", variant="primary", scale=1, elem_id="fashion-keep-looks")
            board = gr.Image(label="Line-up board", type="filepath", interactive=False, buttons=["download", "fullscreen"], elem_id="fashion-board")
            coherence = gr.Markdown()
            with gr.Row():
                export_button = gr.Button("Export lookbook", variant="primary", elem_id="fashion-export-lookbook")
                export_cancel = gr.Button("Cancel", variant="stop")
            with gr.Row():
                lookbook_pdf = gr.File(label="Lookbook (PDF)", interactive=False, elem_id="fashion-lookbook-pdf")
                lookbook_zip = gr.File(label="Collection (zip)", interactive=False, elem_id="fashion-lookbook-zip")
            collection_status = gr.Markdown(elem_id="fashion-collection-status")

        with gr.Tab("Design", id="fashion-design"):
            with gr.Row():
                design_id = gr.Dropdown(label="Design", info="one of the candidates", allow_custom_value=True, scale=3)
                open_button = gr.Button("Open", scale=1)
            with gr.Row():
                front = gr.Image(label="Front", type="filepath", interactive=False)
                back = gr.Image(label="Back", type="filepath", interactive=False)
            spec_json = gr.Code(label="Design spec (JSON, editable)", language="json", lines=14, max_lines=30)
            with gr.Row():
                instruction = gr.Textbox(label="Edit in your words", placeholder="longer sleeves, darker and add pockets", scale=3)
                edit_button = gr.Button("Apply edit", variant="primary", scale=1)
            changes = gr.Markdown()
            with gr.Accordion("Colourways", open=False):
                with gr.Row():
                    colorway_count = gr.Slider(1, MAX_COLORWAYS, value=4, step=1, label="Colourways")
                    colorway_seed = gr.Number(0, precision=0, label="Seed")
                    colorway_button = gr.Button("Make colourways")
                colorway_gallery = gr.Gallery(label="Colourways (click one to use it)", columns=4, height=360, object_fit="contain", allow_preview=False)
            with gr.Accordion("Palette from a reference image", open=False):
                with gr.Row():
                    upload = gr.File(label="Reference image (PNG, JPEG, WEBP)", file_types=[".png", ".jpg", ".jpeg", ".webp"], type="filepath")
                    reference = gr.Image(label="Reference", type="filepath", interactive=False)
                with gr.Row():
                    palette_colours = gr.Slider(1, MAX_PALETTE, value=5, step=1, label="Colours")
                    palette_strength = gr.Slider(0, 1, value=0.4, step=0.05, label="Harmony with her palette")
                    palette_button = gr.Button("Extract palette")
                swatches = gr.Image(label="Palette", type="filepath", interactive=False, height=120)
                palette_table = gr.Dataframe(headers=["name", "hex", "share %"], datatype=["str", "str", "number"], interactive=False, label="Colours")
                palette = gr.JSON(label="Palette (JSON)", visible=False)
                apply_palette_button = gr.Button("Use this palette on the design")
            with gr.Accordion("Diffusion look", open=False):
                gr.Markdown(tab.diffusion_note())
                with gr.Row():
                    look_seed = gr.Number(-1, precision=0, label="Seed (-1: random)")
                    look_steps = gr.Number(0, precision=0, label="Steps (0: the model's default)")
                    look_from_flat = gr.Checkbox(True, label="From the flat (ControlNet, when configured)")
                with gr.Row():
                    look_button = gr.Button("Make look", variant="primary")
                    look_cancel = gr.Button("Cancel", variant="stop")
                look_image = gr.Image(label="Look", type="filepath", interactive=False)
                look_about = gr.Markdown()
            design_status = gr.Markdown()

        with gr.Tab("Prints", id="fashion-prints"):
            with gr.Row():
                print_brief = gr.Textbox(label="Brief", placeholder="celestial garden", lines=2, scale=3)
                with gr.Column(scale=2):
                    print_count = gr.Slider(1, MAX_PRINTS, value=12, step=1, label="Tiles")
                    print_size = gr.Slider(64, 2048, value=512, step=64, label="Size (px; 1024 is print resolution)")
                    print_seed = gr.Number(0, precision=0, label="Seed")
            with gr.Row():
                print_button = gr.Button("Make prints", variant="primary")
                print_cancel = gr.Button("Cancel", variant="stop")
            print_gallery = gr.Gallery(label="Seamless tiles (click one to see it repeat)", columns=6, height=420, allow_preview=False)
            with gr.Row():
                print_repeat = gr.Image(label="Repeat (3 × 3)", type="pil", interactive=False)
                print_zip = gr.File(label="Tiles (zip)", interactive=False)
            print_status = gr.Markdown()

    # --- events ---------------------------------------------------------------------------
    designing = design_button.click(
        tab.design_candidates, [brief, count, looks, seed], [gallery, keep, candidates, design_id, collection_name, collection_status],
        api_name="design_candidates")
    gallery.select(_toggle_and_open, [candidates, keep], [keep, design_id], api_visibility="private").then(
        _open_quietly(tab), [candidates, design_id], [spec_json, front, back, design_status], api_visibility="private")
    keeping = keep_button.click(tab.keep_looks, [candidates, keep, collection_name], [board, coherence, collection, collection_status], api_name="keep_looks")
    exporting = export_button.click(tab.export_lookbook, [collection], [lookbook_pdf, lookbook_zip, collection_status], api_name="export_lookbook")
    design_cancel.click(tab.cancel, None, collection_status, cancels=[designing, keeping], api_name="cancel_design", queue=False)
    export_cancel.click(tab.cancel, None, collection_status, cancels=[exporting], api_name="cancel_export", queue=False)

    open_button.click(tab.open_design, [candidates, design_id], [spec_json, front, back, design_status], api_name="open_design")
    edit_button.click(tab.edit_design, [spec_json, instruction, candidates], [spec_json, changes, front, back, candidates, design_status], api_name="edit_design")
    instruction.submit(tab.edit_design, [spec_json, instruction, candidates], [spec_json, changes, front, back, candidates, design_status], api_visibility="private")
    colorway_button.click(tab.colorways, [spec_json, colorway_count, colorway_seed], [colorway_gallery, colorway_palettes, design_status], api_name="colorways")
    colorway_gallery.select(tab.use_colorway, [spec_json, colorway_palettes, candidates], [spec_json, front, back, candidates, design_status], api_visibility="private")
    palette_button.click(tab.reference_palette, [upload, palette_colours, palette_strength], [reference, swatches, palette_table, palette, design_status],
                         api_name="reference_palette")
    apply_palette_button.click(tab.apply_palette, [spec_json, palette, candidates], [spec_json, front, back, candidates, design_status], api_name="apply_palette")
    making_look = look_button.click(tab.diffusion_look, [spec_json, look_seed, look_steps, look_from_flat], [look_image, look_about, design_status],
                                    api_name="diffusion_look", **gpu)
    look_cancel.click(tab.cancel, None, design_status, cancels=[making_look], api_name="cancel_look", queue=False)

    printing = print_button.click(tab.make_prints, [print_brief, print_count, print_size, print_seed], [print_gallery, print_zip, print_paths, print_status],
                                  api_name="make_prints")
    print_gallery.select(_repeat_preview, print_paths, print_repeat, api_visibility="private")
    print_cancel.click(tab.cancel, None, print_status, cancels=[printing], api_name="cancel_prints", queue=False)

    # --- reopening from the library -------------------------------------------------------
    candidate_outputs = [brief, count, looks, seed, gallery, keep, candidates, design_id, collection_name]
    design_outputs = [spec_json, front, back, changes]

    def fill_design(settings: dict[str, Any]) -> list[Any]:
        if settings.get("mode") == "candidates":
            return [gr.Tabs(selected="fashion-collection"), *tab.candidates_outputs(settings)] + [gr.update()] * len(design_outputs)
        spec = DesignSpec.model_validate(settings["spec"])
        front_path, back_path = tab._flats(spec, scratch_dir("design"))
        note = f"Reopened: *{settings['instruction']}*" if settings.get("instruction") else "Reopened from the library."
        return [gr.Tabs(selected="fashion-design"), *[gr.update()] * len(candidate_outputs), _spec_json(spec), str(front_path), str(back_path), note]

    def fill_collection(settings: dict[str, Any]) -> list[Any]:
        opened = tab.candidates_outputs(settings)
        looks_specs = [DesignSpec.model_validate(spec) for spec in settings["looks_specs"]]
        kept = Collection(name=settings.get("name") or "Collection", brief=settings.get("brief", ""), looks=looks_specs)
        board_path = tab._board(kept, scratch_dir("collection") / "board.png")
        state = {"collection": kept.model_dump(mode="json"), **_brief_settings(settings)}
        return [gr.Tabs(selected="fashion-collection"), *opened, str(board_path), coherence_markdown(kept), state, None, None]

    def fill_print(settings: dict[str, Any]) -> list[Any]:
        brief_text, count, size, seed = settings.get("brief", ""), settings.get("count", 12), settings.get("size", 512), settings.get("seed", 0)
        items, archive = tab.draw_prints(DesignBrief(text=brief_text, n=count, seed=seed), size)
        return [gr.Tabs(selected="fashion-prints"), brief_text, count, size, seed, items, str(archive), [path for path, _ in items],
                "Reopened from the library: the same brief, size and seed draw the same tiles."]

    def fill_palette(settings: dict[str, Any]) -> list[Any]:
        colours = [PaletteColor.model_validate(color) for color in settings["palette"]]
        path = scratch_dir("palette") / "palette.png"
        swatch_strip(colours).save(path)
        return [gr.Tabs(selected="fashion-design"), settings.get("colours", len(colours)), settings.get("strength", 0.4), str(path),
                [[color.name, color.hex, round(100 * color.share, 1)] for color in colours], settings["palette"]]

    def fill_look(settings: dict[str, Any]) -> list[Any]:
        spec = DesignSpec.model_validate(settings["spec"])
        front_path, back_path = tab._flats(spec, scratch_dir("design"))
        return [gr.Tabs(selected="fashion-design"), _spec_json(spec), str(front_path), str(back_path), settings.get("seed", -1),
                settings.get("steps", 0), settings.get("from_flat", True),
                "Reopened from the library: press **Make look** to make it again with the same seed."]

    context.reopeners.extend([
        Reopener({"design"}, "fashion", [sections, *candidate_outputs, *design_outputs], fill_design),
        Reopener({"collection"}, "fashion", [sections, *candidate_outputs, board, coherence, collection, lookbook_pdf, lookbook_zip], fill_collection),
        Reopener({"print"}, "fashion", [sections, print_brief, print_count, print_size, print_seed, print_gallery, print_zip, print_paths, print_status],
                 fill_print),
        Reopener({"palette"}, "fashion", [sections, palette_colours, palette_strength, swatches, palette_table, palette], fill_palette),
        Reopener({"look"}, "fashion", [sections, spec_json, front, back, look_seed, look_steps, look_from_flat, look_about], fill_look),
    ])
    return tab


# --- small UI helpers ------------------------------------------------------------------------

def parse_spec(text: str | None) -> DesignSpec:
    """The design in the spec editor; a clear error naming the field when it is not a valid spec."""
    if not text or not text.strip():
        raise gr.Error("design spec: open a design first (click a candidate, or paste a spec as JSON)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise gr.Error(f"design spec: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}", print_exception=False) from None
    try:
        return DesignSpec.from_data(data, source="design spec")
    except DesignSpecError as error:
        raise gr.Error(str(error), print_exception=False) from None


def coherence_markdown(collection: Collection) -> str:
    figures = collection.coherence()
    lines = [f"**{collection.name}**: {len(collection.looks)} looks, palette spread {figures.palette_spread:.1f} ΔE across "
             f"{figures.palette_colors} colours, silhouette variety {figures.silhouette_variety:.2f}, "
             f"body-part variety {figures.body_part_variety:.2f}."]
    for look, reason in figures.outlier_reasons.items():
        lines.append(f"- outlier **{look}**: {reason}")
    if not figures.outliers:
        lines.append("- no outliers")
    return "\n".join(lines)


def swatch_strip(palette: list[PaletteColor], width: int = 720, height: int = 110) -> Image.Image:
    """The palette as blocks as wide as their shares, each named."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = text_font(13)
    x = 0
    for index, color in enumerate(palette):
        right = width if index == len(palette) - 1 else x + max(1, round(width * color.share))
        draw.rectangle((x, 0, right, height - 34), fill=color.hex)
        draw_text(draw, (x + 4, height - 30), color.name[:22], font, fill="black")
        draw_text(draw, (x + 4, height - 15), f"{color.hex} {color.share:.0%}", font, fill="#555555")
        x = right
    return image


def _toggle_and_open(candidates: dict | None, keep: list[str] | None, selected: gr.SelectData) -> tuple:
    if not candidates or selected.index is None:
        return gr.update(), gr.update()
    design = candidates["specs"][selected.index]["id"]
    keep = list(keep or [])
    keep = [look for look in keep if look != design] if design in keep else [*keep, design]
    return keep, design


def _open_quietly(tab: FashionTab):
    def open_selected(candidates: dict | None, design_id: str | None) -> tuple:
        if not candidates or not design_id:
            return gr.update(), gr.update(), gr.update(), gr.update()
        return tab.open_design(candidates, design_id)

    return open_selected


def _repeat_preview(paths: list[str], selected: gr.SelectData):
    if not paths or selected.index is None or selected.index >= len(paths):
        return None
    with Image.open(paths[selected.index]) as tile:
        preview = tile_preview(tile.convert("RGB"), repeats=3)
    preview.thumbnail((900, 900))
    return preview


def _replace_candidate(candidates: dict | None, spec: DesignSpec) -> dict | None:
    """The candidate with the same id becomes the edited design, so keeping it keeps the edit."""
    if not candidates or not candidates.get("specs"):
        return candidates
    data = spec.model_dump(mode="json")
    return {**candidates, "specs": [data if old["id"] == spec.id else old for old in candidates["specs"]]}


def _brief_settings(state: dict) -> dict[str, Any]:
    return {key: state[key] for key in ("brief", "count", "looks", "seed") if key in state}


def dna_note(fingerprint: dict[str, Any]) -> str:
    """A design beside her DNA, for the status line: on it, or a drift warning for each way it strays."""
    if not fingerprint["drift"]:
        return f"On her DNA: every colour within ΔE {fingerprint['max_delta_e']:.0f} of her palette."
    return "**Off her DNA:** " + "; ".join(fingerprint["drift"]) + "."


def _spec_json(spec: DesignSpec) -> str:
    return spec.model_dump_json(indent=2)


def _caption(index: int, spec: DesignSpec) -> str:
    return f"{index + 1:02d}  {spec.name}"


def _title(text: str) -> str:
    return " ".join(text.split()).title()[:80] or "Collection"


def _upload_path(upload: Any) -> str:
    if isinstance(upload, dict):  # gradio_client sends {"path": ...}
        return upload.get("path") or ""
    return str(getattr(upload, "name", upload))


def _whole(value: Any, field: str, low: int, high: int) -> int:
    """A whole number in range, or a gr.Error naming the field."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{field}: expected a whole number, got {value!r}") from None
    if number != int(number) or not low <= number <= high:
        raise gr.Error(f"{field}: expected a whole number from {low} to {high}, got {value!r}")
    return int(number)
