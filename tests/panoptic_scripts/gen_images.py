"""Small generated images for the Panoptic tests, the same bytes on every run.

usage: python gen_images.py OUT_DIR [--count N]
- default: 13 images in 4 folders (OUT_DIR, a, a/b, c): 12 different images, PNG (modes RGB, L,
  RGBA, P) and JPEG, 64 to 400 px wide, plus c/img_000_copy.png, a byte-identical copy of
  img_000.png (same sha1: two files, two instances, one image).
- --count N: N different 64x48 JPEGs in OUT_DIR, for a benchmark (fast to make and to decode).
Needs Pillow (any Panoptic venv has it). Deterministic: a seeded random, no time, no metadata
that changes between runs."""

import argparse
import os
import random
import shutil

from PIL import Image, ImageDraw

FOLDERS = ["", "a", "a/b", "c"]
PNG_MODES = ["RGB", "L", "RGBA", "P"]


def picture(rng, width, height):
    image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    x, y = rng.randrange(width // 2), rng.randrange(height // 2)
    draw.rectangle(
        [x, y, x + width // 2, y + height // 2], fill=tuple(rng.randrange(256) for _ in range(3))
    )
    return image


def test_set(out):
    rng = random.Random(0)
    for i in range(12):
        folder = os.path.join(out, FOLDERS[i % 4])
        os.makedirs(folder, exist_ok=True)
        image = picture(rng, 64 + 28 * i, 48 + 20 * i)  # 64x48 .. 372x268
        if i % 2 == 0:
            mode = PNG_MODES[(i // 2) % 4]
            image = (
                image.convert(mode) if mode != "P" else image.convert("P", palette=Image.ADAPTIVE)
            )
            image.save(os.path.join(folder, f"img_{i:03d}.png"))
        else:
            image.save(os.path.join(folder, f"img_{i:03d}.jpg"), quality=90)
    shutil.copy(os.path.join(out, "img_000.png"), os.path.join(out, "c", "img_000_copy.png"))
    return 13


def many(out, count):
    rng = random.Random(1)
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        picture(rng, 64, 48).save(os.path.join(out, f"img_{i:06d}.jpg"), quality=85)
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--count", type=int)
    args = parser.parse_args()
    made = many(args.out, args.count) if args.count is not None else test_set(args.out)
    print("generated", made, "images in", args.out)


if __name__ == "__main__":
    main()
