"""Which pipeline an OpenAI ``model`` names, and where the request's value goes in and the answer comes out.

``default`` is each endpoint's built-in pipeline; any pipeline whose shape fits an endpoint is a model of
it too: chat needs a ``text`` input and a text output ``text`` or ``reply``; speech a ``text`` input and an
audio output ``audio``; transcription an ``audio`` input and a text output ``transcript`` or ``text``;
images a ``text`` input and an image output ``image``. Every other input must be optional.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import InvalidInputError, NotFoundError
from gateway.pipelines import PipelineRegistry, PipelineSpec
from gateway.pipelines.templates import whole_reference

DEFAULT_MODEL = "default"


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI endpoint's view of a pipeline."""

    name: str  # as the error messages say it: "chat", "speech"…
    default: str  # the built-in pipeline `default` maps to
    input: str  # the pipeline input that receives the request's text or file
    input_type: str
    outputs: tuple[str, ...]  # the pipeline outputs that may hold the answer, first found wins
    output_type: str
    extra_inputs: tuple[str, ...] = ()  # optional inputs the endpoint may fill (chat: instruction)

    def output(self, spec: PipelineSpec) -> str | None:
        """The pipeline output holding the answer, or None when the pipeline does not fit."""
        for name in self.outputs:
            if name in spec.outputs and spec.output_type(name) == self.output_type:
                return name
        return None

    def fits(self, spec: PipelineSpec) -> bool:
        """True when a request to this endpoint can fill the pipeline's inputs and read its answer."""
        wanted = spec.inputs.get(self.input)
        if wanted is None or wanted.type != self.input_type or self.output(spec) is None:
            return False
        return all(
            not item.required or item.default is not None
            for name, item in spec.inputs.items()
            if name != self.input
        )

    def answer_step(self, spec: PipelineSpec) -> str | None:
        """The id of the step whose output is the answer (its live deltas are the answer's), if one is."""
        output = self.output(spec)
        ref = whole_reference(spec.outputs[output]) if output else None
        return ref.name if ref is not None and ref.kind == "steps" else None


CHAT = Endpoint("chat", "text_to_text", "text", "text", ("text", "reply"), "text", ("instruction",))
SPEECH = Endpoint("speech", "text_to_speech", "text", "text", ("audio",), "audio")
TRANSCRIPTION = Endpoint("transcription", "speech_to_text", "audio", "audio", ("transcript", "text"), "text")
IMAGES = Endpoint("images", "text_to_image", "text", "text", ("image",), "image")
ENDPOINTS = (CHAT, SPEECH, TRANSCRIPTION, IMAGES)


class ModelNotFoundError(NotFoundError):
    """The ``model`` is neither ``default`` nor a pipeline's name."""

    title = "Unknown model"
    code = "model_not_found"
    param = "model"


def model_ids(registry: PipelineRegistry) -> list[str]:
    """Every accepted model id: ``default`` first, then the pipeline names."""
    return [DEFAULT_MODEL, *sorted(registry.names())]


def endpoints_of(registry: PipelineRegistry, model: str) -> list[str]:
    """The endpoints a model id serves (``default`` serves them all)."""
    if model == DEFAULT_MODEL:
        return [endpoint.name for endpoint in ENDPOINTS]
    spec = registry.get(model)
    return [endpoint.name for endpoint in ENDPOINTS if endpoint.fits(spec)]


def check_model(registry: PipelineRegistry, model: str) -> None:
    """Nothing for a known id; :class:`ModelNotFoundError` (404 ``model_not_found``) otherwise."""
    if model != DEFAULT_MODEL and model not in registry:
        raise ModelNotFoundError(
            f"the model {model!r} does not exist; GET /v1/models lists them ('default' and the pipelines)"
        )


def pipeline_for(registry: PipelineRegistry, endpoint: Endpoint, model: str) -> PipelineSpec:
    """The pipeline ``model`` names for ``endpoint``: 404 when unknown, 400 when it does not fit."""
    check_model(registry, model)
    name = endpoint.default if model == DEFAULT_MODEL else model
    if name not in registry:
        raise ModelNotFoundError(f"the {endpoint.name} endpoint's built-in pipeline {name!r} is not loaded")
    spec = registry.get(name)
    if not endpoint.fits(spec):
        fitting = [s.name for s in registry.all() if endpoint.fits(s)]
        raise InvalidInputError(
            f"the model {model!r} cannot serve {endpoint.name}: its inputs or outputs do not fit; models "
            f"that can: default, {', '.join(fitting)}",
            errors=[{"field": "model", "message": f"does not serve {endpoint.name}"}],
            code="model_not_supported",
        )
    return spec
