"""``python -m benchmarks.depth_sweep ARGS``: ``gcrl-depth sweep ARGS`` with its results under ``benchmarks/results/depth_sweep_{platform}``
(the command lives in the package: :mod:`gcrl_depth.campaigns.sweep`; ``--out`` given wins)."""

import sys

from benchmarks import campaign_caller

main = campaign_caller("sweep", "depth_sweep_{platform}")

if __name__ == "__main__":
    sys.exit(main())
