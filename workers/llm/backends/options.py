"""The options every llm backend accepts (published in ``/v1/info``): the local and the remote one."""

from __future__ import annotations

from workers.kit.contract import FieldSpec

LLM_OPTIONS: dict[str, FieldSpec] = {
    "max_tokens": FieldSpec(
        type="integer", default=256, minimum=1, maximum=4096, description="Longest answer, in tokens"
    ),
    "temperature": FieldSpec(
        type="number", default=0.7, minimum=0, maximum=2, description="Sampling temperature; 0 is greedy"
    ),
}
