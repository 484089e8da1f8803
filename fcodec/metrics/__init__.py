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
  mos                      MOS judges by name (nisqa, dnsmos; utmos when named and on disk), loaded or skipped
  nisqa, nisqa_model, nisqa_features  NISQA v2.0 (MOS and four quality dimensions), checkpoint-compatible
  dnsmos                   DNSMOS P.835 / P.808, batched over speechmos's ONNX models
  speaker_similarity       Resemblyzer speaker embeddings, cosine similarity of original and reconstruction
  quality                  the MOS judges and speaker similarity of one scoring run, originals cached
  decode_format            the decode directory contract (read and write)
  scoring                  one decode directory -> one score directory (summary.json etc.)
  report, plot             RESULTS.md and the bitrate plot from the score summaries
"""
