"""Scoring codec reconstructions (stages 7-8): what the recipe is judged by.

Modules (import them directly; this package imports nothing, so the signal-metric worker processes stay light):
  text_norm, zh_numbers    scoring text normalisation and units (CER for zh, WER for en)
  error_rate               kaldialign edit counts, corpus rates, the hallucination rule
  asr_protocols            paper (corpus dWER vs the original's transcript) and predecessor (per-utterance
                           subtractive error vs ground truth) protocols
  error_stats              icefall-style recogs-/errs-/wer-summary- files
  transcribe               the Whisper judge (language forced, greedy, batched) and its identity
  transcript_cache         the originals' transcripts, cached per test set and judge
  signal, spectral_distance  PESQ, STOI, SI-SDR, mel and STFT distance (numpy; run in a process pool)
  mos                      UTMOS when its code and weights are on disk
  decode_format            the decode directory contract (read and write)
  scoring                  one decode directory -> one score directory (summary.json etc.)
  report, plot             RESULTS.md and the bitrate plot from the score summaries
"""
