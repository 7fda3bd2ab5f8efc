"""The llm worker's backends, by ``LLM_BACKEND`` name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.kit.backend import BackendFactory, Call, LocalEngineBackend, Result
from workers.kit.contract import FieldSpec
from workers.llm.backends.remote import LLM_OPTIONS, OpenRouterBackend


class LocalLLMBackend(LocalEngineBackend):
    """SmolLM2-135M on llama.cpp (``workers/llm/backends/local.py``); ``LLM_MODEL_PATH`` picks another GGUF."""

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


BACKENDS: Mapping[str, BackendFactory] = {"openrouter": OpenRouterBackend, "local": LocalLLMBackend}
