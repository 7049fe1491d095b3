"""Tiny random-weight models built through the real libraries and saved as a user would have
them on disk: no hub is ever contacted."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

TINY_OPEN_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
# Deliberately not CLIP's defaults: the loader must keep the model's own preprocessing.
TINY_OPEN_CLIP_PREPROCESS = {
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "interpolation": "bicubic",
    "resize_mode": "squash",
}


def tiny_open_clip_dir(root: Path, seed: int = 0, resize_mode: str = "squash") -> Path:
    """A folder like an open_clip hub repository: open_clip_config.json and the weights.
    ``resize_mode``: open_clip's "squash" (SigLIP's), "shortest" (CLIP's) or "longest"."""
    import open_clip

    folder = root / (
        "tiny-open-clip" if resize_mode == "squash" else f"tiny-open-clip-{resize_mode}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    preprocess = {**TINY_OPEN_CLIP_PREPROCESS, "resize_mode": resize_mode}
    config = {"model_cfg": TINY_OPEN_CLIP, "preprocess_cfg": preprocess}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_OPEN_CLIP)
    save_file(model.state_dict(), str(folder / "open_clip_model.safetensors"))
    return folder


def timm_checkpoint(name: str, path: Path, seed: int = 0, **kwargs) -> Path:
    """A state-dict file of a timm model with random weights (a classifier included, as in a
    real checkpoint)."""
    import timm

    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(model.state_dict(), str(path))
    else:
        torch.save(model.state_dict(), path)
    return path


def tiny_hf_vit_dir(root: Path, seed: int = 0) -> Path:
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder = root / "tiny-hf-vit"
    torch.manual_seed(seed)
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=48,
        patch_size=16,
    )
    ViTModel(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 48, "width": 48}).save_pretrained(folder)
    return folder


def tiny_hf_clip_dir(root: Path, seed: int = 0) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = root / "tiny-hf-clip"
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "max_position_embeddings": 32,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return folder
