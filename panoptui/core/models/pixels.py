"""The weightless ``pixels`` descriptor: no download, fast on any CPU.

What it captures: the coarse layout of light and dark (a 16x16 grid of CIELAB lightness, minus
its mean), the colour layout (an 8x8 grid of the a* and b* colour axes), and the overall
lightness and colour. Images that look alike at a glance -- resized, re-encoded, lightly cropped
or brightened copies -- land close together, which makes it good for near-duplicates and as the
offline fallback.

It is computed from the 256-px thumbnail the import stored, which holds all the detail a 16x16
grid needs: no original is decoded again, so it runs at thousands of images per second.

What it does not capture: meaning. Two photos of cats in different poses are far apart, a cat
and a dog on the same lawn are close; mirrored or rotated copies and heavy crops are not matched.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from panoptui.core.models.base import Embedder, ModelSpec, Preprocessor, l2_normalise

GRID = 16
COLOUR_GRID = 8
DIM = GRID * GRID + 2 * COLOUR_GRID * COLOUR_GRID + 3


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in 0..255 -> CIELAB (D65): L in 0..100, a and b roughly -100..100."""
    c = rgb.astype(np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    )
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lightness = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1)


def describe(image: Image.Image) -> np.ndarray:
    """The descriptor of an RGB image, before normalisation."""
    small = image.convert("RGB").resize((GRID, GRID), Image.Resampling.BOX)
    lab = srgb_to_lab(np.asarray(small))
    lightness = lab[..., 0]
    colour = lab[..., 1:].reshape(COLOUR_GRID, 2, COLOUR_GRID, 2, 2).mean(axis=(1, 3))
    means = lab.reshape(-1, 3).mean(axis=0)
    return np.concatenate(
        [
            (lightness - lightness.mean()).ravel() / 25.0,
            colour.ravel() / 25.0,
            means / np.array([50.0, 25.0, 25.0]) * 4.0,
        ]
    ).astype(np.float32)


class PixelsPreprocessor(Preprocessor):
    input_size = 64  # decode at least this much, so that the 16x16 averages are clean
    resize_mode = "squash"  # straight to the 16x16 grid, whatever the aspect ratio

    def transform(self, image: Image.Image) -> np.ndarray:
        return describe(image)


class PixelsEmbedder(Embedder):
    embeds_text = False
    dim = DIM
    from_thumbnails = True

    def __init__(self, spec: ModelSpec, device: str) -> None:
        self.spec = spec
        self.device = "cpu"  # nothing to accelerate
        self.preprocessor = PixelsPreprocessor()

    # Takes numpy arrays, not torch tensors: pixels never imports torch (see the module).
    def embed_images(self, batch: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return l2_normalise(np.asarray(batch))
