"""Removed: gcrl_depth compiles with plain ``jax.jit`` (:mod:`gcrl_depth.crl.engine.compiled`)."""

raise ImportError("gcrl_depth.programs is gone: gcrl_depth's programs are module-level jax.jit functions in "
                  "gcrl_depth.crl.engine.compiled (JAX's own cache shares them); free compiled programs with "
                  "jax.clear_caches() instead of gcrl_depth.programs.clear()")
