"""Benchmark drivers over the metrics of ``relf_hloc.eval``.

- homography.py: ``relf-hloc evaluate homography`` (one features file) and the reports;
- compare.py: ``relf-hloc compare`` (every method on an HPatches / Roto-360 folder);
- pose.py (+ pose_report.py): ``relf-hloc benchmark pose`` on scenes with ground-truth cameras;
- plots.py: MMA plots.
"""
