"""DELETE /models/{model}@{version}: the files go (JSON first), the catalog and the device stop
serving the version at once, and the default version is kept until another is promoted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sample_service_harness import publish_tiny, wait_for
from upload_helpers import KEY, app_client


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    model_dir = tmp_path / "models"
    for version in (1, 2, 3):
        publish_tiny(model_dir, "tiny", version)
    with app_client(tmp_path) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, 60, "the app to be ready")
        yield client, model_dir


def versions(client: Any) -> tuple[list[int], int | None]:
    model = client.get("/models/tiny").json()
    return [v["version"] for v in model["versions"]], model["default_version"]


def sample(client: Any, ref: str) -> Any:
    return client.post("/samples", json={"model": ref, "n": 2, "seed": 1, "format": "json"})


def test_a_version_that_is_not_the_default_is_deleted(served: tuple[Any, Path]) -> None:
    client, model_dir = served
    assert sample(client, "tiny@1").status_code == 200  # on the device before it goes
    answer = client.delete("/models/tiny@1", headers=KEY)
    assert answer.status_code == 204, answer.text
    assert not (model_dir / "tiny" / "00000001.json").exists()
    assert not (model_dir / "tiny" / "00000001.safetensors").exists()
    assert versions(client) == ([2, 3], 3)
    gone = sample(client, "tiny@1")
    assert gone.status_code == 404 and "no version 1" in gone.json()["detail"]
    again = client.delete("/models/tiny@1", headers=KEY)
    assert again.status_code == 404
    assert "has no version 1; versions: [2, 3]" in again.json()["detail"]


def test_the_default_version_is_kept_until_another_is_promoted(served: tuple[Any, Path]) -> None:
    client, model_dir = served
    newest = client.delete("/models/tiny@3", headers=KEY)  # the default: the newest usable
    assert newest.status_code == 409
    assert "default version of 'tiny'" in newest.json()["detail"]
    assert "POST /models/tiny/promote" in newest.json()["detail"]
    assert (model_dir / "tiny" / "00000003.json").exists()

    assert client.post("/models/tiny/promote", json={"version": 2}, headers=KEY).status_code == 200
    promoted = client.delete("/models/tiny@2", headers=KEY)
    assert promoted.status_code == 409 and "tiny@2 is the default" in promoted.json()["detail"]
    assert client.delete("/models/tiny@3", headers=KEY).status_code == 204
    assert versions(client) == ([1, 2], 2)
    assert sample(client, "tiny").headers["x-model-version"] == "tiny@2"


@pytest.mark.parametrize(
    ("path", "status"),
    [("/models/ghost@1", 404), ("/models/tiny@01", 422), ("/models/Tiny@1", 422),
     ("/models/tiny@x", 422)],
)  # fmt: skip
def test_unknown_or_malformed_versions(served: tuple[Any, Path], path: str, status: int) -> None:
    client, model_dir = served
    answer = client.delete(path, headers=KEY)
    assert answer.status_code == status, answer.text
    assert len(list((model_dir / "tiny").glob("*.json"))) == 3


def test_deleting_needs_the_api_key(served: tuple[Any, Path]) -> None:
    client, model_dir = served
    assert client.delete("/models/tiny@1").status_code == 401
    assert (model_dir / "tiny" / "00000001.json").exists()
