"""The narrow interface between the kit and a worker's backends.

A backend is a class constructed from :class:`WorkerSettings`. The kit calls ``load()`` once in a background
thread at start-up and ``run(call)`` in a bounded worker thread for every request; both may block. Inputs
arrive already checked and decoded (text as ``str``, images as RGB ``PIL.Image``, audio as
:class:`~workers.kit.media.AudioInput`); outputs are written through ``call.outputs``.
"""

from __future__ import annotations

import importlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from workers.kit.contract import FieldSpec, FileRef
from workers.kit.errors import InvalidInput, Misconfigured, NotReady
from workers.kit.files import OutputWriter
from workers.kit.settings import WorkerSettings

ENGINE_MISSING = "local engine not installed: pip install '.[local]'"


@dataclass
class Call:
    """One run, as a backend sees it.

    ``on_text`` is set when the caller asked for a streamed run and the backend :attr:`Backend.streams`:
    the backend then hands each new piece of its text output to :meth:`stream` as soon as it exists.
    """

    inputs: dict[str, Any]
    options: dict[str, Any]
    outputs: OutputWriter
    on_text: Callable[[str], None] | None = None
    stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def streaming(self) -> bool:
        """True when the caller wants the text output piece by piece."""
        return self.on_text is not None

    def stream(self, piece: str) -> bool:
        """Send ``piece`` to a streaming caller; True when the caller went away and generating can stop.

        The pieces of one run must join into exactly the text output the backend returns.
        """
        if piece and self.on_text is not None:
            self.on_text(piece)
        return self.stopped.is_set()


@dataclass
class Result:
    """What a backend made, plus what it cost when the backend knows."""

    outputs: dict[str, str | FileRef | None]
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    model: str | None = None  # the model that actually answered, when the provider says


class Backend(ABC):
    """Base of every backend. Subclasses set ``name`` and ``provider`` and implement :meth:`run`."""

    #: Value of ``<CAP>_BACKEND`` that selects this backend.
    name: ClassVar[str]
    #: ``usage.provider`` of its runs.
    provider: ClassVar[str]
    #: Settings field holding the key this backend needs (``auto`` picks the backend when it is set).
    key_setting: ClassVar[str | None] = None
    #: Environment variable of that key, for messages.
    key_env: ClassVar[str | None] = None
    #: The model id used when ``<CAP>_MODEL`` is unset.
    default_model: ClassVar[str] = ""
    #: True when :meth:`run` streams its text output through ``call.stream`` for a streaming caller.
    streams: ClassVar[bool] = False

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings

    @property
    def model(self) -> str:
        return self.settings.model or self.default_model

    @property
    def placeholder(self) -> bool:
        """True when outputs are not made by an AI model."""
        return False

    def options(self) -> dict[str, FieldSpec]:
        """Options this backend accepts in ``POST /v1/run`` (published in ``/v1/info``)."""
        return {}

    def unavailable_reason(self) -> str | None:
        """Why the backend cannot serve at all (e.g. its key is missing), or None."""
        if self.key_setting and not self.settings.secret(self.key_setting):
            return f"{self.key_env or self.key_setting} is not set (needed by the {self.name!r} backend)"
        return None

    def load(self) -> None:  # noqa: B027  # optional hook, nothing to load by default
        """Load the model; called once, off the event loop."""

    @abstractmethod
    def run(self, call: Call) -> Result:
        """Run once; blocking. Raise :class:`InvalidInput` (or ValueError) for input it cannot use."""

    @classmethod
    def has_key(cls, settings: WorkerSettings) -> bool:
        return bool(cls.key_setting and settings.secret(cls.key_setting))


BackendFactory = Callable[[WorkerSettings], Backend]


class LocalEngineBackend(Backend):
    """A backend around an offline engine; subclass and engine live in ``workers/<cap>/backends/local.py``.

    The engine is built in :meth:`load` from ``engine_module``/``engine_class`` and imports its heavy packages
    only then, so a missing engine package makes ``/readyz`` say so instead of crashing the worker at import.
    ``ValueError`` from the engine means bad input.
    """

    name = "local"
    provider = "local"
    engine_module: ClassVar[str]
    engine_class: ClassVar[str]

    def __init__(self, settings: WorkerSettings) -> None:
        super().__init__(settings)
        self._engine: Any = None

    def engine_kwargs(self) -> dict[str, Any]:
        """Arguments for the engine's constructor."""
        return {}

    @property
    def engine(self) -> Any:
        if self._engine is None:
            raise NotReady("the local engine is not loaded yet")
        return self._engine

    @property
    def model(self) -> str:
        return str(getattr(self._engine, "model", None) or self.settings.model or self.engine_class)

    @property
    def placeholder(self) -> bool:
        return bool(getattr(self._engine, "placeholder", False))

    def load(self) -> None:
        if self._engine is not None:
            return
        try:
            module = importlib.import_module(self.engine_module)
            engine = getattr(module, self.engine_class)(**self.engine_kwargs())
            engine.load()
        except Exception as exc:
            missing = exc if isinstance(exc, ImportError) else exc.__cause__
            if isinstance(missing, ImportError):
                raise Misconfigured(f"{ENGINE_MISSING} ({missing})") from exc
            raise
        self._engine = engine

    @contextmanager
    def engine_errors(self) -> Iterator[None]:
        """Engine ``ValueError``s are the caller's fault: report them as invalid input."""
        try:
            yield
        except ValueError as exc:
            raise InvalidInput(str(exc) or "the engine refused this input") from exc


def select_backend(settings: WorkerSettings, backends: dict[str, BackendFactory]) -> Backend:
    """Build the backend ``<CAP>_BACKEND`` names; ``auto`` = the first remote whose key is set, else local."""
    requested = settings.backend
    if requested == "auto":
        remote = [name for name, f in backends.items() if name != "local" and _has_key(f, settings)]
        name = remote[0] if remote else ("local" if "local" in backends else next(iter(backends)))
    elif requested in backends:
        name = requested
    else:
        raise ValueError(f"backend {requested!r} is not one of {', '.join(['auto', *backends])}")
    return backends[name](settings)


def _has_key(factory: BackendFactory, settings: WorkerSettings) -> bool:
    check = getattr(factory, "has_key", None)
    return bool(check(settings)) if callable(check) else False
