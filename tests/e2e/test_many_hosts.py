"""2 API processes and 3 runners on one store and queue: 30 jobs, each done exactly once, even with
a runner killed mid-job."""

from __future__ import annotations

import itertools
import time
from collections import Counter

import httpx
import pytest

from tests.cluster import Cluster
from tests.speech import SPEECH_DIR
from whisperq import layout
from whisperq.store import Store, open_store

pytestmark = pytest.mark.e2e

JOBS = 30


def _runner_of_a_processing_job(cluster: Cluster, store: Store) -> tuple[str, str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for entry in httpx.get(cluster.urls[1] + "/api/queue").json()["processing"]:
            manifest, _ = store.get_json(layout.manifest_key(entry["id"]))
            if manifest["state"] == "processing" and manifest["runner_id"]:
                return manifest["runner_id"].rsplit("-", 1)[-1], entry["id"]
        time.sleep(0.05)
    raise TimeoutError("no job was processing")


@pytest.mark.parametrize("backend", ["embedded", "s3-sqs-moto"])
def test_thirty_jobs_on_two_apis_and_three_runners_finish_exactly_once(tmp_path, backend, request):
    env = request.getfixturevalue("moto_backend") if backend == "s3-sqs-moto" else {}
    cluster = Cluster(tmp_path / "data", apis=2, runners=3, **env).start()
    store = open_store(env.get("WHISPERQ_STORE_URL") or str(tmp_path / "data" / "bucket"))
    try:
        clip = (SPEECH_DIR / "en_ivr.wav").read_bytes()
        task_ids = []
        for n, url in zip(range(JOBS), itertools.cycle(cluster.urls), strict=False):
            response = httpx.post(
                url + "/api/transcribe",
                files={"file": (f"call{n}.wav", clip)},
                data={"model_name": "tiny.en"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            task_ids.append(response.json()["task_id"])
        victim, victim_job = _runner_of_a_processing_job(cluster, store)
        cluster.kill_runner(victim)

        deadline = time.monotonic() + 400
        statuses = {}
        while len(statuses) < JOBS and time.monotonic() < deadline:
            for task_id in task_ids:
                if task_id not in statuses:
                    status = httpx.get(cluster.urls[len(statuses) % 2] + f"/api/status/{task_id}").json()
                    if status["status"] in ("done", "error"):
                        statuses[task_id] = status
            time.sleep(0.5)
        assert len(statuses) == JOBS, f"{JOBS - len(statuses)} jobs unfinished"
        assert Counter(s["status"] for s in statuses.values()) == {"done": JOBS}
        assert statuses[victim_job]["attempts"] == 2  # taken again after its runner died
        assert all(s["attempts"] >= 1 for s in statuses.values())
        results = sorted(layout.job_id_of_result_key(k) for k in store.list_keys(layout.RESULTS_PREFIX))
        assert results == sorted(task_ids)
        logs = httpx.get(cluster.urls[0] + "/api/logs", params={"limit": 1000}).json()
        done_events = Counter(e["job_id"] for e in logs if " done in " in e["msg"])
        assert done_events == Counter({t: 1 for t in task_ids})
        survivors = {s["device"] for s in statuses.values()}
        assert survivors == {"cpu"}
    finally:
        cluster.stop()
