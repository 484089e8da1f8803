"""Post-hoc baselines in RESULTS.md and the plot: rows marked post-hoc beside the trained model of their bitrate,
crosses in the plot that are not joined to the trained models' line."""

import matplotlib

from fcodec.metrics.plot import _draw, _series
from fcodec.metrics.report import render_results, write_results
from fcodec.metrics.summaries import find_summaries
from tests.metrics.test_report import ENV, language_block, write_summary

matplotlib.use("Agg")

ROWS = [  # (model folder, frame rate, bitrate, dCER corpus)
    ("pretrained", 50.0, 550.0, 30.0),
    ("train_50hz", 50.0, 550.0, 6.0),
    ("train_25hz", 25.0, 275.0, 9.0),
    ("train_50hz+posthoc_50hz_keep2_275bps", 25.0, 275.0, 40.0),
    ("pretrained+posthoc_50hz_6bit_300bps", 50.0, 300.0, 60.0),
    ("train_12.5hz", 12.5, 137.5, 15.0),
    ("train_50hz+posthoc_50hz_keep4_137.5bps", 12.5, 137.5, 70.0),
]


def experiment(exp):
    for name, rate, bps, d_err in reversed(ROWS):  # written out of order: rows are sorted by the report
        block = language_block(d_err, 1.0, 5.0, 9.0, 1.2, 0.7, -20.0, 1.2, 2.3, 0, 12, 0)
        write_summary(exp, name, "test_aishell", rate, bps, {"zh": block})


def test_posthoc_rows_are_marked_and_sit_beside_the_trained_model_of_their_bitrate(tmp_path):
    exp = tmp_path / "exp"
    experiment(exp)
    # a folder set aside is not a row
    block = language_block(1.0, 1.0, 5.0, 9.0, 1.2, 0.7, -20.0, 1.2, 2.3, 0, 12, 0)
    write_summary(exp, "train_50hz+posthoc_50hz_keep2_275bps.old.1", "test_aishell", 25.0, 275.0, {"zh": block})
    scores = find_summaries(exp)
    assert [s.model for s in scores] == [
        "pretrained",
        "train_50hz",
        "pretrained+posthoc_50hz_6bit_300bps",
        "train_25hz",
        "train_50hz+posthoc_50hz_keep2_275bps",
        "train_12.5hz",
        "train_50hz+posthoc_50hz_keep4_137.5bps",
    ]
    text = render_results(scores, command="report", date="today", environment=ENV)
    rows = [line.split("|")[1:4] for line in text.splitlines() if line.startswith("| ") and "model" not in line]
    assert [[c.strip() for c in row] for row in rows] == [
        ["pretrained", "50", "550"],
        ["train_50hz", "50", "550"],
        ["**post-hoc** 50hz_6bit_300bps (pretrained)", "50", "300"],
        ["train_25hz", "25", "275"],
        ["**post-hoc** 50hz_keep2_275bps (train_50hz)", "25", "275"],
        ["train_12.5hz", "12.5", "137.5"],
        ["**post-hoc** 50hz_keep4_137.5bps (train_50hz)", "12.5", "137.5"],
    ]
    assert "**post-hoc** rows: a model (in brackets) with its bitrate lowered after training" in text
    out = tmp_path / "RESULTS.md"
    write_results(exp, out, tmp_path / "results.png", command="report", date="today", environment=ENV)
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_plot_draws_posthoc_points_as_crosses_apart_from_the_trained_line(tmp_path):
    import matplotlib.pyplot as plt

    exp = tmp_path / "exp"
    experiment(exp)
    series = _series(find_summaries(exp), "zh", "corpus", "d_err_pct")
    fig, ax = plt.subplots()
    assert _draw(ax, series, "dCER corpus", "o", True, "C0")
    lines = {line.get_label(): line for line in ax.get_lines()}
    trained = lines["dCER corpus (test_aishell)"]
    assert list(trained.get_xdata()) == [137.5, 275.0, 550.0] and list(trained.get_ydata()) == [15.0, 9.0, 6.0]
    posthoc = lines["dCER corpus post-hoc (test_aishell)"]
    assert posthoc.get_marker() == "x" and posthoc.get_linestyle() == "None"
    assert sorted(zip(posthoc.get_xdata(), posthoc.get_ydata())) == [(137.5, 70.0), (275.0, 40.0), (300.0, 60.0)]
    assert {t.get_text() for t in ax.texts} >= {"50hz_keep2_275bps", "50hz_6bit_300bps", "train_25hz"}
    plt.close(fig)
