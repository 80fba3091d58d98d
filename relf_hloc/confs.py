"""Named configurations, as hloc-style dicts (``relf_hloc.confs[name]``).

Extractor confs have hloc's shape ``{output, model: {name, ...}, preprocessing}``
so they can be passed to hloc's ``extract_features.main`` once
``relf_hloc.register()`` has run; ``model`` holds RELF options
(``RELF.default_conf``). Matcher confs have ``{output, model: {name, ...}}``.
"""

import copy

# snap: level sides moved to 16k + 1, exactly equivariant to 90-degree turns;
# None gives the paper's exact sizes (see relf_hloc.model.relf.pyramid_sizes)
PAPER_PYRAMID = {"max_size": 1024, "min_size": 256, "step": 2 ** 0.25, "snap": 16}  # 9 levels
FAST_PYRAMID = {"max_size": 640, "min_size": 320, "step": 2 ** 0.5, "snap": 16}     # 3 levels


def _relf(output, **model):
    return {"output": output,
            "model": {"name": "relf", "max_keypoints": 2000, "pyramid": PAPER_PYRAMID, **model},
            "preprocessing": {"grayscale": False, "resize_max": None}}


confs = {
    # the paper's adaptive pyramid (about 11 s per 640x480 image on 2 CPU cores)
    "relf": _relf("feats-relf"),
    # 3 levels, for CPU work (SfM demo, benchmarks on many images)
    "relf-fast": _relf("feats-relf-fast", pyramid=FAST_PYRAMID),
    # one level at the original resolution
    "relf-single": _relf("feats-relf-single", pyramid=None),
    # multi-candidate extraction (every orientation bin >= 0.6 x the peak)
    "relf-multi": _relf("feats-relf-multi", multi_candidate={"ratio": 0.6}),
    "relf-fast-multi": _relf("feats-relf-fast-multi", pyramid=FAST_PYRAMID,
                             multi_candidate={"ratio": 0.6}),
    # matcher: mutual nearest neighbour, RELF's matching protocol
    "relf-nn": {"output": "matches-relf-nn",
                "model": {"name": "nearest_neighbor", "do_mutual_check": True}},
}
EXTRACTORS = [k for k, v in confs.items() if v["model"]["name"] == "relf"]


def get_conf(name_or_conf) -> dict:
    """A deep copy of a named conf; a dict is returned as a copy; a .yaml path is read."""
    if isinstance(name_or_conf, dict):
        return copy.deepcopy(name_or_conf)
    if name_or_conf is None:
        name_or_conf = "relf"
    if str(name_or_conf).endswith((".yaml", ".yml")):
        import yaml
        from pathlib import Path
        path = Path(name_or_conf)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: conf file not found")
        return yaml.safe_load(path.read_text())
    if name_or_conf not in confs:
        raise ValueError(f"unknown conf '{name_or_conf}'; choose one of {sorted(confs)} "
                         "or a .yaml file")
    return copy.deepcopy(confs[name_or_conf])
