"""``mathnotes-vision notes search|export|import``, in-process (this environment's library) and against a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import RunService, ServiceProcess, wait_until

from .helpers import encode, render_text, service_env
from .notes_helpers import KEY_A, KEY_B
from .test_cli_telemetry import run_cli

EIGEN = "# Eigenvalues\n\nThe eigenvalues of $A$ solve $\\det(A - \\lambda I) = 0$; 特征值."


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "page.png"
    path.write_bytes(encode(render_text(["det(A - λI) = 0"]), "PNG"))
    return path


def test_analyze_keeps_a_note_the_cli_searches_exports_and_imports(
    tmp_path: Path, model: FakeOpenAI, photo: Path
) -> None:
    env = {"DASHSCOPE_API_KEY": "sk-cli", "DASHSCOPE_BASE_URL": model.base_url, "NOTES_DIR": str(tmp_path / "lib")}
    model.script(Reply(content=EIGEN))
    analyzed = run_cli(["analyze", str(photo), "--json", "--tags", "linear algebra,exam", "--title", "Eigen"], env)
    assert analyzed.returncode == 0, analyzed.stderr
    note_id = json.loads(analyzed.stdout)["note_id"]

    found = run_cli(["notes", "search", "--q", "特征值", "--json"], env)
    assert found.returncode == 0, found.stderr
    page = json.loads(found.stdout)
    assert [n["id"] for n in page["notes"]] == [note_id] and "words" in page["modes"]
    note = page["notes"][0]
    assert (note["title"], note["tags"], note["source"]) == ("Eigen", ["linear algebra", "exam"], "cli")
    by_formula = run_cli(["notes", "search", "--formula", "\\det(A-\\lambda I)=0"], env)
    assert by_formula.returncode == 0 and by_formula.stdout.startswith(f"{note_id}  ") and "Eigen" in by_formula.stdout
    assert "*特征*" in run_cli(["notes", "search", "--q", "特征值"], env).stdout  # a <mark> shown as *...*

    export = tmp_path / "notes.jsonl"
    assert run_cli(["notes", "export", "--output", str(export)], env).returncode == 0
    assert [json.loads(line)["id"] for line in export.read_text().splitlines()] == [note_id]
    zipped = run_cli(["notes", "export", "--format", "markdown", "--output", str(tmp_path / "n.zip")], env)
    assert zipped.returncode == 0 and (tmp_path / "n.zip").read_bytes()[:2] == b"PK"

    elsewhere = {**env, "NOTES_DIR": str(tmp_path / "other")}
    imported = run_cli(["notes", "import", str(export)], elsewhere)
    assert imported.returncode == 0 and json.loads(imported.stdout) == {"imported": 1, "skipped": 0}
    again = run_cli(["notes", "import", str(export)], elsewhere)
    assert json.loads(again.stdout) == {"imported": 0, "skipped": 1}
    assert json.loads(run_cli(["notes", "search", "--json"], elsewhere).stdout)["notes"][0]["id"] == note_id

    not_kept = run_cli(["analyze", str(photo), "--no-save", "--no-cache"], env)
    assert not_kept.returncode == 0
    assert len(json.loads(run_cli(["notes", "search", "--json"], env).stdout)["notes"]) == 1


def test_with_keys_the_cli_works_on_one_keys_notes(tmp_path: Path, model: FakeOpenAI, photo: Path) -> None:
    env = {
        "DASHSCOPE_API_KEY": "sk-cli",
        "DASHSCOPE_BASE_URL": model.base_url,
        "NOTES_DIR": str(tmp_path / "lib"),
        "VISION_API_KEYS": f"{KEY_A},{KEY_B}",
    }
    mine = run_cli(["analyze", str(photo), "--json", "--api-key", KEY_A], env)
    assert mine.returncode == 0, mine.stderr
    note_id = json.loads(mine.stdout)["note_id"]
    found = run_cli(["notes", "search", "--json", "--api-key", KEY_A], env)
    assert [n["id"] for n in json.loads(found.stdout)["notes"]] == [note_id], mine.stderr + found.stderr
    assert json.loads(run_cli(["notes", "search", "--json", "--api-key", KEY_B], env).stdout)["notes"] == []
    nobody = run_cli(["notes", "search"], env)
    assert nobody.returncode == 1 and "pass --api-key" in nobody.stderr
    anonymous = run_cli(["analyze", str(photo), "--json"], env)  # answered, but kept for no key
    assert anonymous.returncode == 0 and json.loads(anonymous.stdout)["note_id"] is None
    assert "not kept in the notes library" in anonymous.stderr
    bad = run_cli(["notes", "search", "--mode", "meaning", "--api-key", KEY_A], env)
    assert bad.returncode == 1 and bad.stderr.startswith("mathnotes-vision: invalid_query: ")


@pytest.fixture
def keyed_notes_service(run_service: RunService, model: FakeOpenAI) -> ServiceProcess:
    return run_service("mathnotes-vision", service_env(model, VISION_API_KEYS=f"{KEY_A},{KEY_B}"))


def test_the_cli_against_a_server(
    tmp_path: Path, model: FakeOpenAI, photo: Path, keyed_notes_service: ServiceProcess
) -> None:
    url = keyed_notes_service.url
    model.script(Reply(content=EIGEN))
    analyzed = run_cli(["analyze", str(photo), "--json", "--server", url, "--api-key", KEY_A], {})
    assert analyzed.returncode == 0, analyzed.stderr
    note_id = json.loads(analyzed.stdout)["note_id"]

    def search(*args: str, key: str = KEY_A) -> list[str]:
        result = run_cli(["notes", "search", "--json", "--server", url, "--api-key", key, *args], {})
        assert result.returncode == 0, result.stderr
        return [n["id"] for n in json.loads(result.stdout)["notes"]]

    assert wait_until(lambda: search("--q", "eigenvalues") == [note_id], 20)
    assert search(key=KEY_B) == []
    export = run_cli(["notes", "export", "--server", url, "--api-key", KEY_A], {})
    assert export.returncode == 0 and json.loads(export.stdout)["id"] == note_id  # to standard output
    (tmp_path / "mine.jsonl").write_text(export.stdout)
    taken = run_cli(["notes", "import", str(tmp_path / "mine.jsonl"), "--server", url, "--api-key", KEY_B], {})
    assert taken.returncode == 0 and json.loads(taken.stdout) == {"imported": 0, "skipped": 1}  # the id is taken
    assert search(key=KEY_B) == []  # and stays A's alone
    line = {k: v for k, v in json.loads(export.stdout).items() if k != "id"}  # without an id: a new note
    (tmp_path / "copy.jsonl").write_text(json.dumps(line) + "\n")
    copied = run_cli(["notes", "import", str(tmp_path / "copy.jsonl"), "--server", url, "--api-key", KEY_B], {})
    assert copied.returncode == 0 and json.loads(copied.stdout) == {"imported": 1, "skipped": 0}
    assert len(search(key=KEY_B)) == 1 and search(key=KEY_B) != [note_id]
    denied = run_cli(["notes", "search", "--server", url, "--api-key", "wrong"], {})
    assert denied.returncode == 1 and "unauthorized" in denied.stderr
    missing = run_cli(["notes", "import", str(tmp_path / "nope.jsonl"), "--server", url, "--api-key", KEY_A], {})
    assert missing.returncode == 1 and "cannot read" in missing.stderr
