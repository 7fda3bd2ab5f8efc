"""What every Hugging Face Inference backend shares: the client, the model URL, the error translation.

Subclasses implement :meth:`HFInferenceBackend.run` with one ``InferenceClient`` task call inside
``with self.calling():``. The client sends ``POST {base}/{model}`` (default base
``https://router.huggingface.co/hf-inference/models``); passing the full URL skips the Hub's model look-up,
so a run costs exactly one request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PIL import UnidentifiedImageError

from workers.kit.backend import Backend
from workers.kit.errors import UpstreamError, WorkerError
from workers.kit.settings import WorkerSettings
from workers.kit.upstream import upstream_errors

HF_INFERENCE_BASE = "https://router.huggingface.co/hf-inference/models"
HF_PROVIDER = "hf-inference"
HF_NAME = "Hugging Face Inference"


class HFInferenceBackend(Backend):
    """Base of the ``hf`` backends (image, stt, tts, cyclegan)."""

    name = "hf"
    provider = HF_PROVIDER
    key_setting = "hf_token"
    key_env = "HF_TOKEN"

    def __init__(self, settings: WorkerSettings) -> None:
        super().__init__(settings)
        self._client: Any = None

    @property
    def model_url(self) -> str:
        """Where requests go: ``<CAP>_MODEL`` when it is a URL, else ``{base}/{model}``."""
        if self.model.startswith(("http://", "https://")):
            return self.model
        base = (self.settings.base_url or HF_INFERENCE_BASE).rstrip("/")
        return f"{base}/{self.model}"

    def load(self) -> None:
        """Create the client once (no network: the model is addressed by URL)."""
        from huggingface_hub import InferenceClient  # keep worker start-up light

        self._client = InferenceClient(
            token=self.settings.secret("hf_token"), timeout=self.settings.timeout_seconds
        )

    @property
    def client(self) -> Any:
        if self._client is None:
            self.load()
        return self._client

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Provider errors raised inside become contract errors; so does an answer the client cannot read."""
        try:
            with upstream_errors(HF_NAME):
                yield
        except WorkerError:
            raise
        except (UnidentifiedImageError, ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(
                f"{HF_NAME} returned an answer that could not be read ({type(exc).__name__}: {exc})"
            ) from exc
