"""The model registry: names a user types -> how to load the model.

Presets:
- ``clip``: OpenAI CLIP ViT-B/32 through open_clip (512-d, image and text). The default. OpenAI's
  weights need the QuickGELU variant of the architecture, hence ``ViT-B-32-quickgelu``.
- ``siglip``: SigLIP ViT-B/16 (webli) through open_clip (768-d, image and text).
- ``dinov2``: DINOv2 ViT-S/14 through timm at 224 px (384-d, image only).
- ``mobilenet``: MobileNetV3-Large through timm, pooled features (1280-d, image only).
- ``pixels``: a weightless colour/layout descriptor (see models/pixels.py).

Custom: ``open_clip:ARCH/PRETRAINED`` (or ``open_clip:ARCH`` with --weights, or
``open_clip:hf-hub:ORG/REPO``), ``timm:NAME``, ``hf:ORG/NAME``.
"""

from __future__ import annotations

from pathlib import Path

from panoptui.core.models.base import (
    Embedder,
    ModelError,
    ModelSpec,
    check_device_name,
    weights_path,
)

DEFAULT_MODEL = "clip"

PRESETS: dict[str, ModelSpec] = {
    "clip": ModelSpec("clip", "open_clip", "ViT-B-32-quickgelu", "openai"),
    "siglip": ModelSpec("siglip", "open_clip", "ViT-B-16-SigLIP", "webli"),
    "dinov2": ModelSpec(
        "dinov2", "timm", "vit_small_patch14_dinov2.lvd142m", options={"img_size": 224}
    ),
    "mobilenet": ModelSpec("mobilenet", "timm", "mobilenetv3_large_100.ra_in1k"),
    "pixels": ModelSpec("pixels", "pixels", "pixels"),
}

# Which presets embed text, known without loading anything (for messages and menus).
TEXT_PRESETS = ("clip", "siglip")

USAGE = (
    "choose a preset (" + ", ".join(PRESETS) + ") or a custom spec: "
    "open_clip:ARCH/PRETRAINED, timm:NAME, hf:ORG/NAME"
)


def parse_spec(name: str) -> ModelSpec:
    """Resolve what the user typed; raises ModelError with the accepted forms."""
    name = name.strip()
    if name.lower() in PRESETS:
        return PRESETS[name.lower()]
    family, _, rest = name.partition(":")
    if not rest:
        raise ModelError(f"unknown model {name!r}; {USAGE}")
    if family == "open_clip":
        if ":" in rest:  # a schema of open_clip's own: hf-hub:ORG/REPO, local-dir:PATH
            return ModelSpec(name, "open_clip", rest, None)
        arch, _, tag = rest.partition("/")
        return ModelSpec(name, "open_clip", arch, tag or None)
    if family == "timm":
        return ModelSpec(name, "timm", rest)
    if family == "hf":
        return ModelSpec(name, "hf", rest)
    raise ModelError(f"unknown model family {family!r} in {name!r}; {USAGE}")


def check_choice(
    name: str, weights: str | None = None, device: str = "auto"
) -> tuple[ModelSpec, Path | None, str]:
    """Everything about a model choice that can be checked without loading the model: the
    spec parses, the weights exist and look like weights (and go with the model), the device
    name is known. Returns the spec, the resolved weights and the device name."""
    spec = parse_spec(name)
    if spec.family == "pixels" and weights is not None:
        raise ModelError("the pixels descriptor has no weights; leave out --weights")
    local = weights_path(weights)
    device = check_device_name(device)
    if (
        spec.family == "open_clip"
        and spec.pretrained is None
        and local is None
        and ":" not in spec.arch
    ):
        raise ModelError(
            f"model {name} names no pretrained weights: use open_clip:{spec.arch}/TAG "
            "or give --weights PATH"
        )
    return spec, local, device


def load_embedder(name: str, weights: str | None = None, device: str = "auto") -> Embedder:
    """Load a model ready to embed. Raises ModelError with a message a user can act on."""
    spec, local, device = check_choice(name, weights, device)
    if spec.family == "pixels":
        # numpy only: no torch to import (its import holds the interpreter lock for a second,
        # which would freeze the terminal app when a pixels job starts).
        from panoptui.core.models.pixels import PixelsEmbedder

        if device not in ("auto", "cpu"):
            from panoptui.core.models import runtime

            runtime.pick_device(device)  # a device asked for must exist, even if unused
        return PixelsEmbedder(spec, "cpu")
    from panoptui.core.models import runtime

    chosen = runtime.pick_device(device)
    if spec.family == "open_clip":
        from panoptui.core.models.openclip_family import OpenClipEmbedder

        return OpenClipEmbedder(spec, local, chosen)
    if spec.family == "timm":
        from panoptui.core.models.timm_family import TimmEmbedder

        return TimmEmbedder(spec, local, chosen)
    from panoptui.core.models.hf_family import HFEmbedder

    return HFEmbedder(spec, local, chosen)


__all__ = [
    "DEFAULT_MODEL",
    "check_choice",
    "PRESETS",
    "TEXT_PRESETS",
    "Embedder",
    "ModelError",
    "ModelSpec",
    "load_embedder",
    "parse_spec",
]
