"""Ground truth: homography sets (HPatches, Roto-360) and scenes with cameras (Strecha,
Middlebury, COLMAP models, the rendered demo scene), with their rotated variants."""
