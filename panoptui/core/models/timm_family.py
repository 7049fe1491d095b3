"""Image-only models through timm: presets mobilenet and dinov2, custom specs ``timm:NAME``.

DINOv2 comes through timm rather than transformers: the same loader as MobileNet, local
state-dict files loaded with timm's own key conversion and position-embedding resampling (so a
checkpoint made at 518 px runs at 224 px), and preprocessing from timm's data config.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, cast

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

# timm's evaluation crop modes, in the terms of Preprocessor.resize_mode.
TIMM_RESIZE_MODES = {"center": "shortest", "squash": "squash", "border": "longest"}


class TimmPreprocessor(Preprocessor):
    """timm's own evaluation transform, rebuilt from the model's resolved data config."""

    def __init__(self, data_config: dict[str, Any]) -> None:
        self.data_config = dict(data_config)
        # The decoder must deliver what the transform resizes to before cropping: input size
        # divided by crop_pct (mobilenet: 224 / 0.875 = 256), else the crop would be upscaled.
        crop_pct = float(self.data_config.get("crop_pct") or 1.0)
        self.input_size = math.ceil(min(self.data_config["input_size"][1:]) / crop_pct)
        self.resize_mode = TIMM_RESIZE_MODES.get(str(self.data_config.get("crop_mode")), "shortest")
        self._transform = None

    def transform(self, image):
        if self._transform is None:
            from timm.data import create_transform

            self._transform = create_transform(**self.data_config, is_training=False)
        return self._transform(image)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "data_config": self.data_config,
            "input_size": self.input_size,
            "resize_mode": self.resize_mode,
            "_transform": None,
        }


def _load_checkpoint(model: torch.nn.Module, path: Path, spec: ModelSpec) -> None:
    """Load a local checkpoint strictly (timm's own pretrained loading only logs missing keys,
    which would leave random weights in place without a word).

    Uses timm's reader (safetensors, or torch.load with weights_only) and the model family's own
    checkpoint filter (key conversion, position-embedding resampling to the chosen image size).
    """
    import importlib

    from timm.models import load_state_dict

    state = load_state_dict(str(path), weights_only=True)
    module = importlib.import_module(type(model).__module__)
    convert = getattr(module, "checkpoint_filter_fn", None)
    if convert is not None:
        state = convert(state, model)
    # The checkpoint's classifier has no place in a model built for pooled features.
    # timm gives every model it builds a pretrained_cfg dict; torch's Module types know no such
    # attribute (they type unknown attributes as a Tensor or a Module).
    pretrained_cfg = cast(dict[str, Any], model.pretrained_cfg)
    head = pretrained_cfg.get("classifier")
    heads = head if isinstance(head, (list, tuple)) else [head] if head else []
    state = {
        k: v for k, v in state.items() if not any(k == h or k.startswith(f"{h}.") for h in heads)
    }
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        wrong = result.missing_keys or result.unexpected_keys
        raise ModelError(
            f"cannot load weights {shown(path)} for model {spec.name}: they do not fit the "
            f"architecture {spec.arch} ({len(result.missing_keys)} missing and "
            f"{len(result.unexpected_keys)} unexpected tensors, e.g. {wrong[0]})"
        )


class TimmEmbedder(Embedder):
    embeds_text = False

    def __init__(self, spec: ModelSpec, weights: Path | None, device: str) -> None:
        import timm

        self.spec = spec
        self.device = device
        kwargs: dict[str, Any] = {"num_classes": 0, **spec.options}  # 0: pooled features
        online = True
        if weights is not None and weights.is_dir():
            raise ModelError(
                f"--weights for {spec.name} must be a checkpoint file (.safetensors, .pth, "
                f".bin), not a folder"
            )
        if weights is None:
            online = prepare_hub_access()
        logging.getLogger("timm").setLevel(logging.CRITICAL)  # failures reach users as one line
        try:
            model = timm.create_model(spec.arch, pretrained=weights is None, **kwargs)
            if weights is not None:
                _load_checkpoint(model, weights, spec)
        except RuntimeError as exc:
            if "Unknown model" in str(exc):
                raise ModelError(
                    f"timm has no model {spec.arch!r}; see timm.list_models() for the names"
                ) from None
            raise self._load_error(weights, online, exc) from None
        except ModelError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise self._load_error(weights, online, exc) from None
        except Exception as exc:  # the hub client's own errors when offline
            raise self._load_error(weights, online, exc) from None
        model.eval().to(device)
        self.model = model
        data_config = timm.data.resolve_model_data_config(model)
        if "img_size" in spec.options:  # the pretrained config still names its native size
            size = int(spec.options["img_size"])
            data_config["input_size"] = (3, size, size)
        self.preprocessor = TimmPreprocessor(data_config)
        with torch.inference_mode():
            probe = torch.zeros(1, *data_config["input_size"], device=device)
            self.dim = int(model(probe).shape[1])

    def _load_error(self, weights: Path | None, online: bool, exc: Exception) -> ModelError:
        unsafe = unsafe_checkpoint_error(exc, weights, self.spec.name)
        if unsafe is not None:
            return unsafe
        if weights is not None:
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            return ModelError(
                f"cannot load weights {shown(weights)} for model {self.spec.name}: {first}"
            )
        return ModelError(missing_weights_message(self.spec, "the weights", online, exc))

    @torch.inference_mode()
    def embed_images(self, batch: torch.Tensor) -> np.ndarray:
        with runtime.autocast(self.device):
            features = self.model(batch.to(self.device, non_blocking=True))
        return l2_normalise(features.float().cpu().numpy())
