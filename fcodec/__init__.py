"""fcodec: FocalCodec-S fine-tuning recipes for Chinese + English at ever lower bitrates."""

from fcodec.version import __version__

__all__ = ["__version__"]
