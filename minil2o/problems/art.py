"""Neural art: the image-styling optimizee of Andrychowicz et al. 2016 (Section 3.4, Fig. 8-9),
after Gatys, Ecker & Bethge 2015 ("A neural algorithm of artistic style").

The parameters theta are the pixels of an image X: (H, W, 3), flattened (64 x 64 x 3 = 12,288 for
training, 128 x 128 x 3 = 49,152 for the paper's test). The loss is

    f(X) = a L_content(X) + b L_style(X) + c L_tv(X)            (DM section 3.4, unnumbered there)

computed on the features F_l(X) of a fixed convolutional network (l = 1..L):

    L_content = mean_{k, m} (F_lc(X) - F_lc(content))_{k,m}^2           one deeper layer lc
    G_l = F_l F_l^T / M_l                                               Gram matrix, (C_l, C_l)
    L_style = (1/L) sum_l ||G_l(X) - G_l(style)||_F^2 / C_l^2             every layer
    L_tv = (1/(3HW)) sum [(X_{i+1,j} - X_{i,j})^2 + (X_{i,j+1} - X_{i,j})^2]     squared (smooth) TV

where F_l is layer l's output reshaped to (C_l channels, M_l = H_l W_l positions): the features
of a fixed network of random filters. minil2o/problems/art_features.py holds that network (and
why random filters serve) and the three loss terms, each with its gradient by hand; this module
holds the images, the optimizee NeuralArt and its family.

What to expect: with the defaults (a, b, c) = (1, 1000, 1), under which the three weighted terms end
at comparable sizes (about 0.02, 0.003 and 0.01 on 64 x 64 images after 128 Adam steps of learning
rate 0.02), a styling that starts from the content image carries over the style's colours, contrast
and fine grain (gravel, wood) while the content stays recognisable; larger structures of a style
(the layout of bricks) are beyond these small random features. Wider networks (widths=(32, 64, 128))
fit the Gram matrices with more high-frequency noise in the same number of steps.

Initialisation. The DM paper does not say where each styling starts; Gatys et al. start from white
noise. `init="content"` (default) starts from the content image plus N(0, init_noise^2) pixel noise,
so the layout is there from the first of the paper's 128 steps and the optimizer only adds the
style; `init="noise"` starts from U(0, 1) pixels as Gatys et al. do.

Images. `load_art_images()` reads the small images bundled in minil2o/datasets/images (content:
photographs; style: textures), made by tools/make_art_images.py; data/README.md gives their sources
and licences.
"""
import math

import numpy as np

from ..backend import asarray, to_numpy, xp
from ..errors import DataError, UsageError
from .art_features import (content_loss, features_backward, features_forward, gram_forward,
                           random_filters, style_loss, tv_loss)
from ..validate import check_choice, check_number, check_setting
from .base import Family, Problem

INITS = ("content", "noise")
DEFAULT_STYLE = "gravel"


# ---------------------------------------------------------------------------------------------
# Bundled images and host-side image helpers
# ---------------------------------------------------------------------------------------------

def load_art_images():
    """The bundled images as (contents, styles): two dicts name -> host float32 array (H, W, 3)
    in [0, 1]. Grayscale textures are repeated over the three colour channels."""
    from PIL import Image

    from .data import DATASETS_DIR
    found = []
    for kind in ("content", "style"):
        paths = sorted((DATASETS_DIR / "images" / kind).glob("*.jpg"))
        if not paths:
            raise DataError(f"no bundled {kind} images in {DATASETS_DIR / 'images' / kind}: the "
                            "package installation is incomplete (see data/README.md)")
        images = {}
        for path in paths:
            with Image.open(path) as image:
                images[path.stem] = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        found.append(images)
    return found[0], found[1]


def _check_image(image, what):
    """image as a host float64 array (H, W, 3) with values in [0, 1], or DataError."""
    image = np.asarray(to_numpy(image), dtype=np.float64)
    if image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"{what} has shape {image.shape}: use an (H, W, 3) RGB image")
    if not (np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0):
        raise DataError(f"{what} has values outside [0, 1]: use floats in [0, 1] (pixels / 255)")
    return image


def resize_image(image, height, width):
    """Bilinear resize of a host image (H, W, 3) to (height, width, 3), pixel centres aligned:
    output pixel i samples the input at (i + 0.5) H / height - 0.5, clamped to the image."""
    def weights(n_in, n_out):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1.0)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo)[:, None]
    lo, hi, t = weights(image.shape[0], height)
    rows = (1 - t)[:, :, None] * image[lo] + t[:, :, None] * image[hi]            # (height, W, 3)
    lo, hi, t = weights(image.shape[1], width)
    return (1 - t)[None, :, :] * rows[:, lo] + t[None, :, :] * rows[:, hi]   # (height, width, 3)


def random_crop(rng, image, size):
    """A random square crop of side s ~ U{size, ..., min(H, W)} of a host image (H, W, 3), resized
    to (size, size, 3): a random scale and position of the content (an image smaller than size
    is resized up whole)."""
    H, W, _ = image.shape
    side = int(rng.integers(min(size, H, W), min(H, W) + 1))
    top, left = int(rng.integers(0, H - side + 1)), int(rng.integers(0, W - side + 1))
    crop = image[top:top + side, left:left + side]
    return crop if side == size else resize_image(crop, size, size)


def to_image(theta, height=None, width=None):
    """The image held by theta: (H, W, 3) host float64, clipped to [0, 1] (for saving/plotting).

    theta: (3 H W,) on any backend; a square image is assumed when height and width are omitted.
    """
    theta = np.asarray(to_numpy(theta), dtype=np.float64)
    if height is None:
        height = width = math.isqrt(theta.size // 3)
    if theta.size != 3 * height * width:
        raise UsageError(f"theta has {theta.size} entries, not 3 * {height} * {width}: pass the "
                         "image's height and width")
    return np.clip(theta.reshape(height, width, 3), 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# The optimizee and its family
# ---------------------------------------------------------------------------------------------

class NeuralArt(Problem):
    """Style one content image: theta is the image (H, W, 3) flattened, n = 3 H W; no batches.
    The optimizee of Andrychowicz et al., section 3.4.

    content: host (H, W, 3) in [0, 1]; filters: from random_filters; style_grams: list of (C_l, C_l)
    backend Gram matrices of the style image; weights (a, b, c); content_layer: index lc.
    """

    def __init__(self, content, filters, style_grams, weights, content_layer, init="content",
                 init_noise=0.05, dtype="float32"):
        self.dtype = dtype
        self.content = content                                      # (H, W, 3) host
        self.height, self.width, _ = content.shape
        self.n = 3 * self.height * self.width
        self.filters, self.style_grams = filters, style_grams
        self.weights, self.content_layer = weights, content_layer
        self.init_kind, self.init_noise = init, init_noise
        feats, _ = features_forward(self._network_input(asarray(content, dtype=dtype)), filters)
        self.content_target = feats[content_layer]                  # (1, C_lc, H_lc, W_lc)

    def init(self, rng):
        """theta_0: content + N(0, init_noise^2) ("content") or U(0, 1) pixels ("noise"); (n,)."""
        if self.init_kind == "noise":
            start = rng.uniform(0.0, 1.0, size=self.content.shape)
        else:
            start = self.content + self.init_noise * rng.standard_normal(self.content.shape)
        return asarray(start.reshape(-1), dtype=self.dtype)

    def _network_input(self, image):
        """image: (H, W, 3) -> the centred network input X - 0.5 as (1, 3, H, W)."""
        chw = xp.permute_dims(image - 0.5, (2, 0, 1))               # (3, H, W)
        return xp.reshape(chw, (1, 3, self.height, self.width))

    def _terms(self, theta):
        """Forward pass: the three loss terms, their gradients (features / pixels), the caches."""
        image = xp.reshape(theta, (self.height, self.width, 3))     # (H, W, 3)
        feats, caches = features_forward(self._network_input(image), self.filters)
        content, dcontent = content_loss(feats[self.content_layer], self.content_target)
        style, dstyle = style_loss(feats, self.style_grams)
        tv, dtv = tv_loss(image)
        return (content, style, tv), (dcontent, dstyle, dtv), caches

    def loss_terms(self, theta):
        """{"content": L_content, "style": L_style, "tv": L_tv} as Python floats, unweighted."""
        (content, style, tv), _, _ = self._terms(theta)
        return {"content": float(to_numpy(content)), "style": float(to_numpy(style)),
                "tv": float(to_numpy(tv))}

    def loss_and_grad(self, theta, batch=None):
        """f = a L_content + b L_style + c L_tv (8.1) and df/dtheta; theta: (n,), batch unused.

        The content and style terms give dL/dA_l at the features (content_loss, style_loss);
        weighted by a and b they go down the network (features_backward) to dL/dx: (1, 3, H, W),
        which is permuted back to (H, W, 3) and joined by c times the TV gradient.
        """
        a, b, c = self.weights
        (content, style, tv), (dcontent, dstyle, dtv), caches = self._terms(theta)
        dfeats = [b * d for d in dstyle]
        dfeats[self.content_layer] = dfeats[self.content_layer] + a * dcontent
        dx = features_backward(dfeats, caches)                      # (1, 3, H, W)
        dimage = xp.permute_dims(xp.reshape(dx, (3, self.height, self.width)), (1, 2, 0))
        grad = xp.reshape(dimage + c * dtv, (self.n,))              # (n,)
        return a * content + b * style + c * tv, grad

    def to_image(self, theta):
        """theta as a host image (H, W, 3) clipped to [0, 1]."""
        return to_image(theta, self.height, self.width)


class NeuralArtFamily(Family):
    """Neural-art problems: one fixed style, content images drawn at random (DM Section 3.4).

    content_images: (K, H, W, 3) array, a list of (H_k, W_k, 3) arrays or a dict name -> array,
        host floats in [0, 1], or a list of bundled image names (e.g. ["astronaut", "coffee"]);
        None takes every bundled content image (load_art_images).
    style_image: (Hs, Ws, 3) in [0, 1], or the name of a bundled style; None takes DEFAULT_STYLE.
        It is used at its own resolution (cropped to a multiple of 2^(L-1)).
    size: the side of the styled image (64 trains, 128 tests in the paper); a multiple of 2^(L-1).
    content_weight a, style_weight b, tv_weight c: DM section 3.4's alpha, beta, gamma.
    crop: each sample takes a random square crop (side between size and the image's shorter side)
        resized to size; False resizes the whole image (a square crop of its centre).
    widths, kernel, feature_seed: the fixed random network; content_layer: its index (-1: last).
    init, init_noise: theta_0 (see the module docstring).
    """

    def __init__(self, content_images=None, style_image=None, size=64, content_weight=1.0,
                 style_weight=1000.0, tv_weight=1.0, crop=True, widths=(16, 32, 64), kernel=3,
                 feature_seed=0, content_layer=-1, init="content", init_noise=0.05,
                 dtype="float32"):
        self.contents = _content_list(content_images)
        self.size = _check_size(size, len(widths))
        check_choice(init, "init", INITS)
        if not -len(widths) <= content_layer < len(widths):
            raise UsageError(f"content_layer={content_layer!r} is not allowed: use an index "
                             f"into the {len(widths)} blocks")
        self.weights = (check_number(content_weight, "content_weight"),
                        check_number(style_weight, "style_weight"),
                        check_number(tv_weight, "tv_weight"))
        self.init_noise = check_number(init_noise, "init_noise")
        self.crop, self.init, self.dtype = crop, init, dtype
        self.content_layer = content_layer % len(widths)
        self.filters = random_filters(tuple(widths), kernel, feature_seed, dtype)
        self.style = _style_image(style_image, 2 ** (len(widths) - 1))
        self.style_grams = self._grams(self.style)

    def _grams(self, image):
        """Gram matrices (C_l, C_l) of every block's features of a host image (H, W, 3)."""
        H, W, _ = image.shape
        chw = np.ascontiguousarray(image.transpose(2, 0, 1)[None] - 0.5)   # (1, 3, H, W)
        feats, _ = features_forward(asarray(chw, dtype=self.dtype), self.filters)
        return [gram_forward(feat)[0] for feat in feats]

    def sample(self, rng):
        """A NeuralArt problem for a random content image (and crop) of the family."""
        image = self.contents[int(rng.integers(len(self.contents)))]
        if self.crop:
            content = random_crop(rng, image, self.size)
        else:
            side = min(image.shape[:2])
            top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
            content = resize_image(image[top:top + side, left:left + side], self.size, self.size)
        return NeuralArt(content, self.filters, self.style_grams, self.weights, self.content_layer,
                         self.init, self.init_noise, self.dtype)


def _content_list(content_images):
    """The content images as a list of host (H, W, 3) float64 arrays in [0, 1]."""
    if content_images is None:
        content_images = load_art_images()[0]
    elif any(isinstance(im, str) for im in content_images):
        bundled = load_art_images()[0]
        unknown = [im for im in content_images if im not in bundled]
        if unknown:
            raise UsageError(f"content image {unknown[0]!r} is not bundled: choose from "
                             f"{', '.join(bundled)}")
        content_images = [bundled[name] for name in content_images]
    if isinstance(content_images, dict):
        content_images = list(content_images.values())
    images = [_check_image(im, f"content image {k}") for k, im in enumerate(content_images)]
    if not images:
        raise DataError("content_images is empty: pass at least one (H, W, 3) image")
    return images


def _style_image(style_image, multiple):
    """The style image as a host (H, W, 3) array, cropped to sides that are multiples of
    `multiple`; a name picks a bundled style."""
    if style_image is None or isinstance(style_image, str):
        styles = load_art_images()[1]
        name = DEFAULT_STYLE if style_image is None else style_image
        if name not in styles:
            raise UsageError(f"unknown bundled style {name!r}: choose one of {sorted(styles)}")
        style_image = styles[name]
    image = _check_image(style_image, "style image")
    H, W = (image.shape[0] // multiple) * multiple, (image.shape[1] // multiple) * multiple
    if H == 0 or W == 0:
        raise DataError(f"style image of size {image.shape[0]}x{image.shape[1]} is too small: "
                        f"use at least {multiple}x{multiple} pixels")
    return image[:H, :W]


def _check_size(size, num_blocks):
    """size, or UsageError unless it is a positive multiple of 2^(num_blocks - 1) of sane size
    (validate's rule for the setting 'size')."""
    multiple = 2 ** (num_blocks - 1)
    if check_setting("size", size) % multiple:
        raise UsageError(f"size={size!r} is not allowed: use a positive multiple of {multiple} "
                         f"(the network pools {num_blocks - 1} times)")
    return size
