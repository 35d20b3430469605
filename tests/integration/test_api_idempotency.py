"""The Idempotency-Key header of POST /tasks and POST /tasks/{id}/clone, on a real Redis."""

import pytest
from fastapi.testclient import TestClient

BODY = {"name": "train", "script": {"entry_point": "train.py"}}


def names(api: TestClient) -> list[str]:
    return [task["name"] for task in api.get("/tasks").json()["items"]]


def test_a_repeated_create_answers_201_with_the_first_task(api: TestClient) -> None:
    key = {"Idempotency-Key": "3f0c2d1e-create"}
    first = api.post("/tasks", json=BODY, headers=key)
    # Spacing and key order differ; the request is the same.
    again = api.post(
        "/tasks",
        content=b'{ "script": {"entry_point": "train.py"},  "name": "train" }',
        headers={**key, "Content-Type": "application/json"},
    )

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert names(api) == ["train"]


def test_another_body_under_a_used_key_is_422_naming_the_key(api: TestClient) -> None:
    key = {"Idempotency-Key": "k-reused"}
    first = api.post("/tasks", json=BODY, headers=key).json()

    other = api.post("/tasks", json={**BODY, "name": "eval"}, headers=key)

    assert other.status_code == 422 and other.json()["error"] == "invalid"
    assert "Idempotency-Key 'k-reused'" in other.json()["detail"]
    assert first["id"] in other.json()["detail"]
    assert names(api) == ["train"]


def test_a_create_key_used_for_a_clone_is_another_request(api: TestClient) -> None:
    key = {"Idempotency-Key": "k-both"}
    source = api.post("/tasks", json=BODY, headers=key).json()

    clone = api.post(f"/tasks/{source['id']}/clone", json={}, headers=key)

    assert clone.status_code == 422, clone.text


def test_a_repeated_clone_answers_the_first_clone(api: TestClient) -> None:
    source = api.post("/tasks", json=BODY).json()
    key = {"Idempotency-Key": "k-clone"}
    # A short id prefix and the whole id name the same source: the same request.
    one = api.post(f"/tasks/{source['id']}/clone", json={"name": "c"}, headers=key)
    two = api.post(f"/tasks/{source['id'][:8]}/clone", json={"name": "c"}, headers=key)

    assert one.status_code == two.status_code == 201
    assert one.json()["id"] == two.json()["id"]
    assert sorted(names(api)) == ["c", "train"]


def test_without_a_key_every_create_makes_a_task(api: TestClient) -> None:
    api.post("/tasks", json=BODY)
    api.post("/tasks", json=BODY)

    assert names(api) == ["train", "train"]


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "1-255 characters, not 0"),
        ("k" * 256, "1-255 characters, not 256"),
        ("tab\there", "printable ASCII"),
        ("caf\u00e9", "printable ASCII"),
    ],
    ids=["empty", "too-long", "control", "non-ascii"],
)
def test_a_bad_key_is_422_and_creates_nothing(api: TestClient, key: str, fragment: str) -> None:
    # Sent as bytes: httpx itself refuses a non-ASCII str header.
    headers: dict[str, bytes] = {"Idempotency-Key": key.encode("latin-1")}
    response = api.post("/tasks", json=BODY, headers=headers)

    assert response.status_code == 422, response.text
    assert "Idempotency-Key" in response.json()["detail"]
    assert fragment in response.json()["detail"]
    assert names(api) == []


def test_a_key_of_255_printable_characters_is_taken(api: TestClient) -> None:
    key = "".join(chr(33 + i % 94) for i in range(255))
    response = api.post("/tasks", json=BODY, headers={"Idempotency-Key": key})

    assert response.status_code == 201, response.text
