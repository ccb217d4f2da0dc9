"""The shell examples of the README and of the docs pages write only where git ignores it (out/, data/, runs/):
following them leaves no untracked files in the checkout."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs" / "tasks").glob("*.md"))]
WRITES = r"--(?:video|make-goal|out|preview)[ =]([^\s`]+)"


def written_paths(page: Path) -> list[str]:
    text = page.read_text()
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S))
    # inline commands to run as they stand (with --env); not the placeholders of prose (`lewm-collect --out X.h5`)
    inline = " ".join(c for c in re.findall(r"`([^`\n]+)`", text) if c.startswith("lewm-") and "--env " in c)
    return sorted(set(re.findall(WRITES, shell + "\n" + inline)))


def test_examples_write_into_ignored_folders():
    paths = sorted({p for page in PAGES for p in written_paths(page)})
    assert len(written_paths(ROOT / "README.md")) >= 10 and len(paths) >= 15
    result = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT, capture_output=True, text=True)
    ignored = set(result.stdout.split())
    assert not set(paths) - ignored, f"examples write outside ignored folders: {sorted(set(paths) - ignored)}"
