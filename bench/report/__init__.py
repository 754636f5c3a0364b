"""Publication-ready reports from any results directory: tables, paired significance, seaborn figures.

Everything is computed with pandas (tables, LaTeX via Styler), scipy.stats (bootstrap, Wilcoxon) and
seaborn, and written deterministically (sorted rows, fixed seeds, no dates in figure files), so that a
report diffs cleanly in git. Failed cells (diverged, oom, error) are counted and listed, never dropped.

- ``sections``: the registry of a report's sections (``metric_section``, ``report_section``); each module
  below registers its own, and ``readme.write_report`` lays them out in order;
- ``tables``: per-cell tables of each metric, paired significance, what each metric means (``summary``: the
  table, conversion and significance sections);
- ``figures``: a metric per signal, against swept settings, training curves, NTK energy, throughput;
- ``held_out``: inpaint tasks' fit beside held-out scores;
- ``ntk_prediction``: whether the NTK at init predicts the final score;
- ``spectral_map``, ``surfaces``, ``learning_cost``, ``failed``: band-noise maps, sdf surfaces, what learned
  inits cost, the failed cells;
- ``tuned``: the report of a tuned sweep (its choices, then the test split's report).
"""
