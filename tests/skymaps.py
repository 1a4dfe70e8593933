"""Analytic multi-order sky maps for the tests."""

import healpy as hp
import numpy as np

from gwtm_assets.science.skymap import MultiOrderSkyMap, order_ipix_to_uniq, order_pixel_area_sr


def gaussian_blob(
    ra_deg: float, dec_deg: float, sigma_deg: float = 2.0, fine_order: int = 10, coarse_order: int = 5
) -> MultiOrderSkyMap:
    """A normalised 2-D Gaussian of width ``sigma_deg``: fine pixels within 8 sigma, coarse elsewhere.

    Its smallest region holding probability p has area ``-2 pi ln(1 - p) sigma^2``
    (57.9 deg^2 for p = 0.9, sigma = 2 deg).
    """
    centre = hp.ang2vec(ra_deg, dec_deg, lonlat=True)
    coarse = np.arange(12 * 4**coarse_order)
    near = hp.query_disc(1 << coarse_order, centre, np.radians(8 * sigma_deg + 2), nest=True, inclusive=True)
    far = np.setdiff1d(coarse, near)
    children = (near[:, None] * 4 ** (fine_order - coarse_order) + np.arange(4 ** (fine_order - coarse_order))).ravel()
    orders = np.concatenate([np.full(far.size, coarse_order), np.full(children.size, fine_order)])
    ipix = np.concatenate([far, children])
    vec = np.empty((ipix.size, 3))
    for o in (coarse_order, fine_order):
        sel = orders == o
        vec[sel] = np.column_stack(hp.pix2vec(1 << o, ipix[sel], nest=True))
    theta = np.arccos(np.clip(vec @ centre, -1, 1))
    density = np.exp(-0.5 * (theta / np.radians(sigma_deg)) ** 2)
    density /= np.sum(density * order_pixel_area_sr(orders))
    return MultiOrderSkyMap(uniq=order_ipix_to_uniq(orders, ipix), probdensity=density, header={})


def gaussian_area_deg2(level: float, sigma_deg: float = 2.0) -> float:
    return float(-2 * np.pi * np.log(1 - level) * sigma_deg**2)
