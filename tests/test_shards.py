"""Range shards (extract / match --shard K/N) and merge: the merged file equals the
single-process one, and inconsistent shards are refused before anything is written."""

import cv2
import h5py
import numpy as np
import pytest
import skimage.data

from relf_hloc import io
from relf_hloc.cli import main

SIFT = ["--conf", "sift", "--max-keypoints", "200"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards") / "im"
    (root / "sub").mkdir(parents=True)
    sources = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket(),
               skimage.data.immunohistochemistry()]
    for i, img in enumerate(sources):  # names in two folders: nested groups split across shards
        cv2.imwrite(str(root / ("sub" if i % 2 else "") / f"im{i}.jpg"),
                    cv2.cvtColor(cv2.resize(img, (160, 120)), cv2.COLOR_RGB2BGR))
    return root


def contents(path):
    with h5py.File(path) as f:
        attrs = dict(f.attrs)
    return io.read_datasets(path), attrs


def assert_same_file(a, b):
    (da, attrs_a), (db, attrs_b) = contents(a), contents(b)
    assert sorted(da) == sorted(db)
    for k in da:
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)
    assert attrs_a == attrs_b  # the same provenance, no shard record left


def test_sharded_extraction_and_matching_equal_one_process(folder, tmp_path):
    whole, pairs = tmp_path / "whole.h5", tmp_path / "pairs.txt"
    assert main(["extract", "--images", str(folder), "--output", str(whole), *SIFT]) == 0
    shards = [tmp_path / f"f.{k}.h5" for k in range(3)]
    for k, s in enumerate(shards):
        assert main(["extract", "--images", str(folder), "--output", str(s), *SIFT, "--shard", f"{k}/3"]) == 0
    assert sum(len(io.list_names(s)) for s in shards) == 5
    merged = tmp_path / "merged.h5"
    assert main(["merge", "--inputs", *map(str, shards), "--output", str(merged)]) == 0
    assert_same_file(whole, merged)

    assert main(["pairs", "--images", str(folder), "--output", str(pairs)]) == 0
    m_whole = tmp_path / "m.h5"
    assert main(["match", "--pairs", str(pairs), "--features", str(whole), "--output", str(m_whole)]) == 0
    m_shards = [tmp_path / f"m.{k}.h5" for k in range(4)]
    for k, s in enumerate(m_shards):
        assert main(["match", "--pairs", str(pairs), "--features", str(merged), "--output", str(s),
                     "--shard", f"{k}/4"]) == 0
    assert main(["merge", "--inputs", *map(str, m_shards), "--output", str(tmp_path / "mm.h5")]) == 0
    assert_same_file(m_whole, tmp_path / "mm.h5")
    with h5py.File(tmp_path / "mm.h5") as f:
        assert len(io.groups(f, "matches0")) == 10


def test_merge_refuses_inconsistent_shards(folder, tmp_path, capsys):
    shards = [tmp_path / f"f.{k}.h5" for k in range(3)]
    for k, s in enumerate(shards):
        assert main(["extract", "--images", str(folder), "--output", str(s), *SIFT, "--shard", f"{k}/3"]) == 0
    out = tmp_path / "out.h5"

    def refused(*inputs, phrase):
        capsys.readouterr()
        assert main(["merge", "--inputs", *map(str, inputs), "--output", str(out)]) == 1
        assert phrase in capsys.readouterr().err
        assert not out.exists()  # nothing written

    refused(shards[0], shards[1], phrase="missing: [2]")
    refused(shards[0], shards[1], shards[1], phrase="given twice: [1]")
    other = tmp_path / "other.2.h5"
    assert main(["extract", "--images", str(folder), "--output", str(other), "--conf", "sift",
                 "--max-keypoints", "100", "--shard", "2/3"]) == 0
    refused(shards[0], shards[1], other, phrase="max_keypoints: 200 -> 100")
    with h5py.File(shards[2], "a") as f:  # an unfinished shard: one image missing
        del f[io.list_names(shards[2])[0]]
    refused(*shards, phrase="holds 1 of its 2")
    # resuming a shard file as another shard is an error too
    assert main(["extract", "--images", str(folder), "--output", str(shards[0]), *SIFT, "--shard", "1/3"]) == 1
    assert "holds shard 0/3 of 5, not shard 1/3 of 5" in capsys.readouterr().err


def test_shard_option_is_checked():
    with pytest.raises(ValueError, match="K must be in 0..3"):
        io.parse_shard("4/4")
    with pytest.raises(ValueError, match="expected K/N"):
        io.parse_shard("half")
    assert [io.shard_slice(list(range(5)), (k, 3)) for k in range(3)] == [[0], [1, 2], [3, 4]]


def test_ray_flag_without_ray_names_the_install(folder, tmp_path):
    import subprocess
    import sys
    code = ("import sys; sys.modules['ray'] = None\n"
            "from relf_hloc.cli import main\n"
            f"sys.exit(main(['extract', '--images', {str(folder)!r}, '--output', {str(tmp_path / 'f.h5')!r}, "
            "'--conf', 'sift', '--ray']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1 and "pip install 'relf-hloc[ray]'" in done.stderr
    assert not (tmp_path / "f.h5").exists()
