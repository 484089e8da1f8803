"""A small synthetic bilingual corpus (eSpeak NG) in the real AISHELL-1 and LibriSpeech layouts."""
