"""``modaline`` against a running gateway with auth off: pipelines, run (text, uploads, --wait, --out),
jobs list/show/watch/cancel, files get, --json shapes and the error messages."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import Gateway, clean_env, modaline_executable
from gateway_fakes import Behaviour
from gateway_helpers import free_port

from workers.kit.testing import png_bytes, wav_bytes

pytestmark = pytest.mark.slow

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def wait_done(gateway: Gateway, job_id: str) -> dict:
    """Follow the job's event stream to its end (the gateway closes it after the terminal event)."""
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            for _ in response.iter_lines():
                pass
        return client.get(f"/v1/jobs/{job_id}").json()


def test_pipelines_is_a_table_of_names_titles_and_inputs(gateway: Gateway) -> None:
    shown = gateway.cli("pipelines")
    assert shown.code == 0, shown.err
    rows = {line.split("│")[1].strip(): line for line in shown.out.splitlines() if line.count("│") >= 4}
    assert {"echo", "hold", "speech_to_image", "image_to_image", "text_to_text"} <= set(rows)
    assert "audio (file)" in rows["speech_to_image"] and "Speech to image" in rows["speech_to_image"]
    assert "transcript, prompt, image (file)" in rows["speech_to_image"]
    assert "text, [reply_style], [times]" in rows["echo"]
    assert "modaline run NAME --help" in shown.err

    as_json = gateway.cli("pipelines", "--json")
    assert as_json.code == 0 and as_json.err == ""
    served = httpx.get(f"{gateway.url}/v1/pipelines").json()
    assert as_json.json() == served  # the API's own answer, unchanged


def test_run_help_has_one_option_per_input_of_the_pipeline(gateway: Gateway) -> None:
    speech = gateway.cli("run", "speech_to_image", "--help")
    assert speech.code == 0, speech.err
    assert "--audio FILE" in speech.out and "a path to upload" in speech.out
    restyle = gateway.cli("run", "image_to_image", "--help")
    assert "--image FILE" in restyle.out and "--style CHOICE" in restyle.out
    assert "style-00" in restyle.out  # the choices, from the gateway's schema
    echo = gateway.cli("run", "echo", "--help")
    assert "--reply_style, --reply-style CHOICE" in echo.out
    assert "--times INTEGER" in echo.out and "at least 1" in echo.out and "at most 3" in echo.out
    for common in ("--wait", "--out DIR", "--json", "--url URL", "--key KEY"):
        assert common in echo.out
    listing = gateway.cli("run", "--help")
    assert "speech_to_image" in listing.out and "echo" in listing.out  # every pipeline as a sub-command


def test_run_without_wait_prints_only_the_new_job_id(gateway: Gateway) -> None:
    ran = gateway.cli("run", "echo", "--text", "hello", "--times", "2", "--reply-style", "loud")
    assert ran.code == 0, ran.err
    job_id = ran.out.strip()
    assert JOB_ID.match(job_id), ran.out
    assert f"modaline jobs watch {job_id}" in ran.err
    job = wait_done(gateway, job_id)
    assert job["pipeline"] == "echo"
    assert job["inputs"] == {"text": "hello", "times": 2, "reply_style": "loud"}  # coerced by the gateway
    assert job["outputs"] == {"text": "hello>say"}


def test_run_wait_follows_every_step_and_prints_the_text_output(gateway: Gateway) -> None:
    # MODALINE_PREFER_WAIT=0: no Prefer: wait on the submit, so every change arrives as an event
    ran = gateway.cli("run", "hold", "--text", "hi", "--wait", env={"MODALINE_PREFER_WAIT": "0"})
    assert ran.code == 0, ran.err
    assert ran.out == "text: hi>first>held\n"
    lines = ran.err.splitlines()
    job_id = lines[0].split()[1]
    assert lines[0] == f"job {job_id} (hold): running"  # the gateway's runner took it at once
    for expected in (
        "step first (llm) running",
        "step first (llm) succeeded",
        "step held (llm) running",
        "step held (llm) succeeded",
    ):
        assert sum(line.startswith(expected) for line in lines) == 1, ran.err  # each change shown once
    assert lines.index("step first (llm) running") < lines.index("step held (llm) running")
    assert lines[-1].startswith(f"job {job_id} succeeded in ")


def test_a_failed_job_exits_1_and_says_why_and_retries_are_shown(gateway: Gateway) -> None:
    gateway.worker.fake.plan["say"] = Behaviour(fail_times=1, retryable=True)
    retried = gateway.cli("run", "echo", "--text", "again", "--wait", env={"MODALINE_PREFER_WAIT": "0"})
    assert retried.code == 0, retried.err
    assert "step say (llm) will retry: " in retried.err and "step say (llm) running, attempt 2" in retried.err
    gateway.worker.fake.plan["say"] = Behaviour(fail_times=1, retryable=True)
    at_once = gateway.cli("run", "echo", "--text", "again", "--wait")  # ended within the Prefer: wait
    assert at_once.code == 0, at_once.err
    assert re.search(r"step say \(llm\) succeeded in \d+\.\d s \(attempt 2\)", at_once.err), at_once.err

    gateway.worker.fake.plan["say"] = Behaviour(fail_times=99, retryable=False, status=422)
    failed = gateway.cli("run", "echo", "--text", "never", "--wait")
    assert failed.code == 1 and failed.out == ""
    assert re.search(r"step say \(llm\) failed: .*failed on purpose", failed.err), failed.err
    assert re.search(r"job [0-9a-f]{32} failed at step say: .*failed on purpose", failed.err), failed.err
    as_json = gateway.cli("run", "echo", "--text", "never", "--wait", "--json")
    assert as_json.code == 1 and as_json.json()["status"] == "failed" and as_json.err == ""


def test_text_from_standard_input(gateway: Gateway) -> None:
    ran = gateway.cli("run", "echo", "--text", "-", "--wait", stdin="from a pipe")
    assert ran.code == 0, ran.err
    assert ran.out == "text: from a pipe>say\n"


def test_run_uploads_a_file_and_out_saves_every_output(gateway: Gateway, tmp_path: Path) -> None:
    voice = tmp_path / "my voice.wav"
    voice.write_bytes(wav_bytes(0.3, 8000))
    out = tmp_path / "results"
    ran = gateway.cli("run", "speech_to_image", "--audio", str(voice), "--out", str(out))
    assert ran.code == 0, ran.err
    heard = f"heard {voice.stat().st_size} bytes"  # the fake stt worker measured the uploaded file
    assert (out / "transcript.txt").read_text() == f"{heard}\n"
    image = (out / "image.png").read_bytes()
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert f"transcript: {heard}" in ran.out
    assert f"image: saved to {out / 'image.png'} (image/png, " in ran.out
    job_id = ran.err.splitlines()[0].split()[1]
    job = httpx.get(f"{gateway.url}/v1/jobs/{job_id}").json()
    assert job["outputs"]["image"]["sha256"] == hashlib.sha256(image).hexdigest()
    assert job["inputs"]["audio"]["bytes"] == voice.stat().st_size


def test_an_uploaded_image_comes_back_byte_for_byte(gateway: Gateway, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(32, 24))
    ran = gateway.cli(
        "run", "image_to_image", "--image", str(photo), "--style", "style-03", "--out", str(tmp_path / "o")
    )
    assert ran.code == 0, ran.err
    assert (tmp_path / "o" / "image.png").read_bytes() == photo.read_bytes()  # the fake worker echoes it


def test_json_shapes_for_scripts(gateway: Gateway, tmp_path: Path) -> None:
    queued = gateway.cli("run", "echo", "--text", "a", "--json")
    assert queued.code == 0 and queued.err == ""
    job = queued.json()
    assert JOB_ID.match(job["id"]) and job["status"] in ("queued", "running", "succeeded")
    assert job["pipeline"] == "echo" and {s["id"] for s in job["steps"]} == {"say"}

    waited = gateway.cli("run", "echo", "--text", "b", "--wait", "--json")
    assert waited.code == 0 and waited.err == ""  # no progress at all
    assert waited.json()["status"] == "succeeded" and waited.json()["outputs"] == {"text": "b>say"}

    saved = gateway.cli("--json", "run", "echo", "--text", "c", "--out", str(tmp_path / "o"))
    body = saved.json()
    assert body["saved"] == {"text": str(tmp_path / "o" / "text.txt")}

    watched = gateway.cli("jobs", "watch", job["id"], "--json")
    assert watched.code == 0 and watched.err == ""
    events = [json.loads(line) for line in watched.out.splitlines()]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert events[0]["type"] == "job.queued" and events[-1]["type"] == "job.succeeded"
    assert all(e["job_id"] == job["id"] for e in events)

    shown = gateway.cli("jobs", "show", job["id"], "--json")
    assert shown.json()["id"] == job["id"] and shown.json()["outputs"] == {"text": "a>say"}


def test_jobs_list_filters_and_pages(gateway: Gateway) -> None:
    ids = [gateway.cli("run", "listing", "--text", str(i)).out.strip() for i in range(3)]
    for job_id in ids:
        wait_done(gateway, job_id)
    first = gateway.cli("jobs", "list", "--pipeline", "listing", "--limit", "2")
    assert first.code == 0, first.err
    assert [job_id for job_id in reversed(ids) if job_id in first.out] == list(reversed(ids))[:2]
    more = re.search(r"more: modaline jobs list --cursor (\S+) --pipeline listing --limit 2", first.err)
    assert more, first.err
    second = gateway.cli("jobs", "list", "--pipeline", "listing", "--limit", "2", "--cursor", more.group(1))
    assert ids[0] in second.out and ids[1] not in second.out and "more:" not in second.err
    assert "succeeded" in second.out and "listing" in second.out

    every = gateway.cli("jobs", "list", "--pipeline", "listing", "--limit", "1", "--all", "--json").json()
    assert [job["id"] for job in every["items"]] == list(reversed(ids)) and every["next_cursor"] is None
    none = gateway.cli("jobs", "list", "--pipeline", "listing", "--status", "failed", "--json").json()
    assert none == {"items": [], "next_cursor": None}


def test_jobs_show_lists_steps_and_outputs(gateway: Gateway) -> None:
    job_id = gateway.cli("run", "hold", "--text", "x").out.strip()
    wait_done(gateway, job_id)
    shown = gateway.cli("jobs", "show", job_id)
    assert shown.code == 0, shown.err
    assert shown.out.splitlines()[0] == f"job {job_id}"
    assert re.search(r"status\s+succeeded", shown.out)
    assert re.search(r"first\s+llm\s+succeeded\s+1", shown.out)
    assert re.search(r"held\s+llm\s+succeeded\s+1", shown.out)
    assert "text: x>first>held" in shown.out


def test_watch_a_running_job_then_cancel_it(gateway: Gateway) -> None:
    release = gateway.worker.hold("held")
    job_id = gateway.cli("run", "hold", "--text", "y").out.strip()
    gateway.worker.wait_for_call(job_id, "held")
    watcher = gateway.popen("jobs", "watch", job_id)
    canceled = gateway.cli("jobs", "cancel", job_id)
    assert canceled.code == 0, canceled.err
    assert canceled.out.startswith(f"job {job_id}: cancel requested, now ")
    _, err = watcher.communicate(timeout=120)
    release()
    assert watcher.returncode == 1, err  # a canceled job is not a success
    assert f"job {job_id} canceled" in err and "step first (llm) succeeded" in err

    again = gateway.cli("jobs", "cancel", job_id)
    assert again.code == 2 and f"job {job_id} already canceled" in again.err


def test_files_get_streams_to_a_path_a_directory_or_stdout(gateway: Gateway, tmp_path: Path) -> None:
    photo = tmp_path / "holiday photo.png"
    photo.write_bytes(png_bytes(16, 16))
    job = gateway.cli("run", "image_to_image", "--image", str(photo), "--wait", "--json").json()
    output_id, upload_id = job["outputs"]["image"]["id"], job["inputs"]["image"]["id"]

    to_path = gateway.cli("files", "get", output_id, "-o", str(tmp_path / "a.png"))
    assert to_path.code == 0, to_path.err
    assert (
        to_path.out.strip() == str(tmp_path / "a.png")
        and (tmp_path / "a.png").read_bytes() == photo.read_bytes()
    )

    here = tmp_path / "here"
    here.mkdir()
    default = gateway.cli("files", "get", upload_id, cwd=here)
    assert default.code == 0, default.err
    assert (here / "holiday_photo.png").read_bytes() == photo.read_bytes()  # the upload's own name, made safe
    into_dir = gateway.cli("files", "get", output_id, "--output", str(here), "--json").json()
    assert Path(into_dir["path"]).parent == here and into_dir["bytes"] == photo.stat().st_size
    assert into_dir["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()

    raw = subprocess.run(  # bytes, not text: the file itself on standard output
        [str(modaline_executable()), "files", "get", output_id, "-o", "-"],
        env=clean_env(MODALINE_URL=gateway.url),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert raw.returncode == 0 and raw.stdout == photo.read_bytes()

    empty = tmp_path / "empty"
    empty.mkdir()
    missing = gateway.cli("files", "get", "f" * 32, cwd=empty)
    assert missing.code == 2 and "Not found: no file with id" in missing.err
    assert list(empty.iterdir()) == []  # not even a partial file


def test_mistakes_are_explained_in_the_options_own_words(gateway: Gateway, tmp_path: Path) -> None:
    too_long = gateway.cli("run", "echo", "--text", "x" * 101, "--times", "nine")
    assert too_long.code == 2 and too_long.out == ""
    assert "--text: is 101 characters; the limit is 100" in too_long.err
    assert "--times: must be a whole number" in too_long.err

    missing = gateway.cli("run", "echo")
    assert missing.code == 2 and "--text: is required" in missing.err

    sound = tmp_path / "sound.wav"
    sound.write_bytes(wav_bytes(0.1, 8000))
    wrong_kind = gateway.cli("run", "image_to_image", "--image", str(sound))
    assert wrong_kind.code == 2 and "image" in wrong_kind.err.lower() and "error:" in wrong_kind.err

    no_file = gateway.cli("run", "image_to_image", "--image", str(tmp_path / "nope.png"))
    assert no_file.code == 2 and "does not exist" in no_file.err

    unknown = gateway.cli("run", "no_such_pipeline", "--text", "x")
    assert unknown.code == 2 and "no pipeline named 'no_such_pipeline'" in unknown.err

    unknown_job = gateway.cli("jobs", "show", "0" * 32, "--json")
    assert unknown_job.code == 2 and unknown_job.out == ""
    problem = json.loads(unknown_job.err)
    assert problem["status"] == 404 and problem["problem"]["status"] == 404 and problem["exit_code"] == 2


def test_an_unreachable_gateway_is_named(gateway: Gateway) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    down = gateway.cli("pipelines", env={"MODALINE_URL": url})
    assert down.code == 3
    assert f"cannot reach the Modaline gateway at {url} (connection refused)" in down.err
    flag = gateway.cli("jobs", "list", "--url", url)
    assert flag.code == 3 and url in flag.err
    bad = gateway.cli("pipelines", "--url", "localhost:8000")
    assert bad.code == 2 and "must start with http:// or https://" in bad.err


def test_jobs_delete_removes_finished_jobs_and_refuses_running_ones(gateway: Gateway) -> None:
    done = gateway.cli("run", "echo", "--text", "gone", "--wait", "--json").json()
    deleted = gateway.cli("jobs", "delete", done["id"])
    assert deleted.code == 0 and deleted.out == "", deleted.err
    assert f"deleted job {done['id']}" in deleted.err
    shown = gateway.cli("jobs", "show", done["id"])
    assert shown.code == 2 and "Not found" in shown.err
    again = gateway.cli("jobs", "delete", done["id"])
    assert again.code == 2 and f"no job {done['id']} (it may have been deleted already)" in again.err

    release = gateway.worker.hold("held")
    running = gateway.cli("run", "hold", "--text", "busy").out.strip()
    gateway.worker.wait_for_call(running, "held")
    finished = gateway.cli("run", "echo", "--text", "old", "--wait", "--json").json()["id"]
    both = gateway.cli("jobs", "delete", running, finished)
    assert both.code == 2, both.err  # the refused one decides the exit code; the other is still deleted
    assert f"deleted job {finished}" in both.err
    assert f"job {running} is queued or running and cannot be deleted: cancel it first" in both.err
    assert f"modaline jobs cancel {running}" in both.err
    assert httpx.get(f"{gateway.url}/v1/jobs/{finished}").status_code == 404
    assert httpx.get(f"{gateway.url}/v1/jobs/{running}").json()["status"] == "running"

    as_json = gateway.cli("jobs", "delete", running, "--json")
    assert as_json.code == 2 and as_json.err == ""
    body = as_json.json()
    assert body["deleted"] == [] and [(f["id"], f["status"], f["exit_code"]) for f in body["failed"]] == [
        (running, 409, 2)
    ]
    assert gateway.cli("jobs", "cancel", running).code == 0
    release()
    wait_done(gateway, running)
    canceled = gateway.cli("jobs", "delete", running, "--json")
    assert canceled.code == 0 and canceled.json() == {"deleted": [running], "failed": []}


def test_files_delete_removes_an_unused_upload_but_not_a_jobs_file(gateway: Gateway, tmp_path: Path) -> None:
    uploaded = httpx.post(
        f"{gateway.url}/v1/files", files={"file": ("p.png", png_bytes(8, 8), "image/png")}
    ).json()
    deleted = gateway.cli("files", "delete", uploaded["id"], "--json")
    assert deleted.code == 0 and deleted.json() == {"deleted": [uploaded["id"]]}, deleted.err
    assert httpx.get(f"{gateway.url}/v1/files/{uploaded['id']}").status_code == 404
    again = gateway.cli("files", "delete", uploaded["id"])
    assert again.code == 2 and f"no file {uploaded['id']} (it may have been deleted already)" in again.err

    photo = tmp_path / "in.png"
    photo.write_bytes(png_bytes(8, 8))
    job = gateway.cli("run", "image_to_image", "--image", str(photo), "--wait", "--json").json()
    used = job["inputs"]["image"]["id"]
    refused = gateway.cli("files", "delete", used)
    assert refused.code == 2 and f"file {used} is an input or an output of a job" in refused.err
    assert "modaline jobs delete JOB_ID" in refused.err
    assert gateway.cli("jobs", "delete", job["id"]).code == 0
    assert httpx.get(f"{gateway.url}/v1/files/{used}").status_code == 404  # it went with its only job
