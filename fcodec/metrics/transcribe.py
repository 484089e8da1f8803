"""The ASR judge: openai-whisper with the language forced per utterance, greedy, no timestamps, batched.

Audio arrives as 16 kHz mono float arrays (the caller resamples; lhotse does it for cuts). Utterances up to
30 s are decoded in batches of one language and similar length (``whisper.decode`` on a batch of log-mel
spectrograms, at most 25 tokens per second of audio);
longer ones go through ``whisper.transcribe`` (30 s windows, still greedy, language forced, temperature 0
without fallback, not conditioned on the previous window), so nothing is silently cut at 30 s.

:attr:`WhisperJudge.identity` names the judge exactly (checkpoint file hash or published name, dimensions,
decoding options): cached transcripts are keyed by it, and RESULTS.md prints it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from fcodec.layout.experiment import judge_label
from fcodec.utils.io import file_sha256
from fcodec.utils.whisper import load_whisper, non_text_tokens, published_sha256

SAMPLE_RATE = 16000
WINDOW_SECONDS = 30.0
# the smallest published Whisper (tiny) has 384-dim states; anything smaller is a test model with random weights
SMALLEST_PUBLISHED_STATE = 384
# The FocalCodec papers score dWER with Whisper-small: a judge with its published weights is "paper-comparable".
PAPER_JUDGE = "small"
# A cap on transcript length: read speech stays below ~12 tokens/s even for Mandarin (a character can take two
# byte-level tokens), so 25 tokens/s + 10 never truncates a real transcript, but it stops a repetition loop (or
# a random test model) from running to Whisper's 224-token limit on every short utterance. The cap is each
# utterance's own: a batch decodes up to its longest member's cap and every transcript is cut at its own, so what a
# clip gets never depends on the clips it shares a batch with (greedy decoding of one row does not see the others).
MAX_TOKENS_PER_SECOND = 25.0


class WhisperJudge:
    """Transcribe batches of 16 kHz audio with a Whisper model, language forced per utterance.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A local openai-whisper checkpoint file, or a published name (``whisper.available_models()``, fetched
        into ``download_root`` when missing).
    device : str or torch.device, default "cpu"
        Where the model runs (always float32).
    batch_size : int, default 16
        Utterances per ``whisper.decode`` call (values < 1 count as 1).
    prompts : dict of str to str, optional
        Language tag -> initial prompt for that language (e.g. to steer the script); none by default.
    download_root : str, optional
        Folder of downloaded published models (default ``~/.cache/whisper``).
    max_tokens_per_second : float, default 25.0
        Transcript length cap: at most ``max_tokens_per_second * seconds + 10`` tokens (and half the text
        context) for an up-to-30-s clip of that many seconds.

    Raises
    ------
    FileNotFoundError
        ``name_or_path`` is neither a file nor a published name.
    RuntimeError
        The checkpoint cannot be loaded (the message names the file).
    """

    def __init__(
        self,
        name_or_path: Union[str, os.PathLike],
        device: Union[str, torch.device] = "cpu",
        batch_size: int = 16,
        prompts: Optional[Dict[str, str]] = None,
        download_root: Optional[str] = None,
        max_tokens_per_second: float = MAX_TOKENS_PER_SECOND,
    ):
        self.name_or_path = os.fspath(name_or_path)
        self.max_tokens_per_second = float(max_tokens_per_second)
        self.model = load_whisper(name_or_path, device=device, download_root=download_root)
        self.device = torch.device(device)
        self.batch_size = max(1, int(batch_size))
        self.prompts = dict(prompts or {})
        self.identity = self._identity(str(name_or_path))
        self.key = hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:16]

    def _identity(self, name: str) -> Dict:
        dims = dict(self.model.dims.__dict__)
        if os.path.isfile(name):
            source = {"checkpoint": Path(name).name, "sha256": file_sha256(name)}
        else:
            import whisper

            source = {"name": name, "sha256": published_sha256(name) if name in whisper._MODELS else ""}
        return {
            **source,
            "dims": dims,
            "decoding": {
                "beam_size": 1,
                "temperature": 0.0,
                "without_timestamps": True,
                "language": "forced",
                "max_tokens_per_second": self.max_tokens_per_second,
                "cap": "per utterance",  # caches of the batch-wide cap (which mixed utterances) are not reused
                "suppress": "non-speech symbols and all specials",
                "fp16": False,
                "prompts": self.prompts,
                "whisper": _whisper_version(),
            },
        }

    @property
    def label(self) -> str:
        return judge_label(self.name_or_path)

    @property
    def is_paper_judge(self) -> bool:
        """Whisper-small's published weights (by name, or a checkpoint file with its sha256): the FocalCodec papers'
        judge, so this judge's corpus dWER is comparable with theirs."""
        return self.identity.get("sha256") == published_sha256(PAPER_JUDGE)

    @property
    def description(self) -> str:
        """'whisper-base.pt (sha256 abcdef012345, 512-dim)' or 'small (published, 768-dim)'."""
        source = self.identity.get("checkpoint") or self.identity.get("name")
        sha = self.identity.get("sha256", "")[:12]
        return f"{source} (sha256 {sha}, {self.model.dims.n_audio_state}-dim, greedy, language forced)"

    @property
    def is_random_test_model(self) -> bool:
        """True for the tiny random-weight Whispers of tests and the mini recipe: their transcripts mean nothing."""
        return self.model.dims.n_audio_state < SMALLEST_PUBLISHED_STATE

    @torch.no_grad()
    def transcribe(self, audios: Sequence[np.ndarray], languages: Sequence[str]) -> List[str]:
        """Raw (unnormalised) transcripts, in the order of ``audios``.

        Parameters
        ----------
        audios : sequence of numpy.ndarray, each shape (N_i,), float, 16 kHz mono
            The utterances; longer than 30 s go through ``whisper.transcribe`` window by window.
        languages : sequence of str
            Whisper language code per utterance (``zh``, ``en``, ...), forced.

        Returns
        -------
        list of str
            One stripped transcript per utterance ("" when Whisper returns nothing).

        Raises
        ------
        ValueError
            ``audios`` and ``languages`` differ in length.
        """
        if len(audios) != len(languages):
            raise ValueError(f"{len(audios)} audios but {len(languages)} languages")
        texts: List[Optional[str]] = [None] * len(audios)
        short: Dict[str, List[int]] = {}
        for index, (audio, language) in enumerate(zip(audios, languages)):
            if len(audio) > WINDOW_SECONDS * SAMPLE_RATE:
                texts[index] = self._transcribe_long(audio, language)
            else:
                short.setdefault(language, []).append(index)
        for language, indices in short.items():
            # a batch runs until its longest transcript ends: batch utterances of similar length together
            indices.sort(key=lambda i: len(audios[i]))
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                for index, text in zip(chunk, self._decode_batch([audios[i] for i in chunk], language)):
                    texts[index] = text
        return [text if text is not None else "" for text in texts]

    def _cap(self, num_samples: int) -> int:
        """The most tokens a transcript of a clip of ``num_samples`` may have."""
        seconds = num_samples / SAMPLE_RATE
        return min(self.model.dims.n_text_ctx // 2, int(self.max_tokens_per_second * seconds) + 10)

    def _options(self, language: str, sample_len: int):
        import whisper

        return whisper.DecodingOptions(
            task="transcribe",
            language=language,
            temperature=0.0,
            beam_size=None,
            sample_len=sample_len,
            without_timestamps=True,
            fp16=False,
            prompt=self.prompts.get(language),
            suppress_tokens=non_text_tokens(self.model),
        )

    def _decode_batch(self, audios: Sequence[np.ndarray], language: str) -> List[str]:
        import whisper
        from whisper.tokenizer import get_tokenizer

        # one call per clip: Whisper clamps each log-mel to its own maximum - 8, which a batched call would share
        mels = torch.stack(
            [
                whisper.log_mel_spectrogram(
                    whisper.pad_or_trim(torch.from_numpy(np.asarray(a, dtype=np.float32))),
                    n_mels=self.model.dims.n_mels,
                    device=self.device,
                )
                for a in audios
            ]
        )
        caps = [self._cap(len(a)) for a in audios]
        results = whisper.decode(self.model, mels, self._options(language, max(caps)))
        tokenizer = get_tokenizer(
            self.model.is_multilingual, num_languages=self.model.num_languages, language=language, task="transcribe"
        )
        # the tokens past a clip's own cap are the batch's doing: cut them, as a decode of the clip alone would
        return [
            tokenizer.decode(result.tokens[:cap]).strip() if len(result.tokens) > cap else result.text.strip()
            for result, cap in zip(results, caps)
        ]

    def _transcribe_long(self, audio: np.ndarray, language: str) -> str:
        import whisper

        result = whisper.transcribe(
            self.model,
            np.asarray(audio, dtype=np.float32),
            verbose=None,
            temperature=(0.0,),
            condition_on_previous_text=False,
            initial_prompt=self.prompts.get(language),
            compression_ratio_threshold=None,
            logprob_threshold=None,
            no_speech_threshold=None,
            language=language,
            task="transcribe",
            without_timestamps=True,
            fp16=False,
        )
        return result["text"].strip()


def _whisper_version() -> str:
    try:
        from importlib.metadata import version

        return version("openai-whisper")
    except Exception:
        return "unknown"
