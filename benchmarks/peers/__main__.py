"""``python -m benchmarks.peers``: see ``benchmarks.peers.run``."""

from benchmarks.peers.run import main

main()
