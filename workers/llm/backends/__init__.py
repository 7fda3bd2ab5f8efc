"""The llm worker's backends, by ``LLM_BACKEND`` name.

``local.py`` holds the offline backend and its engine, ``remote.py`` the OpenRouter backend, ``options.py``
the options both accept.
"""

from __future__ import annotations

from collections.abc import Mapping

from workers.kit.backend import BackendFactory
from workers.llm.backends.local import LocalLLMBackend
from workers.llm.backends.remote import OpenRouterBackend

BACKENDS: Mapping[str, BackendFactory] = {"openrouter": OpenRouterBackend, "local": LocalLLMBackend}
