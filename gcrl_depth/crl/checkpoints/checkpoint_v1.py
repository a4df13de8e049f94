"""Reading checkpoint format 1 (gcrl_depth before the pure engine) into today's learner.

Format 1 stored flax module parameters (``ResidualTower_0/blocks/Dense_i`` with kernels
``(n_blocks, W, W)``, one encoder per critic tower) and three Adam states (actor, critic,
temperature) plus the PRNG key in ``optimizer.msgpack``. Today's parameters stack the four
Dense layers of a block (``(n_blocks, 4, W, W)``) and phi and psi on a tower axis, and
one Adam state covers them all (Adam is elementwise: the moments map one to one; the
three step counts are equal). The conversion only moves arrays: a converted model
predicts exactly what it predicted before.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from flax import serialization

from gcrl_depth.crl.engine.learner import Learner, Params
from gcrl_depth.crl.engine.networks import BLOCK_SIZE, ActorParams, Blocks, CriticParams, Dense, Norm


def _dense(d: dict[str, Any]) -> Dense:
    return Dense(np.asarray(d["kernel"]), np.asarray(d["bias"]))


def _norm(d: dict[str, Any]) -> Norm:
    return Norm(np.asarray(d["scale"]), np.asarray(d["bias"]))


def _blocks(d: dict[str, Any]) -> Blocks:
    """Flax's scanned blocks (Dense_i, LayerNorm_i with a leading block axis) -> (n_blocks, 4, ...) arrays."""
    def stack(kind: str, field: str) -> np.ndarray:
        return np.stack([np.asarray(d[f"{kind}_{i}"][field]) for i in range(BLOCK_SIZE)], axis=1)

    return Blocks(stack("Dense", "kernel"), stack("Dense", "bias"), stack("LayerNorm", "scale"), stack("LayerNorm", "bias"))


def _actor(tree: dict[str, Any]) -> ActorParams:
    p = tree["params"]
    tower = p["ResidualTower_0"]
    return ActorParams(input=_dense(tower["projection"]), input_norm=_norm(tower["LayerNorm_0"]),
                       blocks=_blocks(tower["blocks"]), mean=_dense(p["mean"]), log_std=_dense(p["log_std"]))


def _critic(tree: dict[str, Any]) -> CriticParams:
    sa, goal = tree["sa"]["params"], tree["goal"]["params"]
    towers = (sa["ResidualTower_0"], goal["ResidualTower_0"])

    def both(make, get):
        return jax.tree_util.tree_map(lambda a, b: np.stack([a, b]), *(make(get(t)) for t in towers))

    return CriticParams(
        sa_input=_dense(towers[0]["projection"]),
        goal_input=_dense(towers[1]["projection"]),
        input_norms=both(_norm, lambda t: t["LayerNorm_0"]),
        blocks=both(_blocks, lambda t: t["blocks"]),
        heads=jax.tree_util.tree_map(lambda a, b: np.stack([a, b]), _dense(sa["head"]), _dense(goal["head"])),
    )


def _params(actor: dict[str, Any], critic: dict[str, Any], log_alpha: Any) -> Params:
    return Params(actor=_actor(actor), critic=_critic(critic), log_alpha=np.asarray(log_alpha, np.float32))


def learner_from_v1(members: dict[str, bytes], like: Learner, path: str) -> Learner:
    """Today's :class:`Learner` (numpy, as stored) from a format-1 checkpoint's members; ``like`` gives the
    Adam state's structure. The caller checks its shapes against the agent's."""
    try:
        stored = serialization.msgpack_restore(members["params.msgpack"])
        optimizer = serialization.msgpack_restore(members["optimizer.msgpack"])
        params = _params(stored["actor_params"], stored["critic_params"], stored["log_alpha"])
        adam = [optimizer[name]["0"] for name in ("actor_opt", "critic_opt", "alpha_opt")]
        mu = _params(adam[0]["mu"], adam[1]["mu"], adam[2]["mu"])
        nu = _params(adam[0]["nu"], adam[1]["nu"], adam[2]["nu"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path!r}: checkpoint format 1 parameters are not as gcrl_depth wrote them ({error!r})") from error
    count = np.asarray(adam[0]["count"], np.int32)
    return Learner(params, (type(like.opt_state[0])(count=count, mu=mu, nu=nu), *like.opt_state[1:]))
