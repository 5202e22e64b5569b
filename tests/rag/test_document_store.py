"""The knowledge document store behaves the same on a directory and on an S3 bucket: uploads
read back byte for byte, a run's staging is kept apart per generation, and nothing is written
for a document deleted meanwhile."""

from __future__ import annotations

import numpy as np
import pytest

from models.blob_store import BlobStoreUnavailable, DiskBlobs, S3Blobs, blob_store
from models.knowledge_files import DocumentFiles

TENANT = "5f0c7a52-8a0e-4a53-9d6e-2b1c7d3e9f10"
DOCUMENT = "0b8e3c4d-1f2a-4b5c-8d9e-0a1b2c3d4e5f"


@pytest.fixture(params=["disk", "s3"])
def files(request, tmp_path) -> DocumentFiles:
    if request.param == "disk":
        return DocumentFiles(DiskBlobs(tmp_path))
    s3 = request.getfixturevalue("s3")
    return DocumentFiles(blob_store(f"s3://{s3.new_bucket()}/frontdesk/uploads", endpoint_url=s3.url))


def test_an_upload_reads_back_byte_for_byte_and_is_gone_after_removal(files: DocumentFiles) -> None:
    data = bytes(range(256)) * 1000
    files.save_upload(TENANT, DOCUMENT, data)
    assert files.read_upload(TENANT, DOCUMENT) == data
    assert files.stored_names(TENANT, DOCUMENT) == ["original"]

    files.remove_document(TENANT, DOCUMENT)
    with pytest.raises(FileNotFoundError):
        files.read_upload(TENANT, DOCUMENT)
    assert files.stored_names(TENANT, DOCUMENT) == []
    files.remove_document(TENANT, DOCUMENT)  # removing it twice is not an error


def test_a_runs_staging_keeps_its_results_and_is_discarded_with_older_runs_only(files: DocumentFiles) -> None:
    files.save_upload(TENANT, DOCUMENT, b"handbook")
    older, current, newer = (files.staging(TENANT, DOCUMENT, g) for g in (1, 2, 3))
    assert not current.exists()
    for staging in (older, current, newer):
        staging.create()
    current.write_json("chunks.json", [{"text": "Returns are free — 30 days"}])
    vectors = np.random.default_rng(7).random((5, 384), dtype=np.float32)
    assert not current.has_vectors(0)
    current.write_vectors(0, vectors)

    assert current.exists() and current.has_vectors(0) and not current.has_vectors(1)
    assert current.read_json("chunks.json") == [{"text": "Returns are free — 30 days"}]
    np.testing.assert_array_equal(current.read_vectors(0), vectors)

    assert files.discard_staging(TENANT, DOCUMENT, up_to_generation=2) == 2
    assert files.stored_names(TENANT, DOCUMENT) == ["g3", "original"]
    assert newer.exists() and not current.exists()


def test_a_late_write_for_a_deleted_document_recreates_nothing(files: DocumentFiles) -> None:
    files.save_upload(TENANT, DOCUMENT, b"handbook")
    staging = files.staging(TENANT, DOCUMENT, 1)
    staging.create()
    files.remove_document(TENANT, DOCUMENT)  # deleted while its run was embedding

    with pytest.raises(FileNotFoundError):
        staging.write_vectors(0, np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(FileNotFoundError):
        staging.write_json("chunks.json", [])
    assert files.stored_names(TENANT, DOCUMENT) == []


def test_tenants_and_ids_cannot_reach_outside_their_own_prefix(files: DocumentFiles) -> None:
    with pytest.raises(ValueError):
        files.save_upload("../other-tenant", DOCUMENT, b"x")
    with pytest.raises(ValueError):
        files.read_upload(TENANT, f"{DOCUMENT}/../../x")


def test_a_document_with_more_objects_than_one_listing_page_is_removed_whole(s3) -> None:
    bucket = s3.new_bucket()
    blobs = S3Blobs(bucket, "p", endpoint_url=s3.url, page_size=10)  # 1000 in production
    for n in range(25):
        blobs.put(f"doc/g1/vectors-{n:06d}.npy", b"v")
    blobs.put("doc/original", b"o")
    blobs.put("other/original", b"o")
    assert len(blobs.children("doc/g1")) == 25

    blobs.delete_prefix("doc")
    assert s3.keys(bucket) == ["p/other/original"]


def test_an_unreachable_or_missing_bucket_is_an_outage_not_a_missing_file(s3) -> None:
    missing = S3Blobs("no-such-bucket-here", endpoint_url=s3.url)
    with pytest.raises(BlobStoreUnavailable, match="no-such-bucket-here"):
        missing.put("a/original", b"x")
    unreachable = S3Blobs("kb", endpoint_url="http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(BlobStoreUnavailable):
        unreachable.get("a/original")


def test_a_store_url_names_a_bucket() -> None:
    assert isinstance(blob_store("/var/lib/frontdesk/uploads"), DiskBlobs)
    with pytest.raises(ValueError, match="names no bucket"):
        blob_store("s3:///prefix")
