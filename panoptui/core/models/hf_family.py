"""Any transformers image model: custom specs ``hf:ORG/NAME``, or a local folder via --weights.

Models with ``get_image_features`` (CLIP, SigLIP and kin) give their projected image embedding
and also embed text; other models give their pooled output (or the first token's state).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def _features(output: Any) -> torch.Tensor:
    """A (N, D) tensor from what a transformers model returns (a tensor in older releases, a
    model output with ``pooler_output`` in newer ones)."""
    if isinstance(output, torch.Tensor):
        return output if output.ndim == 2 else output[:, 0]
    pooled = getattr(output, "pooler_output", None)
    if pooled is not None:
        return pooled if pooled.ndim == 2 else pooled.flatten(1)
    return output.last_hidden_state[:, 0]


class HFPreprocessor(Preprocessor):
    """The model's own AutoImageProcessor, loaded in each worker from the same source."""

    def __init__(self, source: str, input_size: int, resize_mode: str = "shortest") -> None:
        self.source = source
        self.input_size = input_size
        self.resize_mode = resize_mode
        self._processor = None

    def transform(self, image):
        if self._processor is None:
            from transformers import AutoImageProcessor

            self._processor = AutoImageProcessor.from_pretrained(self.source)
        return self._processor(images=image, return_tensors="pt")["pixel_values"][0]

    def __getstate__(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "input_size": self.input_size,
            "resize_mode": self.resize_mode,
            "_processor": None,
        }


class HFEmbedder(Embedder):
    def __init__(self, spec: ModelSpec, weights: Path | None, device: str) -> None:
        from transformers import AutoImageProcessor, AutoModel
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()  # no load reports and progress bars for users
        transformers_logging.disable_progress_bar()

        self.spec = spec
        self.device = device
        source = str(weights) if weights is not None else spec.arch
        if weights is not None and not weights.is_dir():
            raise ModelError(
                f"--weights for {spec.name} must be a folder saved by transformers "
                "(config.json, the weights, preprocessor_config.json)"
            )
        online = True if weights is not None else prepare_hub_access()
        try:
            processor = AutoImageProcessor.from_pretrained(source)
            model = AutoModel.from_pretrained(source)
        except Exception as exc:  # transformers raises OSError, ValueError, hub errors...
            unsafe = unsafe_checkpoint_error(exc, weights or source, spec.name)
            if unsafe is not None:
                raise unsafe from None
            if weights is not None:
                first = str(exc).splitlines()[0][:200]
                raise ModelError(
                    f"cannot load {spec.name} from {shown(weights)}: {first}"
                ) from None
            raise ModelError(missing_weights_message(spec, "the model", online, exc)) from None
        model.eval().to(device)
        self.model = model
        self.source = source
        probe = processor(images=_blank(), return_tensors="pt")["pixel_values"]
        self.preprocessor = HFPreprocessor(
            source, _resize_size(processor, probe), _resize_mode(processor)
        )
        self.embeds_text = hasattr(model, "get_text_features")
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self.dim = int(self._forward(probe).shape[1])

    @torch.inference_mode()
    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, non_blocking=True)
        with runtime.autocast(self.device):
            if hasattr(self.model, "get_image_features"):
                return _features(self.model.get_image_features(pixel_values=batch))
            return _features(self.model(pixel_values=batch))

    def embed_images(self, batch: torch.Tensor) -> np.ndarray:
        return l2_normalise(self._forward(batch).float().cpu().numpy())

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if not self.embeds_text:
            return super().embed_texts(texts)
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.source)
            except Exception as exc:
                raise ModelError(
                    f"cannot load the text tokenizer of {self.spec.name} from "
                    f"{shown(self.source)}: "
                    f"{str(exc).splitlines()[0][:160]} (a model folder needs its tokenizer files "
                    "for text search; image vectors do not need them)"
                ) from None
        # SigLIP was trained on text padded to its full length; CLIP-like models pad to the
        # longest text of the batch.
        siglip = "siglip" in str(getattr(self.model.config, "model_type", ""))
        tokens = self._tokenizer(
            texts, padding="max_length" if siglip else True, truncation=True, return_tensors="pt"
        )
        tokens = {k: v.to(self.device) for k, v in tokens.items()}
        with runtime.autocast(self.device):
            features = _features(self.model.get_text_features(**tokens))
        return l2_normalise(features.float().cpu().numpy())


def _resize_size(processor: Any, probe: torch.Tensor) -> int:
    """The short side the processor resizes to before any crop (the decoder must deliver at
    least that), and at least the size of what it outputs."""
    size = getattr(processor, "size", None)
    wanted = [int(min(probe.shape[-2:]))]
    for key in ("shortest_edge", "height"):
        value = getattr(size, key, None)
        if value is None and isinstance(size, dict):
            value = size.get(key)
        if isinstance(value, int):
            wanted.append(value)
    return max(wanted)


def _resize_mode(processor: Any) -> str:
    """How the processor fits an image (see Preprocessor.resize_mode), from its ``size``:
    ``shortest_edge`` resizes the short side, ``height`` and ``width`` squash, ``longest_edge``
    alone fits the long side. Anything else is taken as "shortest", whose bound is the safe
    one (it crops only images the transform would have blown up)."""
    size = getattr(processor, "size", None)

    def has(key: str) -> bool:
        value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
        return value is not None

    if has("shortest_edge"):
        return "shortest"
    if has("height") and has("width"):
        return "squash"
    if has("longest_edge"):
        return "longest"
    return "shortest"


def _blank():
    from PIL import Image

    return Image.new("RGB", (64, 64), (128, 128, 128))
