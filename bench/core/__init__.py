"""The foundation every other package stands on: errors (torch-free, so ``bench --help`` stays fast), the
registry that schemes and tasks register into, code fingerprints, the declared metrics and row columns, result
statuses, the record of the machine, caches' folders, atomic file writes and the figure style."""
