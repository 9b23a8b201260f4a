"""Pictures of a run: loss curves, and samples beside the data."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402


def loss_curve_png(csv_path: Path, png_path: Path) -> None:
    curve = pd.read_csv(csv_path)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(curve["step"], curve["d_loss"], label="discriminator")
    ax.plot(curve["step"], curve["g_loss"], label="generator")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (window mean)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def samples_png(samples: torch.Tensor, data: torch.Tensor, png_path: Path) -> None:
    """An image grid for image data; a histogram (1-D) or scatter (2-D) against the data."""
    dim = math.prod(samples.shape[1:])
    if dim == 1:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for x, label in ((data, "data"), (samples, "generator")):  # one polygon, not 60 bars:
            ax.hist(x.flatten().numpy(), bins=60, density=True, alpha=0.5, label=label,
                    histtype="stepfilled")  # 0.2 -> 0.06 s a picture, most of a toy run's plots
        ax.legend()
    elif dim == 2:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        d, s = data.reshape(-1, 2).numpy(), samples.reshape(-1, 2).numpy()
        ax.scatter(d[:, 0], d[:, 1], s=2, alpha=0.4, label="data")
        ax.scatter(s[:, 0], s[:, 1], s=2, alpha=0.4, label="generator")
        ax.set_aspect("equal")
        ax.legend()
    else:
        image_grid(samples[:100], png_path)
        return
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def as_images(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) images from flat square data (784 -> 1x28x28) or image-shaped data."""
    if x.dim() == 4:
        return x
    if x.dim() == 3:
        return x.unsqueeze(1)
    side = math.isqrt(x.shape[1])
    if side * side == x.shape[1]:
        return x.reshape(-1, 1, side, side)
    if x.shape[1] % 3 == 0 and math.isqrt(x.shape[1] // 3) ** 2 == x.shape[1] // 3:
        side = math.isqrt(x.shape[1] // 3)
        return x.reshape(-1, 3, side, side)
    raise ValueError(f"cannot draw samples of shape {tuple(x.shape[1:])} as images")


def image_grid(x: torch.Tensor, png_path: Path, nrow: int = 10) -> None:
    from torchvision.utils import save_image

    save_image(as_images(x.float()).clamp(0, 1), png_path, nrow=nrow, padding=2)


def nearest_neighbour_figure(generator, config, png_path: Path, n: int = 30,
                             train_limit: int | None = None) -> Path:
    """The paper's Figure 2: samples of G, each with its nearest training image beside it
    (Euclidean distance over the whole training split), showing G does not memorise."""
    from ganbench import plugins
    from ganbench.evaluate import generate
    from ganbench.seeds import seed_for

    device = next(generator.parameters()).device
    samples = generate(generator, config.noise, n, seed=seed_for(config.seed, "figure"),
                       device=device)
    train = plugins.load("dataset", config.dataset)(**config.options["dataset"]).splits["train"]
    train = train if train_limit is None else train[:train_limit]
    flat_s, flat_t = samples.flatten(1).double(), train.flatten(1).double()
    d2 = (flat_s.pow(2).sum(1, keepdim=True) - 2 * flat_s @ flat_t.T
          + flat_t.pow(2).sum(1)[None, :])
    nearest = train[d2.argmin(dim=1)]
    pairs = torch.stack([as_images(samples), as_images(nearest)], dim=1).flatten(0, 1)
    image_grid(pairs, png_path, nrow=10)
    return png_path
