"""Worker settings: one class, read once per process, with the capability's env prefix.

``<CAP>_BACKEND``, ``<CAP>_MODEL``, ``<CAP>_MAX_CONCURRENCY``, ``<CAP>_TIMEOUT_SECONDS``… are prefixed
(``LLM_``, ``IMAGE_``, ``STT_``, ``TTS_``, ``CYCLEGAN_``); provider keys and the files keep the
names everyone already uses (``OPENROUTER_API_KEY``, ``HF_TOKEN``, ``MODALINE_FILES_ROOT``, ``MODALINE_FILES_URL``
and the AWS SDKs' own ``AWS_*`` variables for object storage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workers.kit.contract import Capability
from workers.kit.storage import StorageConfigError, parse_files_url


class WorkerSettings(BaseSettings):
    """Everything a worker reads from the environment."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None, populate_by_name=True)

    backend: str = Field(
        "auto", description="auto (remote when its key is set, else local) | local | remote name"
    )
    model: str | None = Field(None, description="Model id for the chosen backend; each backend has a default")
    model_path: Path | None = Field(None, description="Model file for local engines that load one (llm)")
    base_url: str | None = Field(None, description="Provider base URL override (OpenRouter / HF Inference)")
    max_concurrency: int = Field(2, ge=1, le=1024, description="Runs at once; more are refused with 429")
    timeout_seconds: float = Field(120.0, gt=0, description="Longest a run may take before it fails with 504")
    max_input_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest input file accepted")
    max_image_pixels: int = Field(40_000_000, ge=1, description="Largest decoded image (width x height)")
    max_audio_seconds: float = Field(600.0, gt=0, description="Longest audio input accepted")

    files_root: Path = Field(Path("data/files"), validation_alias="MODALINE_FILES_ROOT")
    log_format: Literal["json", "text"] = Field(
        "json",
        validation_alias="MODALINE_LOG_FORMAT",
        description="Log lines as JSON objects (job_id, step_id, trace_id) or text for a terminal",
    )
    files_url: str | None = Field(
        None,
        validation_alias="MODALINE_FILES_URL",
        description="s3://bucket/prefix: files on object storage (AWS_* variables); unset: MODALINE_FILES_ROOT",
    )
    openrouter_api_key: SecretStr | None = Field(None, validation_alias="OPENROUTER_API_KEY")
    hf_token: SecretStr | None = Field(None, validation_alias="HF_TOKEN")
    app_url: str = Field(
        "https://github.com/modaline/modaline",
        validation_alias="MODALINE_APP_URL",
        description="Sent to OpenRouter as HTTP-Referer (attribution)",
    )
    app_title: str = Field(
        "Modaline",
        validation_alias="MODALINE_APP_TITLE",
        description="Sent to OpenRouter as X-Title (attribution)",
    )

    @field_validator("backend")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("files_url")
    @classmethod
    def _files_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            parse_files_url(value)
        except StorageConfigError as exc:
            raise ValueError(exc.detail) from None
        return value.strip()

    @field_validator("openrouter_api_key", "hf_token")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    def secret(self, name: str) -> str | None:
        """The plain value of a key setting (``"hf_token"``…), or None when unset."""
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else None


def env_prefix(capability: Capability) -> str:
    """``LLM_``, ``IMAGE_``, ``STT_``, ``TTS_``, ``CYCLEGAN_``."""
    return f"{capability.upper()}_"


def load_settings(capability: Capability, **overrides: Any) -> WorkerSettings:
    """Read the settings for one capability from the environment (overrides win, for tests)."""
    return WorkerSettings(_env_prefix=env_prefix(capability), **overrides)  # type: ignore[call-arg]
