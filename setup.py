"""fcodec: recipes for fine-tuning the FocalCodec-S streaming speech codec to lower bitrates."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
version = {}
exec((ROOT / "fcodec" / "version.py").read_text(), version)

# torch is deliberately unpinned above 2.1: tools/install.sh installs the right build first
# (the CPU wheel on a CPU box, a CUDA build on a GPU box) and pip then keeps it.
install_requires = [
    "torch>=2.1",
    "lhotse>=1.30",
    "openai-whisper>=20240930",
    "kaldialign>=0.9",
    "sentencepiece>=0.2",
    "tensorboard>=2.14",
    "soundfile>=0.12",
    "scipy>=1.10",
    "numpy>=1.24",
    "safetensors>=0.4",
    "huggingface_hub>=0.20",
    "pyyaml>=6.0",
    "tqdm>=4.60",
    "opencc>=1.1",  # Traditional -> Simplified for Chinese transcripts (stage 2 and scoring)
    "pyloudnorm>=0.1",  # ITU-R BS.1770 loudness for the optional -20 LUFS normalisation of stage 2
]

extras_require = {
    "test": ["pytest>=7.0", "pytest-xdist>=3.5", "jiwer>=3.0", "ruff>=0.17,<0.18"],  # ruff: the lint + format check CI runs
    # MOS judges and speaker similarity of stage 8: DNSMOS's ONNX models ship in speechmos, which imports
    # onnxruntime, librosa and requests without declaring them; Resemblyzer's webrtcvad sdist imports pkg_resources
    # (gone from recent setuptools): webrtcvad-wheels provides the same module
    "eval": [
        "pesq>=0.0.4",
        "pystoi>=0.4",
        "matplotlib>=3.7",
        "speechmos>=0.0.1.1",
        "onnxruntime>=1.15",
        "onnx>=1.14",  # reads the DNSMOS weights from speechmos's ONNX files (fcodec.metrics.dnsmos_torch)
        "librosa>=0.10",
        "requests>=2.25",
        "Resemblyzer>=0.1.4",
        "webrtcvad-wheels>=2.0.14",
    ],
    # what the synthesised mini corpus (egs/mini_bilingual) needs
    "mini": ["espeakng-loader>=0.2"],
    # ONNX export (fcodec.bin.export_onnx: onnx for the int8 pass) and its runtime (fcodec.export.OnnxCodec)
    "export": ["onnx>=1.14", "onnxruntime>=1.15"],
}
extras_require["all"] = sorted({dep for deps in extras_require.values() for dep in deps})

setup(
    name="fcodec",
    version=version["__version__"],
    description=__doc__,
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["fcodec", "fcodec.*"]),
    install_requires=install_requires,
    extras_require=extras_require,
    license="Apache-2.0",
)
