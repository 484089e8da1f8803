"""eSpeak NG through ctypes, from the library and voice data that the ``espeakng-loader`` wheel carries.

The library keeps global state (one voice, one callback), so one :class:`Espeak` per process, used from one
thread at a time; the corpus builder runs one per worker process.
"""
from __future__ import annotations

import ctypes
import threading
from typing import List, Optional

import numpy as np

_AUDIO_OUTPUT_RETRIEVAL = 1  # samples come back through the callback, nothing is played
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class Espeak:
    """Text to 16-bit PCM with a chosen voice (``cmn``, ``en-us``; ``+f2``-style variants), rate and pitch."""

    _instance: Optional["Espeak"] = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise ImportError(
                "the mini corpus is synthesised with eSpeak NG from the espeakng-loader wheel: "
                "pip install espeakng-loader (or fcodec[mini])"
            ) from exc
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        sample_rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_RETRIEVAL, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({sample_rate}) with data in {espeakng_loader.get_data_path()}")
        self.sample_rate = int(sample_rate)
        self._chunks: List[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced: the library calls it later
        self._lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> "Espeak":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0

    def synthesize(self, text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50) -> np.ndarray:
        """Return int16 samples at :attr:`sample_rate`."""
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice {voice!r}")
            for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range), (_VOLUME, 100)):
                self._lib.espeak_SetParameter(parameter, int(value), 0)
            self._chunks = []
            data = text.encode("utf-8")
            status = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE,
                                            None, None)
            self._lib.espeak_Synchronize()
            if status != 0:
                raise RuntimeError(f"espeak_Synth failed ({status}) for {text!r}")
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
