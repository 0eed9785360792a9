"""Make the small images bundled for the neural-art optimizee (minil2o/datasets/images/).

Every image is cut from a file that ships inside a Python wheel, under a permissive licence, then
resized to 128 x 128 with a Lanczos filter and saved as a JPEG (quality 95, no chroma
subsampling), about 80 KB for all eight:

    content/  grace_hopper  matplotlib  mpl-data/sample_data/grace_hopper.jpg  public domain (USN)
              astronaut     scikit-image skimage/data/astronaut.png            public domain (NASA)
              chelsea       scikit-image skimage/data/chelsea.png                 CC0
              coffee        scikit-image skimage/data/coffee.png                  CC0
    style/    brick         scikit-image skimage/data/brick.png  (grayscale)   CC0
              grass         scikit-image skimage/data/grass.png  (grayscale)   CC0
              gravel        scikit-image skimage/data/gravel.png (grayscale)   CC0
              wood          scikit-image skimage/data/coffee.png (the table top) CC0

Run it again to reproduce the files exactly:

    pip download scikit-image==0.26.0 --no-deps -d /tmp/skimg
    python tools/make_art_images.py --skimage-wheel /tmp/skimg/scikit_image-0.26.0-*.whl

matplotlib (an installed dependency) provides grace_hopper.jpg; the scikit-image wheel is only
opened as a zip archive, never installed.
"""
import argparse
import glob
import io
import os
import zipfile

import matplotlib
from PIL import Image

SIZE = 128
# name: (source, file inside the source, crop box (left, top, right, bottom) in source pixels)
CONTENT = {
    "grace_hopper": ("matplotlib", "sample_data/grace_hopper.jpg", (96, 16, 416, 336)),
    "astronaut": ("skimage", "skimage/data/astronaut.png", (100, 0, 356, 256)),
    "chelsea": ("skimage", "skimage/data/chelsea.png", (75, 0, 375, 300)),
    "coffee": ("skimage", "skimage/data/coffee.png", (140, 0, 480, 340)),
}
STYLE = {
    "brick": ("skimage", "skimage/data/brick.png", (128, 128, 384, 384)),
    "grass": ("skimage", "skimage/data/grass.png", (128, 128, 384, 384)),
    "gravel": ("skimage", "skimage/data/gravel.png", (128, 128, 384, 384)),
    "wood": ("skimage", "skimage/data/coffee.png", (460, 0, 600, 140)),
}


def open_source(source, member, wheel):
    """The source image as a PIL image: from matplotlib's data folder or from inside the wheel."""
    if source == "matplotlib":
        return Image.open(os.path.join(matplotlib.get_data_path(), member))
    with zipfile.ZipFile(wheel) as zf:
        return Image.open(io.BytesIO(zf.read(member)))


def make(table, folder, wheel):
    """Crop, resize to SIZE x SIZE and save every image of `table` as folder/<name>.jpg."""
    os.makedirs(folder, exist_ok=True)
    for name, (source, member, box) in table.items():
        image = open_source(source, member, wheel)
        mode = "L" if image.mode in ("L", "I", "I;16") else "RGB"
        small = image.convert(mode).crop(box).resize((SIZE, SIZE), Image.LANCZOS)
        path = os.path.join(folder, f"{name}.jpg")
        small.save(path, quality=95, subsampling=0, optimize=True)
        print(f"{path}: {small.size[0]}x{small.size[1]} {mode}, {os.path.getsize(path)} bytes")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skimage-wheel", required=True, help="path (or glob) of the wheel")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "minil2o",
                                                      "datasets", "images"))
    args = parser.parse_args()
    wheels = sorted(glob.glob(args.skimage_wheel))
    if not wheels:
        raise SystemExit(f"no scikit-image wheel matches {args.skimage_wheel!r}")
    make(CONTENT, os.path.join(args.out, "content"), wheels[-1])
    make(STYLE, os.path.join(args.out, "style"), wheels[-1])


if __name__ == "__main__":
    main()
