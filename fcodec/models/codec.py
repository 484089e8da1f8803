"""The ``FocalCodec`` wrapper: encoder -> compressor -> BSQ -> decompressor -> decoder (docs/architecture.md,
Pipeline and Checkpoint contract).

Constructor keywords, the conversion API (``sig_to_feats`` ... ``codes_to_sig``, ``forward``), streaming state
arguments and ``return_state`` follow upstream v0.0.2, so code written for upstream runs on this class. States
are opaque: pass back what a call returned; ``()`` or None starts a new stream.

Additions for training and the recipes: ``frame_rate``, ``bitrate``, ``codebook_size``, ``config``,
``save_pretrained`` and ``forward_train`` (one pass returning everything the losses need, see ``CodecOutput``).
"""

from __future__ import annotations

import copy
import math
from typing import Any, Dict, Optional

from torch import Tensor, nn

from fcodec.models import hub, int8
from fcodec.models.bsq import BinarySphericalQuantizer
from fcodec.models.codec_decode import DecodeConversions
from fcodec.models.codec_encode import EncodeConversions, State
from fcodec.models.codec_files import CodecFiles
from fcodec.models.codec_train import CodecOutput, TrainingPass
from fcodec.models.focalnet import FocalDecoder, FocalEncoder
from fcodec.models.vocos import Vocos
from fcodec.models.wavenext import WaveNeXt
from fcodec.models.wavlm import WavLM

__all__ = ["FocalCodec", "CodecOutput", "REGISTRY", "DEFAULT_CONFIGS"]

REGISTRY = {
    "BinarySphericalQuantizer": BinarySphericalQuantizer,
    "FocalDecoder": FocalDecoder,
    "FocalEncoder": FocalEncoder,
    "Vocos": Vocos,
    "WaveNeXt": WaveNeXt,
    "WavLM": WavLM,
}
DEFAULT_CONFIGS = hub.DEFAULT_CONFIGS
UPSTREAM_VERSION = "0.0.2"  # the upstream release whose format and numerics this implementation follows


class FocalCodec(EncodeConversions, DecodeConversions, TrainingPass, CodecFiles, nn.Module):
    """FocalCodec: encoder -> compressor -> BSQ quantizer -> decompressor -> decoder (docs/architecture.md, Pipeline).

    Each part is built as ``REGISTRY[<part>_name](**<part>_config)``; the ten keywords are upstream's
    ``config.json`` schema (``config`` returns them). The submodule attributes ``encoder``, ``compressor``,
    ``quantizer``, ``decompressor`` and ``decoder`` are the state-dict prefixes. Use ``from_pretrained`` to load
    a checkpoint; the constructor builds randomly initialised parts (PyTorch default initialisation).

    Parameters
    ----------
    encoder_name : str, default "WavLM"
        Registry name of the encoder (16 kHz waveform -> features, 320 samples per frame in all configs).
    encoder_config : dict, optional
        Keyword arguments of the encoder class (None means ``{}``: that class's defaults). Deep-copied.
    compressor_name : str, default "FocalEncoder"
        Registry name of the compressor (features -> latents of dimension log2(codebook_size)).
    compressor_config : dict, optional
        Keyword arguments of the compressor class.
    quantizer_name : str, default "BinarySphericalQuantizer"
        Registry name of the quantizer.
    quantizer_config : dict, optional
        Keyword arguments of the quantizer class (``{"codebook_size": 2048}`` etc.).
    decompressor_name : str, default "FocalDecoder"
        Registry name of the decompressor (codes -> features for the decoder).
    decompressor_config : dict, optional
        Keyword arguments of the decompressor class.
    decoder_name : str, default "WaveNeXt"
        Registry name of the decoder: "WaveNeXt" (hop 480, 24 kHz output, the causal checkpoints) or "Vocos"
        (hop 320, 16 kHz output, the non-causal checkpoints).
    decoder_config : dict, optional
        Keyword arguments of the decoder class.

    Raises
    ------
    ValueError
        A name is not in ``REGISTRY``, or a sub-config has a keyword its class does not accept (or a value the
        class rejects, e.g. a codebook size that is not a power of two).
    """

    __version__ = UPSTREAM_VERSION

    def __init__(
        self,
        encoder_name: str = "WavLM",
        encoder_config: Optional[Dict[str, Any]] = None,
        compressor_name: str = "FocalEncoder",
        compressor_config: Optional[Dict[str, Any]] = None,
        quantizer_name: str = "BinarySphericalQuantizer",
        quantizer_config: Optional[Dict[str, Any]] = None,
        decompressor_name: str = "FocalDecoder",
        decompressor_config: Optional[Dict[str, Any]] = None,
        decoder_name: str = "WaveNeXt",
        decoder_config: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__()
        names = {
            "encoder": encoder_name,
            "compressor": compressor_name,
            "quantizer": quantizer_name,
            "decompressor": decompressor_name,
            "decoder": decoder_name,
        }
        configs = {
            "encoder": encoder_config,
            "compressor": compressor_config,
            "quantizer": quantizer_config,
            "decompressor": decompressor_config,
            "decoder": decoder_config,
        }
        for part, name in names.items():
            if name not in REGISTRY:
                raise ValueError(f"Unregistered module: {name} (for {part}). Available modules: {list(REGISTRY)}")
        for part in names:
            setattr(self, f"{part}_name", names[part])
            setattr(self, f"{part}_config", copy.deepcopy(dict(configs[part] or {})))
        self.model_id: Optional[str] = None
        self.quantization: Optional[str] = None  # "int8" after quantize()
        for part, name in names.items():
            try:
                module = REGISTRY[name](**getattr(self, f"{part}_config"))
            except TypeError as exc:  # unknown keyword in a sub-config
                raise ValueError(f"Invalid {part}_config for {name}: {exc}") from exc
            setattr(self, part, module)

    # --------------------------------------------------------------------------------------------------------
    # properties
    # --------------------------------------------------------------------------------------------------------
    @property
    def config(self) -> Dict[str, Any]:
        """The ten constructor keywords (upstream ``config.json`` schema)."""
        return hub.to_jsonable({k: getattr(self, k) for k in hub.CONFIG_KEYS})

    @property
    def sample_rate_input(self) -> int:
        """Input sample rate in Hz (the encoder's, 16000)."""
        return self.encoder.sample_rate

    @property
    def sample_rate_output(self) -> int:
        """Output sample rate in Hz: ``16000 * decoder hop / encoder hop`` (24000 WaveNeXt, 16000 Vocos)."""
        return int(self.sample_rate_input * self.decoder.upsample_factor / self.encoder.downsample_factor)

    @property
    def sample_rate(self) -> int:
        """The common input/output sample rate in Hz.

        Raises
        ------
        RuntimeError
            Input and output rates differ (e.g. the causal WaveNeXt checkpoints: 16 kHz in, 24 kHz out); use
            ``sample_rate_input`` / ``sample_rate_output``.
        """
        if self.sample_rate_input != self.sample_rate_output:
            raise RuntimeError(
                "`sample_rate` is undefined because input and output sample rates differ "
                f"(input={self.sample_rate_input}, output={self.sample_rate_output}). "
                "Please use `sample_rate_input` or `sample_rate_output` explicitly"
            )
        return self.sample_rate_input

    @property
    def causal(self) -> bool:
        """Whether encoder, compressor, decompressor and decoder are all causal (streamable)."""
        parts = (self.encoder, self.compressor, self.decompressor, self.decoder)
        return all(bool(part.causal) for part in parts)

    @property
    def chunk_size(self) -> int:
        """Samples per streaming call (1280 = 80 ms for the causal models)."""
        return self.encoder.chunk_size

    @property
    def latency(self) -> Optional[float]:
        """Algorithmic latency in milliseconds (causal models), else None."""
        return 1000.0 * self.chunk_size / self.sample_rate_input if self.causal else None

    @property
    def codebook(self) -> Tensor:
        """A copy of the codes of all tokens: shape (codebook_size, D), row t = code of token t."""
        return self.quantizer.codebook.clone()

    @property
    def codebook_size(self) -> int:
        """Number of tokens (2 ** D)."""
        return self.quantizer.codebook_size

    @property
    def latent_dim(self) -> int:
        """D = log2(codebook_size), the dimension of latents and codes."""
        return self.quantizer.dim

    @property
    def hop_samples(self) -> int:
        """Input samples per token."""
        return self.encoder.downsample_factor * self.compressor.downsample_factor

    @property
    def frame_rate(self) -> float:
        """Tokens per second."""
        return self.sample_rate_input / self.hop_samples

    @property
    def bitrate(self) -> float:
        """Bits per second: frame rate times log2(codebook size)."""
        return self.frame_rate * math.log2(self.codebook_size)

    def info(self) -> Dict[str, Any]:
        """``model_id``, ``version`` (the upstream release followed), ``sample_rate_input``, ``sample_rate_output``,
        ``causal``, ``chunk_size``, ``latency`` (ms), ``frame_rate`` (Hz), ``bitrate`` (bps), ``codebook_size`` and
        ``num_total_params`` (elements of the state dict)."""
        return {
            "model_id": self.model_id,
            "version": self.__version__,
            "sample_rate_input": self.sample_rate_input,
            "sample_rate_output": self.sample_rate_output,
            "causal": self.causal,
            "chunk_size": self.chunk_size,
            "latency": self.latency,
            "frame_rate": self.frame_rate,
            "bitrate": self.bitrate,
            "codebook_size": self.codebook_size,
            "num_total_params": sum(x.numel() for x in self.state_dict().values()),
        }

    # --------------------------------------------------------------------------------------------------------
    # conversion API (upstream names and signatures)
    # --------------------------------------------------------------------------------------------------------
    def forward(
        self,
        sig: Tensor,
        encoder_state: State = (),
        compressor_state: State = (),
        decompressor_state: State = (),
        decoder_state: State = (),
        length: Optional[Tensor] = None,
        return_state: bool = False,
    ):
        """``(toks, codes, reconstruction)`` [+ the four updated states]; output length ``N * sr_out / sr_in``.

        Parameters
        ----------
        sig : Tensor, shape (B, N), float, 16 kHz (``sample_rate_input``)
            Input waveforms. For exact streaming parity a causal model wants N a multiple of ``chunk_size``
            (1280 samples, 80 ms) on every call but the last of a stream.
        encoder_state, compressor_state, decompressor_state, decoder_state : opaque, default ``()``
            Streaming states of the four stateful parts, as returned by the previous call on the same stream
            with ``return_state=True``; ``()`` or None starts a new stream. Only causal parts carry state.
        length : Tensor, shape (B,), float, optional
            Relative valid length of each signal (valid samples / N, in (0, 1]) for a zero-padded batch. Used
            only by a non-causal encoder, which masks the padded frames in attention; a causal one ignores it.
        return_state : bool, default False
            Also return the four updated states.

        Returns
        -------
        toks : Tensor, shape (B, L), int64
            Tokens in ``[0, codebook_size)``; L = ceil(F / prod(compressor downscale factors)) for F encoder
            frames.
        codes : Tensor, shape (B, L, D), float
            Quantised latents, each component ``+-1/sqrt(D)``, D = log2(codebook_size).
        rec_sig : Tensor, shape (B, floor(N * sample_rate_output / sample_rate_input)), float
            Reconstruction at ``sample_rate_output`` (24 kHz for WaveNeXt, 16 kHz for Vocos), cut or padded
            (last sample repeated) to ``output_length(N)``.
        encoder_state, compressor_state, decompressor_state, decoder_state : opaque
            Only with ``return_state=True``.

        Raises
        ------
        ValueError
            ``sig`` is not 2-D or has 0 samples (raised by the encoder).
        """
        codes, encoder_state, compressor_state = self.sig_to_codes(
            sig, encoder_state, compressor_state, length, return_state=True
        )
        toks = self.codes_to_toks(codes)
        rec_sig, decompressor_state, decoder_state = self.codes_to_sig(
            codes,
            decompressor_state,
            decoder_state,
            output_length=self.output_length(sig.shape[-1]),
            return_state=True,
        )
        if return_state:
            return toks, codes, rec_sig, encoder_state, compressor_state, decompressor_state, decoder_state
        return toks, codes, rec_sig

    def output_length(self, num_samples: int) -> int:
        """Samples of the reconstruction of ``num_samples`` input samples: ``floor(N * sr_out / sr_in)``, as
        upstream's ``forward`` cuts it. Every path (offline, batched, streaming, training lengths) uses this.

        Parameters
        ----------
        num_samples : int
            Input samples at ``sample_rate_input`` (16 kHz).

        Returns
        -------
        int
            Output samples at ``sample_rate_output``.
        """
        return num_samples * self.sample_rate_output // self.sample_rate_input

    # --------------------------------------------------------------------------------------------------------
    # inference-only quantisation
    # --------------------------------------------------------------------------------------------------------
    # Left in fp32 by quantize("int8"), measured on real speech with the full-size model (latents' signal-to-error
    # ratio against fp32 when only this part is int8): the WavLM front-end convs (23.6 dB alone; near-audio
    # activations, 19 MB of weights) and the compressor's output layer (31.3 dB alone; it makes the latents whose
    # signs are the tokens, 45 kB of weights). Everything else together: see tests/models/test_int8.py.
    INT8_KEEP_FLOAT = ("encoder.feature_extractor", "compressor.out_proj")

    def quantize(self, mode: str = "int8") -> "FocalCodec":
        """Quantise for CPU inference, in place; returns ``self`` (eval mode, no gradients).

        Parameters
        ----------
        mode : str
            ``"int8"``: int8 weights, per output channel, for every linear layer and every convolution computed
            as a matrix product; activations quantised per call (see ``fcodec.models.int8``). About 4x fewer
            weight bytes read per streaming chunk. The model can then be neither trained nor saved: quantise
            after loading.
        """
        if self.quantization is not None:
            raise RuntimeError(f"this codec is already quantised ({self.quantization})")
        int8.quantize(self, mode, keep_float=self.INT8_KEEP_FLOAT)
        self.quantization = mode
        return self

    def _require_float(self, action: str) -> None:
        if self.quantization is not None:
            raise RuntimeError(
                f"cannot {action} a {self.quantization}-quantised codec: it is for inference only; "
                "load the float model again"
            )
