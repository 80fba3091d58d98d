"""Install of relf-hloc (pip install -e .)."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="relf-hloc",
    version="0.1.0",
    description="RELF rotation-equivariant local features as an hloc / COLMAP plugin",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["relf_hloc", "relf_hloc.*"]),
    package_data={"relf_hloc": ["weights/*.pth", "weights/*.config.yaml", "weights/*.npz"]},
    python_requires=">=3.10",
    install_requires=[line.split("#")[0].strip() for line in
                      Path(__file__).with_name("requirements.txt").read_text().splitlines()
                      if line.split("#")[0].strip()],
    extras_require={"dev": ["pytest", "ruff"], "ray": ["ray>=2.9"], "onnx": ["onnxruntime>=1.17", "onnx>=1.15"]},
    entry_points={"console_scripts": ["relf-hloc=relf_hloc.cli:main"]},
)
