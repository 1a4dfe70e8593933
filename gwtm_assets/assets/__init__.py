"""The software-defined assets, by stream."""

from dagster import load_assets_from_modules

from . import galaxy_list, icecube, ligo, quicklook, visibility

LIGO_ASSETS = load_assets_from_modules([ligo, visibility, galaxy_list, quicklook])
ICECUBE_ASSETS = load_assets_from_modules([icecube])
