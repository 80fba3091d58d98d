"""relf_hloc.register(): RELF inside hloc's own extract_features / match_features /
reconstruction, unmodified. Tests needing hloc skip where it is not installed
(it is not on PyPI: `pip install --no-deps ../shared/wheels/hloc-1.5-py3-none-any.whl`, or a
clone of cvg/Hierarchical-Localization at c13273b; CI sets RELF_HLOC_REQUIRED=1 so that they fail
instead)."""

import copy
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from relf_hloc.confs import confs
from relf_hloc.io import read_features, read_matches, read_pairs

from sfm_synthetic import ground_truth_model, make_scene

try:
    import hloc  # noqa: F401
    HLOC = True
except ImportError:
    if os.environ.get("RELF_HLOC_REQUIRED"):  # CI: the plugin tests must run, not skip
        raise
    HLOC = False
needs_hloc = pytest.mark.skipif(not HLOC, reason="hloc is not installed (not on PyPI; pip install "
                                 "--no-deps ../shared/wheels/hloc-1.5-py3-none-any.whl)")


def test_importable_without_hloc():
    """With hloc unavailable, the plugin imports and register() says how to install hloc."""
    code = ("import sys; sys.modules['hloc'] = None\n"
            "import relf_hloc, relf_hloc.hloc_plugin as p\n"
            "assert 'torch' not in sys.modules\n"
            "try:\n    relf_hloc.register()\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "needs hloc" in out.stdout and "pip install" in out.stdout


class StubBaseModel(__import__("torch").nn.Module):
    """hloc's BaseModel as it behaves (hloc.utils.base_model): conf merged, then _init."""

    default_conf, required_inputs = {}, []

    def __init__(self, conf):
        super().__init__()
        self.conf = conf = {**self.default_conf, **conf}
        self._init(conf)

    def forward(self, data):
        return self._forward(data)


def test_wrapper_module_holds_the_network_and_follows_to():
    """hloc runs ``Model(conf).eval().to(device)``: the network must be a submodule of the
    wrapper, so that on a CUDA machine RELF runs on CUDA (checked here with the meta device)."""
    import torch
    from relf_hloc.hloc_plugin import build_extractor_class

    model = build_extractor_class(StubBaseModel)({"name": "relf", "random_weights": True,
                                                  "pyramid": None, "max_keypoints": 50}).eval()
    params = list(model.parameters())
    assert sum(p.numel() for p in params) > 1_000_000
    image = torch.from_numpy(np.random.default_rng(0).random((1, 1, 65, 81), np.float32))
    pred = model({"image": image})  # grayscale input, hloc's [B, C, H, W] in [0, 1]
    n = pred["keypoints"].shape[1]
    assert 0 < n <= 50 and pred["keypoints"].dtype == torch.float64
    assert pred["descriptors"].shape == (1, 1024, n) and pred["scores"].shape == (1, n)
    model.to("meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    assert model.relf.device.type == "meta"


@needs_hloc
def test_register_is_idempotent_and_visible_to_hloc():
    import relf_hloc
    from hloc import extract_features, extractors, match_features, matchers
    from hloc.utils.base_model import dynamic_load

    first, second = relf_hloc.register(), relf_hloc.register()
    assert first is second is sys.modules["hloc.extractors.relf"] is extractors.relf
    Model = dynamic_load(extractors, "relf")  # hloc's own lookup
    assert Model is first.RELF and Model.__module__ == "hloc.extractors.relf"
    assert extract_features.confs["relf-fast"]["model"]["name"] == "relf"
    assert match_features.confs["relf-nn"]["model"] == {"name": "nearest_neighbor",
                                                         "do_mutual_check": True}
    assert dynamic_load(matchers, "nearest_neighbor")  # the matcher the relf-nn conf names


class SiftAsRELF(__import__("torch").nn.Module):
    """Stands in for relf_hloc.features.relf.RELF (same batched forward) with OpenCV SIFT,
    so the plugin's plumbing is tested in seconds and independently of RELF's weights."""

    calls = []

    def __init__(self, conf):
        super().__init__()
        self.conf = conf

    def forward(self, data):
        import torch
        from relf_hloc.features.opencv import OpenCVFeatures
        image = data["image"][0].expand(3, -1, -1)  # as RELF: grayscale is replicated
        assert image.shape[0] == 3 and image.dtype.is_floating_point and image.max() <= 1
        SiftAsRELF.calls.append(tuple(image.shape))
        rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        f = OpenCVFeatures({"name": "sift", "max_keypoints": self.conf["max_keypoints"]}).extract(rgb)
        return {"keypoints": torch.from_numpy(f["keypoints"])[None],
                "descriptors": torch.from_numpy(f["descriptors"])[None],
                "keypoint_scores": torch.from_numpy(f["scores"])[None],
                "orientations": torch.from_numpy(f["orientations"])[None]}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from relf_hloc.datasets import render
    return render.main(tmp_path_factory.mktemp("rendered") / "scene", num_cameras=5,
                       width=320, height=240) / "images"


@needs_hloc
def test_hloc_pipeline_with_the_plugin(rendered, tmp_path, monkeypatch):
    """hloc's extract_features -> match_features -> reconstruction with the plugin's
    extractor class and the relf-nn matcher conf (RELF's network replaced by SIFT)."""
    import relf_hloc
    import relf_hloc.features.relf
    from hloc import extract_features, match_features, pairs_from_exhaustive, reconstruction

    monkeypatch.setattr(relf_hloc.features.relf, "RELF", SiftAsRELF)
    relf_hloc.register()
    conf = copy.deepcopy(confs["relf-fast"])
    conf["model"]["max_keypoints"] = 1500
    # upsampled 320 -> 400 px and grayscale: exercises hloc's rescaling and our gray -> RGB
    conf["preprocessing"].update(resize_max=400, resize_force=True, grayscale=True)
    SiftAsRELF.calls.clear()
    features = extract_features.main(conf, rendered, tmp_path)
    assert SiftAsRELF.calls == [(3, 300, 400)] * 5
    with h5py.File(features) as f:
        name = sorted(f.keys())[0]
        assert f[name]["keypoints"].dtype == np.float64  # escaped hloc's float16 cast
        assert f[name]["descriptors"].shape[0] == 128 and "orientations" in f[name]
        assert tuple(f[name]["image_size"][()]) == (320, 240)
    kpts = read_features(features, name)["keypoints"]
    assert 300 < kpts.max(0)[0] < 320  # back in original pixels, not 400-px ones
    pairs = tmp_path / "pairs.txt"
    pairs_from_exhaustive.main(pairs, features=features)
    matches = match_features.main(confs["relf-nn"], pairs, conf["output"], tmp_path)
    m, _ = read_matches(matches, *read_pairs(pairs)[0])
    assert len(m) > 20 and len(np.unique(m[:, 1])) == len(m)  # mutual: one-to-one
    rec = reconstruction.main(tmp_path / "sfm", rendered, pairs, features, matches)
    assert rec is not None and rec.num_reg_images() >= 4 and rec.num_points3D() > 50


@needs_hloc
def test_our_files_in_hlocs_reconstruction_and_triangulation(tmp_path):
    """hloc's steps read our features/matches files. Its known-pose triangulation
    gives 0 points on pycolmap 4.2.1 (UNDEFINED two-view geometries) unless asked to
    re-estimate them; relf_hloc.triangulation gives every point either way."""
    from hloc import reconstruction as hloc_reconstruction, triangulation as hloc_triangulation
    from relf_hloc.steps import triangulation

    scene = make_scene(tmp_path / "scene", num_images=4, num_points=300)
    rec = hloc_reconstruction.main(tmp_path / "hrec", scene.image_dir, scene.pairs,
                                   scene.features, scene.matches)
    assert rec.num_reg_images() == 4
    reference = tmp_path / "gt"
    reference.mkdir()
    ground_truth_model(scene).write(reference)
    args = (reference, scene.image_dir, scene.pairs, scene.features, scene.matches)
    hloc_default = hloc_triangulation.main(tmp_path / "htri", *args)
    hloc_reestimated = hloc_triangulation.main(tmp_path / "htri2", *args,
                                               estimate_two_view_geometries=True)
    ours = triangulation.main(tmp_path / "tri", *args)
    assert hloc_default.num_points3D() == 0, "hloc fixed known-pose triangulation: update docs"
    assert ours.num_points3D() == hloc_reestimated.num_points3D() == pytest.approx(300, rel=0.03)


@pytest.fixture(scope="module")
def rendered_vga(tmp_path_factory):
    """The demo scene: 12 rendered 640x480 views (6 rolled by 30-164 degrees) and their K."""
    import json
    from relf_hloc.datasets import render
    scene = render.main(tmp_path_factory.mktemp("rendered_vga") / "scene")
    return scene / "images", json.loads((scene / "scene.json").read_text())["cameras"][0]["K"]


@pytest.mark.slow
@needs_hloc
def test_hloc_end_to_end_with_the_relf_network(rendered_vga, tmp_path):
    """The real RELF network through hloc (random weights until trained ones ship:
    then only the files are checked, since an untrained network cannot be expected
    to reconstruct)."""
    import relf_hloc
    import pycolmap
    from relf_hloc.features.relf import DEFAULT_WEIGHTS
    from hloc import extract_features, match_features, pairs_from_exhaustive, reconstruction

    rendered, K = rendered_vga
    trained = DEFAULT_WEIGHTS.is_file()
    relf_hloc.register()
    conf = copy.deepcopy(confs["relf-fast"])
    conf["model"].update(max_keypoints=1000, random_weights=not trained)
    features = extract_features.main(conf, rendered, tmp_path)
    with h5py.File(features) as f:
        assert len(f.keys()) == 12
        for name in f:
            desc = f[name]["descriptors"][()].astype(np.float32)
            assert desc.shape[0] == 1024
            np.testing.assert_allclose(np.linalg.norm(desc, axis=0), 1, atol=1e-2)
    pairs = tmp_path / "pairs.txt"
    pairs_from_exhaustive.main(pairs, features=features)
    matches = match_features.main(confs["relf-nn"], pairs, conf["output"], tmp_path)
    assert all(len(read_matches(matches, *p)[0]) > 0 for p in read_pairs(pairs))
    # the true camera, as a calibrated user would give it, and a seeded single-threaded mapper
    # (5 views with the focal length to estimate registered 3 to 5 from run to run)
    rec = reconstruction.main(tmp_path / "sfm", rendered, pairs, features, matches,
                              camera_mode=pycolmap.CameraMode.SINGLE,
                              image_options={"camera_model": "PINHOLE",
                                             "camera_params": f"{K[0][0]},{K[1][1]},{K[0][2]},{K[1][2]}"},
                              mapper_options={"num_threads": 1, "random_seed": 0,
                                              "ba_refine_focal_length": False})
    if trained:
        assert rec is not None and rec.num_reg_images() == 12


@needs_hloc
def test_hloc_localize_sfm_agrees_with_ours(tmp_path):
    """hloc's localize_sfm runs on pycolmap 4.2.1 with our model and files, and finds
    the same poses as relf_hloc.localize (both: LO-RANSAC + refinement, 12 px)."""
    from hloc import localize_sfm
    from relf_hloc.steps import localize, triangulation
    from relf_hloc.io import write_pairs

    scene = make_scene(tmp_path / "scene")
    db, queries = scene.names[:4], scene.names[4:]
    gt = ground_truth_model(scene)
    for name in queries:
        gt.deregister_frame(gt.find_image_with_name(name).frame_id)
    write_pairs(tmp_path / "db.txt", [p for p in read_pairs(scene.pairs) if set(p) <= set(db)])
    triangulation.main(tmp_path / "model", gt, scene.image_dir, tmp_path / "db.txt",
                       scene.features, scene.matches)
    f, cx, cy = scene.K[0, 0], scene.K[0, 2], scene.K[1, 2]
    (tmp_path / "q.txt").write_text("".join(f"{q} SIMPLE_PINHOLE 320 240 {f} {cx} {cy}\n" for q in queries))
    write_pairs(tmp_path / "loc.txt", [(q, d) for q in queries for d in db])
    localize_sfm.main(tmp_path / "model", tmp_path / "q.txt", tmp_path / "loc.txt", scene.features,
                      scene.matches, tmp_path / "hloc_poses.txt")
    ours = localize.read_poses(localize.main(tmp_path / "model", tmp_path / "q.txt", scene.features,
                                             scene.matches, tmp_path / "poses.txt",
                                             pairs=tmp_path / "loc.txt"))
    theirs = localize.read_poses(tmp_path / "hloc_poses.txt")  # same line format
    assert sorted(theirs) == sorted(ours) == queries
    for q in queries:
        np.testing.assert_allclose(theirs[q].matrix(), ours[q].matrix(), atol=1e-3)


@needs_hloc
def test_hloc_reads_files_with_our_provenance(rendered, tmp_path):
    """Our features and matches files carry settings attributes; hloc's readers ignore them."""
    from hloc.utils.io import get_keypoints, get_matches, list_h5_names
    from relf_hloc.cli import main
    from relf_hloc.io import read_provenance

    feats, pairs, matches = tmp_path / "f.h5", tmp_path / "p.txt", tmp_path / "m.h5"
    assert main(["extract", "--images", str(rendered), "--output", str(feats), "--conf", "sift"]) == 0
    assert main(["pairs", "--images", str(rendered), "--output", str(pairs)]) == 0
    assert main(["match", "--pairs", str(pairs), "--features", str(feats), "--output", str(matches)]) == 0
    assert read_provenance(feats)["kind"] == "features" and read_provenance(matches)["kind"] == "matches"
    names = sorted(list_h5_names(feats))
    assert names == sorted(p.name for p in rendered.iterdir())
    assert get_keypoints(feats, names[0]).shape[1] == 2
    m, _ = get_matches(matches, names[0], names[1])
    assert len(m) > 10
