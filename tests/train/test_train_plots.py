"""The learning-curve figure: losses on a log axis, the BSCT score on a twin axis when scored."""

from bsct.train.plots import plot_history


def test_history_with_scores_gets_a_twin_axis_and_one_legend():
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 2.0, "bsct_score": 0.5},
               {"epoch": 2, "train_loss": 0.5, "val_loss": 1.0},
               {"epoch": 3, "train_loss": 0.25, "val_loss": 0.8, "bsct_score": 0.1}]
    fig = plot_history(history)
    loss_ax, score_ax = fig.get_axes()
    assert loss_ax.get_yscale() == "log"
    assert [list(line.get_ydata()) for line in loss_ax.get_lines()] == [[1.0, 0.5, 0.25], [2.0, 1.0, 0.8]]
    (score_line,) = score_ax.get_lines()
    assert list(score_line.get_xdata()) == [1, 3] and list(score_line.get_ydata()) == [0.5, 0.1]
    legend = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert legend == ["train loss", "val loss (EMA)", "BSCT score"]


def test_history_without_scores_has_only_the_loss_axis():
    fig = plot_history([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.5}])
    (ax,) = fig.get_axes()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train loss", "val loss (EMA)"]
