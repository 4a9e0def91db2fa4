"""Presentation: the book's figures as seaborn-styled matplotlib figures (the paper's figures).

Every function takes arrays (histograms on the paper's 64 × 64 grid, tables as data set × w_R arrays,
training logs) and returns a `matplotlib.figure.Figure`; nothing here reads files or computes
numerics beyond reshaping and normalising for display. Histograms are vectors of length 64² in the
published flattening order (row = y index on linspace(-3.5, 3.5, 64)², see `metrics.grid_points`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors, ticker
from matplotlib.figure import Figure

from . import metrics
from .datasets import LABELS

CMAP = "mako"
"""Sequential colour map of density panels (seaborn)."""
DIVERGING = "vlag"
"""Diverging colour map of difference panels (seaborn)."""
DATASET_MARKERS = {"blob": "o", "circles2": "s", "checker": "D", "gaussian": "^"}
W_LABEL = r"$w_R$"


def set_style() -> None:
    """Seaborn theme used by every figure of the book (deterministic fonts: matplotlib's DejaVu Sans)."""
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font="DejaVu Sans", font_scale=1.0)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "image.interpolation": "nearest",
                         "axes.titlesize": 10, "axes.labelsize": 9, "figure.titlesize": 11,
                         "svg.hashsalt": "scoregap", "path.simplify": False})


def _palette(n: int):
    import seaborn as sns

    return sns.color_palette("colorblind", n)


def label(dataset: str) -> str:
    """Human-readable data-set name (mixture, circles, checkerboard)."""
    return LABELS.get(dataset, dataset)


def grid_image(hist, n: int = metrics.GRID_N) -> np.ndarray:
    """Histogram vector (n², row = y index) → (n, n) image whose row i is y index i (draw with origin='lower')."""
    h = np.asarray(hist, dtype=float).ravel()
    if h.size != n * n:
        raise ValueError(f"histogram must have {n * n} entries, got {h.size}")
    return h.reshape(n, n)


def _extent(n: int = metrics.GRID_N, box: float = metrics.BOX):
    h = 2 * box / (n - 1)
    return (-box - h / 2, box + h / 2, -box - h / 2, box + h / 2)


ROBUST_PERCENTILE = 99.5
"""Colour scales of histogram panels end at this percentile of the positive cell values (ODE samples can pile
up in single cells, which would otherwise darken everything else); brighter cells saturate."""


def robust_vmax(images, q: float = ROBUST_PERCENTILE) -> float:
    """Upper end of a shared colour scale: the q-th percentile of the positive values of all images."""
    vals = np.concatenate([np.asarray(im, float).ravel() for im in images])
    pos = vals[vals > 0]
    return float(np.percentile(pos, q)) if pos.size else 1.0


def _density_axis(ax, image, vmax=None, norm=None, cmap=CMAP, title=None):
    im = ax.imshow(image, origin="lower", extent=_extent(image.shape[0]), cmap=cmap, norm=norm,
                   vmin=None if norm is not None else 0.0, vmax=None if norm is not None else vmax, interpolation="nearest")
    ax.set_xticks([-3, 0, 3])
    ax.set_yticks([-3, 0, 3])
    ax.tick_params(labelsize=7, length=2, pad=1)
    ax.grid(False)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return im


def targets(hists: Mapping[str, np.ndarray]) -> Figure:
    """Paper figure 1: the target distributions as 64 × 64 histograms, one panel per data set."""
    names = list(hists)
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 3.1), squeeze=False, constrained_layout=True)
    for ax, name in zip(axes[0], names):
        img = grid_image(hists[name])
        _density_axis(ax, img, vmax=img.max(), title=label(name))
    return fig


def marginals(densities: Mapping[str, Sequence[np.ndarray]], times: Sequence[float], box: float = metrics.BOX) -> Figure:
    """Exact p_t on a grid: rows = data sets, columns = times; each image is a (m, m) array of p_t values on linspace(-box, box, m)²."""
    names = list(densities)
    fig, axes = plt.subplots(len(names), len(times), figsize=(2.0 * len(times), 2.05 * len(names)), squeeze=False,
                             constrained_layout=True)
    for i, name in enumerate(names):
        for j, t in enumerate(times):
            img = np.asarray(densities[name][j], dtype=float)
            ax = axes[i, j]
            _density_axis(ax, img, vmax=img.max())
            if i == 0:
                ax.set_title(f"t = {t:g}")
            if j == 0:
                ax.set_ylabel(label(name))
    return fig


def density_panels(hists: Sequence[np.ndarray], titles: Sequence[str], shared_scale: bool = True, ncols: int | None = None) -> Figure:
    """A row (or grid) of histogram panels, e.g. exact-score ODE / SDE samples beside the truth."""
    k = len(hists)
    ncols = ncols or k
    nrows = int(np.ceil(k / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.5 * nrows), squeeze=False, constrained_layout=True)
    imgs = [grid_image(h) for h in hists]
    vmax = robust_vmax(imgs)
    for ax in axes.ravel()[k:]:
        ax.set_visible(False)
    for ax, img, title in zip(axes.ravel(), imgs, titles):
        _density_axis(ax, img, vmax=vmax if shared_scale else robust_vmax([img]), title=title)
    return fig


def density_grid(hists: Mapping[tuple, np.ndarray], datasets: Sequence[str], w_values: Sequence[float]) -> Figure:
    """Paper figure 2: rows w_R, for each data set a column p^SDE_θ(·,0) and a column p^ODE_θ(·,0).

    `hists[(dataset, w_R, method)]` is a histogram; the two columns of a data set share one colour scale.
    """
    nc = 2 * len(datasets)
    fig, axes = plt.subplots(len(w_values), nc, figsize=(1.75 * nc, 1.8 * len(w_values) + 0.3), squeeze=False,
                             constrained_layout=True)
    for j, d in enumerate(datasets):
        vmax = robust_vmax([grid_image(hists[(d, float(w), m)]) for w in w_values for m in ("sde", "ode")])
        for i, w in enumerate(w_values):
            for k, m in enumerate(("sde", "ode")):
                ax = axes[i, 2 * j + k]
                _density_axis(ax, grid_image(hists[(d, float(w), m)]), vmax=vmax)
                if i == 0:
                    ax.set_title(f"{label(d)}\n{m.upper()}")
                if 2 * j + k == 0:
                    ax.set_ylabel(f"{W_LABEL} = {float(w):g}")
                if i < len(w_values) - 1:
                    ax.set_xticklabels([])
                if 2 * j + k > 0:
                    ax.set_yticklabels([])
    return fig


def _loglog_axes(ax, xlabel: str, ylabel: str):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.5)


def _point_label(ax, text: str, xy, color, offset=(4, 3), fontsize: float = 7):
    """A small label beside a data point (offset in points), with a faint leader line once it is moved away."""
    t = ax.annotate(text, xy, textcoords="offset points", xytext=offset, fontsize=fontsize, color=color, zorder=5,
                    arrowprops=dict(arrowstyle="-", color=color, lw=0.4, alpha=0.6, shrinkA=0, shrinkB=3))
    t.set_in_layout(False)
    return t


def _text_box(t, renderer):
    """Window extent of an annotation's text alone (without its leader line)."""
    from matplotlib.text import Text

    t.update_positions(renderer)
    return Text.get_window_extent(t, renderer)


def _marker_boxes(ax, renderer):
    """Window extents of the markers of an axes' lines (the points a label must not cover)."""
    from matplotlib.transforms import Bbox

    out = []
    for line in ax.lines:
        if line.get_marker() in (None, "", "None", " ") or not line.get_visible():
            continue
        r = line.get_markersize() * ax.figure.dpi / 72 / 2
        xy = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float))
        out += [Bbox([[x - r, y - r], [x + r, y + r]]) for x, y in xy if np.isfinite(x) and np.isfinite(y)]
    return out


def separate_labels(fig: Figure, texts: Sequence, step: float = 1.5, pad: float = 1.0, max_iter: int = 400) -> None:
    """Move point labels (annotations with offsets in points) until no two overlap and none covers a marker.

    The figure is drawn once (its layout fixed; the labels are left out of the layout). A label that would leave its
    axes on the right moves to the left of its point. Then, round by round, every overlapping pair of labels is pushed
    apart by `step` points (the upper one up, the lower one down) and a label on a marker away from it; deterministic.
    """
    texts = list(texts)
    if not texts:
        return
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    px = pad * fig.dpi / 72
    for t in texts:
        if _text_box(t, renderer).x1 > t.axes.get_window_extent(renderer).x1:
            t.set_horizontalalignment("right")
            t.xyann = (-abs(t.xyann[0]), t.xyann[1])
    markers = {ax: _marker_boxes(ax, renderer) for ax in {t.axes for t in texts}}
    for _ in range(max_iter):
        boxes = [_text_box(t, renderer).padded(px) for t in texts]
        moves = [0.0] * len(texts)
        for a in range(len(texts)):
            for b in range(a + 1, len(texts)):
                if texts[a].axes is texts[b].axes and boxes[a].overlaps(boxes[b]):
                    up, down = (a, b) if (boxes[a].y0 + boxes[a].y1) >= (boxes[b].y0 + boxes[b].y1) else (b, a)
                    moves[up] += step
                    moves[down] -= step
            for m in markers[texts[a].axes]:
                if boxes[a].overlaps(m):
                    moves[a] += step if (boxes[a].y0 + boxes[a].y1) >= (m.y0 + m.y1) else -step
        if not any(moves):
            return
        for t, dy in zip(texts, moves):
            x, y = t.xyann
            t.xyann = (x, y + dy)


def gap_vs_residual(residual: np.ndarray, gap: np.ndarray, datasets: Sequence[str], w_values: Sequence[float],
                    paper_residual: np.ndarray | None = None, paper_gap: np.ndarray | None = None,
                    floor: Mapping[str, float] | None = None) -> Figure:
    """Paper figure 3: W2²(p^ODE, p^SDE) against the mean squared FP residual, log–log, one marker per data set.

    Arrays are (data set × w_R). Filled markers: ours; open markers: the paper's published networks
    (if given). Dotted horizontal lines: the Monte Carlo floor of each data set at our sample size.
    """
    fig, ax = plt.subplots(figsize=(5.6, 4.0), constrained_layout=True)
    pal = _palette(len(datasets))
    labels = []
    for i, d in enumerate(datasets):
        mk = DATASET_MARKERS.get(d, "o")
        ax.plot(residual[i], gap[i], marker=mk, color=pal[i], ls="-", lw=1, ms=6, label=f"{label(d)} (ours)")
        for j, w in enumerate(w_values):
            if np.isfinite(residual[i, j]) and np.isfinite(gap[i, j]):
                labels.append(_point_label(ax, f"{float(w):g}", (residual[i, j], gap[i, j]), pal[i]))
        if paper_residual is not None and paper_gap is not None:
            ax.plot(paper_residual[i], paper_gap[i], marker=mk, color=pal[i], ls=":", lw=1, ms=6, mfc="none",
                    label=f"{label(d)} (paper)")
        if floor is not None and d in floor:
            ax.axhline(floor[d], color=pal[i], ls="--", lw=0.8, alpha=0.7)
    _loglog_axes(ax, "mean squared FP residual", r"$W_2^2(p^{\mathrm{ODE}}_\theta, p^{\mathrm{SDE}}_\theta)$")
    ax.legend(fontsize=7, ncol=2 if paper_gap is not None else 1, loc="best")
    separate_labels(fig, labels)
    return fig


def dsm_vs_residual(dsm: np.ndarray, residual: np.ndarray, datasets: Sequence[str], w_values: Sequence[float]) -> Figure:
    """Paper figure 4: mean DSM loss (normalised per data set by its w_R = 0 value) against the FP residual."""
    fig, ax = plt.subplots(figsize=(5.6, 4.0), constrained_layout=True)
    pal = _palette(len(datasets))
    labels = []
    for i, d in enumerate(datasets):
        norm = dsm[i] / dsm[i, 0]
        ax.plot(residual[i], norm, marker=DATASET_MARKERS.get(d, "o"), color=pal[i], lw=1, ms=6, label=label(d))
        for j, w in enumerate(w_values):
            labels.append(_point_label(ax, f"{float(w):g}", (residual[i, j], norm[j]), pal[i]))
    ax.set_xscale("log")
    ax.set_xlabel("mean squared FP residual")
    ax.set_ylabel(r"DSM loss / DSM loss at $w_R = 0$")
    ax.legend(fontsize=8)
    separate_labels(fig, labels)
    return fig


def comparison(sde_hist, ode_hist, truth_hist, title: str = "", linthresh: float | None = None) -> Figure:
    """Paper figure 5: SDE density, ODE density, their difference (symmetric-log colour scale), truth."""
    return comparisons([(sde_hist, ode_hist, truth_hist, title)], linthresh=linthresh)


def comparisons(rows: Sequence[tuple], linthresh: float | None = None) -> Figure:
    """Several models, one row each: (sde_hist, ode_hist, truth_hist, row_label) → SDE, ODE, ODE − SDE (symlog), truth.

    Each density panel has its own colour scale (0 to its own 99.5th percentile, `robust_vmax`): the ODE samples of an
    unregularised model pile up in single cells, and a scale shared with them would black out the SDE and truth
    panels. The symmetric-log scale is linear within `linthresh` (default: 1 % of the row's largest |difference|);
    its colour bar is ticked at 0 and at the powers of ten outside the linear range.
    """
    fig, axes = plt.subplots(len(rows), 4, figsize=(11.6, 2.9 * len(rows)), squeeze=False, constrained_layout=True)
    for i, (sde_hist, ode_hist, truth_hist, row_label) in enumerate(rows):
        sde_i, ode_i, tru_i = grid_image(sde_hist), grid_image(ode_hist), grid_image(truth_hist)
        diff = ode_i - sde_i
        amax = float(np.abs(diff).max()) or 1.0
        lt = linthresh if linthresh is not None else max(amax * 1e-2, 1e-7)
        ax = axes[i]
        _density_axis(ax[0], sde_i, vmax=robust_vmax([sde_i]), title=r"$p^{\mathrm{SDE}}_\theta$" if i == 0 else None)
        _density_axis(ax[1], ode_i, vmax=robust_vmax([ode_i]), title=r"$p^{\mathrm{ODE}}_\theta$" if i == 0 else None)
        im = _density_axis(ax[2], diff, cmap=DIVERGING, norm=colors.SymLogNorm(linthresh=lt, vmin=-amax, vmax=amax, base=10),
                           title=r"$p^{\mathrm{ODE}}_\theta - p^{\mathrm{SDE}}_\theta$ (symlog)" if i == 0 else None)
        fig.colorbar(im, ax=ax[2], shrink=0.85, ticks=_symlog_ticks(lt, amax))
        _density_axis(ax[3], tru_i, vmax=robust_vmax([tru_i]), title="truth" if i == 0 else None)
        if row_label:
            ax[0].set_ylabel(row_label)
    return fig


def _symlog_ticks(linthresh: float, vmax: float) -> list[float]:
    """0 and ±10^k for the powers of ten between 3 × linthresh and vmax (ticks inside the linear range crowd 0)."""
    ks = range(int(np.ceil(np.log10(3 * linthresh))), int(np.floor(np.log10(vmax))) + 1)
    pos = [10.0 ** k for k in ks]
    return [-v for v in reversed(pos)] + [0.0] + pos


def _moving_average(y: np.ndarray, k: int) -> tuple[np.ndarray, slice]:
    """Centred moving average over k points (valid part) and the slice of x it belongs to."""
    y = np.asarray(y, float)
    if k <= 1 or len(y) < k:
        return y, slice(None)
    return np.convolve(y, np.ones(k) / k, mode="valid"), slice(k // 2, k // 2 + len(y) - k + 1)


def training_curves(logs: Mapping[tuple, Mapping[str, np.ndarray]], datasets: Sequence[str], w_values: Sequence[float],
                    smooth: int = 9) -> Figure:
    """Training logs: top row DSM loss, bottom row FP residual (log scale), one column per data set, one line per w_R.

    `logs[(dataset, w_R)]` maps column names (step, dsm, fp_residual, …) to arrays. Thin lines: the logged batch
    values; thick lines: their moving average over `smooth` log entries.
    """
    fig, axes = plt.subplots(2, len(datasets), figsize=(3.6 * len(datasets), 5.0), squeeze=False, sharex=True,
                             constrained_layout=True)
    pal = _palette(len(w_values))
    for j, d in enumerate(datasets):
        for k, w in enumerate(w_values):
            log = logs.get((d, float(w)))
            if log is None:
                continue
            for row, key in enumerate(("dsm", "fp_residual")):
                ax = axes[row, j]
                ax.plot(log["step"], log[key], color=pal[k], lw=0.5, alpha=0.35)
                ys, sl = _moving_average(log[key], smooth)
                ax.plot(np.asarray(log["step"])[sl], ys, color=pal[k], lw=1.4, label=f"{W_LABEL} = {float(w):g}" if row == 0 else None)
        axes[0, j].set_title(label(d))
        axes[0, j].set_yscale("log")
        axes[1, j].set_yscale("log")
        axes[1, j].set_xlabel("training step")
    axes[0, 0].set_ylabel("DSM loss (batch)")
    axes[1, 0].set_ylabel("mean squared FP residual (batch)")
    axes[0, 0].legend(fontsize=7)
    return fig


def time_profiles(times: np.ndarray, curves: Mapping[str, np.ndarray], ylabel: str, logy: bool = True, logx: bool = True,
                  title: str = "") -> Figure:
    """Functions of time, one line each (e.g. the residual R(t) and the one-sided Lipschitz constant ℓ(t) per model)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.6), constrained_layout=True)
    pal = _palette(len(curves))
    for (name, y), c in zip(curves.items(), pal):
        ax.plot(times, y, color=c, lw=1.2, label=name)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    return fig


def bound_vs_measured(measured: np.ndarray, bound: np.ndarray, datasets: Sequence[str], w_values: Sequence[float],
                      floor: Mapping[str, float] | None = None, bound_local: np.ndarray | None = None) -> Figure:
    """Measured W2(ODE, SDE) against the derived upper bound, one marker per data set, log–log with the diagonal.

    Filled markers: the bound with the global one-sided Lipschitz constant; open markers (if given): with the
    constant localised to the data region."""
    fig, ax = plt.subplots(figsize=(5.6, 4.2), constrained_layout=True)
    pal = _palette(len(datasets))
    labels = []
    for i, d in enumerate(datasets):
        mk = DATASET_MARKERS.get(d, "o")
        ax.plot(bound[i], measured[i], marker=mk, ls="none", color=pal[i], ms=6, label=f"{label(d)}: $\\mathcal{{B}}$")
        if bound_local is not None:
            ax.plot(bound_local[i], measured[i], marker=mk, ls="none", color=pal[i], ms=6, mfc="none",
                    label=f"{label(d)}: $\\mathcal{{B}}_{{\\mathrm{{loc}}}}$")
        for j, w in enumerate(w_values):
            labels.append(_point_label(ax, f"{float(w):g}", (bound[i, j], measured[i, j]), pal[i]))
        if floor is not None and d in floor:
            ax.axhline(floor[d], color=pal[i], ls="--", lw=0.8, alpha=0.7)
    vals = [measured, bound] + ([bound_local] if bound_local is not None else [])
    lo = min(float(np.nanmin(v)) for v in vals)
    hi = max(float(np.nanmax(v)) for v in vals)
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.8, ls="-", label="bound = measured")
    _loglog_axes(ax, r"upper bound on $W_2(p^{\mathrm{ODE}}_\theta, p^{\mathrm{SDE}}_\theta)$", r"measured $W_2$")
    ax.legend(fontsize=7, ncol=2)
    separate_labels(fig, labels)
    return fig


def residual_field(fields: Mapping[str, np.ndarray], times: Sequence[float], box: float = metrics.BOX) -> Figure:
    """|r_θ(x, t)| on a grid at several times, one row per model (`fields[row_label]` has shape (len(times), m, m)),
    logarithmic colour scale per row (from the 1st percentile of the positive values to the maximum)."""
    fig, axes = plt.subplots(len(fields), len(times), figsize=(2.3 * len(times) + 0.8, 2.45 * len(fields)), squeeze=False,
                             constrained_layout=True)
    for i, (row_label, residual) in enumerate(fields.items()):
        residual = np.abs(np.asarray(residual, dtype=float))
        pos = residual[residual > 0]
        vmin = max(float(np.percentile(pos, 1)) if pos.size else 1e-6, 1e-8)
        vmax = max(float(residual.max()), vmin * 10)
        norm = colors.LogNorm(vmin=vmin, vmax=vmax)
        im = None
        for j, (r, t) in enumerate(zip(residual, times)):
            im = _density_axis(axes[i, j], np.clip(r, vmin, None), norm=norm, cmap="rocket", title=f"t = {t:g}" if i == 0 else None)
        axes[i, 0].set_ylabel(row_label)
        fig.colorbar(im, ax=axes[i].tolist(), shrink=0.85, label=r"$|r_\theta(x,t)|$")
    return fig


def bound_profiles(t: np.ndarray, R: Mapping[float, np.ndarray], ell: Mapping[float, np.ndarray], title: str = "",
                   ell_local: Mapping[float, np.ndarray] | None = None) -> Figure:
    """The residual profile R(t) (left, log–log) and the one-sided Lipschitz estimate ℓ(t) (right; dashed: localised),
    one colour per w_R."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    pal = _palette(len(R))
    for c, w in zip(pal, R):
        axes[0].plot(t, R[w], color=c, lw=1.2, label=f"{W_LABEL} = {float(w):g}")
        axes[1].plot(t, ell[w], color=c, lw=1.2, label=f"{W_LABEL} = {float(w):g}")
        if ell_local is not None:
            axes[1].plot(t, ell_local[w], color=c, lw=1.2, ls="--")
    axes[0].set(xscale="log", yscale="log", xlabel="t", ylabel=r"$R(t)$", title=f"{title}: FP residual" if title else "FP residual")
    axes[1].set(xscale="log", xlabel="t", ylabel=r"$\ell(t)$", title="one-sided Lipschitz constant of the ODE velocity")
    axes[1].axhline(0.0, color="0.5", lw=0.8)
    axes[0].legend(fontsize=7)
    return fig


def agreement(x: np.ndarray, y: np.ndarray, groups: Sequence[str], xlabel: str, ylabel: str) -> Figure:
    """Scatter of paired values (e.g. paper vs ours), log–log, coloured by group, with the diagonal."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    groups = np.asarray(groups)
    fig, ax = plt.subplots(figsize=(4.8, 4.2), constrained_layout=True)
    names = list(dict.fromkeys(groups.tolist()))
    for c, g in zip(_palette(len(names)), names):
        m = groups == g
        ax.plot(x[m], y[m], "o", color=c, ms=5, label=g)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lo, hi = float(min(x[ok].min(), y[ok].min())) * 0.8, float(max(x[ok].max(), y[ok].max())) * 1.25
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.8)
    _loglog_axes(ax, xlabel, ylabel)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    for axis in (ax.xaxis, ax.yaxis):  # label only the minor ticks at 2 and 5 × 10^k: all eight overlap on a 5 cm axis
        axis.set_minor_formatter(_minor_log_labels)
    ax.legend(fontsize=8)
    return fig


@ticker.FuncFormatter
def _minor_log_labels(v: float, pos=None) -> str:
    """Tick label of a minor log tick, empty unless its mantissa is 2 or 5 (then e.g. 2×10⁻³, in mathtext)."""
    if v <= 0:
        return ""
    k = int(np.floor(np.log10(v) + 1e-9))
    m = round(v / 10.0 ** k)
    return rf"${m}\times10^{{{k}}}$" if m in (2, 5) and abs(v / 10.0 ** k - m) < 1e-6 else ""


def w2_intervals(est: Mapping[str, np.ndarray], low: Mapping[str, np.ndarray], high: Mapping[str, np.ndarray],
                 datasets: Sequence[str], w_values: Sequence[float], floor: Mapping[str, tuple] | None = None,
                 scale: float = 1e3) -> Figure:
    """W2² with 95 % bootstrap intervals against w_R, one panel per data set, one series per distance.

    est, low, high: {column: (data set × w_R) array} for the columns ode_truth, sde_truth, ode_sde (× `scale` on the
    axis). Markers: the plug-in estimates; bars: the intervals (none where low/high are NaN); grey band: the Monte
    Carlo floor of the data set at the table's sample size, mean ± std (`floor[d] = (mean, std)`), the level below
    which a W2² is not resolved. The w_R axis is categorical (0, 0.1, 1, 10 equally spaced).
    """
    names = {"ode_truth": "ODE–truth", "sde_truth": "SDE–truth", "ode_sde": "ODE–SDE"}
    cols = [c for c in names if c in est]
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.3 * len(datasets), 3.3), constrained_layout=True, squeeze=False)
    pal = _palette(len(cols))
    x = np.arange(len(w_values), dtype=float)
    offsets = (np.arange(len(cols)) - (len(cols) - 1) / 2) * 0.18
    for i, d in enumerate(datasets):
        ax = axes[0, i]
        if floor is not None and d in floor and np.isfinite(floor[d][0]):
            m, s = floor[d][0] * scale, (floor[d][1] if np.isfinite(floor[d][1]) else 0.0) * scale
            ax.axhspan(max(m - s, 0.0), m + s, color="0.6", alpha=0.35, lw=0, label="MC floor (mean ± std)")
            ax.axhline(m, color="0.4", lw=0.8, ls="--")
        for k, c in enumerate(cols):
            y = np.asarray(est[c], dtype=float)[i] * scale
            lo = np.asarray(low[c], dtype=float)[i] * scale
            hi = np.asarray(high[c], dtype=float)[i] * scale
            ok = np.isfinite(lo) & np.isfinite(hi)
            yerr = np.vstack([np.where(ok, np.clip(y - lo, 0, None), 0.0), np.where(ok, np.clip(hi - y, 0, None), 0.0)])
            ax.errorbar(x + offsets[k], y, yerr=yerr, fmt=("o", "s", "D")[k % 3], color=pal[k], ms=4.5, lw=1.1, capsize=3,
                        label=names[c])
        ax.set_xticks(x, [f"{float(w):g}" for w in w_values])
        ax.set_xlabel(W_LABEL)
        ax.set_yscale("log")
        ax.set_title(label(d))
        if i == 0:
            ax.set_ylabel(rf"$10^{{{int(round(np.log10(scale)))}}}\,W_2^2$" if scale != 1 else r"$W_2^2$")
    axes[0, -1].legend(fontsize=7, loc="best")
    return fig


SOLVER_STYLES = {"euler": ("Euler ODE (order 1)", "o", "-"), "heun": ("Heun ODE (order 2)", "s", "-"),
                 "dopri5": ("dopri5 ODE (adaptive, rtol)", "D", "-"), "em": ("Euler–Maruyama SDE", "v", "--")}
"""Legend label, marker and line style of each solver in `solver_study`."""


def solver_study(rows: Sequence[Mapping], scores: Sequence[str] | None = None, titles: Mapping[str, str] | None = None,
                 scale: float = 1e3) -> Figure:
    """W2² ODE–SDE against score evaluations, log–log: one column per score, one line per solver, MC floor band.

    Top row: `ode_sde` (an ODE solver against the finest SDE run; Euler–Maruyama against the reference ODE run).
    Bottom row: `ode_ref`, W2² of each ODE run to the reference ODE solution from the same x_T (discretisation error
    alone; no Monte Carlo floor). Open markers: the paper's grid (schedule "paper"); dopri5 points are labelled by rtol.
    """
    from matplotlib.ticker import NullFormatter

    scores = list(scores or dict.fromkeys(r["score"] for r in rows))
    fig, axes = plt.subplots(2, len(scores), figsize=(3.4 * len(scores), 6.0), constrained_layout=True, squeeze=False,
                             sharex=True, sharey="row")
    pal = dict(zip(SOLVER_STYLES, _palette(len(SOLVER_STYLES))))
    rtol_labels = []
    for j, sc in enumerate(scores):
        mine = [r for r in rows if r["score"] == sc]
        floor = float(mine[0]["floor"]) * scale
        sd = float(mine[0]["floor_std"]) * scale
        for i, col in enumerate(("ode_sde", "ode_ref")):
            ax = axes[i, j]
            if col == "ode_sde":
                ax.axhspan(max(floor - sd, 1e-12), floor + sd, color="0.6", alpha=0.35, lw=0, label="MC floor (mean ± std)")
                ax.axhline(floor, color="0.4", lw=0.8, ls=":")
            for solver, (name, marker, ls) in SOLVER_STYLES.items():
                if col == "ode_ref" and solver == "em":
                    continue
                line = sorted((r for r in mine if r["solver"] == solver and r["schedule"] != "paper"),
                              key=lambda r: -float(r["rtol"]) if solver == "dopri5" else float(r["nfe"]))  # dopri5: in order of rtol
                pts = [(float(r["nfe"]), float(r[col]) * scale, r) for r in line if np.isfinite(float(r[col])) and float(r[col]) > 0]
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, ls=ls, color=pal[solver], lw=1.1, ms=4.5, label=name)
                if solver == "dopri5":
                    for x, y, r in pts:
                        rtol_labels.append(_point_label(ax, _power_of_ten(float(r["rtol"])), (x, y), pal[solver], offset=(4, 4),
                                                   fontsize=6.5))
                paper = [r for r in mine if r["solver"] == solver and r["schedule"] == "paper"]
                for r in paper:
                    if np.isfinite(float(r[col])) and float(r[col]) > 0:
                        ax.plot(float(r["nfe"]), float(r[col]) * scale, marker=marker, mfc="none", color=pal[solver], ms=7, ls="none",
                                label=f"{name.split(' (')[0]}, paper grid")
            _loglog_axes(ax, "score evaluations" if i == 1 else "", "")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
            if i == 0:
                ax.set_title((titles or {}).get(sc, sc))
        unit = rf"$10^{{{int(round(np.log10(scale)))}}}\,$" if scale != 1 else ""
        axes[0, 0].set_ylabel(unit + r"$W_2^2$(ODE, SDE)")
        axes[1, 0].set_ylabel(unit + r"$W_2^2$(ODE, reference ODE)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    keep = dict(zip(labels, handles))
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            keep.setdefault(lab, h)
    fig.legend(list(keep.values()), list(keep.keys()), loc="outside lower center", ncol=4, fontsize=7)
    separate_labels(fig, rtol_labels)
    return fig


def _power_of_ten(v: float) -> str:
    """A tolerance as mathtext: 10⁻³ for 1e-3, 5×10⁻⁴ for 5e-4."""
    mantissa, exponent = f"{v:.0e}".split("e")
    power = rf"10^{{{int(exponent)}}}"
    return rf"${power}$" if mantissa == "1" else rf"${mantissa}\times{power}$"


def gaussian_bound(gap: Sequence[float], bound: Sequence[float], members: Sequence[str]) -> Figure:
    """The coupling bound against the exact ODE–SDE gap W2 for each member of the Gaussian family, log–log.

    `members` are labels "<family> <size>"; one colour and marker per family, the diagonal bound = gap and the
    line bound = 2 × gap for reference."""
    families = list(dict.fromkeys(m.rsplit(" ", 1)[0] for m in members))
    pal = _palette(len(families))
    markers = ("o", "s", "D", "^", "v", "P", "X")
    fig, ax = plt.subplots(figsize=(5.6, 4.2), constrained_layout=True)
    gap, bound = np.asarray(gap, float), np.asarray(bound, float)
    for k, fam in enumerate(families):
        sel = np.array([m.rsplit(" ", 1)[0] == fam for m in members])
        ax.plot(gap[sel], bound[sel], marker=markers[k % len(markers)], ls="none", color=pal[k], ms=5.5, label=fam)
    lo, hi = float(np.min([gap.min(), bound.min()])), float(np.max([gap.max(), bound.max()]))
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=0.8, label="bound = gap")
    ax.plot([lo, hi], [2 * lo, 2 * hi], color="0.3", lw=0.8, ls="--", label="bound = 2 × gap")
    _loglog_axes(ax, r"exact gap $W_2(\rho_0, q_0)$", "coupling bound")
    ax.legend(fontsize=7)
    return fig


def gauge_split(share: Mapping[str, np.ndarray], datasets: Sequence[str], w_values: Sequence[float],
                correlations: Mapping[str, Mapping[str, float]]) -> Figure:
    """Left: per cent of the mean squared FP residual that is time-only, per data set and w_R, one bar per source.
    Right: rank correlation of each residual variant with the ODE–SDE gap, one bar per source."""
    sources = list(share)
    pal = _palette(len(sources))
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.0, 3.6), constrained_layout=True, gridspec_kw={"width_ratios": [2, 1]})
    x = np.arange(len(datasets) * len(w_values))
    width = 0.8 / len(sources)
    for k, src in enumerate(sources):
        a.bar(x + (k - (len(sources) - 1) / 2) * width, np.asarray(share[src], float).ravel(), width, color=pal[k], label=src)
    a.set_xticks(x, [f"{float(w):g}" for _ in datasets for w in w_values], fontsize=7)
    for i, d in enumerate(datasets):
        a.text((i + 0.5) * len(w_values) - 0.5, 1.02, label(d), transform=a.get_xaxis_transform(), ha="center", fontsize=8)
        if i:
            a.axvline(i * len(w_values) - 0.5, color="0.7", lw=0.8)
    a.set_yscale("symlog", linthresh=1.0)
    a.set_ylim(0, 100)
    a.set_ylabel("time-only share of the residual (%)")
    a.set_xlabel(W_LABEL)
    a.legend(fontsize=7, loc="upper right")
    kinds = list(next(iter(correlations.values())))
    xk = np.arange(len(kinds))
    for k, src in enumerate(correlations):
        b.plot(xk + (k - (len(correlations) - 1) / 2) * 0.15, [correlations[src][q] for q in kinds], marker="o", ls="none",
               color=pal[k % len(pal)], ms=6, label=src)
    b.set_xticks(xk, [q.replace("_", "-") for q in kinds], fontsize=7)
    b.set_xlim(-0.5, len(kinds) - 0.5)
    vals = [v for c in correlations.values() for v in c.values()]
    b.set_ylim(max(-1.0, min(vals) - 0.05), 1.0)
    b.set_ylabel("Spearman ρ with $W_2^2$(ODE, SDE)")
    b.legend(fontsize=7, loc="lower left")
    return fig


SEED_DISTANCES = {"ode_truth": "ODE–truth", "sde_truth": "SDE–truth", "ode_sde": "ODE–SDE"}
"""The three W2² of a seed-table row and their axis names (`seed_spread`, `gap_along_training`)."""


def seed_spread(rows: Sequence[Mapping], datasets: Sequence[str], w_values: Sequence[float], paper: Mapping | None = None,
                scale: float = 1e3) -> Figure:
    """W2² of every training seed, one panel per data set: per distance and w_R one marker per seed (colour = seed), the
    seed mean (black bar) ± one standard deviation over seeds (black line), the paper's value (open star, `paper[(d, w,
    column)]`) and the Monte Carlo floor at the table's n (grey dashes); log axis × `scale`."""
    seeds_ = sorted({int(r["seed"]) for r in rows})
    pal = _palette(max(len(seeds_), 3))
    cols = list(SEED_DISTANCES)
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.4 * len(datasets), 3.4), constrained_layout=True, squeeze=False)
    for i, d in enumerate(datasets):
        ax = axes[0, i]
        ticks, names = [], []
        for k, c in enumerate(cols):
            for j, w in enumerate(w_values):
                x = k * (len(w_values) + 1) + j
                sel = [r for r in rows if r["dataset"] == d and float(r["w_r"]) == float(w)]
                if not sel:
                    continue
                v = np.array([float(r[c]) for r in sel]) * scale
                for r, y in zip(sel, v):
                    n = seeds_.index(int(r["seed"]))
                    ax.plot(x + (n - (len(seeds_) - 1) / 2) * 0.12, y, "o", ms=4.5, color=pal[n],
                            label=f"seed {r['seed']}" if (i, k, j) == (0, 0, 0) else None)
                m, s = v.mean(), (v.std(ddof=1) if len(v) > 1 else 0.0)
                ax.plot([x - 0.3, x + 0.3], [m, m], color="k", lw=1.4, label="seed mean ± sd" if (i, k, j) == (0, 0, 0) else None)
                ax.plot([x, x], [max(m - s, m / 10), m + s], color="k", lw=0.9)
                if paper is not None and np.isfinite(paper.get((d, float(w), c), np.nan)):
                    ax.plot(x, paper[(d, float(w), c)] * scale, "*", ms=8, mfc="none", color="0.25",
                            label="paper" if (i, k, j) == (0, 0, 0) else None)
                floor = float(np.mean([float(r["floor"]) for r in sel])) * scale
                if np.isfinite(floor):
                    ax.plot([x - 0.4, x + 0.4], [floor, floor], color="0.5", lw=0.8, ls="--",
                            label="MC floor" if (i, k, j) == (0, 0, 0) else None)
                ticks.append(x)
                names.append(f"{float(w):g}")
        for k, c in enumerate(cols):
            ax.text(k * (len(w_values) + 1) + (len(w_values) - 1) / 2, -0.16, SEED_DISTANCES[c], transform=ax.get_xaxis_transform(),
                    ha="center", fontsize=8)
        ax.set_xticks(ticks, names, fontsize=7)
        ax.set_xlabel(W_LABEL, labelpad=14)
        ax.set_yscale("log")
        ax.set_title(label(d))
        if i == 0:
            ax.set_ylabel(rf"$10^{{{int(round(np.log10(scale)))}}}\,W_2^2$" if scale != 1 else r"$W_2^2$")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), fontsize=7, loc="outside lower center", ncol=min(6, 2 * len(datasets)))
    return fig


def gap_along_training(curve: Sequence[Mapping], far: Sequence[Mapping], w_values: Sequence[float], scale: float = 1e3,
                       fits: Sequence[Mapping] = (), others: Sequence[Mapping] = ()) -> Figure:
    """W2² ODE–truth, SDE–truth, ODE–SDE (top) and the FP residual (bottom) of snapshots against the training samples seen
    (log–log), one column per w_R; filled markers: the snapshots, open markers: the authors' networks (`far`) at the
    paper's budget; crosses: networks of another training seed (`others`, seeds.end_points); grey dashes: the Monte
    Carlo floor at the snapshots' n; dotted: the power laws of `fits` (seeds.budget_extrapolation rows), from their first
    fitted snapshot to the paper's budget."""
    pal = _palette(len(SEED_DISTANCES))
    marks = ("o", "s", "D")
    fig, axes = plt.subplots(2, len(w_values), figsize=(3.5 * len(w_values), 5.2), constrained_layout=True, squeeze=False,
                             sharex=True, gridspec_kw={"height_ratios": [2, 1]})

    def extrapolation(ax, w, column, factor, color):
        for f in fits:
            if float(f["w_r"]) == float(w) and f["column"] == column:
                x = np.geomspace(float(f["fit_from"]), float(f["budget"]), 20)
                y = float(f["predicted"]) * (x / float(f["budget"])) ** float(f["exponent"])
                ax.plot(x, y * factor, ls=":", lw=1.0, color=color, label=None)

    for j, w in enumerate(w_values):
        top, bottom = axes[0, j], axes[1, j]
        sel = sorted((r for r in curve if float(r["w_r"]) == float(w)), key=lambda r: r["samples_seen"])
        fa = [r for r in far if float(r["w_r"]) == float(w)]
        x = np.array([float(r["samples_seen"]) for r in sel])
        for k, c in enumerate(SEED_DISTANCES):
            top.plot(x, [float(r[c]) * scale for r in sel], marker=marks[k], color=pal[k], ms=4.5, lw=1.1, label=SEED_DISTANCES[c])
            extrapolation(top, w, c, scale, pal[k])
            for r in fa:
                top.plot(float(r["samples_seen"]), float(r[c]) * scale, marker=marks[k], mfc="none", color=pal[k], ms=7, ls="none",
                         label="authors' networks" if k == 0 and j == 0 else None)
            for r in (o for o in others if float(o["w_r"]) == float(w)):
                top.plot(float(r["samples_seen"]), float(r[c]) * scale, marker="x", color=pal[k], ms=6, ls="none",
                         label=f"seed {r['seed']} (same training)" if k == 0 and j == 0 else None)
        if sel and np.isfinite(float(sel[0]["floor"])):
            top.axhline(float(sel[0]["floor"]) * scale, color="0.5", lw=0.8, ls="--", label="MC floor (snapshots' n)")
        bottom.plot(x, [float(r["fp_residual"]) for r in sel], marker="o", color="0.2", ms=4.5, lw=1.1, label="snapshots")
        extrapolation(bottom, w, "fp_residual", 1.0, "0.2")
        for r in fa:
            bottom.plot(float(r["samples_seen"]), float(r["fp_residual"]), marker="o", mfc="none", color="0.2", ms=7, ls="none")
        for r in (o for o in others if float(o["w_r"]) == float(w)):
            bottom.plot(float(r["samples_seen"]), float(r["fp_residual"]), marker="x", color="0.2", ms=6, ls="none")
        _loglog_axes(top, "", rf"$10^{{{int(round(np.log10(scale)))}}}\,W_2^2$" if scale != 1 else r"$W_2^2$")
        _loglog_axes(bottom, "training samples seen (steps × batch)", "FP residual")
        for a in (top, bottom):  # about a decade or less on an axis: label the minor ticks at 2 and 5 × 10^k, else none
            lo, hi = a.get_ylim()
            a.yaxis.set_minor_formatter(_minor_log_labels if np.log10(hi / lo) < 1.5 else ticker.NullFormatter())
        top.set_title(f"{label(sel[0]['dataset']) if sel else ''}, {W_LABEL} = {float(w):g}")
    if fits:
        axes[0, 0].plot([], [], ls=":", color="0.3", label="power law (last 3) → paper's budget")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    return fig


def placeholder(text: str, size=(6.0, 1.6)) -> Figure:
    """A figure that only states why the figure it stands for cannot be drawn yet (e.g. which results are missing)."""
    fig, ax = plt.subplots(figsize=size)
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, wrap=True, color="0.25", transform=ax.transAxes)
    return fig


def diagnosis(hists: Mapping[str, np.ndarray], residual_field: np.ndarray, box: float = metrics.BOX, title: str = "",
              residual_label: str = "RMS FP residual") -> Figure:
    """The figure of a diagnosis report: ODE density, SDE density, data, ODE − SDE (symlog), residual field (log scale).

    hists: {'ode', 'sde', 'data'} histograms on an n × n grid over [-box, box]² (row = y index); residual_field: (m, m).
    """
    n = int(round(np.sqrt(np.asarray(hists["ode"]).size)))
    ode_i, sde_i, dat_i = (grid_image(hists[k], n) for k in ("ode", "sde", "data"))
    vmax = robust_vmax([ode_i, sde_i, dat_i])
    diff = ode_i - sde_i
    amax = float(np.abs(diff).max()) or 1.0
    fig, ax = plt.subplots(1, 5, figsize=(14.5, 3.1), constrained_layout=True)
    ticks = [-np.floor(box), 0, np.floor(box)]

    def show(a, image, ext_n, **kw):
        im = a.imshow(image, origin="lower", extent=_extent(ext_n, box), interpolation="nearest", **kw)
        a.set_xticks(ticks)
        a.set_yticks(ticks)
        a.tick_params(labelsize=7, length=2, pad=1)
        a.grid(False)
        a.set_aspect("equal")
        return im

    show(ax[0], ode_i, n, cmap=CMAP, vmin=0.0, vmax=vmax)
    ax[0].set_title(r"$p^{\mathrm{ODE}}_\theta$")
    show(ax[1], sde_i, n, cmap=CMAP, vmin=0.0, vmax=vmax)
    ax[1].set_title(r"$p^{\mathrm{SDE}}_\theta$")
    show(ax[2], dat_i, n, cmap=CMAP, vmin=0.0, vmax=vmax)
    ax[2].set_title("data")
    lt = max(amax * 1e-2, 1e-7)
    im = show(ax[3], diff, n, cmap=DIVERGING, norm=colors.SymLogNorm(linthresh=lt, vmin=-amax, vmax=amax, base=10))
    ax[3].set_title(r"$p^{\mathrm{ODE}}_\theta - p^{\mathrm{SDE}}_\theta$ (symlog)")
    fig.colorbar(im, ax=ax[3], shrink=0.85, ticks=_symlog_ticks(lt, amax))
    field = np.asarray(residual_field, float)
    pos = field[field > 0]
    lo, hi = (float(pos.min()), float(pos.max())) if pos.size else (1e-3, 1.0)
    im = show(ax[4], np.maximum(field, lo), field.shape[0], cmap="rocket", norm=colors.LogNorm(vmin=lo, vmax=max(hi, lo * 1.01)))
    ax[4].set_title(residual_label)
    fig.colorbar(im, ax=ax[4], shrink=0.85)
    if title:
        fig.suptitle(title)
    return fig


def diagnosis_report(report, name: str | None = None) -> Figure:
    """`diagnosis` for a diagnosis.Report (its histograms, residual field, box and a title naming model, data and SDE)."""
    s = report.summary
    label = "RMS log-density FP residual" if s["kind"] == "potential" else r"RMS $|r_s|$ (score-form FP residual)"
    title = f"{name or s['model']} on {s['data']}, {s['sde'].upper()} SDE, n = {s['n']}: ODE–SDE W2² = {s['ode_sde']['estimate']:.3g} (floor {s['floor']:.2g})"
    return diagnosis(report.hists, report.residual_field, box=s["box"], title=title, residual_label=label)
