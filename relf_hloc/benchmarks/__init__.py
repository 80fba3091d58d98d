"""Homography benchmarks: HPatches and Roto-360 layouts, classical baselines, tables and plots.

Data path: dataset folder -> (baselines.py | relf_hloc.extract) -> hloc features file
-> homography.py (mutual NN, MMA@1..10 px) -> results.json / results.md / plots.py.
compare.py runs all of it for several methods with one command.
"""
