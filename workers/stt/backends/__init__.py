"""The stt worker's backends, by ``STT_BACKEND`` name.

``local.py`` holds the offline backend and its engine, ``remote.py`` the Hugging Face backend.
"""

from __future__ import annotations

from collections.abc import Mapping

from workers.kit.backend import BackendFactory
from workers.stt.backends.local import LocalSTTBackend
from workers.stt.backends.remote import HFSpeechRecognitionBackend

BACKENDS: Mapping[str, BackendFactory] = {"hf": HFSpeechRecognitionBackend, "local": LocalSTTBackend}
