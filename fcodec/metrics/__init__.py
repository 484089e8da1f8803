"""Scoring codec reconstructions (stages 7-8): what the recipe is judged by.

Modules (import them directly; this package imports nothing, so the signal-metric worker processes stay light):
  text_norm, zh_numbers    scoring text normalisation and units (CER for zh, WER for en)
  error_rate               kaldialign edit counts, corpus rates, the hallucination rule
  asr_protocols            corpus (corpus-level dWER vs the original's transcript) and per-utterance (per-utterance
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
  scoring                  one decode directory -> one score directory (summary.json etc.), helped by
    score_inputs             the options, what is read, the up-to-date check
    asr_judging              the ASR judges' passes (and the first pass's signal and quality scoring)
    score_summary            the summary.json schema
    score_writers            utterances.tsv, failed.tsv, summary.json, .done
  summaries                the score summaries of an experiment, read for the report and the plot
  report, report_tables    RESULTS.md
  plot                     the bitrate plot
(The decode directory's format and where every file lives: fcodec.layout.)
"""
