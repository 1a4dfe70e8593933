"""The South Atlantic Anomaly boundaries GBM has flown with: its detectors are off inside.

The GBM team has changed the boundary fifteen times since launch (mostly
short tests of smaller regions, each followed by a return to the 2010 shape).
The vertices and the times each boundary took effect (Fermi mission elapsed
time, s) are the GBM team's, as published in the Fermi GBM Data Tools
(``gdt.missions.fermi.gbm.saa``, ``GbmSaaPolygon1`` to ``GbmSaaPolygon15``).
Latitudes are geographic, longitudes east, both in degrees.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SaaBoundary:
    """One SAA polygon and the Fermi MET (s) from which GBM used it."""

    number: int
    start_met: float
    latitude_deg: tuple[float, ...]
    longitude_deg: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"GBM SAA polygon {self.number}"

    def contains(self, latitude_deg: float, longitude_deg: float) -> bool:
        """Whether Fermi above (latitude, east longitude) in degrees is inside this boundary: GBM off."""
        return inside_polygon(latitude_deg, longitude_deg, self.latitude_deg, self.longitude_deg)


# Shapes used more than once: the 2010 boundary, and the smaller one first tried in November 2023.
_SHAPE_2010 = (
    (-30.0, -19.867, -9.733, 0.4, 2.0, 2.0, -1.0, -6.155, -8.88, -14.22, -18.404, -30.0, -30.0),
    (33.9, 12.398, -9.103, -30.605, -38.4, -45.0, -65.0, -84.0, -89.2, -94.3, -94.3, -86.1, 33.9),
)
_SHAPE_2023 = (
    (-24.395, -30.0, -30.0, -30.0, -30.0, -24.06, -16.22, -8.638, -6.155, -1.0, 2.0, 2.0, -3.4,
     -19.570802973653127, -24.395),
    (22.0, 22.0, 0.0, -2.0, -86.1, -90.3, -90.3, -88.738, -84.0, -65.0, -45.0, -38.4, -30.605,
     -11.999457706441582, 22.0),
)  # fmt: skip

#: Every boundary, oldest first; each is in force from its ``start_met`` until the next one's.
GBM_SAA_BOUNDARIES: tuple[SaaBoundary, ...] = (
    SaaBoundary(1, 0.0,  # launch
        (-30.0, -22.6, 2.5, 5.2, 5.2, 4.6, 0.7, -8.6, -9.9, -12.5, -21.7, -30.0, -30.0),
        (33.9, 24.5, -18.6, -25.7, -36.0, -42.0, -58.8, -93.1, -97.5, -98.5, -92.1, -86.1, 33.9)),
    SaaBoundary(2, 297801011.0,  # 2010-06-09 18:30:09 UTC
        (-30.0, -21.67, -13.33, -5.0, -6.0, -7.0, -9.0, -11.0, -14.0, -17.0, -23.5, -30.0),
        (21.0, 0.0, -21.0, -42.0, -50.0, -58.0, -65.0, -72.0, -76.0, -80.0, -80.0, -80.0)),
    SaaBoundary(3, 297884520.0,  # 2010-06-10 17:41:58 UTC
        (-30.0, -14.5, -9.3, 1.0, 2.0, 3.0, -2.0, -7.0, -11.0, -15.0, -22.5, -30.0),
        (26.0, -2.0, -11.3, -30.0, -37.5, -45.0, -62.5, -80.0, -85.0, -90.0, -88.5, -87.0)),
    SaaBoundary(4, 300288842.0,  # 2010-07-08 13:34:00 UTC
        (-30.0, -2.0, -0.5, 0.5, 1.0, 1.0, 0.0, -2.0, -7.5, -11.5, -16.5, -30.0),
        (40.0, -27.0, -35.0, -47.0, -60.0, -65.0, -75.0, -82.0, -90.0, -94.0, -97.0, -92.0)),
    SaaBoundary(5, 301327982.0, *_SHAPE_2010),  # 2010-07-20 14:13:00 UTC
    SaaBoundary(6, 676304405.0,  # 2022-06-07 14:20:00 UTC
        (-30.0, -19.867, -9.733, -3.4, -2.0, -2.0, -5.0, -10.155, -12.88, -16.22, -22.404, -30.0),
        (-5.0, -16.398, -28.103, -35.605, -38.4, -45.0, -65.0, -84.0, -89.2, -90.3, -90.3, -86.1)),
    SaaBoundary(7, 676496105.0, *_SHAPE_2010),  # 2022-06-09 19:35:00 UTC
    SaaBoundary(8, 681243050.0,  # 2022-08-03 18:10:45 UTC
        (-30.0, -19.867, -9.733, -3.4, 0.0, 0.0, -3.0, -8.155, -10.88, -16.22, -22.404, -30.0, -30.0),
        (0.0, -11.398, -23.103, -30.605, -36.4, -43.0, -65.0, -84.0, -89.2, -90.3, -90.3, -86.1, 0.0)),
    SaaBoundary(9, 681933571.0, *_SHAPE_2010),  # 2022-08-11 17:59:26 UTC
    SaaBoundary(10, 721759805.0, *_SHAPE_2023),  # 2023-11-15 16:50:00 UTC
    SaaBoundary(11, 721938425.0, *_SHAPE_2010),  # 2023-11-17 18:27:00 UTC
    SaaBoundary(12, 743454905.0, *_SHAPE_2023),  # 2024-07-23 19:15:00 UTC
    SaaBoundary(13, 744664505.0,  # 2024-08-06 19:15:00 UTC
        (-24.395, -30.0, -30.0, -30.0, -30.0, -30.0, -30.0, -22.646, -16.22, -9.404, -6.155, -1.0, 2.0, 2.0,
         -3.65, -20.136067618721196, -24.395),
        (22.0, 22.0, 5.5, 0.0, -2.0, -40.0, -86.1, -91.3, -91.8, -89.7, -84.0, -65.0, -45.0, -38.4, -30.605,
         -8.015646247668737, 22.0)),
    SaaBoundary(14, 744768005.0,  # 2024-08-08 00:00:00 UTC
        (-24.395, -30.0, -30.0, -30.0, -30.0, -30.0, -30.0, -22.646, -16.22, -9.404, -6.155, -1.0, 2.0, 2.0,
         -3.65, -17.867934687794072, -24.395),
        (22.0, 22.0, 5.5, 0.0, -2.34, -40.0, -86.1, -91.3, -91.8, -89.7, -84.0, -65.0, -45.0, -38.4, -30.605,
         -11.123461787369832, 22.0)),
    SaaBoundary(15, 749416850.0, *_SHAPE_2010),  # 2024-09-30 19:20:45 UTC, in force since
)  # fmt: skip


_STARTS_MET = tuple(boundary.start_met for boundary in GBM_SAA_BOUNDARIES)


def gbm_saa_boundary(met: float) -> SaaBoundary:
    """The boundary GBM used at Fermi MET ``met`` (s): the last one to take effect by then."""
    return GBM_SAA_BOUNDARIES[max(bisect_right(_STARTS_MET, met) - 1, 0)]


def inside_polygon(
    latitude_deg: float,
    longitude_deg: float,
    polygon_latitude_deg: Sequence[float],
    polygon_longitude_deg: Sequence[float],
) -> bool:
    """Whether a point lies inside a latitude/longitude polygon, closed if open (even-odd rule; not across 180 deg)."""
    lat = np.asarray(polygon_latitude_deg, dtype=np.float64)
    lon = np.asarray(polygon_longitude_deg, dtype=np.float64)
    if lat[0] != lat[-1] or lon[0] != lon[-1]:
        lat, lon = np.append(lat, lat[0]), np.append(lon, lon[0])
    lat0, lat1, lon0, lon1 = lat[:-1], lat[1:], lon[:-1], lon[1:]
    crosses = (lat0 > latitude_deg) != (lat1 > latitude_deg)
    with np.errstate(divide="ignore", invalid="ignore"):
        at_longitude = lon0 + (latitude_deg - lat0) * (lon1 - lon0) / (lat1 - lat0)
    return bool(np.count_nonzero(crosses & (longitude_deg < at_longitude)) % 2)
