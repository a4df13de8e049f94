"""The ``gcrl-depth`` command line (:mod:`gcrl_depth.cli.main`)."""
