"""Pipeline steps on files, hloc's shape (``main(conf, paths...) -> Path``): extract,
pairs, match, then COLMAP (colmap.py: database import, verification) reconstruction,
known-pose triangulation and localization."""
