"""One typed settings object, read from a YAML file and ``ATELIER_*`` environment variables.

The file is ``--config``, else ``$ATELIER_CONFIG``, else ``configs/default.yaml``.
Environment variables override single keys; nested keys are joined with ``__``:
``ATELIER_DIALOGUE__BACKEND=openai``, ``ATELIER_PERSONA=haeun``. Values stay text until
validation turns them into the key's type (``0.2``, ``true``, ``/models/exaone``).
Relative paths in a file are relative to that file's folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError

from persona.memory import MemoryConfig
from pipelines.dialogue import DialogueConfig
from pipelines.fashion.config import FashionConfig
from pipelines.music.config import MusicConfig
from pipelines.validation import describe_validation_error

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"
DEFAULT_CONFIG = CONFIGS_DIR / "default.yaml"
ENV_PREFIX = "ATELIER_"
NOT_SETTINGS = {"ATELIER_CONFIG", "ATELIER_REQUIRE_VLLM", "ATELIER_REQUIRE_POSTGRES", "ATELIER_REQUIRE_BROWSER", "ATELIER_REQUIRE_REDIS",
                "ATELIER_REQUIRE_RAY", "ATELIER_VLLM_PYTHON"}


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the key and its source."""


class ServingConfig(BaseModel):
    """The chat endpoint: address, fan tokens and the limits that keep one fan from stalling others."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=1, le=65535)
    token_secret: str | None = Field(default=None, min_length=32, description="HMAC key for fan tokens; unset: a secret file in memory.data_dir")
    token_ttl_s: int = Field(default=86400, ge=60, description="lifetime of tokens `atelier token issue` makes")
    max_frame_bytes: int = Field(default=16384, ge=1024, description="larger client frames close the connection (1009)")
    messages_per_minute: float = Field(default=20, gt=0, description="per fan, refilled continuously")
    message_burst: int = Field(default=5, ge=1)
    connections_per_address: int = Field(default=32, ge=1)
    hello_timeout_s: float = Field(default=10, gt=0)
    idle_timeout_s: float = Field(default=300, gt=0, description="no frame from the client for this long closes the connection")
    ping_interval_s: float = Field(default=20, gt=0, description="WebSocket keepalive pings")
    send_queue_frames: int = Field(default=512, ge=8, description="frames waiting for a slow client before it is disconnected")
    resume_window_s: float = Field(default=900, ge=0, description="how long missed frames are kept for a reconnecting client")
    torch_threads: int = Field(default=0, ge=0, description="CPU threads for in-process models (embeddings, the embedded model); 0: all cores but one, left to the event loop")


class SessionsConfig(BaseModel):
    """Where chat sessions' frame logs, idempotent replies and fans' rate limits live: in this
    process (SQLite beside the memory store) or in Redis, shared by every gateway replica."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["sqlite", "redis"] = Field(default="sqlite", description="redis: any replica resumes any session (serving/redis_sessions.py)")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="with backend: redis")
    max_frames: int = Field(default=4096, ge=64, description="frames kept a session in Redis for resume (its Stream's MAXLEN, approximate)")


class StudioConfig(BaseModel):
    """The designers' and producers' studio, mounted at /studio beside the chat endpoint."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    username: str = Field(default="designer", min_length=1)
    password: SecretStr | None = Field(default=None, description="unset: a random one is made once, kept in memory.data_dir/studio-password and printed at start")
    library_dir: Path | None = Field(default=None, description="where studio artifacts are kept; unset: memory.data_dir/studio")
    gpu_concurrency: int = Field(default=1, ge=1, description="model-bound jobs (diffusion, composing) running at once")
    max_queue: int = Field(default=16, ge=1, description="jobs waiting beyond those running; more are refused")


class CreationsConfig(BaseModel):
    """What she makes for fans from their conversations, on the job runner the studio shares."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="read fans' messages for requests (a look, a print, a song) and make them")
    intents: Literal["embedded", "tool_call"] = Field(
        default="embedded", description="how a request is read: embedded (rules and the message's embedding, < 0.1 ms) or tool_call "
                                        "(one forced tool call to the dialogue server, dialogue.backend: openai; rules still first)")
    fan_daily_quota: int = Field(default=5, ge=0, description="pieces one fan may ask for in a UTC day")
    song_seconds: float = Field(default=60, ge=8, le=600, description="length of a song made for a fan")
    workers: Literal["local", "ray"] = Field(
        default="local", description="where pieces are made: local (this process) or ray (the Fashion and Music deployments of "
                                     "`atelier cluster run`, which queue them for their replicas)")
    bytes_per_fan: int = Field(default=200 * 2**20, ge=2**20, description="disk kept for one fan's pieces; the oldest go first beyond it")
    url_ttl_s: int = Field(default=24 * 3600, ge=60, description="how long a signed artifact URL works")
    artifacts_dir: Path | None = Field(default=None, description="where fans' pieces are kept; unset: memory.data_dir/artifacts")
    portfolio_dir: Path | None = Field(default=None, description="where published work is kept, a folder per persona; unset: memory.data_dir/portfolio")
    portfolio_bytes: int = Field(default=2 * 2**30, ge=2**20, description="disk her portfolio may take; publishing beyond it is refused")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    persona: str = "haeun"
    personas_dir: Path = CONFIGS_DIR / "personas"
    cache_dir: Path = Field(default=Path("~/.cache/atelier"), description="converted models and other derived files")
    dialogue: DialogueConfig = DialogueConfig()
    memory: MemoryConfig = MemoryConfig()
    serving: ServingConfig = ServingConfig()
    fashion: FashionConfig = FashionConfig()
    music: MusicConfig = MusicConfig()
    studio: StudioConfig = StudioConfig()
    creations: CreationsConfig = CreationsConfig()
    sessions: SessionsConfig = SessionsConfig()
    _config_file: str | None = PrivateAttr(default=None)  # where load_settings read the keys from
    _variables: dict[str, str] = PrivateAttr(default_factory=dict)  # dotted key -> the ATELIER_* variable that set it

    @property
    def cache_path(self) -> Path:
        return self.cache_dir.expanduser()

    def source_of(self, dotted_path: str) -> str:
        """Where `dotted_path` was set: the config file's path or an ATELIER_* variable."""
        return _source_of(dotted_path, self._config_file or "the settings", self._variables)

    def check_model_folders(self, dialogue: bool = False, tokenizer: bool = False, diffusion: bool = False, musicgen: bool = False) -> None:
        """Before any model loads: every local folder the chosen models need (the dialogue backend's,
        the tokenizer that counts prompts, diffusion, MusicGen) exists and looks like one, else
        ConfigError names the setting, where it was set and what it should be."""
        problems: list[tuple[str, str]] = []
        if dialogue or tokenizer:
            problems += self.dialogue.folder_problems(backend=dialogue, tokenizer=tokenizer)
        if diffusion and self.fashion.diffusion is not None:
            problems += self.fashion.diffusion.folder_problems()
        if musicgen and self.music.musicgen is not None:
            problems += self.music.musicgen.folder_problems()
        if problems:
            raise ConfigError("; ".join(f"{message} ({setting} is set in {self.source_of(setting)})" for setting, message in problems))


def load_settings(config_path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    environ = dict(os.environ if environ is None else environ)
    path = Path(config_path or environ.get("ATELIER_CONFIG") or DEFAULT_CONFIG)
    data = _read_config_file(path)
    overrides = _environment_overrides(environ)
    for dotted, (variable, value) in overrides.items():
        _set_nested(data, dotted.split("."), value, variable)

    variables = {dotted: variable for dotted, (variable, _) in overrides.items()}
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, lambda dotted_path: _source_of(dotted_path, str(path), variables))) from None
    settings._config_file, settings._variables = str(path), variables
    return settings


def _source_of(dotted_path: str, config_file: str, variables: dict[str, str]) -> str:
    for dotted, variable in variables.items():
        if f"{dotted_path}.".startswith(f"{dotted}.") or f"{dotted}.".startswith(f"{dotted_path}."):
            return f"environment variable {variable}"
    return config_file


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist (set --config or ATELIER_CONFIG)") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder: set --config or ATELIER_CONFIG to a YAML file, e.g. {DEFAULT_CONFIG}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return _resolve_paths(data, path.resolve().parent)


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Paths in a file are relative to the file, so configs work from any working directory."""
    path_keys = {"personas_dir", "cache_dir", "model_dir", "tokenizer_dir", "data_dir", "controlnet_dir", "ip_adapter_dir", "soundfont", "library_dir", "artifacts_dir", "portfolio_dir"}
    resolved = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _resolve_paths(value, base)
        elif (key in path_keys or (key == "adapter" and value not in ("auto", "none"))) and isinstance(value, str) \
                and not value.startswith("~") and not Path(value).is_absolute():
            value = str(base / value)
        resolved[key] = value
    return resolved


def _environment_overrides(environ: dict[str, str]) -> dict[str, tuple[str, str]]:
    """``{"dialogue.backend": ("ATELIER_DIALOGUE__BACKEND", "openai")}``"""
    return {
        variable.removeprefix(ENV_PREFIX).lower().replace("__", "."): (variable, value)
        for variable, value in sorted(environ.items())
        if variable.startswith(ENV_PREFIX) and variable not in NOT_SETTINGS
    }


def _set_nested(data: dict[str, Any], keys: list[str], value: str, variable: str) -> None:
    for key in keys[:-1]:
        child = data.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"environment variable {variable}: {key} is not a section")
        data = child
    data[keys[-1]] = value
