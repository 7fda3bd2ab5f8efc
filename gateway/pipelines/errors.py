"""The two errors this package raises: a broken pipeline spec, and bad job inputs."""

from __future__ import annotations


class PipelineError(ValueError):
    """A pipeline spec is invalid. The message names the file, pipeline, step and field.

    ``problems`` holds every problem found, each already prefixed with where it is.
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class InputValidationError(ValueError):
    """The inputs given for a job do not fit the pipeline; ``errors`` lists every problem at once.

    Each error is ``{"field": <input name>, "message": <what is wrong>}``.
    """

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
