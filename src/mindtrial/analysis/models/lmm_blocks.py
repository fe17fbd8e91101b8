"""lme4's profiled deviance for linear mixed models whose random effects fall into independent
blocks: ``y_i = X_i beta + Z_i b_i + e_i`` with ``b_i ~ N(0, sigma^2 Lambda Lambda')`` and
``e_i ~ N(0, sigma^2 I)`` for each block ``i``.

Two designs of the plans' sensitivity analyses are of this form:

* random intercept and slope per participant (``(1 + time | id)``): one block per
  participant, ``Z_i = [1, time]``, ``Lambda`` lower triangular (three parameters);
* participants nested in therapy groups (``(1 | group) + (1 | group:id)``): one block per
  therapy group, ``Z_i = [1, participant indicators]`` (padded with zero columns to the
  largest group), ``Lambda = diag(theta_group, theta_id, ..., theta_id)``.

For given ``theta`` (``Lambda``'s free elements, lme4's ``theta``) the fixed effects and
``sigma^2`` have closed forms: with ``A_i = I + Lambda' Z_i'Z_i Lambda = L_i L_i'``,
``c_i = L_i^-1 Lambda' Z_i' [X_i, y_i]``, ``X'V^-1X sigma^2 = X'X - sum c_x'c_x`` and the
penalised residual sum of squares ``r'r - sum |c_y - c_x beta|^2``. The deviance is then
lme4's (ML, or REML with ``log det X'V^-1X``), finite on the boundary (a variance of 0), so
the optimum may lie there (lme4's "singular fit"). The fixed effects' covariance is
``sigma^2 (X'V^-1X sigma^2)^-1``, as ``vcov(lmer_fit)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from scipy import linalg, optimize

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.models.common import finish
from mindtrial.analysis.results import DesignBuilder, MixedResult

LambdaOf = Callable[[np.ndarray], np.ndarray]
"""``theta`` (lme4's vector) → the ``q x q`` relative Cholesky factor ``Lambda``."""


class ProfiledSolution(Protocol):
    """What finishing needs of a profiled-deviance LMM solution (this module's
    :class:`BlockSolution`, :class:`~.lmm.OneReSolution`)."""

    @property
    def deviance(self) -> float: ...
    @property
    def beta(self) -> np.ndarray: ...
    @property
    def scale(self) -> float: ...
    @property
    def info(self) -> np.ndarray: ...


finish_lmm = functools.partial(finish, MixedResult, model="lmm", family="gaussian", link="identity")
"""The result of a linear mixed model, whichever way it was fitted: :func:`~.common.finish`
with the gaussian family and identity link (the model's ``scale`` and ``residual_variance``
are both the residual variance)."""


@dataclass(frozen=True)
class BlockSolution:
    """GLS solution at ``theta``."""

    theta: np.ndarray
    deviance: float  # -2 x profiled log-likelihood (ML) or REML criterion
    beta: np.ndarray
    scale: float  # residual variance sigma^2
    info: np.ndarray  # X' V^-1 X * sigma^2
    lam: np.ndarray  # Lambda at theta


class BlockProfile:
    """Per-block cross-products of ``Z``, ``X`` and ``y`` (computed once) and the profiled
    deviance as a function of ``theta``.

    Args:
        y, x: outcome and fixed-effects design (rows in any order).
        z: random-effects design, ``N x q``: row ``r``'s values in its block's columns
            (zero in the padding columns of smaller blocks).
        blocks: block index per row (``0 .. G-1``).
        lam_of: ``theta`` → ``Lambda``.
    """

    def __init__(
        self, y: np.ndarray, x: np.ndarray, z: np.ndarray, blocks: np.ndarray, lam_of: LambdaOf
    ) -> None:
        order = np.argsort(blocks, kind="stable")
        sorted_blocks = blocks[order]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(sorted_blocks)) + 1))
        ys, xs, zs = y[order], x[order], z[order]
        self.n, self.p = x.shape
        self.q = z.shape[1]
        self.lam_of = lam_of
        # Z_i'Z_i, Z_i'X_i, Z_i'y_i for every block (G x q x q, G x q x p, G x q)
        self.zz = np.add.reduceat(zs[:, :, None] * zs[:, None, :], starts, axis=0)
        self.zx = np.add.reduceat(zs[:, :, None] * xs[:, None, :], starts, axis=0)
        self.zy = np.add.reduceat(zs * ys[:, None], starts, axis=0)
        self.y, self.x = y, x
        self.xtx = x.T @ x
        self.xty = x.T @ y
        self.yty = float(y @ y)
        self.eye = np.eye(self.q)

    def solve(self, theta: np.ndarray, *, reml: bool) -> BlockSolution:
        lam = self.lam_of(theta)
        lt = lam.T
        a = lt @ self.zz @ lam + self.eye  # G x q x q, positive definite
        chol = np.linalg.cholesky(a)
        logdet_v = 2.0 * float(np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2))))
        cx = np.linalg.solve(chol, lt @ self.zx)  # G x q x p  (L^-1 Lambda' Z'X)
        cy = np.linalg.solve(chol, (lt @ self.zy[:, :, None]))[:, :, 0]  # G x q
        info = self.xtx - np.einsum("gqi,gqj->ij", cx, cx)
        rhs = self.xty - np.einsum("gqi,gq->i", cx, cy)
        factor = linalg.cho_factor(info)
        beta = linalg.cho_solve(factor, rhs)
        resid = self.y - self.x @ beta  # directly: y'y - 2b'X'y + b'X'Xb loses digits
        rss = float(resid @ resid)
        shrink = cy - cx @ beta
        pwrss = rss - float(np.sum(shrink * shrink))
        if reml:
            dof = self.n - self.p
            logdet_info = 2.0 * float(np.sum(np.log(np.diag(factor[0]))))
            deviance = logdet_v + logdet_info + dof * (1.0 + np.log(2.0 * np.pi * pwrss / dof))
            scale = pwrss / dof
        else:
            deviance = logdet_v + self.n * (1.0 + np.log(2.0 * np.pi * pwrss / self.n))
            scale = pwrss / self.n
        return BlockSolution(theta, float(deviance), beta, scale, info, lam)

    def optimum(
        self, start: np.ndarray, lower: Sequence[float], *, reml: bool
    ) -> tuple[BlockSolution, bool]:
        """Minimise the deviance over ``theta`` (``lower`` bounds: 0 for the diagonal of
        ``Lambda``, ``-inf`` off it) from lme4's start by L-BFGS-B with central-difference
        gradients (one-sided at a bound), to a gradient below 1e-9 or until a Newton step
        would lower the deviance by less than 1e-8; a variance within 1e-5 of 0 that the
        deviance does not need is set to 0. Returns the solution and whether it converged."""
        low = np.array([lo if np.isfinite(lo) else -np.inf for lo in lower], dtype=float)
        bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]

        def dev(theta: np.ndarray) -> float:
            try:
                return self.solve(np.asarray(theta, dtype=float), reml=reml).deviance
            except (np.linalg.LinAlgError, ValueError):
                return float("inf")

        def grad(theta: np.ndarray) -> np.ndarray:
            out = np.empty_like(theta)
            for j in range(theta.size):
                h = 1e-6 * max(1.0, abs(float(theta[j])))
                up, down = theta.copy(), theta.copy()
                up[j] += h
                if theta[j] - h >= low[j]:
                    down[j] -= h
                    out[j] = (dev(up) - dev(down)) / (2 * h)
                else:
                    out[j] = (dev(up) - dev(theta)) / h
            return out

        def newton_steps_small(x: np.ndarray) -> bool:
            """At an optimum: the decrease a Newton step would bring (gradient squared over
            twice the diagonal curvature, the gradient projected on the bounds) is below
            1e-8 of deviance — lme4's own stopping rule (``ftol_abs``)."""
            g = grad(x)
            g = np.where((x <= low + 1e-12) & (g > 0), 0.0, g)
            decrease = 0.0
            for j in np.flatnonzero(g):
                h = 1e-4 * max(1.0, abs(float(x[j])))
                up, up2 = x.copy(), x.copy()
                up[j] += h
                up2[j] += 2 * h
                if x[j] - h >= low[j]:
                    down = x.copy()
                    down[j] -= h
                    curvature = (dev(up) - 2 * dev(x) + dev(down)) / h**2
                else:  # at a bound: one-sided second difference
                    curvature = (dev(up2) - 2 * dev(up) + dev(x)) / h**2
                if not curvature > 0:
                    return False
                decrease += g[j] ** 2 / (2 * curvature)
            return bool(decrease < 1e-8)

        def snapped(x: np.ndarray) -> np.ndarray:
            """A diagonal element within 1e-5 of its bound set onto it when the deviance does
            not rise by more than its rounding (lme4 reports such a variance as 0)."""
            out = x.copy()
            for j in np.flatnonzero(np.isfinite(low) & (out - low < 1e-5) & (out != low)):
                trial = out.copy()
                trial[j] = low[j]
                if dev(trial) <= dev(out) + 1e-10:
                    out = trial
            return out

        found = optimize.minimize(
            dev,
            np.asarray(start, dtype=float),
            jac=grad,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-16, "gtol": 1e-9, "maxiter": 2000},
        )
        if not np.isfinite(found.fun):
            raise AnalysisError("mixed model: the deviance is not finite at any variance tried")
        # L-BFGS-B may stop in its line search when the remaining decrease is below the
        # deviance's rounding: accept a small Newton step, else restart it (a fresh curvature
        # estimate), and at last polish by Nelder–Mead.
        converged = bool(found.success) or newton_steps_small(found.x)
        for _ in range(3):
            if converged:
                break
            again = optimize.minimize(
                dev,
                found.x,
                jac=grad,
                method="L-BFGS-B",
                bounds=bounds,
                options={"ftol": 1e-16, "gtol": 1e-9, "maxiter": 2000},
            )
            if again.fun <= found.fun:
                found = again
            converged = bool(again.success) or newton_steps_small(found.x)
        if not converged:
            polish = optimize.minimize(
                dev,
                found.x,
                method="Nelder-Mead",
                bounds=bounds,
                options={"xatol": 1e-10, "fatol": 1e-12, "maxfev": 2000},
            )
            if polish.fun <= found.fun:
                found = polish
            converged = newton_steps_small(np.asarray(found.x, dtype=float))
        best = snapped(np.asarray(found.x, dtype=float))
        return self.solve(best, reml=reml), converged or newton_steps_small(best)


def fixed_effects_cov(solution: ProfiledSolution) -> np.ndarray:
    """``sigma^2 (X'V^-1X sigma^2)^-1``, symmetrised (lme4's ``vcov``)."""
    inverse = linalg.cho_solve(linalg.cho_factor(solution.info), np.eye(solution.info.shape[0]))
    cov: np.ndarray = solution.scale * (inverse + inverse.T) / 2
    return cov


def singular(solution: BlockSolution, diagonal: Sequence[int], *, tol: float = 1e-4) -> bool:
    """lme4's ``isSingular``: a diagonal element of ``Lambda`` (listed in ``diagonal`` as
    positions in ``theta``) below ``tol``."""
    return bool(np.any(np.abs(solution.theta[list(diagonal)]) < tol))


def finish_block_fit(
    solution: ProfiledSolution,
    *,
    formula: str,
    names: Sequence[str],
    frame: pd.DataFrame,
    dropped: int,
    converged: bool,
    warnings: Sequence[str],
    n_groups: int,
    random_effects_cov: pd.DataFrame,
    design: DesignBuilder,
) -> MixedResult:
    """The result of an LMM fitted by its profiled deviance (:func:`finish_lmm`): the GLS
    fixed effects with lme4's ``vcov``, the log-likelihood (or REML criterion) and the
    residual variance."""
    return finish_lmm(
        formula=formula,
        names=names,
        estimate=solution.beta,
        cov=fixed_effects_cov(solution),
        frame=frame,
        dropped=dropped,
        converged=converged,
        warnings=warnings,
        n_groups=n_groups,
        loglik=-solution.deviance / 2,
        scale=solution.scale,
        random_effects_cov=random_effects_cov,
        residual_variance=solution.scale,
        design=design,
    )
