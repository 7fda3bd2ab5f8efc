"""The cyclegan worker's backends, by ``CYCLEGAN_BACKEND`` name.

``local.py`` holds the offline backend and its engine, ``remote.py`` the Hugging Face backend. Their
``style`` options differ (named styles locally, words for the remote model), so each declares its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from workers.cyclegan.backends.local import LocalStyleBackend
from workers.cyclegan.backends.remote import HFImageToImageBackend
from workers.kit.backend import BackendFactory

BACKENDS: Mapping[str, BackendFactory] = {"hf": HFImageToImageBackend, "local": LocalStyleBackend}
