"""Retrieval: rotation-invariant global descriptors (relf_hloc.retrieval), extract --global
(hloc's layout, carried by shards and Ray), pairs --mode retrieval and its errors."""

import cv2
import h5py
import numpy as np
import skimage.data
import pytest
import torch

from relf_hloc import io, retrieval
from relf_hloc.cli import main
from relf_hloc.features.relf import group_align, roll_groups

from test_shards import SIFT, assert_same_file, folder  # noqa: F401  (fixture: 5 images in two folders)

G = 16


def places(seed=0, per_place=4, count=3, dim=64):
    """Descriptor sets of ``count`` places, ``per_place`` views each (noisy copies of one set)."""
    rng = np.random.default_rng(seed)
    names, sets = [], []
    for p in range(count):
        base = rng.random((50, dim))
        for v in range(per_place):
            names.append(f"p{p}/v{v}.jpg")
            sets.append(np.abs(base + 0.3 * rng.random((50, dim)))[rng.permutation(50)[:40]])
    return names, sets


def test_retrieval_finds_the_views_of_each_place_first():
    names, sets = places()
    desc = np.stack([retrieval.global_descriptor(s, "gem") for s in sets])
    pairs = retrieval.collection_pairs(names, desc, 3)
    same = {(a, b) for a in names for b in names if a < b and a[:2] == b[:2]}
    assert {tuple(sorted(p)) for p in pairs} == same  # recall 1 at K = 3, nothing else
    assert len(pairs) == len(set(map(frozenset, pairs)))  # each unordered pair once
    q = retrieval.query_pairs(names[:1], desc[:1], names, desc, 2)
    assert len(q) == 2 and all(d.startswith("p0/") and d != names[0] for _, d in q)  # its place, not itself
    scores = desc[0] @ desc[[names.index(d) for _, d in q]].T
    assert scores[0] >= scores[1]  # best first


def test_global_descriptor_is_invariant_to_a_rotation_of_the_group():
    rng = np.random.default_rng(1)
    vectors = torch.from_numpy(rng.random((300, 64 * G)).astype(np.float32))
    rolled = roll_groups(vectors, torch.full((300,), 4), G)  # every field turned by 4 bins (90 degrees)
    aligned = [group_align(v, G)[0].numpy() for v in (vectors, rolled)]
    for aggregation in retrieval.AGGREGATIONS:
        a, b = (retrieval.global_descriptor(d, aggregation) for d in aligned)
        np.testing.assert_allclose(a, b, atol=1e-5)
        shuffled = retrieval.global_descriptor(aligned[0][rng.permutation(300)], aggregation)
        np.testing.assert_allclose(a, shuffled, atol=1e-5)  # orderless
    unaligned = [torch.nn.functional.normalize(v, dim=1).numpy() for v in (vectors, rolled)]
    a, b = (retrieval.global_descriptor(d, "gem") for d in unaligned)
    assert not np.allclose(a, b, atol=1e-3)  # without aligning the vector turns with the image


def test_extract_global_writes_hloc_layout_and_retrieval_pairs(folder, tmp_path):  # noqa: F811
    feats, pairs = tmp_path / "f.h5", tmp_path / "pairs.txt"
    assert main(["extract", "--images", str(folder), "--output", str(feats), *SIFT, "--global", "gem"]) == 0
    names = io.list_names(feats)
    with h5py.File(feats) as f:
        for n in names:
            g = f[n][retrieval.DATASET]
            assert g.ndim == 1 and g.shape[0] == f[n]["descriptors"].shape[0] and g.dtype == np.float16
            assert abs(np.linalg.norm(g[()].astype(np.float32)) - 1) < 1e-2
    assert io.read_provenance(feats)["global"] == {"aggregation": "gem"}
    assert main(["pairs", "--features", str(feats), "--output", str(pairs), "--mode", "retrieval",
                 "--num-matched", "2"]) == 0
    read = io.read_pairs(pairs)
    lines = pairs.read_text().splitlines()
    assert all(len(line.split(" ")) == 2 for line in lines) and len(read) == len(lines)
    assert 5 <= len(read) <= 10 and {n for p in read for n in p} == set(names)
    queries = tmp_path / "queries.txt"
    queries.write_text(f"{names[0]} SIMPLE_PINHOLE 160 120 100 80 60\n")
    assert main(["pairs", "--features", str(feats), "--output", str(pairs), "--mode", "retrieval",
                 "--queries", str(queries), "--num-matched", "3"]) == 0
    read = io.read_pairs(pairs)
    assert len(read) == 3 and all(q == names[0] and d != names[0] for q, d in read)


def test_retrieval_errors_name_the_file_and_the_fix(folder, tmp_path, capsys):  # noqa: F811
    feats, pairs = tmp_path / "plain.h5", tmp_path / "pairs.txt"
    assert main(["extract", "--images", str(folder), "--output", str(feats), *SIFT]) == 0
    capsys.readouterr()
    assert main(["pairs", "--features", str(feats), "--output", str(pairs), "--mode", "retrieval"]) == 1
    err = capsys.readouterr().err
    assert str(feats) in err and "--global" in err
    assert main(["pairs", "--features", str(feats), "--output", str(pairs), "--mode", "retrieval",
                 "--num-matched", "0"]) == 2
    assert "argument --num-matched: must be an integer at least 1, got 0" in capsys.readouterr().err
    assert main(["pairs", "--images", str(folder), "--output", str(pairs), "--mode", "retrieval"]) == 1
    assert "needs --features" in capsys.readouterr().err
    assert main(["extract", "--images", str(folder), "--output", str(tmp_path / "v.h5"), *SIFT,
                 "--global", "vlad"]) == 1
    assert "use --global gem" in capsys.readouterr().err
    # resuming a file without global descriptors with --global: other settings, named
    assert main(["extract", "--images", str(folder), "--output", str(feats), *SIFT, "--global", "gem"]) == 1
    assert "global" in capsys.readouterr().err
    assert not pairs.exists()


def test_shards_and_merge_carry_the_global_descriptor(folder, tmp_path):  # noqa: F811
    whole = tmp_path / "whole.h5"
    assert main(["extract", "--images", str(folder), "--output", str(whole), *SIFT, "--global", "gem"]) == 0
    shards = [tmp_path / f"f.{k}.h5" for k in range(2)]
    for k, s in enumerate(shards):
        assert main(["extract", "--images", str(folder), "--output", str(s), *SIFT, "--global", "gem",
                     "--shard", f"{k}/2"]) == 0
    merged = tmp_path / "merged.h5"
    assert main(["merge", "--inputs", *map(str, shards), "--output", str(merged)]) == 0
    assert_same_file(whole, merged)  # global_descriptor included
    assert len(retrieval.read_global(merged)[0]) == 5


def test_ray_extraction_carries_the_global_descriptor(folder, tmp_path):  # noqa: F811
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'relf-hloc[ray]'")
    whole, out = tmp_path / "whole.h5", tmp_path / "ray.h5"
    assert main(["extract", "--images", str(folder), "--output", str(whole), *SIFT, "--global", "gem"]) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["extract", "--images", str(folder), "--output", str(out), *SIFT, "--global", "gem",
                     "--ray", "--workers", "2"]) == 0
    finally:
        ray.shutdown()
    assert_same_file(whole, out)


def test_relf_global_descriptor_survives_rot90(shared_data):
    """Real RELF (relf-fast, shipped weights and codebook) on a photo and its np.rot90."""
    from relf_hloc.confs import get_conf
    from relf_hloc.features import load_extractor
    from relf_hloc.images import read_image
    import cv2

    path = shared_data / "strecha" / "fountain-P11" / "images" / "0005.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    image = cv2.resize(read_image(path), (321, 209), interpolation=cv2.INTER_AREA)
    relf = load_extractor({**get_conf("relf-fast")["model"], "max_keypoints": 300, "pyramid": None})
    other = cv2.resize(read_image(path.parents[2] / "Herz-Jesus-P8" / "images" / "0005.jpg"), (321, 209))
    upright, turned, other = (relf.extract(np.ascontiguousarray(im))["descriptors"]
                              for im in (image, np.rot90(image), other))
    for aggregation in retrieval.AGGREGATIONS:
        a, b, c = (retrieval.global_descriptor(d, aggregation) for d in (upright, turned, other))
        assert a @ b > 0.95 and a @ b > a @ c  # the turned photo is nearer than another scene


def test_sfm_with_retrieval_pairs(tmp_path, capsys):
    """sfm --pairs retrieval on rendered views (SIFT: GeM global descriptors, fast)."""
    from relf_hloc.datasets import render
    scene = render.read_scene(render.main(tmp_path / "scene", num_cameras=6, width=480, height=360))
    out = tmp_path / "out"
    assert main(["sfm", "--images", str(scene.image_dir), "--outputs", str(out), "--conf", "sift",
                 "--pairs", "retrieval", "--num-matched", "0"]) == 2
    assert "argument --num-matched: must be an integer at least 1, got 0" in capsys.readouterr().err
    assert main(["sfm", "--images", str(scene.image_dir), "--outputs", str(out), "--conf", "sift",
                 "--max-keypoints", "1000", "--pairs", "retrieval", "--num-matched", "3"]) == 0
    report = io.read_json(out / "report.json")
    assert report["pairs"]["mode"] == "retrieval" and report["pairs"]["num_matched"] == 3
    assert 9 <= report["pairs"]["count"] < 15 and report["registered"] >= 5
    assert len(retrieval.read_global(out / report["features"]["file"])[0]) == 6


def test_hloc_pairs_from_retrieval_reads_the_file(folder, tmp_path):  # noqa: F811
    """hloc's own retrieval step takes our features file as its global descriptors."""
    pytest.importorskip("hloc", reason="hloc is not installed")
    from hloc import pairs_from_retrieval
    feats, ours, theirs = tmp_path / "f.h5", tmp_path / "ours.txt", tmp_path / "hloc.txt"
    assert main(["extract", "--images", str(folder), "--output", str(feats), *SIFT, "--global", "gem"]) == 0
    pairs_from_retrieval.main(feats, theirs, num_matched=2)
    assert main(["pairs", "--features", str(feats), "--output", str(ours), "--mode", "retrieval",
                 "--num-matched", "2"]) == 0
    assert {frozenset(p) for p in io.read_pairs(theirs)} == {frozenset(p) for p in io.read_pairs(ours)}


def test_vlad_of_relf_with_rootsift_is_vlad_of_its_relf_part():
    """RELF + RootSIFT descriptors (1024 + 128) aggregate by their RELF part, re-normalised."""
    from relf_hloc import retrieval
    rng = np.random.default_rng(0)
    relf = rng.normal(size=(50, 1024)).astype(np.float32)
    relf /= np.linalg.norm(relf, axis=1, keepdims=True)
    sift = np.abs(rng.normal(size=(50, 128))).astype(np.float32)
    sift /= np.linalg.norm(sift, axis=1, keepdims=True)
    both = np.concatenate([relf * 0.5 ** 0.5, sift * 0.5 ** 0.5], 1)
    np.testing.assert_allclose(retrieval.global_descriptor(both, "vlad"), retrieval.global_descriptor(relf, "vlad"),
                               atol=1e-5)
    with pytest.raises(ValueError, match="codebook is for 1024-dimensional RELF descriptors, these have 900"):
        retrieval.global_descriptor(relf[:, :900], "vlad")


def test_compact_relf_is_aggregated_from_its_aligned_descriptor(tmp_path):
    """With ``pca`` (and the RootSIFT part) the stored descriptor is not what the VLAD codebook was
    learned on: the extract step aggregates the aligned descriptor RELF hands over (never written), so
    the global descriptor is the full conf's."""
    from relf_hloc.confs import with_options
    from relf_hloc.steps import extract
    image = (skimage.data.astronaut()[::3, ::3]).copy()
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.jpg"), image[..., ::-1])
    files = {}
    for label, pca in (("full", None), ("compact", 256)):
        conf = with_options("relf-rs", pyramid=None, max_keypoints=300, backend="torch")
        conf["model"]["pca"] = pca
        conf["global"] = {"aggregation": "vlad"}
        files[label] = extract.main(conf, images, tmp_path / f"{label}.h5", progress=False)
    with h5py.File(files["full"]) as a, h5py.File(files["compact"]) as b:
        assert b["a.jpg/descriptors"].shape[0] == 384 and a["a.jpg/descriptors"].shape[0] == 1152
        assert "aggregation_input" not in b["a.jpg"]
        np.testing.assert_allclose(a["a.jpg/global_descriptor"][()], b["a.jpg/global_descriptor"][()], atol=1e-5)
