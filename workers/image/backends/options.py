"""The options every image backend accepts (published in ``/v1/info``): the local and the remote one."""

from __future__ import annotations

from workers.kit.contract import FieldSpec

IMAGE_OPTIONS: dict[str, FieldSpec] = {
    "width": FieldSpec(type="integer", default=512, minimum=64, maximum=1024, description="Width in pixels"),
    "height": FieldSpec(
        type="integer", default=512, minimum=64, maximum=1024, description="Height in pixels"
    ),
    "seed": FieldSpec(type="integer", minimum=0, maximum=2**32 - 1, description="Same seed, same picture"),
}
