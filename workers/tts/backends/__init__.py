"""The tts worker's backends, by ``TTS_BACKEND`` name.

``local.py`` holds the offline backend and its engine, ``remote.py`` the Hugging Face backend. Their options
differ (the local voices come from the loaded engine), so each declares its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from workers.kit.backend import BackendFactory
from workers.tts.backends.local import LocalTTSBackend
from workers.tts.backends.remote import HFTextToSpeechBackend

BACKENDS: Mapping[str, BackendFactory] = {"hf": HFTextToSpeechBackend, "local": LocalTTSBackend}
