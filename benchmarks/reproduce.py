"""``python -m benchmarks.reproduce ARGS``: ``gcrl-depth reproduce ARGS`` with its results under ``benchmarks/results/reproduce_{platform}``
(the command lives in the package: :mod:`gcrl_depth.campaigns.reproduce`; ``--out`` given wins)."""

import sys

from benchmarks import campaign_caller

main = campaign_caller("reproduce", "reproduce_{platform}")

if __name__ == "__main__":
    sys.exit(main())
