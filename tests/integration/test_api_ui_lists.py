"""The list shapes the web UI reads: summaries, metric columns, projects, tags, queue pages."""

import time

import pytest
from fastapi.testclient import TestClient


def create(api: TestClient, **fields: object) -> str:
    body = {"project": "vision", "name": "run", "script": {"entry_point": "train.py"}, **fields}
    response = api.post("/tasks", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_summary_page_leaves_out_the_diff_and_is_small(api: TestClient) -> None:
    diff = "+" + "x" * 1_000_000 + "\n"
    for i in range(3):
        create(
            api,
            name=f"big-{i}",
            script={"entry_point": "train.py", "diff": diff, "commit": "a" * 40},
            environment={"requirements": ["numpy==2.0", "torch==2.4"]},
            params={"General": {"lr": 0.1 * i}},
        )
    full = api.get("/tasks", params={"project": "vision"})
    summary = api.get("/tasks", params={"project": "vision", "view": "summary"})
    assert len(full.content) > 3_000_000
    assert len(summary.content) < 3_000
    item = summary.json()["items"][0]
    assert "script" not in item and "environment" not in item
    assert item["diff_bytes"] == len(diff)
    assert item["packages"] == 2
    assert item["commit"] == "a" * 40
    assert item["params"] == {"General": {"lr": 0.2}}
    assert [t["id"] for t in full.json()["items"]] == [t["id"] for t in summary.json()["items"]]


def test_summary_carries_the_metric_columns_asked_for(api: TestClient) -> None:
    with_metric = create(api, name="with")
    without = create(api, name="without")
    points = [{"series": "val/acc", "value": 0.75, "ts": time.time()}]
    assert api.post(f"/tasks/{with_metric}/metrics", json={"points": points}).status_code < 300
    page = api.get("/tasks", params={"view": "summary", "metrics": "val/acc,train/loss"}).json()
    by_id = {t["id"]: t for t in page["items"]}
    assert by_id[with_metric]["metrics"] == {"val/acc": 0.75}
    assert by_id[without]["metrics"] == {}
    assert api.get("/metric-series").json() == ["val/acc"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"view": "summary", "metrics": ",".join(f"s{i}" for i in range(21))}, "at most 20"),
        ({"view": "summary", "metrics": "a\nb"}, "metric series"),
        ({"view": "tiny"}, "view"),
    ],
)
def test_bad_list_shapes_are_4xx_naming_the_problem(
    api: TestClient, params: dict[str, str], fragment: str
) -> None:
    response = api.get("/tasks", params=params)
    assert 400 <= response.status_code < 500
    assert fragment in response.text


def test_projects_have_counts_and_latest_runs_and_tags_are_listed(api: TestClient) -> None:
    for i in range(4):
        create(api, project="nlp", name=f"nlp-{i}", tags=["bert", f"t{i % 2}"])
    create(api, project="vision", name="only")
    projects = api.get("/projects", params={"latest": 2}).json()
    assert [(p["name"], p["tasks"]) for p in projects] == [("nlp", 4), ("vision", 1)]
    assert [run["name"] for run in projects[0]["latest"]] == ["nlp-3", "nlp-2"]
    assert api.get("/tags").json() == ["bert", "t0", "t1"]


def test_queue_pages_through_every_entry_with_an_offset(api: TestClient) -> None:
    ids = [create(api, name=f"w{i}", queue="long", create_queue=True) for i in range(7)]
    first = api.get("/queues/long", params={"limit": 3}).json()
    third = api.get("/queues/long", params={"limit": 3, "offset": 6}).json()
    assert [e["task_id"] for e in first["entries"]] == ids[:3]
    assert [e["task_id"] for e in third["entries"]] == ids[6:]
    assert third["offset"] == 6 and third["depth"] == 7


def test_sort_by_a_parameter_orders_every_page_and_puts_missing_last(api: TestClient) -> None:
    lrs = [0.3, 0.01, "warmup", 0.2, None, 1, True]
    ids = {}
    for i, lr in enumerate(lrs):
        params = {} if lr is None else {"General": {"lr": lr}}
        ids[i] = create(api, project="sweep", name=f"r{i}", params=params)
    create(api, project="other", name="elsewhere", params={"General": {"lr": 99}})
    seen: list[str] = []
    query = {"project": "sweep", "sort": "param:General/lr", "order": "asc", "limit": "3"}
    while True:
        page = api.get("/tasks", params={**query, "view": "summary"}).json()
        seen += [t["name"] for t in page["items"]]
        if not page["next_cursor"]:
            break
        query["cursor"] = page["next_cursor"]
    # numbers, then strings, then booleans; the task without the parameter last
    assert seen == ["r1", "r3", "r0", "r5", "r2", "r6", "r4"]
    desc = api.get("/tasks", params={"project": "sweep", "sort": "param:General/lr"}).json()
    assert [t["name"] for t in desc["items"]][:4] == ["r6", "r2", "r5", "r0"]
    assert desc["items"][-1]["name"] == "r4"
    found = api.get("/tasks", params={"sort": "param:General/lr", "q": "elsew"}).json()
    assert [t["name"] for t in found["items"]] == ["elsewhere"]


def test_a_task_stored_before_params_had_their_own_field_still_sorts(
    api: TestClient, redis_url: str
) -> None:
    import json

    import redis

    old = create(api, name="old", params={"General": {"lr": 0.5}})
    new = create(api, name="new", params={"General": {"lr": 0.1}})
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    key = next(k for k in r.scan_iter(match=f"*{old}") if r.type(k) == "hash")
    spec = json.loads(r.hget(key, "spec"))
    spec["params"] = json.loads(r.hget(key, "params"))
    r.hset(key, "spec", json.dumps(spec))
    r.hdel(key, "params")
    page = api.get("/tasks", params={"sort": "param:General/lr", "order": "asc"}).json()
    assert [t["id"] for t in page["items"]] == [new, old]
    assert api.get(f"/tasks/{old}").json()["params"] == {"General": {"lr": 0.5}}


@pytest.mark.parametrize("sort", ["param:lr", "param:General/", "param:/x"])
def test_a_parameter_sort_without_a_section_is_a_4xx(api: TestClient, sort: str) -> None:
    response = api.get("/tasks", params={"sort": sort})
    assert response.status_code == 422
    assert "param:Section/key" in response.text


def run_with(api: TestClient, name: str, values: list[float]) -> str:
    body = {"project": "extremes", "name": name, "script": {"entry_point": "train.py"}}
    created = api.post("/tasks", json=body)
    assert created.status_code == 201, created.text
    task_id = str(created.json()["id"])
    # Two batches: the min and max are kept across batches, not just within one.
    half = len(values) // 2
    for batch in (values[:half], values[half:]):
        points = [
            {"series": "loss", "value": v, "step": i, "ts": time.time()}
            for i, v in enumerate(batch)
        ]
        assert api.post(f"/tasks/{task_id}/metrics", json={"points": points}).status_code < 300
    return task_id


def test_min_and_max_sorts_and_columns_differ_from_the_last_value(api: TestClient) -> None:
    dips = run_with(api, "dips", [3.0, 0.1, 2.0, 2.5])  # min 0.1, max 3.0, last 2.5
    steady = run_with(api, "steady", [1.0, 0.9, 0.8, 0.7])  # min 0.7, max 1.0, last 0.7
    spikes = run_with(api, "spikes", [2.0, 9.0, 1.5, 1.2])  # min 1.2, max 9.0, last 1.2
    body = {"project": "extremes", "name": "silent", "script": {"entry_point": "train.py"}}
    silent = api.post("/tasks", json=body).json()["id"]

    def order(sort: str, direction: str) -> list[str]:
        params = {"project": "extremes", "sort": sort, "order": direction, "limit": 2}
        seen: list[str] = []
        while True:
            page = api.get("/tasks", params=params).json()
            seen += [t["id"] for t in page["items"]]
            if not page["next_cursor"]:
                return seen
            params["cursor"] = page["next_cursor"]

    assert order("metric:loss", "asc") == [steady, spikes, dips, silent]
    assert order("metric_min:loss", "asc") == [dips, steady, spikes, silent]
    assert order("metric_max:loss", "desc") == [spikes, dips, steady, silent]

    page = api.get(
        "/tasks",
        params={
            "project": "extremes",
            "sort": "metric_min:loss",
            "order": "asc",
            "view": "summary",
            "metrics": "loss",
            "metrics_min": "loss",
            "metrics_max": "loss,acc",
        },
    ).json()
    by_id = {t["id"]: t for t in page["items"]}
    assert by_id[dips]["metrics"] == {"loss": 2.5}
    assert by_id[dips]["metrics_min"] == {"loss": 0.1}
    assert by_id[dips]["metrics_max"] == {"loss": 3.0}
    assert by_id[silent]["metrics_min"] == by_id[silent]["metrics_max"] == {}
    assert page["metric_values"] == {dips: 0.1, steady: 0.7, spikes: 1.2}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"sort": "metric_min:bad name"}, "metric series name"),
        ({"sort": "metric_mean:loss"}, "metric_min:SERIES"),
        ({"view": "summary", "metrics_max": "a\nb"}, "metrics_max"),
        (
            {
                "view": "summary",
                "metrics": "a,b,c,d,e,f,g",
                "metrics_min": ",".join("hijklmn"),
                "metrics_max": ",".join("opqrstu"),
            },
            "at most 20",
        ),
    ],
)
def test_bad_extreme_sorts_and_columns_are_4xx_naming_the_problem(
    api: TestClient, params: dict[str, str], fragment: str
) -> None:
    response = api.get("/tasks", params=params)
    assert response.status_code == 422, response.text
    assert fragment in response.text
