"""Publication-ready reports from any results directory: tables, paired significance, seaborn figures.

Everything is computed with pandas (tables, LaTeX via Styler), scipy.stats (bootstrap, Wilcoxon) and
seaborn, and written deterministically (sorted rows, fixed seeds, no dates in figure files), so that a
report diffs cleanly in git. Failed cells (diverged, oom, error) are counted and listed, never dropped.

- ``tables``: per-cell tables of each metric, paired significance, what each metric means;
- ``figures``: a metric per signal, against swept settings, training curves, NTK energy, throughput;
- ``held_out``: inpaint tasks' fit beside held-out scores;
- ``ntk_prediction``: whether the NTK at init predicts the final score;
- ``learning_cost``: what learned inits cost to learn, beside one fit;
- ``readme``: ``write_report``, which writes all of them and the README.md that shows them.
"""
