"""Colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors"), as pure functions.

* Luminance-only transfer: style and content are reduced to luminance, the transfer runs on
  that, and the result's luminance is recombined with the content's colour (YIQ chroma).
* Colour histogram matching: the style image's colours are moved (an affine map matching mean
  and covariance) to the content's colour distribution before the transfer.
All tensors are (1, 3, H, W) RGB in [0, 1].
"""

from __future__ import annotations

import torch

_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.595716, -0.274453, -0.321263],
                            [0.211456, -0.522591, 0.311135]])


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> YIQ."""
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ -> RGB."""
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_YIQ).to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 1, H, W) luma."""
    return rgb_to_yiq(image)[:, :1]


def as_gray_rgb(luma: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 3, H, W) grey image the network can read."""
    return luma.expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luma, shifted and scaled to the content's luma mean and std, as a grey RGB image."""
    ys, yc = luminance(style), luminance(content)
    matched = (ys - ys.mean()) / ys.std(correction=0).clamp_min(1e-6) * yc.std(correction=0) + yc.mean()
    return as_gray_rgb(matched.clamp(0, 1))


def recombine_luminance(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luma of the (grey) result with the chroma of the content: the colours stay the content's."""
    yiq = rgb_to_yiq(content)
    yiq = torch.cat([luminance(result), yiq[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


def match_histogram(source: torch.Tensor, reference: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour `source` so its colour mean and covariance equal `reference`'s (Cholesky-based map)."""
    def stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = image[0].reshape(3, -1).double()
        mean = pixels.mean(1, keepdim=True)
        centred = pixels - mean
        cov = centred @ centred.T / pixels.shape[1] + eps * torch.eye(3, dtype=torch.float64)
        return mean, cov

    mean_s, cov_s = stats(source)
    mean_r, cov_r = stats(reference)
    transform = torch.linalg.cholesky(cov_r) @ torch.linalg.inv(torch.linalg.cholesky(cov_s))
    pixels = source[0].reshape(3, -1).double()
    matched = transform @ (pixels - mean_s) + mean_r
    return matched.reshape(source.shape).to(source.dtype).clamp(0, 1)
