"""The architecture examples of docs/architecture.md, run as written: a detector, an extractor and two
matchers (one guided by the keypoints), each one class and one registry line, then used by name through
RELF, the extract step and the match step."""

import numpy as np
import pytest
import skimage.data

from relf_hloc import io
from relf_hloc.features import EXTRACTORS
from relf_hloc.features.detectors import DETECTORS
from relf_hloc.images import write_image
from relf_hloc.matchers import MATCHERS
from relf_hloc.steps import extract, match, pairs

from test_readme import readme_blocks, run_python_blocks


@pytest.fixture
def registered(tmp_path):
    """The four components of docs/architecture.md, registered for one test, then removed."""
    before = {id(r): dict(r) for r in (DETECTORS, EXTRACTORS, MATCHERS)}
    blocks = readme_blocks("Architecture", "python")
    assert len(blocks) == 4
    namespace = run_python_blocks(blocks, tmp_path)
    yield namespace
    for registry in (DETECTORS, EXTRACTORS, MATCHERS):
        registry.clear()
        registry.update(before[id(registry)])


def test_detector_example_feeds_relf(registered):
    from relf_hloc import RELF
    assert DETECTORS["grid"] is registered["GridDetector"]
    relf = RELF({"random_weights": True, "pyramid": None, "detector": {"name": "grid", "step": 16}})
    image = np.ascontiguousarray(skimage.data.astronaut()[:97, :129])
    out = relf.extract(image)
    # a 16-px grid from 8: x in 8..120 (8 values), y in 8..88 (6 values)
    assert out["keypoints"].shape == (48, 2) and out["descriptors"].shape == (48, 1024)
    np.testing.assert_array_equal(out["keypoints"][:2], [[8, 8], [24, 8]])
    with pytest.raises(ValueError, match="GridDetector: unknown option 'stride'"):
        RELF({"random_weights": True, "detector": {"name": "grid", "stride": 4}})


def test_extractor_and_matcher_examples_run_through_the_steps(registered, tmp_path):
    images = tmp_path / "images"
    image = skimage.data.astronaut()[::2, ::2]
    write_image(images / "a.png", image)
    write_image(images / "b.png", image)  # the same picture twice: every patch matches itself
    feats = extract.main({"output": "feats-patches", "model": {"name": "patches", "max_keypoints": 200}},
                         images, tmp_path / "feats.h5")
    a = io.read_features(feats, "a.png")
    assert a["keypoints"].shape == (len(a["scores"]), 2) and a["descriptors"].shape == (81, len(a["scores"]))
    assert 100 < len(a["scores"]) <= 200
    np.testing.assert_allclose(np.linalg.norm(a["descriptors"], axis=0), 1, atol=1e-3)
    pairs_path = pairs.main(tmp_path / "pairs.txt", images)
    matches = match.main({"output": "matches-l2", "model": {"name": "mutual_l2"}}, pairs_path, feats,
                         tmp_path / "matches.h5")
    pairs_ab, scores = io.read_matches(matches, "a.png", "b.png")
    assert len(pairs_ab) >= 0.95 * len(a["scores"]) and np.all(pairs_ab[:, 0] == pairs_ab[:, 1])
    assert np.all(scores > 0.99)


def test_guided_matcher_example_uses_the_keypoints(registered, tmp_path):
    """Image 1 holds each keypoint of image 0 shifted by (6, -3) px with a noisy copy of its descriptor,
    and 21 px away (between the grid points) a decoy with the exact descriptor: mutual NN takes the decoys,
    the guided matcher (H the true shift, radius 8 px) the true keypoints, through the match step."""
    rng = np.random.default_rng(0)
    k0 = np.stack(np.meshgrid(np.arange(20, 200, 30), np.arange(20, 140, 30)), -1).reshape(-1, 2).astype(np.float32)
    d0 = rng.normal(size=(len(k0), 32)).astype(np.float32)
    noisy = d0 + 0.3 * rng.normal(size=d0.shape).astype(np.float32)
    unit = lambda d: d / np.linalg.norm(d, axis=1, keepdims=True)  # noqa: E731
    k1 = np.concatenate([k0 + [6, -3], k0 + [15, 15]])
    d1 = unit(np.concatenate([noisy, d0]))
    feats = tmp_path / "feats.h5"
    io.write_features(feats, "a.png", {"keypoints": k0, "descriptors": unit(d0).T})
    io.write_features(feats, "b.png", {"keypoints": k1, "descriptors": d1.T})
    (tmp_path / "pairs.txt").write_text("a.png b.png\n")
    n = len(k0)
    shift = [[1, 0, 6], [0, 1, -3], [0, 0, 1]]
    for model, expected in (({"name": "mutual_l2"}, np.arange(n) + n),
                            ({"name": "guided_nn", "radius": 8, "H": shift}, np.arange(n))):
        out = match.main({"output": f"matches-{model['name']}", "model": model}, tmp_path / "pairs.txt", feats,
                         tmp_path / f"{model['name']}.h5")
        pairs_ab, _ = io.read_matches(out, "a.png", "b.png")
        np.testing.assert_array_equal(pairs_ab[:, 1], expected)
    # without the guide (H = identity) the true keypoints are 6.7 px away: inside 8 px, outside 5 px
    data = {"keypoints0": k0, "keypoints1": k1, "descriptors0": unit(d0), "descriptors1": d1}
    assert (registered["GuidedNN"]({"radius": 8})(data)["matches0"] == np.arange(n)).all()
    assert (registered["GuidedNN"]({"radius": 5})(data)["matches0"] == -1).all()


def test_extractors_declare_what_they_offer(registered):
    """The steps ask an extractor's class what it offers, so a new one needs no name test anywhere."""
    from relf_hloc.features import extractor_class, identity
    from relf_hloc.steps.extract import check_global
    from relf_hloc.sfm import with_global_descriptors
    relf, sift, patches = (extractor_class({"name": n}) for n in ("relf", "sift", "patches"))
    assert (relf.weights, relf.describes_keypoints, relf.global_aggregations) == (True, True, ("vlad", "gem"))
    assert (sift.weights, sift.describes_keypoints, sift.global_aggregations) == (False, False, ("gem",))
    assert patches.global_aggregations == ("gem",)  # Extractor's defaults
    conf = {"output": "feats-patches", "model": {"name": "patches"}}
    assert with_global_descriptors(conf, "exhaustive", 5)["global"] == {"aggregation": "gem"}
    assert with_global_descriptors({"model": {"name": "relf"}}, "retrieval", 5)["global"] == {"aggregation": "vlad"}
    with pytest.raises(ValueError, match="--global vlad: not offered by patches"):
        check_global({**conf, "global": {"aggregation": "vlad"}})
    assert identity({"name": "relf"})["weights"].startswith("w") and "weights" not in identity(conf["model"])
