"""One contract for every storage backend, each against a real server: local, S3 (moto and Swift's S3 API), Azurite, Swift."""

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from gwtm_assets.assets import LIGO_ASSETS
from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer
from gwtm_assets.io.object_store import CHUNK_BYTES, LocalObjectStore, StorageError
from gwtm_assets.resources.builders import build_resources, build_storage
from gwtm_assets.settings import GWTMSettings

from .conftest import ADMIN_TOKEN, sample
from .storage_backends import BACKENDS, Backend

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(params=BACKENDS)
def backend(request, servers, tmp_path) -> Backend:
    return servers.backend(request.param, tmp_path)


def test_put_get_overwrite_exists_list_delete(backend):
    store, p = backend.store(), backend.prefix
    text, binary = "α Ω résumé\n".encode(), bytes(range(256)) * 17
    store.put(f"{p}notice.json", text)
    store.put(f"{p}deep/er/map.fits.gz", binary)
    assert store.get(f"{p}notice.json") == text
    assert store.get(f"{p}deep/er/map.fits.gz") == binary
    assert store.exists(f"{p}notice.json") and not store.exists(f"{p}absent.json")
    store.put(f"{p}notice.json", b"second version")
    assert store.get(f"{p}notice.json") == b"second version"
    listed = {o.key: o.size for o in store.list(p)}
    assert listed == {f"{p}notice.json": 14, f"{p}deep/er/map.fits.gz": len(binary)}
    assert [o.key for o in store.list(f"{p}deep/")] == [f"{p}deep/er/map.fits.gz"]
    md5 = {o.key: o.md5 for o in store.list(p)}[f"{p}deep/er/map.fits.gz"]
    assert md5 in (None, hashlib.md5(binary).hexdigest())
    assert store.md5(f"{p}deep/er/map.fits.gz") == hashlib.md5(binary).hexdigest()
    store.delete(f"{p}notice.json")
    store.delete(f"{p}notice.json")  # deleting what is gone is not an error
    assert not store.exists(f"{p}notice.json")
    assert [o.key for o in store.list(p)] == [f"{p}deep/er/map.fits.gz"]


def test_empty_object(backend):
    store = backend.store()
    store.put(f"{backend.prefix}empty", b"")
    assert store.get(f"{backend.prefix}empty") == b""
    assert [(o.key, o.size) for o in store.list(backend.prefix)] == [(f"{backend.prefix}empty", 0)]


def test_50_mb_object_streams_in_and_out(backend):
    store, key = backend.store(), f"{backend.prefix}big.fits"
    data = os.urandom(50 * 1024 * 1024)
    md5 = hashlib.md5(data).hexdigest()
    chunks = (data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES))
    store.put_chunks(key, chunks, len(data), md5)
    digest = hashlib.md5()
    sizes = []
    for chunk in store.iter_chunks(key):
        digest.update(chunk)
        sizes.append(len(chunk))
    assert digest.hexdigest() == md5 and sum(sizes) == len(data)
    assert max(sizes) <= 8 * 1024 * 1024, "reads must stream in bounded pieces"
    assert store.md5(key) == md5
    assert store.get(key) == data


def test_thousands_of_objects_list_across_pages(backend):
    store = backend.store()
    store.page_size = 400
    keys = [f"{backend.prefix}many/{i:05d}.json" for i in range(1500)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: backend.store().put(k, k.encode()), keys))
    listed = list(store.list(f"{backend.prefix}many/"))
    assert sorted(o.key for o in listed) == keys
    assert all(o.size == len(o.key) for o in listed)


def test_missing_object_is_a_clear_error(backend):
    with pytest.raises(StorageError, match=r"does not exist") as error:
        backend.store().get(f"{backend.prefix}nothing-here.json")
    assert "nothing-here.json" in str(error.value)
    assert backend.store().md5(f"{backend.prefix}nothing-here.json") is None


def test_wrong_credentials_are_a_clear_error_without_the_secret(backend):
    if backend.wrong_credentials is None:
        pytest.skip(f"{backend.name} has no credentials to get wrong (moto accepts any; local has none)")
    with pytest.raises(StorageError) as error:
        store = build_storage(backend.wrong_credentials).object_store()
        store.put(f"{backend.prefix}x.json", b"{}")
    message = str(error.value)
    assert any(word in message for word in ("denied", "authentication", "AZURE_", "AWS_", "OS_")), message
    for secret in ("not-the-secret", "not-the-key", "AAAA"):
        assert secret not in message


def test_server_stopped_mid_run_is_a_clear_error_then_recovers(backend):
    if backend.stop_service is None:
        pytest.skip("local storage has no server")
    store = backend.store()
    store.put(f"{backend.prefix}before.json", b"1")
    backend.stop_service()
    try:
        with pytest.raises(StorageError) as error:
            store.put(f"{backend.prefix}during.json", b"2")
        assert backend.name.split("-")[0] in str(error.value) and "during.json" in str(error.value)
    finally:
        backend.start_service()
    recovered = backend.fresh_store()
    recovered.put(f"{backend.prefix}after.json", b"3")
    assert recovered.get(f"{backend.prefix}after.json") == b"3"


GRAPH_SAMPLES = ["MS181101ab-preliminary", "MS181101ab-ext-update"]
#: Objects whose content records when or by whom (ledger: API ids; pickles: run values); products are compared byte for byte.
NOT_PRODUCTS = ("/ledger/", "intermediates/", "/incoming/")


def _ingest(settings, instance):
    from gwtm_assets.ingest import ingest_files

    results = ingest_files([sample(name) for name in GRAPH_SAMPLES], settings, instance)
    assert all(r.success and r.checks_passed for r in results), [r.error for r in results]
    return results


@pytest.fixture(scope="module")
def reference_products(tmp_path_factory) -> dict[str, bytes]:
    """The samples' products written to local storage: what every backend must hold, byte for byte."""
    root = tmp_path_factory.mktemp("reference")
    with GWTMApiTestServer(admin_token=ADMIN_TOKEN) as api:
        settings = GWTMSettings(
            storage_bucket_source="local", local_storage_dir=str(root), api_base=api.base, api_token=ADMIN_TOKEN
        )
        _ingest(settings, DagsterInstance.ephemeral())
    store = LocalObjectStore(root)
    return {o.key: store.get(o.key) for o in store.list() if not any(part in o.key for part in NOT_PRODUCTS)}


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_the_asset_graph_materializes_into_the_backend_and_reads_back_identical(
    servers, tmp_path, backend_name, reference_products
):
    with GWTMApiTestServer(admin_token=ADMIN_TOKEN) as api:
        backend = servers.backend(backend_name, tmp_path, api_base=api.base, api_token=ADMIN_TOKEN)
        instance = DagsterInstance.ephemeral()
        results = _ingest(backend.settings, instance)
        store = backend.store()
        # Other tests share the Azurite account: only this event's objects are compared.
        written = {o.key for o in store.list("test/MS181101ab-") if not any(part in o.key for part in NOT_PRODUCTS)}
        assert written == set(reference_products)
        for key, data in reference_products.items():
            assert store.get(key) == data, key
        # The values passed between assets live in the same backend ...
        key = results[0].partition_key
        assert store.exists(f"intermediates/skymap/{key}.pickle") and store.exists(
            f"intermediates/api_record/{key}.pickle"
        )
        # ... so one downstream asset re-materializes alone, loading its inputs through the IO managers.
        store.delete("test/MS181101ab-Preliminary-moc90.fits")
        rerun = materialize(
            LIGO_ASSETS, selection=AssetSelection.assets("moc"), partition_key=key,
            instance=instance, resources=build_resources(backend.settings),
        )  # fmt: skip
        assert rerun.success
        assert (
            store.get("test/MS181101ab-Preliminary-moc90.fits")
            == reference_products["test/MS181101ab-Preliminary-moc90.fits"]
        )
        assert len(api.state.posted("post_alert")) == 3  # the re-run posted nothing


def test_the_galaxy_catalog_comes_from_the_backend_once_and_again_when_it_changes(backend, tmp_path):
    from gwtm_assets.definitions import build_definitions
    from gwtm_assets.devtools.catalogs import synthetic_galaxies, write_galaxy_ini, write_nedlvs_fits
    from gwtm_assets.io.galaxy_catalog import load_catalog
    from gwtm_assets.resources.builders import galaxy_catalog_resource
    from gwtm_assets.settings import ConfigurationError

    sources = [write_nedlvs_fits(tmp_path / f"{n}.fits", synthetic_galaxies(n, seed=n)) for n in (300, 500)]
    expected = [sorted(load_catalog(str(path)).name) for path in sources]  # galaxies without distance or mass drop
    first, second = (path.read_bytes() for path in sources)
    key = f"{backend.prefix}galaxy_catalog/NEDLVS_test.fits"
    backend.store().put(key, first)
    # The .ini's own CATALOG_PATH does not exist: the object replaces it, as on the deployed pods.
    ini = write_galaxy_ini(tmp_path / "gal_catalog_config.ini", tmp_path / "not-here.fits")
    settings = backend.settings.model_copy(
        update={"path_to_galaxy_catalog_config": str(ini), "galaxy_catalog_key": key}
    )

    _, catalog = galaxy_catalog_resource(settings).load()
    assert sorted(catalog.name) == expected[0]
    local = Path(settings.local_storage_dir) / ".cache" / "galaxy_catalog" / key
    assert local.read_bytes() == first
    fetched_at = local.stat().st_mtime_ns
    galaxy_catalog_resource(settings)
    assert local.stat().st_mtime_ns == fetched_at  # unchanged object: not copied again
    backend.store().put(key, second)
    _, catalog = galaxy_catalog_resource(settings).load()
    assert local.read_bytes() == second and sorted(catalog.name) == expected[1]

    missing = settings.model_copy(update={"galaxy_catalog_key": f"{backend.prefix}galaxy_catalog/absent.fits"})
    with pytest.raises(
        ConfigurationError,
        match=rf"GALAXY_CATALOG_KEY=.*absent.fits: {backend.settings.storage_bucket_source}: .*does not exist",
    ):
        build_definitions(missing)
