"""``python -m benchmarks.depth_evidence ARGS``: ``gcrl-depth evidence ARGS`` with its results under ``benchmarks/results/depth_evidence``
(the command lives in the package: :mod:`gcrl_depth.campaigns.evidence`; ``--out`` given wins)."""

import sys

from benchmarks import campaign_caller

main = campaign_caller("evidence", "depth_evidence")

if __name__ == "__main__":
    sys.exit(main())
