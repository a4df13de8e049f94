"""``python -m benchmarks.compare_baselines ARGS``: ``gcrl-depth compare ARGS`` with its results under ``benchmarks/results/compare_baselines_{platform}``
(the command lives in the package: :mod:`gcrl_depth.campaigns.compare`; ``--out`` given wins)."""

import sys

from benchmarks import campaign_caller

main = campaign_caller("compare", "compare_baselines_{platform}")

if __name__ == "__main__":
    sys.exit(main())
