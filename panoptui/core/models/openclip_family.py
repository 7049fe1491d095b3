"""CLIP-style models through open_clip: image and text embeddings (presets clip and siglip,
custom specs ``open_clip:ARCH/PRETRAINED``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from panoptui.core.models import runtime
from panoptui.core.models.base import (
    Embedder,
    ModelError,
    ModelSpec,
    Preprocessor,
    l2_normalise,
    missing_weights_message,
    prepare_hub_access,
    unsafe_checkpoint_error,
)
from panoptui.core.text import shown

PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")


class OpenClipPreprocessor(Preprocessor):
    """open_clip's own evaluation transform, rebuilt from the model's preprocess config."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = dict(cfg)
        size = self.cfg["size"]
        self.input_size = int(min(size) if isinstance(size, (tuple, list)) else size)
        self.resize_mode = str(self.cfg.get("resize_mode") or "shortest")
        self._transform = None

    def transform(self, image):
        if self._transform is None:
            from open_clip.transform import PreprocessCfg, image_transform_v2

            self._transform = image_transform_v2(PreprocessCfg(**self.cfg), False)
        return self._transform(image)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "cfg": self.cfg,
            "input_size": self.input_size,
            "resize_mode": self.resize_mode,
            "_transform": None,
        }


class OpenClipEmbedder(Embedder):
    embeds_text = True

    def __init__(self, spec: ModelSpec, weights: Path | None, device: str) -> None:
        import open_clip

        self.spec = spec
        self.device = device
        self._tokenizer_name = spec.arch
        force_preprocess: dict[str, Any] | None = None
        if weights is not None and weights.is_dir():
            _check_model_folder(weights, spec)
            # A folder holding open_clip_config.json and the weights (a copy of the hub repo).
            model_name, pretrained = f"local-dir:{weights}", None
            self._tokenizer_name = model_name
        elif weights is not None:
            model_name, pretrained = spec.arch, str(weights)
            force_preprocess = preprocess_override(spec)
        else:
            model_name, pretrained = spec.arch, spec.pretrained
        online = True
        if weights is None and (pretrained is not None or spec.arch.startswith("hf-hub:")):
            online = prepare_hub_access()
        try:
            with _quiet_open_clip():
                model = open_clip.create_model(
                    model_name,
                    pretrained=pretrained,
                    device=device,
                    force_preprocess_cfg=force_preprocess,
                    weights_only=True,
                )
        except KeyError as exc:  # a state dict that does not fit the architecture
            raise ModelError(
                f"weights {shown(weights)} do not fit model {spec.name}: {exc}"
            ) from None
        except Exception as exc:  # truncated files, pickles, hub errors: all a load failure
            raise _load_error(spec, weights, online, exc) from None
        model.eval()
        self.model = model
        self.preprocessor = OpenClipPreprocessor(open_clip.get_model_preprocess_cfg(model))
        with torch.inference_mode():
            probe = torch.zeros(1, 3, *_size(self.preprocessor), device=device)
            self.dim = int(model.encode_image(probe).shape[1])
        self._tokenizer = None

    @torch.inference_mode()
    def embed_images(self, batch: torch.Tensor) -> np.ndarray:
        with runtime.autocast(self.device):
            features = self.model.encode_image(batch.to(self.device, non_blocking=True))
        return l2_normalise(features.float().cpu().numpy())

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts).to(self.device)
        with runtime.autocast(self.device):
            features = self.model.encode_text(tokens)
        return l2_normalise(features.float().cpu().numpy())

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            import open_clip

            online = prepare_hub_access()
            try:
                with _quiet_open_clip():
                    self._tokenizer = open_clip.get_tokenizer(self._tokenizer_name)
            except Exception as exc:  # the hub client raises many types when offline
                raise ModelError(
                    missing_weights_message(self.spec, "the text tokenizer", online, exc)
                    + " (image vectors do not need it)"
                ) from None
        return self._tokenizer


def preprocess_override(spec: ModelSpec) -> dict[str, Any] | None:
    """The preprocessing of a model's pretrained tag. A bare weights file tells open_clip nothing
    about it and it would fall back to CLIP's; SigLIP, for one, normalises with 0.5/0.5 and
    squashes instead of cropping."""
    import open_clip

    tag_cfg = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained or "") or {}
    return {k: tag_cfg[k] for k in PREPROCESS_KEYS if k in tag_cfg} or None


ARCH_KEYS = {
    "vision_cfg": ("width", "layers", "patch_size", "image_size"),
    "text_cfg": ("width", "layers"),
}


def _check_model_folder(folder: Path, spec: ModelSpec) -> None:
    import json

    import open_clip

    config_file = folder / "open_clip_config.json"
    if not config_file.is_file():
        raise ModelError(
            f"folder {shown(folder)} has no open_clip_config.json; give the folder of an open_clip "
            "model (as on its hub page) or a weights file"
        )
    if not any(folder.glob(pattern) for pattern in ("*.safetensors", "*.bin", "*.pth")):
        raise ModelError(f"folder {shown(folder)} holds no weights file (.safetensors, .bin, .pth)")
    try:
        folder_cfg = json.loads(config_file.read_text())["model_cfg"]
    except (ValueError, KeyError) as exc:
        raise ModelError(f"{shown(config_file)} is not an open_clip config: {exc}") from None
    # A preset names an architecture: a folder holding another one is not that model.
    expected = open_clip.get_model_config(spec.arch) if spec.name in ("clip", "siglip") else None
    if expected:
        mismatched = [
            f"{part}.{key}"
            for part, keys in ARCH_KEYS.items()
            for key in keys
            if folder_cfg.get(part, {}).get(key) != expected.get(part, {}).get(key)
        ]
        if mismatched or folder_cfg.get("embed_dim") != expected.get("embed_dim"):
            raise ModelError(
                f"folder {shown(folder)} holds another architecture than {spec.name} "
                f"({spec.arch}); "
                f"to use it as it is, give --model open_clip:local --weights {shown(folder)}"
            )


def _size(preprocessor: OpenClipPreprocessor) -> tuple[int, int]:
    size = preprocessor.cfg["size"]
    return tuple(size) if isinstance(size, (tuple, list)) else (size, size)


def _load_error(spec: ModelSpec, weights: Path | None, online: bool, exc: Exception) -> ModelError:
    unsafe = unsafe_checkpoint_error(exc, weights, spec.name)
    if unsafe is not None:
        return unsafe
    text = str(exc)
    if "not found in built-ins" in text or "Unknown model" in text:
        return ModelError(
            f"open_clip has no model {spec.arch!r}; see open_clip.list_models() for the names"
        )
    if weights is not None:
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        return ModelError(f"cannot load weights {shown(weights)} for model {spec.name}: {first}")
    return ModelError(missing_weights_message(spec, "the weights", online, exc))


class _quiet_open_clip:
    """open_clip logs warnings (random init, ignored args) that mean nothing to our users."""

    def __enter__(self) -> None:
        self.level = logging.root.level
        logging.root.setLevel(logging.CRITICAL)  # failures reach the user as our one line

    def __exit__(self, *exc: object) -> None:
        logging.root.setLevel(self.level)
