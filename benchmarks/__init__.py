"""Benchmarks and campaigns of gcrl_depth, run from the repository's root as ``python -m benchmarks.NAME``.

Each writes its results under ``benchmarks/results/`` with the machine described.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: the scripts' subprocesses run from here
RESULTS_DIR = ROOT / "benchmarks" / "results"


def campaign_caller(command: str, results_name: str):
    """``main(argv)`` of a thin script: ``gcrl-depth COMMAND ARGS`` whose ``--out`` defaults to
    ``benchmarks/results/<results_name>`` (``{platform}`` filled in); the exit code."""

    def main(argv: list[str] | None = None) -> int:
        import sys

        from gcrl_depth.cli.main import main as gcrl_depth

        argv = sys.argv[1:] if argv is None else list(argv)
        if not any(arg == "--out" or arg.startswith("--out=") for arg in argv):
            import jax

            argv += ["--out", str(RESULTS_DIR / results_name.format(platform=jax.devices()[0].platform))]
        return gcrl_depth([command, *argv])

    main.__doc__ = f"``gcrl-depth {command}`` writing into ``benchmarks/results/{results_name}`` unless ``--out`` is given."
    return main
