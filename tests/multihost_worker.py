"""One process of the multi-host test (``tests/crl/training/test_multihost.py``): a tiny PointUMaze run
set of 4 seeds over 4 CPU devices, in ``processes`` processes joined by ``jax.distributed`` (gloo
collectives), or in one. Writes each member's evaluations and parameter checksums as JSON.

    python tests/multihost_worker.py PROCESS_ID PROCESSES PORT OUT.json [WIDTH]

``WIDTH`` gives this process another network width than the others' (a process started with
another command: refused).
"""

from __future__ import annotations

import json
import os
import sys


def main(process_id: int, processes: int, port: int, out: str, width: int | None = None) -> None:
    kept = [flag for flag in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in flag]  # the suite's level
    os.environ["XLA_FLAGS"] = " ".join([*kept, f"--xla_force_host_platform_device_count={4 // processes}"])
    import jax

    if processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(f"localhost:{port}", num_processes=processes, process_id=process_id)
    import numpy as np

    from gcrl_depth import PRESETS
    from gcrl_depth.crl.training.run_set import RunSet
    from gcrl_depth.goal_envs import vector_goal_env

    config = dict(PRESETS["tiny"], **({} if width is None else {"width": width}))
    env = vector_goal_env("gcrl_depth/PointUMaze-v0", config.pop("num_envs"), episode_length=20)
    eval_env = vector_goal_env("gcrl_depth/PointUMaze-v0", 2, episode_length=20)
    runs = RunSet(env, depth=4, seeds=(0, 1, 2, 3), eval_env=eval_env, eval_episodes=2, epoch_timesteps=40, **config)
    runs.learn(80)
    members = {}
    for member in runs.members:
        leaves = jax.tree_util.tree_leaves(member.learner.params)
        members[member.seed] = {
            "evaluations": [[float(r.time_at_goal), float(r.final_distance)] for r in member.evaluations.results],
            "checksums": [float(np.abs(np.asarray(x, np.float64)).sum()) for x in leaves],
            "steps": member.num_timesteps}
    mesh = runs.runner.mesh
    record = {"devices": len(jax.devices()), "local_devices": len(jax.local_devices()), "members": members,
              "mesh_devices": None if mesh is None else int(mesh.devices.size)}
    with open(out, "w") as handle:
        json.dump(record, handle)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], *map(int, sys.argv[5:]))
