"""Bad inputs and stale files, as a new user meets them, one section per rule of issue 39. Each
case runs the command line and must end in a clear error naming the option or file and the
problem, before any slow work, with nothing already written lost or mixed; or, where the input
is valid as other tools write it, in the correct result. Silent or wrong results fail.

Most cases are generated from the command table (``relf_hloc.cli.COMMANDS``): every command x
every output argument x every rule 1 case, every numeric option x out-of-range values, every text
input kind x BOM / CRLF / tabs / UTF-16, every command x Ctrl-C while it imports; a command or
option added tomorrow is walked through them with no new test.

    python -m pytest -q tests/test_bad_inputs.py     # the cases as tests
    python tests/test_bad_inputs.py                  # the sweep: one line per case, then per rule
"""

from __future__ import annotations

import argparse
import contextlib
import io as stdio
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import skimage.data

from relf_hloc import checks, io
from relf_hloc.cli import COMMANDS, build_parser, main

SIFT = ["--conf", "sift", "--max-keypoints", "300"]


def run(*argv):
    """(exit code, stdout, stderr, seconds) of one command line (argparse's errors: exit 2)."""
    out, err = stdio.StringIO(), stdio.StringIO()
    start = time.time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue(), time.time() - start


def images(folder: Path, n: int = 3, size=(200, 150)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate([skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()][:n]):
        cv2.imwrite(str(folder / f"im{i}.jpg"), cv2.cvtColor(cv2.resize(img, size), cv2.COLOR_RGB2BGR))
    return folder


def extracted(tmp: Path, *extra):
    folder = images(tmp / "im")
    feats = tmp / "f.h5"
    assert run("extract", "--images", folder, "--output", feats, *SIFT, *extra)[0] == 0
    return folder, feats


def matched(tmp: Path):
    folder, feats = extracted(tmp)
    pairs, matches = tmp / "pairs.txt", tmp / "m.h5"
    assert run("pairs", "--images", folder, "--output", pairs)[0] == 0
    assert run("match", "--pairs", pairs, "--features", feats, "--output", matches, "--conf", "nn-ratio")[0] == 0
    return folder, feats, pairs, matches


def expect_error(result, *phrases, code=1):
    """A clear error: exit ``code`` and every phrase in the message. The sweep counts an exit 0 as
    'silent' and a missing phrase as 'unclear'; an exception out of main is a 'traceback'."""
    got, out, err, _ = result
    assert got != 0, f"silent: exit 0 where an error was expected\n{out}{err}"
    assert got == code, f"unclear: expected exit {code}, got {got}\n{out}{err}"
    for phrase in phrases:
        assert phrase in err, f"unclear: '{phrase}' not in the error:\n{err}"


def unchanged(path: Path, before) -> None:
    """The sweep counts a changed input or foreign file as 'corrupt'."""
    assert snapshot(path) == before, f"corrupt: {path} changed"


def snapshot(path: Path):
    """The content of a file, or of every file of a folder; None when missing."""
    if path.is_symlink() and not path.exists():
        return ("link", os.readlink(path))
    if path.is_dir():
        return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    return path.read_bytes() if path.exists() else None


# ---------------------------------------------------------------- the command table, walked
def _leaves(prefix, parser):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(tuple(prefix), parser)]
    return [leaf for choice, p in subs[0].choices.items() for leaf in _leaves(prefix + [choice], p)]


def command_table():
    """(argv prefix, parser) of every command and nested subcommand of ``relf_hloc.cli.COMMANDS``."""
    leaves = []
    for name in COMMANDS:
        top = build_parser([name])
        sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
        leaves += _leaves([name], sub.choices[name])
    return leaves


LEAVES = command_table()
INPUT_FOLDERS = {"images", "model", "dataset", "scene"}


def label(prefix, action) -> str:
    return f"{' '.join(prefix)} {action.option_strings[0]}"


def paths(parser, role):
    return [a for a in parser._actions if isinstance(a.type, checks.PathArg) and a.type.role == role]


def placeholder(tmp: Path, action):
    """A value for an option the case does not test: an existing input, a fresh output, a choice."""
    if isinstance(action.type, checks.PathArg):
        path = tmp / f"{action.type.role}-{action.dest}"
        if action.type.role == "input" and not path.exists():
            if action.type.kind in INPUT_FOLDERS:
                path.mkdir()
            elif action.type.kind in ("features", "matches"):
                h5py.File(path, "w").close()  # an empty hloc file
            else:
                path.write_text("input\n")
        return [path] * (action.nargs if isinstance(action.nargs, int) else 1) if action.nargs else path
    if action.choices:
        return list(action.choices)[0]
    return ["x"] * action.nargs if isinstance(action.nargs, int) else "x"


def command_line(prefix, parser, tmp: Path, given: dict) -> list:
    """argv of a (sub)command: ``given`` {action: value}, a placeholder for every other required option."""
    values = dict(given)
    groups = [g for g in parser._mutually_exclusive_groups if g.required]
    for action in parser._actions:
        group = next((g for g in groups if action in g._group_actions), None)
        if not action.option_strings or action in values or \
                (group and any(a in values for a in group._group_actions)):
            continue
        if action.required or (group and action is group._group_actions[0]):
            values[action] = placeholder(tmp, action)
    argv = list(prefix)
    for action, value in values.items():
        argv += [action.option_strings[0], *(value if isinstance(value, list) else [value])]
    return argv


def with_overwrite(parser) -> list:
    """--overwrite where the command has it: it must not make any rule 1 case destroy anything."""
    return ["--overwrite"] if any("--overwrite" in a.option_strings for a in parser._actions) else []


# ---------------------------------------------------------- 1. outputs never destroy an input or a file of another kind
def _features(path: Path):
    io.write_features(path, "a.jpg", {"keypoints": np.zeros((1, 2), np.float32), "scores": np.ones(1, np.float32),
                                      "descriptors": np.ones((4, 1), np.float32), "image_size": np.array([40, 30])})


def _foreign_h5(path: Path):
    with h5py.File(path, "w") as f:
        f["calibration"] = np.eye(3)


def _folder(path: Path):
    path.mkdir()
    (path / "notes.txt").write_text("mine\n")


VICTIMS = {  # a file of each kind that an output may meet
    "features": _features,
    "hdf5": _foreign_h5,
    "pairs": lambda p: p.write_text("a.jpg b.jpg\n"),
    "poses": lambda p: p.write_text("a.jpg 1 0 0 0 0 0 0\n"),
    "picture": lambda p: p.write_bytes(cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes()),
    "html": lambda p: p.write_text("<html><body>a plot</body></html>\n"),
    "folder": _folder,
}


def test_victims_are_recognised_by_content():
    with tempfile.TemporaryDirectory() as d:
        for kind, make in VICTIMS.items():
            make(Path(d) / f"x{kind}")
            assert checks.file_kind(Path(d) / f"x{kind}") == kind


def output_over_another_kind(prefix, parser, action, victim, tmp):
    path = tmp / f"victim-{victim}"
    VICTIMS[victim](path)
    before = snapshot(path)
    result = run(*command_line(prefix, parser, tmp, {action: path}), *with_overwrite(parser))
    expect_error(result, f"{action.option_strings[0]} {path}: exists and holds {checks.KINDS[victim]}",
                 "refusing to replace it")
    unchanged(path, before)


def output_is_an_input(prefix, parser, action, source, tmp):
    path = placeholder(tmp, source)
    path = path[0] if isinstance(path, list) else path
    before = snapshot(path)
    given = {source: [path] if source.nargs in ("+", "*") else path, action: path}
    result = run(*command_line(prefix, parser, tmp, given), *with_overwrite(parser))
    expect_error(result, f"{action.option_strings[0]} {path}: is also the input {source.option_strings[0]}")
    unchanged(path, before)


def output_in_a_file(prefix, parser, action, tmp):
    blocker = tmp / "afile"
    blocker.write_text("mine\n")
    path = blocker / "out"
    expect_error(run(*command_line(prefix, parser, tmp, {action: path})),
                 f"{action.option_strings[0]} {path}: {blocker} is a file, not a folder")
    unchanged(blocker, b"mine\n")


def output_dangling_link(prefix, parser, action, tmp):
    path = tmp / "link"
    path.symlink_to(tmp / "missing")
    result = run(*command_line(prefix, parser, tmp, {action: path}), *with_overwrite(parser))
    expect_error(result, f"{action.option_strings[0]} {path}: a symbolic link to {tmp / 'missing'}, which does "
                 "not exist")
    assert "Errno" not in result[2] and "pass --overwrite" not in result[2]
    unchanged(path, ("link", str(tmp / "missing")))


def output_name_too_long(prefix, parser, action, tmp):
    path = tmp / ("n" * 250 + ".out")
    result = run(*command_line(prefix, parser, tmp, {action: path}))
    expect_error(result, f"{action.option_strings[0]} {path}: the name is 254 bytes long")
    assert ".tmp" not in result[2].replace(str(tmp), "")  # the user's name, not a helper's
    assert not path.exists()


def rule1_cases() -> dict:
    cases = {}
    for prefix, parser in LEAVES:
        for action in paths(parser, "output"):
            same = checks.SAME_KIND.get(action.type.kind, (action.type.kind, "empty"))
            at = (prefix, parser, action)
            cases.update({f"{label(prefix, action)} over {v}": (output_over_another_kind, *at, v)
                          for v in VICTIMS if v not in same})
            cases.update({f"{label(prefix, action)} = {s.option_strings[0]}": (output_is_an_input, *at, s)
                          for s in paths(parser, "input")})
            cases[f"{label(prefix, action)} in a file"] = (output_in_a_file, *at)
            cases[f"{label(prefix, action)} dangling link"] = (output_dangling_link, *at)
            cases[f"{label(prefix, action)} name too long"] = (output_name_too_long, *at)
    return cases


# ---------------------------------------------------------- 2. every option value checked before work, the option named
def test_every_number_and_path_option_declares_its_range_or_kind():
    loose = [label(prefix, a) for prefix, parser in LEAVES for a in parser._actions if a.type in (int, float, Path)]
    assert loose == []  # use checks.number(...), checks.input_path(kind) or checks.output_path(kind)


def bad_values(kind: checks.Number) -> list:
    values = ["x"] + (["nan", "inf"] if kind.kind is float else [])
    values += [str(kind.low - 1)] if kind.low is not None else []
    values += [str(kind.above)] if kind.above is not None else []
    values += [str(kind.high + 1)] if kind.high is not None else []
    if isinstance(kind, checks.NumberList):
        good = kind.low if kind.low is not None else 1
        values = [f"{good},{v}" for v in values]
    return values


def option_out_of_range(prefix, parser, action, value, tmp):
    result = run(*command_line(prefix, parser, tmp, {action: value}))
    expect_error(result, f"argument {action.option_strings[0]}: ", repr(value) if value.endswith("x") else value,
                 action.type.describe(), code=2)
    assert not list(tmp.glob("output-*"))  # before any work


def rule2_cases() -> dict:
    return {f"{label(prefix, a)} {v}": (option_out_of_range, prefix, parser, a, v)
            for prefix, parser in LEAVES for a in parser._actions if isinstance(a.type, checks.Number)
            for v in bad_values(a.type)}


# ---------------------------------------------------------------- 3. text files as other tools write them
def _queries(path):
    from relf_hloc.steps.localize import read_queries
    from relf_hloc.steps.pairs import read_query_names
    return read_query_names(path), [(n, c and (c.model.name, c.width, c.height, list(c.params)))
                                    for n, c in read_queries(path)]


def _conf(path):
    from relf_hloc.confs import read_yaml
    return read_yaml(path)


TEXT_INPUTS = {  # kind: (reader, a clean file)
    "pairs": (io.read_pairs, "a.jpg b.jpg\n# a comment\nb.jpg c.jpg\n"),
    "queries": (_queries, "a.jpg SIMPLE_PINHOLE 40 30 50 20 15\nb.jpg\n"),
    "conf": (_conf, "model:\n  name: sift\n  max_keypoints: 300\n"),
}
NOT_TEXT = {"images", "features", "matches", "model", "checkpoint", "dataset", "scene", "features or matches", "sfm"}
VARIANTS = {
    "BOM": lambda t: b"\xef\xbb\xbf" + t.encode(),
    "CRLF": lambda t: t.replace("\n", "\r\n").encode(),
    "tabs": lambda t: t.replace(" ", "\t").encode(),
    "UTF-16": lambda t: t.encode("utf-16"),
}


def test_every_input_kind_is_text_with_a_reader_or_not_text():
    kinds = {a.type.kind for _, parser in LEAVES for a in paths(parser, "input")}
    assert kinds - NOT_TEXT - set(TEXT_INPUTS) == set()


def text_variant(kind, variant, tmp):
    reader, clean = TEXT_INPUTS[kind]
    (tmp / "clean").write_text(clean)
    (tmp / "other").write_bytes(VARIANTS[variant](clean))
    assert reader(tmp / "other") == reader(tmp / "clean"), f"silent: {variant} read otherwise"


def rule3_cases() -> dict:
    return {f"{label(prefix, a)} {v}": (text_variant, a.type.kind, v)
            for prefix, parser in LEAVES for a in paths(parser, "input") if a.type.kind in TEXT_INPUTS
            for v in VARIANTS if not (a.type.kind == "conf" and v == "tabs")}  # YAML forbids tab indents


# --------------------------------------------------------------- 6. files agree with each other, by provenance and size
def recorded(path: Path, kind: str, extractor: str, size=(40, 30)) -> Path:
    """A features (or matches) file of ``extractor``, its one image 'a.jpg' extracted at ``size``."""
    made = {"name": extractor, "max_keypoints": 300}
    io.claim(path, {"kind": "features", "extractor": made} if kind == "features" else
             {"kind": "matches", "matcher": {"name": "nearest_neighbor"}, "features": {"extractor": made}})
    if kind == "features":
        io.write_features(path, "a.jpg", {"keypoints": np.zeros((1, 2), np.float32), "scores": np.ones(1, np.float32),
                                          "descriptors": np.ones((4, 1), np.float32), "image_size": np.array(size)})
    return path


def files_of_two_extractors(prefix, parser, first, second, tmp):
    given = {first: recorded(tmp / "one.h5", first.type.kind, "sift"),
             second: recorded(tmp / "two.h5", second.type.kind, "rootsift")}
    result = run(*command_line(prefix, parser, tmp, given))
    expect_error(result, "come from different extractors (rootsift and sift")
    assert not list(tmp.glob("output-*"))


def images_of_another_size(prefix, parser, folder, features, tmp):
    (tmp / "im").mkdir()
    cv2.imwrite(str(tmp / "im" / "a.jpg"), np.zeros((48, 64), np.uint8))
    given = {folder: tmp / "im", features: recorded(tmp / "f.h5", "features", "sift", size=(40, 30))}
    expect_error(run(*command_line(prefix, parser, tmp, given)), "'a.jpg' is 64x48, but its features in",
                 "from a 40x30 image")


def exclusive(parser, a, b) -> bool:
    return any(a in g._group_actions and b in g._group_actions for g in parser._mutually_exclusive_groups)


def rule6_cases() -> dict:
    cases = {}
    for prefix, parser in LEAVES:
        files = [a for a in paths(parser, "input") if a.type.kind in ("features", "matches")]
        cases.update({f"{label(prefix, a)} + {b.option_strings[0]} of two extractors":
                      (files_of_two_extractors, prefix, parser, a, b) for a, b in zip(files, files[1:])})
        cases.update({f"{label(prefix, a)} + {b.option_strings[0]} of another size": (images_of_another_size,
                      prefix, parser, a, b) for a in paths(parser, "input") if a.type.kind == "images"
                      for b in files if b.type.kind == "features" and not exclusive(parser, a, b)})
    return cases


# ---------------------------------------------------------------- 9. Ctrl-C at any moment
def interrupted_while_importing(name, tmp, monkeypatch=None):
    import importlib
    real = importlib.import_module
    importlib.import_module = lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt)
    try:
        result = run(name, "--help")
    finally:
        importlib.import_module = real
    expect_error(result, f"relf-hloc {name}: interrupted", code=130)
    assert "Traceback" not in result[2]


def rule9_cases() -> dict:
    return {f"{name} interrupted while importing": (interrupted_while_importing, name) for name in COMMANDS}


GENERATED = {f"1/{k}": v for k, v in rule1_cases().items()}
GENERATED.update({f"2/{k}": v for k, v in rule2_cases().items()})
GENERATED.update({f"3/{k}": v for k, v in rule3_cases().items()})
GENERATED.update({f"6/{k}": v for k, v in rule6_cases().items()})
GENERATED.update({f"9/{k}": v for k, v in rule9_cases().items()})


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_rule(name, tmp_path):
    fn, *args = GENERATED[name]
    fn(*args, tmp_path)


def test_every_rule_walks_every_command():
    commands = {k.split("/")[1].split(" --")[0] for k in GENERATED if k.startswith(("1/", "9/"))}
    assert {"extract", "match", "pairs", "localize", "visualize model", "demo", "merge"} <= commands
    assert len([k for k in GENERATED if k.startswith("1/")]) >= 100
    assert "2/evaluate homography --angles 0,x" in GENERATED
    assert "1/extract --output = --keypoints-from" in GENERATED
    assert "1/localize --output over features" in GENERATED and "1/visualize model --output over features" in GENERATED
    assert "1/demo --outputs over pairs" in GENERATED
    assert "6/localize --features + --matches of two extractors" in GENERATED
    assert "6/visualize matches --images + --features of another size" in GENERATED


# ---------------------------------------------------------- 1. outputs never destroy an input or a file of another kind
def case_output_in_unwritable_place(tmp):
    result = run("extract", "--images", images(tmp / "im", 1), "--output", "/proc/relf.h5",
                 "--conf", "relf-single", "--random-weights")
    expect_error(result, "/proc/relf.h5: cannot write here")
    assert "loading" not in result[1]  # said before the model loads


def case_keypoints_from_is_the_output(tmp):
    folder, feats = extracted(tmp)
    before = snapshot(feats)
    expect_error(run("extract", "--images", folder, "--output", feats, "--keypoints-from", feats,
                     "--conf", "relf-single", "--random-weights", "--overwrite"),
                 f"--output {feats}: is also the input --keypoints-from")
    unchanged(feats, before)


# ---------------------------------------------------------- 2. every option value checked before work, the option named
def case_name_starting_with_a_dash(tmp):
    folder = images(tmp / "im")
    (folder / "im1.jpg").rename(folder / "-im1.jpg")
    expect_error(run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT),
                 "'-im1.jpg'", "starting with '-'", "--pair")
    assert not (tmp / "f.h5").exists()


def case_names_with_spaces(tmp):
    folder = images(tmp / "im", 2)
    (folder / "im1.jpg").rename(folder / "my photo.jpg")
    expect_error(run("pairs", "--images", folder, "--output", tmp / "p.txt"), "'my photo.jpg'", "spaces")
    result = run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT)
    expect_error(result, "'my photo.jpg'", "spaces")
    assert result[3] < 5 and not (tmp / "f.h5").exists()  # before any extraction


def case_name_starting_with_hash(tmp):
    folder = images(tmp / "im")
    (folder / "im1.jpg").rename(folder / "#0003.jpg")
    expect_error(run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT),
                 "'#0003.jpg'", "comments in pairs")


def case_names_sharing_a_matches_key(tmp):
    folder = images(tmp / "im")
    (folder / "x").mkdir()
    (folder / "im1.jpg").rename(folder / "x" / "0003.jpg")
    (folder / "im2.jpg").rename(folder / "x-0003.jpg")
    expect_error(run("sfm", "--images", folder, "--outputs", tmp / "out", *SIFT),
                 "'x-0003.jpg' and 'x/0003.jpg'", "share one key")


def case_bad_camera_params(tmp):
    result = run("sfm", "--images", images(tmp / "im"), "--outputs", tmp / "sfm", "--conf", "sift",
                 "--camera-model", "PINHOLE", "--camera-params", "500,320")
    expect_error(result, "PINHOLE takes 4 values (fx, fy, cx, cy), got 2")
    assert result[3] < 5 and not (tmp / "sfm").exists()


def case_camera_params_out_of_range(tmp):
    folder = images(tmp / "im")
    for params, phrase in (("-500,100,75,0", "the focal length f must be positive, got -500.0"),
                           ("500,nan,75,0", "cx is nan; every value must be a finite number"),
                           ("500,-100,75,0", "the principal point cx must lie in the image")):
        expect_error(run("sfm", "--images", folder, "--outputs", tmp / "out", *SIFT, "--camera-model",
                         "SIMPLE_RADIAL", f"--camera-params={params}"), phrase)
    assert not (tmp / "out").exists()


def case_mapper_option_out_of_range(tmp):
    folder = images(tmp / "im")
    expect_error(run("sfm", "--images", folder, "--outputs", tmp / "out", *SIFT,
                     "--mapper-option", "min_num_matches=-5"),
                 "--mapper-option: COLMAP rejects", "min_num_matches > 0")
    assert not (tmp / "out").exists()  # refused before any work


def case_shard_zero_of_zero(tmp):
    folder = images(tmp / "im")
    expect_error(run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT, "--shard", "0/0"),
                 "--shard 0/0: N (the number of shards) must be at least 1")


def case_cuda_without_cuda(tmp):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    expect_error(run("extract", "--images", images(tmp / "im", 1), "--output", tmp / "f.h5", *SIFT,
                     "--device", "cuda"), "--device cuda: no CUDA device")



# ---------------------------------------------------------------- 3. text files as other tools write them
def case_pairs_with_bom_crlf_and_tabs(tmp):
    folder, feats = extracted(tmp)
    (tmp / "p.txt").write_bytes(b"\xef\xbb\xbfim0.jpg\tim1.jpg\r\nim1.jpg im2.jpg\r\n")
    code, out, err, _ = run("match", "--pairs", tmp / "p.txt", "--features", feats, "--output", tmp / "m.h5",
                            "--conf", "nn-ratio")
    assert code == 0, f"unclear: {err}"
    assert "2 pair(s) matched" in out and io.has_pair(tmp / "m.h5", "im0.jpg", "im1.jpg")


def case_yaml_conf_broken_empty_or_a_list(tmp):
    folder = images(tmp / "im", 1)
    for text, phrase in (("model: [sift\n", "not valid YAML"), ("", "the conf file is empty"),
                         ("- sift\n- 300\n", "the conf file holds a list, not a mapping")):
        (tmp / "c.yaml").write_text(text)
        expect_error(run("extract", "--images", folder, "--output", tmp / "f.h5", "--conf", tmp / "c.yaml"),
                     f"{tmp / 'c.yaml'}: ", phrase)


def case_sequential_pairs_follow_the_frame_numbers(tmp):
    folder = tmp / "video"
    folder.mkdir()
    for i in range(1, 12):  # frame_1 ... frame_11, not zero-padded
        (folder / f"frame_{i}.jpg").write_bytes(b"")
    code, out, _, _ = run("pairs", "--images", folder, "--output", tmp / "p.txt", "--mode", "sequential",
                          "--window", "1")
    assert code == 0 and "natural name order" in out
    assert io.read_pairs(tmp / "p.txt") == [(f"frame_{i}.jpg", f"frame_{i + 1}.jpg") for i in range(1, 11)]


def case_empty_pairs_file(tmp):
    _, feats = extracted(tmp)
    (tmp / "p.txt").write_text("# nothing\n")
    expect_error(run("match", "--pairs", tmp / "p.txt", "--features", feats, "--output", tmp / "m.h5"),
                 "p.txt: no pairs")


def case_self_pair(tmp):
    _, feats = extracted(tmp)
    (tmp / "p.txt").write_text("im0.jpg im0.jpg\n")
    expect_error(run("match", "--pairs", tmp / "p.txt", "--features", feats, "--output", tmp / "m.h5"),
                 "p.txt:1: pairs an image with itself ('im0.jpg')")



# ---------------------------------------------------------------- 4. images as cameras and phones write them
def case_truncated_jpeg(tmp):
    folder = images(tmp / "im")
    data = (folder / "im1.jpg").read_bytes()
    (folder / "im1.jpg").write_bytes(data[: len(data) // 3])
    feats = tmp / "f.h5"
    result = run("extract", "--images", folder, "--output", feats, *SIFT)
    expect_error(result, "im1.jpg: truncated JPEG")
    assert not feats.exists() or io.list_names(feats) == []  # checked before any extraction
    code, out, err, _ = run("extract", "--images", folder, "--output", feats, *SIFT, "--skip-bad-images")
    assert code == 0 and "1 skipped (im1.jpg)" in out and "truncated JPEG" in err
    assert io.list_names(feats) == ["im0.jpg", "im2.jpg"]


def case_images_colmap_cannot_read(tmp):
    folder = images(tmp / "im")
    cv2.imwrite(str(folder / "im2.webp"), cv2.imread(str(folder / "im2.jpg")))
    (folder / "im2.jpg").unlink()
    expect_error(run("sfm", "--images", folder, "--outputs", tmp / "out", *SIFT),
                 "im2.webp: COLMAP cannot read this image format (1 '.webp' image(s))")
    assert not (tmp / "out").exists()


def case_image_too_large_for_memory(tmp):
    folder = images(tmp / "im", 1)
    cv2.imwrite(str(folder / "huge.png"), np.zeros((9000, 12000), np.uint8))  # 108 MP
    expect_error(run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT),
                 "huge.png: 12000x9000 (108 MP) is more than the 64 MP", "--resize-max")
    assert not (tmp / "f.h5").exists()
    assert run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT, "--resize-max", "4000")[0] == 0
    assert io.read_features(tmp / "f.h5", "huge.png")["image_size"].tolist() == [12000, 9000]



def case_jpeg_with_data_after_its_end_marker(tmp):
    folder = images(tmp / "im")
    path = folder / "im1.jpg"
    path.write_bytes(path.read_bytes() + b"ftypmp42" + bytes(range(256)) * 40)  # a motion photo's video
    code, out, err, _ = run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT)
    assert code == 0, f"unclear: {err}"
    assert io.list_names(tmp / "f.h5") == ["im0.jpg", "im1.jpg", "im2.jpg"]


def case_appledouble_files_left_out_with_a_note(tmp):
    folder = images(tmp / "im")
    (folder / "._im1.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(4000))
    code, _, err, _ = run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT)
    assert code == 0, f"unclear: {err}"
    assert "1 hidden file(s) or folder(s) left out" in err and "'._im1.jpg'" in err
    assert io.list_names(tmp / "f.h5") == ["im0.jpg", "im1.jpg", "im2.jpg"]


# ---------------------------------------------------------------- 5. folder layouts
def case_symlinked_subfolder_is_followed(tmp):
    folder = images(tmp / "im", 2)
    images(tmp / "elsewhere", 3)
    (folder / "more").symlink_to(tmp / "elsewhere")
    code, out, err, _ = run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT)
    assert code == 0, f"unclear: {err}"
    assert io.list_names(tmp / "f.h5") == ["im0.jpg", "im1.jpg", "more/im0.jpg", "more/im1.jpg", "more/im2.jpg"]


def case_symlink_loop_is_refused_by_name(tmp):
    folder = images(tmp / "im", 2)
    (folder / "loop").symlink_to(folder)
    expect_error(run("extract", "--images", folder, "--output", tmp / "f.h5", *SIFT),
                 f"{folder / 'loop'}: a symbolic link to", "(a loop)")


# --------------------------------------------------------------- 6. files agree with each other, by provenance and size
def case_retrieval_db_descriptors_of_another_dimension(tmp):
    folder, feats = extracted(tmp, "--global", "gem")
    db = tmp / "db.h5"
    with h5py.File(feats) as src, h5py.File(db, "w") as dst:  # another tool's file: 64-dimensional
        for name in ("im1.jpg", "im2.jpg"):
            src.copy(src[name], dst, name)
            g = dst[name]["global_descriptor"][()]
            del dst[name]["global_descriptor"]
            dst[name]["global_descriptor"] = g[:64]
    (tmp / "q.txt").write_text("im0.jpg\n")
    expect_error(run("pairs", "--features", feats, "--queries", tmp / "q.txt", "--mode", "retrieval",
                     "--db-descriptors", db, "--output", tmp / "p.txt"),
                 f"{db}: global descriptors of dimension 64, but those of {feats} have")
    assert not (tmp / "p.txt").exists()


def case_localize_with_features_of_another_extractor_than_the_model(tmp):
    folder, feats = extracted(tmp)  # sift
    run_dir = tmp / "sfm-run"
    (run_dir / "sfm").mkdir(parents=True)
    assert run("extract", "--images", folder, "--output", run_dir / "feats-rs.h5", "--conf", "rootsift",
               "--max-keypoints", "300")[0] == 0
    (run_dir / "report.json").write_text('{"features": {"file": "feats-rs.h5"}}')
    (tmp / "q.txt").write_text("im0.jpg\n")
    expect_error(run("localize", "--model", run_dir / "sfm", "--queries", tmp / "q.txt", "--features", feats,
                     "--matches", feats, "--output", tmp / "poses.txt", "--min-inliers", "4"),
                 "come from different extractors (rootsift and sift")
    assert not (tmp / "poses.txt").exists()


def case_visualize_with_images_of_another_size(tmp):
    folder, feats, pairs, matches = matched(tmp)
    small = tmp / "small"
    small.mkdir()
    for name in ("im0.jpg", "im1.jpg", "im2.jpg"):
        cv2.imwrite(str(small / name), cv2.resize(cv2.imread(str(folder / name)), (100, 75)))
    expect_error(run("visualize", "matches", "--images", small, "--features", feats, "--matches", matches,
                     "--pair", "im0.jpg", "im1.jpg", "--output", tmp / "m.png"),
                 "'im0.jpg' is 100x75, but its features in", "from a 200x150 image")
    assert not (tmp / "m.png").exists()


def case_evaluate_features_of_another_size(tmp):
    root = tmp / "hp" / "v_a"
    image = cv2.resize(skimage.data.astronaut(), (160, 120))
    root.mkdir(parents=True)
    for i in (1, 2):
        cv2.imwrite(str(root / f"{i}.ppm"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (root / "H_1_2").write_text("1 0 0\n0 1 0\n0 0 1\n")
    big = tmp / "big" / "v_a"
    big.mkdir(parents=True)
    for i in (1, 2):  # the same names, extracted at twice the size
        cv2.imwrite(str(big / f"{i}.ppm"), cv2.cvtColor(cv2.resize(image, (320, 240)), cv2.COLOR_RGB2BGR))
    feats = tmp / "f.h5"
    assert run("extract", "--images", tmp / "big", "--output", feats, *SIFT)[0] == 0
    expect_error(run("evaluate", "homography", "--dataset", tmp / "hp", "--layout", "hpatches",
                     "--features", feats, "--outputs", tmp / "eval"),
                 "benchmark image 'v_a/1.ppm' is 160x120, but its features in", "320x240 image")
    assert not (tmp / "eval" / "results.json").exists()


def case_single_camera_for_images_of_two_sizes(tmp):
    folder = images(tmp / "im")
    cv2.imwrite(str(folder / "im2.jpg"), cv2.resize(cv2.imread(str(folder / "im2.jpg")), (150, 200)))
    expect_error(run("sfm", "--images", folder, "--outputs", tmp / "out", *SIFT, "--camera-mode", "SINGLE"),
                 "--camera-mode SINGLE needs images of one size", "'im2.jpg' 150x200")
    assert not (tmp / "out").exists()


def case_features_input_not_hdf5(tmp):
    _, _, pairs, _ = matched(tmp)
    (tmp / "notes.h5").write_text("not hdf5")
    result = run("match", "--pairs", pairs, "--features", tmp / "notes.h5", "--output", tmp / "m2.h5")
    expect_error(result, "notes.h5: not a readable HDF5 file")
    assert "--overwrite" not in result[2]  # an input: nothing to overwrite


def foreign_features(tmp, edit):
    """A features file as another tool would write it (no provenance), changed by ``edit``."""
    folder, feats = extracted(tmp)
    with h5py.File(feats, "a") as f:
        del f.attrs[io.PROVENANCE]
        edit(f["im1.jpg"])
    pairs = tmp / "pairs.txt"
    assert run("pairs", "--images", folder, "--output", pairs)[0] == 0
    return run("match", "--pairs", pairs, "--features", feats, "--output", tmp / "m.h5", "--conf", "nn-ratio")


def replace(group, key, value):
    del group[key]
    group[key] = value


def case_foreign_features_fewer_descriptors_than_keypoints(tmp):
    expect_error(foreign_features(tmp, lambda g: replace(g, "descriptors", g["descriptors"][:, :10])),
                 "image 'im1.jpg'", "keypoints but descriptors of shape")


def case_foreign_features_descriptors_stored_n_by_d(tmp):
    expect_error(foreign_features(tmp, lambda g: replace(g, "descriptors", g["descriptors"][()].T)),
                 "image 'im1.jpg'", "stored [N, D]; hloc stores [D, N]")


def case_foreign_features_nan_keypoints(tmp):
    def nan(g):
        k = g["keypoints"][()]
        k[3] = np.nan
        replace(g, "keypoints", k)
    expect_error(foreign_features(tmp, nan), "image 'im1.jpg'", "1 keypoint(s) are NaN or infinite")



# ---------------------------------------------------------------- 7. provenance from the resolved configuration
def case_resume_other_conf(tmp):
    folder, feats = extracted(tmp)
    before = io.read_features(feats, "im0.jpg")["keypoints"]
    expect_error(run("extract", "--images", folder, "--output", feats, "--conf", "rootsift"),
                 str(feats), "other settings", "name: 'sift' -> 'rootsift'", "--overwrite")
    np.testing.assert_array_equal(io.read_features(feats, "im0.jpg")["keypoints"], before)  # untouched


def case_resume_other_max_keypoints(tmp):
    folder, feats = extracted(tmp)
    (folder / "new.jpg").write_bytes((folder / "im0.jpg").read_bytes())  # a new image would be mixed in
    expect_error(run("extract", "--images", folder, "--output", feats, "--conf", "sift", "--max-keypoints", "100"),
                 "max_keypoints: 300 -> 100")
    assert io.list_names(feats) == ["im0.jpg", "im1.jpg", "im2.jpg"]


def case_resume_other_weights(tmp):
    folder = images(tmp / "im", 1, (96, 72))
    feats = tmp / "f.h5"
    relf = ["--conf", "relf-single", "--max-keypoints", "50"]
    assert run("extract", "--images", folder, "--output", feats, *relf, "--random-weights")[0] == 0
    expect_error(run("extract", "--images", folder, "--output", feats, *relf), "weights: 'untrained' -> 'w")


def test_resume_same_settings(tmp_path):
    """Not an error: the same settings resume (the file says what it holds)."""
    folder, feats = extracted(tmp_path)
    code, out, _, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 0 and "0 image(s) done, 3 already in" in out
    assert io.read_provenance(feats)["extractor"] == {"name": "sift", "max_keypoints": 300, "contrast_threshold": 0.02}


def case_stale_matches_after_reextraction(tmp):
    folder, feats, pairs, matches = matched(tmp)
    cv2.imwrite(str(folder / "im1.jpg"), cv2.resize(skimage.data.rocket(), (200, 150)))  # the image changed
    assert run("extract", "--images", folder, "--output", feats, *SIFT, "--overwrite")[0] == 0
    code, out, _, _ = run("match", "--pairs", pairs, "--features", feats, "--output", matches, "--conf", "nn-ratio")
    assert code == 0 and "2 pair(s) matched (2 stale" in out and "1 already in" in out
    n1 = len(io.read_features(feats, "im1.jpg")["keypoints"])
    with h5py.File(matches) as f:
        assert f["im0.jpg/im1.jpg/matches0"][()].max() < n1  # indices into the new keypoints
        assert len(f["im1.jpg/im2.jpg/matches0"][()]) == n1


def case_failed_start_leaves_no_file_to_refuse(tmp):
    folder = images(tmp / "im", 1, (96, 72))
    bad = tmp / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    feats = tmp / "f.h5"
    relf = ["--conf", "relf-single", "--max-keypoints", "50"]
    expect_error(run("extract", "--images", folder, "--output", feats, *relf, "--weights", bad),
                 "broken.pth: not a readable checkpoint")
    assert not feats.exists()  # the corrected rerun starts afresh instead of "other settings"
    assert run("extract", "--images", folder, "--output", feats, *relf, "--random-weights")[0] == 0



def case_spelling_out_a_default_keeps_the_tag(tmp):
    from relf_hloc.confs import get_conf
    from relf_hloc.features import features_tag
    conf = get_conf("relf-fast")
    spelled = get_conf("relf-fast")
    spelled["model"].update(subbin=True, backend="torch", multi_candidate=None)  # RELF's defaults
    assert features_tag(spelled) == features_tag(conf)
    other = get_conf("relf-fast")
    other["model"]["subbin"] = False
    assert features_tag(other) != features_tag(conf)


def case_a_changed_default_does_not_resume_a_stale_file(tmp, monkeypatch=None):
    from relf_hloc.features.opencv import OpenCVFeatures
    folder, feats = extracted(tmp, "--conf", "orb")
    default = dict(OpenCVFeatures.default_conf)
    OpenCVFeatures.default_conf = {**default, "contrast_threshold": 0.05}  # a new release's default
    try:
        result = run("extract", "--images", folder, "--output", feats, "--conf", "orb", "--max-keypoints", "300")
    finally:
        OpenCVFeatures.default_conf = default
    expect_error(result, "other settings", "contrast_threshold: 0.02 -> 0.05")


# ---------------------------------------------------------------- 8. counts and completeness tell the truth
def case_verified_pairs_leave_out_degenerate_pairs(tmp):
    import pycolmap
    from relf_hloc.steps import colmap as cu
    database = tmp / "db.db"
    with pycolmap.Database.open(str(database)) as db:
        cid = db.write_camera(pycolmap.Camera(model="SIMPLE_PINHOLE", width=40, height=30, params=[50, 20, 15]))
        ids = [db.write_image(pycolmap.Image(name=n, camera_id=cid)) for n in ("a.jpg", "b.jpg", "c.jpg")]
        db.write_two_view_geometry(ids[0], ids[1], pycolmap.TwoViewGeometry())  # degenerate: 0 inliers
        good = pycolmap.TwoViewGeometry()
        good.inlier_matches = np.array([[0, 0], [1, 1]], np.uint32)
        db.write_two_view_geometry(ids[1], ids[2], good)
    real = pycolmap.verify_matches
    pycolmap.verify_matches = lambda *a, **k: None  # the geometries above stand for COLMAP's
    try:
        assert cu.verify_matches(database, tmp / "pairs.txt") == 1
    finally:
        pycolmap.verify_matches = real


def case_incomplete_records_are_no_records(tmp):
    folder, feats = extracted(tmp)
    with h5py.File(feats, "a") as f:
        del f["im1.jpg"].attrs[io.COMPLETE]  # a write cut before its mark
    assert io.list_names(feats) == ["im0.jpg", "im2.jpg"]
    with pytest.raises(KeyError, match="the features of 'im1.jpg' are incomplete"):
        io.read_features(feats, "im1.jpg")
    code, out, _, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 0 and "1 image(s) done, 2 already in" in out


# ---------------------------------------------------------------- 10. caches in unwritable places
def case_onnx_cache_in_an_unwritable_place(tmp):
    from relf_hloc.features import onnx
    (tmp / "afile").write_text("not a folder\n")
    real, env = onnx.require_ort, os.environ.get("XDG_CACHE_HOME")
    onnx.require_ort = lambda: type("ort", (), {"__version__": "1.0"})
    os.environ["XDG_CACHE_HOME"] = str(tmp / "afile")
    try:
        with pytest.raises(PermissionError) as e:
            onnx.model_file(None, "tag", "onnxruntime", lambda: None)
    finally:
        onnx.require_ort = real
        os.environ.pop("XDG_CACHE_HOME") if env is None else os.environ.update(XDG_CACHE_HOME=env)
    assert f"{tmp / 'afile' / 'relf-hloc'}: the ONNX model cache cannot be written" in str(e.value)
    assert "set XDG_CACHE_HOME to a writable folder" in str(e.value)


# ---------------------------------------------------------------- every case, as tests and as the sweep
CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}
RULES = {1: "outputs never destroy", 2: "option values", 3: "text files", 4: "images", 5: "folder layouts",
         6: "files agree", 7: "provenance", 8: "counts and completeness", 9: "Ctrl-C", 10: "caches"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(name, tmp_path):
    CASES[name](tmp_path)


def case_rules() -> dict:
    """{case: its rule number}: the ``# --- N. rule`` heading above each written case in this file,
    the ``N/`` prefix of each generated one."""
    lines = Path(__file__).read_text().splitlines()
    headings = [(i, int(line.lstrip("# -").split(".")[0])) for i, line in enumerate(lines, 1)
                if line.startswith("# ----") and line.lstrip("# -")[:1].isdigit()]
    rules = {name: max((h for h in headings if h[0] < fn.__code__.co_firstlineno), default=(0, 0))[1]
             for name, fn in CASES.items()}
    return {**rules, **{name: int(name.split("/")[0]) for name in GENERATED}}


def test_every_case_has_a_rule_and_every_rule_cases():
    rules = case_rules()
    assert set(rules.values()) == set(RULES)
    assert rules["truncated_jpeg"] == 4 and rules["keypoints_from_is_the_output"] == 1
    assert rules["1/extract --output = --keypoints-from"] == 1


def outcome(fn, *args) -> str:
    """'clear' (a clear error or the correct result), or what went wrong: 'silent' (exit 0 where an
    error was due), 'corrupt' (a file changed), 'traceback' (an exception out of the command),
    'unclear' (an error that does not say what it must) or 'wrong' (another failed check)."""
    with tempfile.TemporaryDirectory() as d:
        try:
            fn(*args, Path(d))
            return "clear"
        except AssertionError as e:
            kind = str(e).split(":")[0]
            return kind if kind in ("silent", "corrupt", "unclear") else "wrong"
        except pytest.fail.Exception as e:  # pytest.raises: no error where one was due
            return "silent" if "DID NOT RAISE" in str(e) else "wrong"
        except Exception:  # noqa: BLE001  (the sweep reports every outcome, failures included)
            return "traceback"


if __name__ == "__main__":
    rules = case_rules()
    results = {name: outcome(fn) for name, fn in CASES.items()}
    results.update({name: outcome(*case) for name, case in GENERATED.items()})
    for name, result in results.items():
        if result != "clear":
            print(f"{name}: {result.upper()}")
    kinds = ("silent", "corrupt", "traceback", "unclear", "wrong")
    print("\nper rule (clear / cases; " + ", ".join(kinds) + "):")
    for rule, title in RULES.items():
        cases = [n for n in results if rules[n] == rule]
        counts = ", ".join(str(sum(results[n] == k for n in cases)) for k in kinds)
        print(f"  {rule}. {title}: {sum(results[n] == 'clear' for n in cases)} / {len(cases)}; {counts}")
    clear = sum(r == "clear" for r in results.values())
    print(f"{len(results)} cases: {clear} clear errors or correct results, {len(results) - clear} not "
          f"({', '.join(f'{sum(r == k for r in results.values())} {k}' for k in kinds)})")
    sys.exit(0 if clear == len(results) else 1)


# ---------------------------------------------------------------- faults and changed content: correct results
def test_disk_full_mid_image_leaves_a_valid_file_that_a_rerun_completes(tmp_path, monkeypatch):
    folder = images(tmp_path / "im")
    feats = tmp_path / "f.h5"
    real = h5py.Group.create_dataset

    def full_at_second_image(self, name, *args, **kwargs):
        if name == "scores" and self.name.endswith("im1.jpg"):
            raise OSError(28, "No space left on device")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", full_at_second_image)
    code, _, err, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 1
    assert f"{feats}: could not write the features of 'im1.jpg'" in err and "No space left on device" in err
    monkeypatch.setattr(h5py.Group, "create_dataset", real)
    assert set(io.complete_names(feats)) == {"im0.jpg"}  # the file is valid; the torn record is not counted
    code, out, _, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 0 and "2 image(s) done, 1 already in" in out
    clean = tmp_path / "clean.h5"
    assert run("extract", "--images", folder, "--output", clean, *SIFT)[0] == 0
    for name in ("im0.jpg", "im1.jpg", "im2.jpg"):
        a, b = io.read_features(feats, name), io.read_features(clean, name)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_changed_image_with_the_same_name_is_extracted_again(tmp_path):
    folder, feats = extracted(tmp_path)
    before = io.read_features(feats, "im1.jpg")
    camera = cv2.resize(skimage.data.camera(), (120, 90))  # another picture, another size
    cv2.imwrite(str(folder / "im1.jpg"), camera)
    code, out, err, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 0 and "1 image(s) changed since their features were written (e.g. 'im1.jpg')" in err
    assert "1 image(s) done, 2 already in" in out
    after = io.read_features(feats, "im1.jpg")
    assert after["image_size"].tolist() == [120, 90] and before["image_size"].tolist() == [200, 150]
    assert (after["keypoints"] < [120, 90]).all()


def test_outputs_inside_the_images_folder_are_not_taken_for_photos(tmp_path):
    folder = images(tmp_path / "im")
    out = folder / "out"
    out.mkdir()
    cv2.imwrite(str(out / "m.png"), np.zeros((150, 200, 3), np.uint8))  # a plot of an earlier run
    run("sfm", "--images", folder, "--outputs", out, *SIFT)
    with h5py.File(next(out.glob("feats-*.h5"))) as f:
        assert sorted(f) == ["im0.jpg", "im1.jpg", "im2.jpg"]


def test_one_writer_per_output_and_no_reading_a_file_being_written(tmp_path):
    import json
    import socket
    import subprocess
    folder, feats = extracted(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = feats.with_name(feats.name + ".lock")
        lock.write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(),
                                    "command": "relf-hloc extract ...", "started": "2026-01-01 00:00:00"}))
        code, _, err, _ = run("extract", "--images", folder, "--output", feats, *SIFT, "--overwrite")
        assert code == 1 and f"{feats}: being written by process {other.pid} (relf-hloc extract ...," in err
        assert "--overwrite" not in err and feats.is_file()  # the other process's file is kept
        pairs = tmp_path / "pairs.txt"
        assert run("pairs", "--images", folder, "--output", pairs)[0] == 0
        code, _, err, _ = run("match", "--pairs", pairs, "--features", feats, "--output", tmp_path / "m.h5")
        assert code == 1 and "being written by process" in err
    finally:
        other.kill()
        other.wait()
    # a lock left by a process that died is no obstacle
    code, out, _, _ = run("extract", "--images", folder, "--output", feats, *SIFT)
    assert code == 0 and "3 already in" in out


def test_integer_descriptors_of_other_tools_are_normalised_before_matching(tmp_path):
    folder, feats, pairs, matches = matched(tmp_path)
    with h5py.File(feats, "a") as f:  # as COLMAP stores SIFT: uint8, 512 x the unit vector
        del f.attrs[io.PROVENANCE]
        for name in ("im0.jpg", "im1.jpg", "im2.jpg"):
            desc = f[name]["descriptors"][()].astype(np.float32)
            del f[name]["descriptors"]
            f[name]["descriptors"] = np.clip(np.round(512 * desc), 0, 255).astype(np.uint8)
    out = tmp_path / "m8.h5"
    assert run("match", "--pairs", pairs, "--features", feats, "--output", out, "--conf", "nn-ratio")[0] == 0
    m_float, s_float = io.read_matches(matches, "im0.jpg", "im1.jpg")
    m_uint8, s_uint8 = io.read_matches(out, "im0.jpg", "im1.jpg")
    assert np.isfinite(s_uint8).all() and s_uint8.max() <= 1.0 and s_uint8.min() > 0.5
    common = {tuple(m) for m in m_float} & {tuple(m) for m in m_uint8}
    assert len(common) >= 0.9 * len(m_float)  # the same matches, up to 8-bit rounding


def test_resize_max_of_a_conf_is_honoured_and_keypoints_stay_in_original_pixels(tmp_path):
    import yaml
    from relf_hloc.confs import get_conf
    from relf_hloc.features.opencv import OpenCVFeatures
    from relf_hloc.images import read_image
    from relf_hloc.steps.extract import preprocess
    folder = images(tmp_path / "im", size=(400, 300))
    conf = get_conf("sift")
    conf["model"]["max_keypoints"] = 300
    conf["preprocessing"]["resize_max"] = 200
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    feats = tmp_path / "f.h5"
    assert run("extract", "--images", folder, "--output", feats, "--conf", tmp_path / "c.yaml")[0] == 0
    got = io.read_features(feats, "im0.jpg")
    assert got["image_size"].tolist() == [400, 300]
    small, scale = preprocess(read_image(folder / "im0.jpg"), conf["preprocessing"])
    assert small.shape[:2] == (150, 200) and scale == (2.0, 2.0)
    expected = (OpenCVFeatures(conf["model"]).extract(small)["keypoints"] + 0.5) * 2 - 0.5
    np.testing.assert_allclose(got["keypoints"], expected, atol=1e-4)
    assert io.read_provenance(feats)["preprocessing"] == {"resize_max": 200}
    conf["preprocessing"]["resize"] = 5
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(conf))
    expect_error(run("extract", "--images", folder, "--output", tmp_path / "g.h5", "--conf", tmp_path / "bad.yaml"),
                 "unknown preprocessing option(s) ['resize']")

