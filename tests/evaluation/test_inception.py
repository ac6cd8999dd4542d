"""The CPU-fast Inception gives torch-fidelity's own features, FID and KID on real MNIST images."""
import pickle

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from autovae.data.datasets import load_split
from autovae.evaluation.inception import EXACT, FAST, FAST_BF16, FastInceptionV3, extractor_for, resize_matrix
from autovae.inference.sampling import to_uint8_rgb
from autovae.lightning.callbacks.fidelity import FidelityMetrics, fidelity_metrics

FEATURES = ["64", "192", "768", "2048"]


@pytest.fixture(scope="module")
def mnist_rgb(data_dir):
    return to_uint8_rgb(load_split("mnist", data_dir, train=False)[:80].float() / 255)


def test_resize_matrices_are_torch_fidelitys_resize():
    image = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(0)) * 255
    theirs = interpolate_bilinear_2d_like_tensorflow1x(image, size=(299, 299), align_corners=False)
    ours = torch.einsum("ph,nchw,qw->ncpq", resize_matrix(28, 299), image, resize_matrix(28, 299))
    assert (ours - theirs).abs().max() < 1e-3  # pixel units (0-255): rounding only


def test_fast_features_equal_torch_fidelitys(mnist_rgb, inception_weights):
    x = mnist_rgb[:16]
    with torch.no_grad():
        exact = FeatureExtractorInceptionV3(EXACT, FEATURES, feature_extractor_weights_path=str(inception_weights))(x)
        fast = FastInceptionV3(FAST, FEATURES, feature_extractor_weights_path=str(inception_weights))(x)
    for name, a, b in zip(FEATURES, exact, fast):
        assert a.shape == b.shape
        assert (a - b).abs().max() <= 1e-4 * a.abs().max(), name


def test_fid_and_kid_through_the_fast_path_equal_torch_fidelitys(mnist_rgb, inception_weights):
    a, b = mnist_rgb[:40], mnist_rgb[40:80]
    kw = dict(isc=False, feature_extractor_weights_path=str(inception_weights), cuda=False, kid_subset_size=40)
    exact = fidelity_metrics(a, b, cpu_fast_path=False, **kw)
    fast = fidelity_metrics(a, b, **kw)
    assert fast["fid"] == pytest.approx(exact["fid"], abs=0.01)
    assert fast["kid"] == pytest.approx(exact["kid"], abs=1e-5)


def test_which_extractor_runs():
    assert extractor_for(EXACT, cuda=False) == FAST
    assert extractor_for(EXACT, cuda=False, bf16=True) == FAST_BF16
    assert extractor_for(EXACT, cuda=True) == EXACT  # the GPU path is torch-fidelity's own
    assert extractor_for(EXACT, cuda=False, cpu_fast_path=False) == EXACT
    with pytest.raises(ValueError, match="bf16 Inception features exist only"):
        extractor_for("clip-vit-b-32", cuda=False, bf16=True)


def test_exact_and_bf16_features_are_cached_apart():
    class Data:
        name = fingerprint = "mnist"
        binarize, seed, val_size = False, 0, 10000
    callback = FidelityMetrics(num_samples=10, isc=False)
    names = {callback._reference_cache_name(Data, 10, "test", extractor) for extractor in (EXACT, FAST, FAST_BF16)}
    assert len(names) == 3


class _NotATensor:
    pass


def test_a_weights_file_holding_objects_is_refused(tmp_path):
    path = tmp_path / "weights.pth"
    with open(path, "wb") as f:
        pickle.dump({"fc.weight": _NotATensor()}, f)
    with pytest.raises(ValueError, match="refusing to unpickle"):
        FastInceptionV3(FAST, ["2048"], feature_extractor_weights_path=str(path))
