"""The software-defined assets, by stream, each list led by its external asset (the landed notice)."""

from dagster import AssetsDefinition, AssetSpec, load_assets_from_modules

from . import galaxy_list, icecube, ligo, quicklook, visibility

LIGO_ASSETS: list[AssetsDefinition | AssetSpec] = [
    ligo.incoming_gw_notice,
    *load_assets_from_modules([ligo, visibility, galaxy_list, quicklook]),  # type: ignore[list-item]
]
ICECUBE_ASSETS: list[AssetsDefinition | AssetSpec] = [
    icecube.incoming_icecube_notice,
    *load_assets_from_modules([icecube]),  # type: ignore[list-item]
]
