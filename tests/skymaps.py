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
    return multiorder_map(
        gaussian_density(ra_deg, dec_deg, sigma_deg), [(ra_deg, dec_deg)], 8 * sigma_deg + 2, fine_order, coarse_order
    )


def gaussian_area_deg2(level: float, sigma_deg: float = 2.0) -> float:
    return float(-2 * np.pi * np.log(1 - level) * sigma_deg**2)


def multiorder_map(density, centres_deg, radius_deg: float, fine_order: int = 10, coarse_order: int = 5):
    """A normalised map of ``density(unit vectors) -> values``: fine pixels within ``radius_deg`` of the centres.

    For shapes the contours must get right: several islands, rings with a
    hole, regions across RA 0 and over a pole.
    """
    coarse = np.arange(12 * 4**coarse_order)
    near = np.unique(
        np.concatenate(
            [
                hp.query_disc(1 << coarse_order, hp.ang2vec(ra, dec, lonlat=True), np.radians(radius_deg), nest=True,
                              inclusive=True)
                for ra, dec in centres_deg
            ]
        )
    )  # fmt: skip
    far = np.setdiff1d(coarse, near)
    children = (near[:, None] * 4 ** (fine_order - coarse_order) + np.arange(4 ** (fine_order - coarse_order))).ravel()
    orders = np.concatenate([np.full(far.size, coarse_order), np.full(children.size, fine_order)])
    ipix = np.concatenate([far, children])
    vec = np.empty((ipix.size, 3))
    for o in (coarse_order, fine_order):
        sel = orders == o
        vec[sel] = np.column_stack(hp.pix2vec(1 << o, ipix[sel], nest=True))
    values = density(vec)
    values = values / np.sum(values * order_pixel_area_sr(orders))
    return MultiOrderSkyMap(uniq=order_ipix_to_uniq(orders, ipix), probdensity=values, header={})


def gaussian_density(ra_deg: float, dec_deg: float, sigma_deg: float, radius_deg: float = 0.0):
    """exp(-(theta - radius)^2 / 2 sigma^2) around (ra, dec): a blob, or with ``radius_deg`` a ring around a hole."""
    centre = hp.ang2vec(ra_deg, dec_deg, lonlat=True)

    def density(vec):
        theta = np.degrees(np.arccos(np.clip(vec @ centre, -1, 1)))
        return np.exp(-0.5 * ((theta - radius_deg) / sigma_deg) ** 2)

    return density
