"""Neural art: each hand-written backward pass (Gram, TV, the random feature network, the whole
loss) against central differences, the bundled images, and a few descent steps."""
import numpy as np
import pytest

from minil2o.backend import asarray, to_float, to_numpy, xp
from minil2o.errors import DataError, UsageError
from minil2o.gradcheck import check_gradients
from minil2o.problems.art import (NeuralArtFamily, load_art_images, random_crop, resize_image,
                                  to_image)
from minil2o.problems.art_features import (features_backward, features_forward, gram_backward,
                                           gram_forward, random_filters, style_loss, tv_loss)

TINY = dict(widths=(3, 4, 5), size=16, dtype="float64")


@pytest.fixture(scope="module")
def images():
    return load_art_images()


def test_gram_backward():
    rng = np.random.default_rng(0)
    feat = asarray(rng.standard_normal((1, 3, 4, 5)))
    R = asarray(rng.standard_normal((3, 3)))                  # not symmetric: tests dG + dG^T
    G, F = gram_forward(feat)
    np.testing.assert_allclose(to_numpy(G), to_numpy(F @ F.T) / 20)
    dfeat = gram_backward(R, F, feat.shape)
    errors = check_gradients(lambda feat: xp.sum(gram_forward(feat)[0] * R), {"feat": feat},
                             {"feat": dfeat})
    assert errors["feat"] < 1e-6


def test_style_loss_gradient():
    rng = np.random.default_rng(1)
    feats = [asarray(rng.standard_normal((1, 2, 4, 4))), asarray(rng.standard_normal((1, 3, 2, 2)))]
    targets = [asarray(np.cov(rng.standard_normal((c, 9)))) for c in (2, 3)]
    _, dfeats = style_loss(feats, targets)
    for l in range(2):
        def f(x, l=l):
            return style_loss([x if k == l else feats[k] for k in range(2)], targets)[0]
        assert check_gradients(f, {"x": feats[l]}, {"x": dfeats[l]})["x"] < 1e-6


def test_tv_loss_gradient():
    image = asarray(np.random.default_rng(2).uniform(size=(5, 6, 3)))
    value, grad = tv_loss(image)
    dv, dh = np.diff(to_numpy(image), axis=0), np.diff(to_numpy(image), axis=1)
    assert abs(to_float(value) - ((dv ** 2).sum() + (dh ** 2).sum()) / 90) < 1e-12
    errors = check_gradients(lambda image: tv_loss(image)[0], {"image": image}, {"image": grad})
    assert errors["image"] < 1e-6


def test_feature_network_backward():
    rng = np.random.default_rng(3)
    filters = random_filters((2, 3, 4), kernel=3, seed=5, dtype="float64")
    x = asarray(rng.standard_normal((1, 3, 4, 4)))
    feats, caches = features_forward(x, filters)
    assert [tuple(f.shape) for f in feats] == [(1, 2, 4, 4), (1, 3, 2, 2), (1, 4, 1, 1)]
    R = [asarray(rng.standard_normal(tuple(f.shape))) for f in feats]
    dx = features_backward(R, caches)

    def f(x):
        return sum(xp.sum(a * r) for a, r in zip(features_forward(x, filters)[0], R))
    assert check_gradients(f, {"x": x}, {"x": dx})["x"] < 1e-6


def test_full_gradient_on_a_tiny_image(images):
    contents, styles = images
    family = NeuralArtFamily(contents, styles["brick"], widths=(2, 3), size=4, dtype="float64")
    problem = family.sample(np.random.default_rng(4))
    theta = problem.init(np.random.default_rng(5))
    f, grad = problem.loss_and_grad(theta)
    errors = check_gradients(lambda theta: problem.loss(theta, None), {"theta": theta},
                             {"theta": grad})
    assert problem.n == 48 and errors["theta"] < 1e-6


@pytest.mark.parametrize("content_layer, init", [(-1, "content"), (0, "noise")])
def test_random_direction_gradient_16x16(images, content_layer, init):
    contents, _ = images
    family = NeuralArtFamily(contents, "gravel", content_layer=content_layer, init=init,
                             content_weight=1.0, style_weight=1000.0, tv_weight=0.3, **TINY)
    problem = family.sample(np.random.default_rng(6))
    theta = problem.init(np.random.default_rng(7))
    f, grad = problem.loss_and_grad(theta)
    terms = problem.loss_terms(theta)
    assert abs(to_float(f) - (terms["content"] + 1000 * terms["style"] + 0.3 * terms["tv"])) < 1e-9
    errors = check_gradients(lambda theta: problem.loss(theta, None), {"theta": theta},
                             {"theta": grad}, max_full=0, num_directions=6)
    assert problem.n == 768 and errors["theta"] < 1e-6


def test_adam_steps_decrease_the_loss(images):
    contents, _ = images
    problem = NeuralArtFamily(contents, "brick", **TINY).sample(np.random.default_rng(8))
    theta = problem.init(np.random.default_rng(9))
    f0 = to_float(problem.loss(theta, None))
    m, v = 0.0 * theta, 0.0 * theta
    for t in range(1, 16):                                 # Adam, lr 0.02
        _, grad = problem.loss_and_grad(theta)
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad * grad
        theta = theta - 0.02 * (m / (1 - 0.9 ** t)) / ((v / (1 - 0.999 ** t)) ** 0.5 + 1e-8)
    assert to_float(problem.loss(theta, None)) < 0.5 * f0


def test_bundled_images(images):
    contents, styles = images
    assert {"grace_hopper", "astronaut", "chelsea", "coffee"} <= set(contents)
    assert {"brick", "grass", "gravel", "wood"} <= set(styles)
    for image in list(contents.values()) + list(styles.values()):
        assert image.shape == (128, 128, 3) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.02


def test_default_family_sizes_64_and_128():
    family = NeuralArtFamily()                             # bundled contents, default style
    problem = family.sample(np.random.default_rng(0))
    theta = problem.init(np.random.default_rng(0))
    assert problem.n == 12288 and to_numpy(theta).dtype == np.float32
    large = NeuralArtFamily(style_image="wood", size=128, widths=(4, 8, 8)).sample(
        np.random.default_rng(0))
    f, grad = large.loss_and_grad(large.init(np.random.default_rng(0)))
    assert large.n == 49152 and to_numpy(grad).shape == (49152,) and np.isfinite(to_float(f))
    assert large.to_image(grad).shape == (128, 128, 3)


def test_image_helpers():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(20, 30, 3))
    np.testing.assert_allclose(resize_image(image, 20, 30), image)
    np.testing.assert_allclose(resize_image(np.full((9, 7, 3), 0.25), 4, 5), 0.25)
    assert random_crop(rng, image, 8).shape == (8, 8, 3)
    assert random_crop(rng, image, 40).shape == (40, 40, 3)      # smaller images grow
    theta = asarray(np.linspace(-1.0, 2.0, 48))
    out = to_image(theta)
    assert out.shape == (4, 4, 3) and out.min() == 0.0 and out.max() == 1.0
    with pytest.raises(UsageError):
        to_image(theta, 5, 5)


@pytest.mark.parametrize("kwargs, error", [
    ({"size": 18}, UsageError), ({"init": "zeros"}, UsageError),
    ({"style_weight": -1.0}, UsageError), ({"content_layer": 3}, UsageError),
    ({"style_image": "monet"}, UsageError), ({"style_image": np.full((8, 8, 3), 2.0)}, DataError),
    ({"content_images": np.zeros((2, 16, 16))}, DataError), ({"content_images": []}, DataError)])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        NeuralArtFamily(**{"widths": (2, 3, 4), **kwargs})


def test_content_images_by_bundled_name(images):
    """Training takes some bundled contents by name and holds the others out for testing."""
    contents, _ = images
    family = NeuralArtFamily(content_images=["astronaut", "coffee"], size=16, widths=(4, 4))
    assert len(family.contents) == 2
    np.testing.assert_allclose(family.contents[1], contents["coffee"])
    with pytest.raises(UsageError, match="'monalisa' is not bundled: choose from .*grace_hopper"):
        NeuralArtFamily(content_images=["astronaut", "monalisa"], size=16, widths=(4, 4))
