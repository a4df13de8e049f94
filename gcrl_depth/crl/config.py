"""Moved to :mod:`gcrl_depth.crl.engine.config`; this name keeps working."""

from gcrl_depth.crl.engine.config import *  # noqa: F403
from gcrl_depth.crl.engine.config import ARCHITECTURE_FIELDS, PRESETS, CRLConfig

__all__ = ["ARCHITECTURE_FIELDS", "PRESETS", "CRLConfig"]
