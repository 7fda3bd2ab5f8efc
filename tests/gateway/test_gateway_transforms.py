"""Gateway transforms in the runner: a transform taking a map step's list of files, passing one through and
making a new file — the new one is registered as its output, the passed-through one keeps its id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import submit, wait_for_job

from gateway import transforms
from gateway.transforms import ListOf, Transform, TransformCall, TransformError
from workers.kit.contract import FieldSpec

pytestmark = pytest.mark.anyio

PIPELINE = """\
name: sheet
inputs:
  text: {type: text, max_length: 1000, required: false, default: ""}
steps:
  - {id: split, transform: split, inputs: {text: "{{ inputs.text }}"}, options: {by: lines}}
  - id: draw
    worker: image
    for_each: "{{ steps.split.segments }}"
    as: segment
    inputs: {prompt: "{{ segment.text }}"}
  - {id: bundle, transform: test_bundle, inputs: {images: "{{ steps.draw.image }}"}}
outputs:
  first: "{{ steps.bundle.first }}"
  sheet: "{{ steps.bundle.sheet }}"
"""


async def _bundle(call: TransformCall) -> dict[str, Any]:
    images = call.inputs["images"]
    if not images:
        raise TransformError("Nothing to bundle", "the list of images is empty")
    sizes = [len(await call.read_bytes(image)) for image in images]
    sheet = await call.save_bytes("sheet", "txt", repr(sizes).encode(), content_type="text/plain")
    return {"first": images[0], "sheet": sheet}


@pytest.fixture
def bundle_transform(tmp_path: Path) -> Iterator[Path]:
    """A test transform in the registry, and a pipelines directory with a pipeline that uses it."""
    transforms.registry()["test_bundle"] = Transform(
        name="test_bundle",
        description="Pass the first image through and write a sheet of the sizes",
        inputs={"images": ListOf(FieldSpec(type="image"))},
        outputs={"first": FieldSpec(type="image", required=True), "sheet": FieldSpec(type="text")},
        run=_bundle,
    )
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "sheet.yaml").write_text(PIPELINE)
    yield folder
    del transforms.registry()["test_bundle"]


async def test_a_transform_registers_only_the_files_it_made(make_gateway, bundle_transform):
    gateway = await make_gateway(pipelines_dir=bundle_transform)
    done = await wait_for_job(gateway, (await submit(gateway, "sheet", text="a\nb\nc"))["id"])
    assert done["status"] == "succeeded", done["error"]
    steps = {s["id"]: s for s in done["steps"]}
    assert done["outputs"]["first"]["id"] == steps["draw[0]"]["outputs"]["image"]["id"]  # passed through
    sheet = done["outputs"]["sheet"]
    assert sheet["content_type"] == "text/plain"
    body = (await gateway.get(sheet["url"])).text
    assert body == repr([steps[f"draw[{i}]"]["outputs"]["image"]["bytes"] for i in range(3)])
    assert steps["bundle"]["worker"] == "transform:test_bundle" and steps["bundle"]["attempts"] == 1
    assert steps["bundle"]["backend"] == "gateway"


async def test_a_transform_error_fails_the_step_without_retries(make_gateway, bundle_transform):
    gateway = await make_gateway(pipelines_dir=bundle_transform)
    done = await wait_for_job(gateway, (await submit(gateway, "sheet"))["id"])
    assert done["status"] == "failed"
    assert done["error"] == {
        "title": "Nothing to bundle",
        "detail": "the list of images is empty",
        "step_id": "bundle",
    }
    steps = {s["id"]: s for s in done["steps"]}
    assert steps["bundle"]["attempts"] == 1 and steps["draw"]["items"]["total"] == 0
