"""The image worker's backends, by ``IMAGE_BACKEND`` name.

``local.py`` holds the offline backend and its engine (the labelled placeholder renderer), ``remote.py`` the
Hugging Face backend, ``options.py`` the options both accept.
"""

from __future__ import annotations

from collections.abc import Mapping

from workers.image.backends.local import PlaceholderImageBackend
from workers.image.backends.remote import HFTextToImageBackend
from workers.kit.backend import BackendFactory

BACKENDS: Mapping[str, BackendFactory] = {"hf": HFTextToImageBackend, "local": PlaceholderImageBackend}
