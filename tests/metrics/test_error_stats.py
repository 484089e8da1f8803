"""icefall-style per-utterance error files."""

from fcodec.metrics.error_stats import write_error_stats, write_recogs, write_wer_summary


def test_errs_file_matches_icefall_layout(tmp_path):
    results = [
        ("u2", "the cat sat".split(), "cat sat down".split()),
        ("u1", "a b c d".split(), "a x c d".split()),
    ]
    counts = write_error_stats(tmp_path / "errs-test-recon_vs_orig.txt", results)
    assert (counts.ins, counts.dels, counts.subs, counts.ref_len) == (1, 1, 1, 7)
    lines = (tmp_path / "errs-test-recon_vs_orig.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "%WER = 42.86"
    assert lines[1] == "Errors: 1 insertions, 1 deletions, 1 substitutions, over 7 reference words (5 correct)"
    details = lines.index("PER-UTT DETAILS: corr or (ref->hyp)  ")
    assert lines[details + 1 : details + 3] == ["u1:\ta (b->x) c d", "u2:\t(the->*) cat sat (*->down)"]
    assert lines[lines.index("SUBSTITUTIONS: count ref -> hyp") + 1] == "1   b -> x"
    assert lines[lines.index("DELETIONS: count ref") + 1] == "1   the"
    assert lines[lines.index("INSERTIONS: count hyp") + 1] == "1   down"
    per_word = lines[lines.index("PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp") + 1 :]
    assert "cat   1 0 1 1" in per_word and "b   0 1 1 0" in per_word and "x   0 1 0 1" in per_word


def test_char_level_sets_say_cer(tmp_path):
    counts = write_error_stats(tmp_path / "errs.txt", [("z", list("今天好"), list("今天"))], unit="char")
    text = (tmp_path / "errs.txt").read_text(encoding="utf-8")
    assert counts.dels == 1
    assert text.startswith(
        "%CER = 33.33\nErrors: 0 insertions, 1 deletions, 0 substitutions, over 3 reference characters (2 correct)\n"
    )


def test_recogs_and_summary_files(tmp_path):
    write_recogs(tmp_path / "recogs.txt", [("b", ["x"], ["y"]), ("a", ["今", "天"], ["今"])])
    assert (tmp_path / "recogs.txt").read_text(encoding="utf-8").splitlines() == [
        "a:\tref=['今', '天']",
        "a:\thyp=['今']",
        "b:\tref=['x']",
        "b:\thyp=['y']",
    ]
    write_wer_summary(tmp_path / "wer-summary.txt", [("recon_vs_orig", 12.345), ("orig_vs_gt", 3.0)])
    assert (tmp_path / "wer-summary.txt").read_text() == "settings\tWER\nrecon_vs_orig\t12.35\norig_vs_gt\t3.00\n"
