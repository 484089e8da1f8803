"""eSpeak NG through ctypes, from the library and voice data that the ``espeakng-loader`` wheel carries.

eSpeak NG keeps state in static variables that ``espeak_Initialize`` does not reset (the pitch "flutter"
position, for one), so the same text comes out slightly different depending on what was spoken before. For a
corpus that is the same on every machine, whatever the number of worker processes, every utterance is spoken
by a freshly loaded copy of the library (load, initialise, speak, terminate, unload: about 15 ms), and both
random generators it uses for noise (its own, which it seeds from the clock, and the C library's ``rand()``)
are seeded first.
"""

from __future__ import annotations

import _ctypes
import ctypes
import threading
from typing import List

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2  # synthesis runs in the calling thread; samples come back through the callback
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_LOCK = threading.Lock()  # one eSpeak NG per process at a time: it is a library of global state


def _paths():
    try:
        import espeakng_loader
    except ImportError as exc:
        raise ImportError(
            "the mini corpus is synthesised with eSpeak NG from the espeakng-loader wheel: "
            "pip install espeakng-loader (or fcodec[mini])"
        ) from exc
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def synthesize(
    text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50, seed: int = 0
) -> "tuple[np.ndarray, int]":
    """Speak ``text`` with an eSpeak NG voice (``cmn``, ``en-us``, or a variant such as ``cmn+f2``).

    Returns (int16 samples, sample rate). The same arguments give the same samples in any process.
    """
    library, data = _paths()
    chunks: List[np.ndarray] = []

    def collect(wav, num_samples, events) -> int:
        if num_samples > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0

    callback = _CALLBACK(collect)
    with _LOCK:
        lib = ctypes.CDLL(library)
        try:
            lib.espeak_Initialize.restype = ctypes.c_int
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_Synth.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.c_void_p,
                ctypes.c_void_p,
            ]
            sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), 0)
            if sample_rate <= 0:
                raise RuntimeError(f"espeak_Initialize failed ({sample_rate}) with the voice data in {data}")
            lib.espeak_SetSynthCallback(callback)
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice {voice!r}")
            for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range), (_VOLUME, 100)):
                lib.espeak_SetParameter(parameter, int(value), 0)
            # Breath noise (the f2, f3 and f5 variants) comes from eSpeak NG's own generator, which
            # espeak_Initialize seeds from the clock: without this those speakers differ from run to run.
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_ng_SetRandSeed(seed)
            ctypes.CDLL(None).srand(ctypes.c_uint(seed))
            encoded = text.encode("utf-8")
            status = lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
            )
            lib.espeak_Synchronize()
            if status != 0:
                raise RuntimeError(f"espeak_Synth failed ({status}) for {text!r}")
        finally:
            lib.espeak_Terminate()
            _ctypes.dlclose(lib._handle)  # the next call starts from a fresh copy of the library
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return samples, int(sample_rate)
