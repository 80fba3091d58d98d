"""The package logger: the steps report through ``logging.getLogger("relf_hloc")``, which the command
line's -v / -q set and a library caller can silence or redirect."""

import logging

import numpy as np
import pytest

from relf_hloc import cli, log
from relf_hloc.images import write_image
from relf_hloc.steps import pairs


@pytest.fixture
def images(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / "images" / name, np.zeros((32, 32, 3), np.uint8))
    yield tmp_path / "images"
    log.configure(0)


def test_cli_levels(images, tmp_path, capsys):
    command = ["pairs", "--images", str(images), "--output", str(tmp_path / "p.txt")]
    assert cli.main(command) == 0
    assert capsys.readouterr().out == f"pairs: 3 exhaustive pairs of 3 images -> {tmp_path / 'p.txt'}\n"
    for quiet in (["-q"] + command, command[:1] + ["-q"] + command[1:]):  # before or after the command
        assert cli.main(quiet) == 0
        assert capsys.readouterr().out == ""
        assert log.logger.level == logging.WARNING
    assert cli.main(["-v"] + command) == 0 and log.logger.level == logging.DEBUG
    assert cli.main(["-qq"] + command) == 0 and log.logger.level == logging.ERROR


def test_library_callers_silence_or_redirect(images, tmp_path, capsys):
    log.logger.setLevel(logging.WARNING)
    pairs.main(tmp_path / "p.txt", images)
    assert capsys.readouterr().out == ""
    log.logger.setLevel(logging.INFO)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    log.logger.addHandler(handler)
    try:
        pairs.main(tmp_path / "p.txt", images)
    finally:
        log.logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == [f"pairs: 3 exhaustive pairs of 3 images -> {tmp_path / 'p.txt'}"]
    assert "pairs: 3 exhaustive" in capsys.readouterr().out  # the package's own handler printed it too
