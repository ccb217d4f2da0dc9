"""Every relative link of the user's docs resolves to a file or folder that exists (moves break links silently):
README.md, docs/**/*.md, experiments/**/*.md and the shipped checkpoints' READMEs."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# [text](target) and reference definitions "[name]: target"; images too. Code spans and blocks are skipped.
INLINE = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")


def documents() -> list[Path]:
    found = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "experiments").rglob("*.md"),
             *(ROOT / "world_model" / "checkpoints").glob("*/README.md")]
    return sorted(p for p in found if p.is_file())


def relative_links(text: str) -> list[str]:
    text = CODE.sub("", FENCE.sub("", text))
    links = INLINE.findall(text) + REFERENCE.findall(text)
    return [link for link in links if not re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", link, re.I)]


def broken_links(doc: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for link in relative_links(doc.read_text()):
        target = link.split("#", 1)[0].split("?", 1)[0]
        if target and not (doc.parent / target).exists():
            broken.append(f"{doc.relative_to(root)}: {link}")
    return broken


def test_every_relative_link_resolves():
    broken = [line for doc in documents() for line in broken_links(doc)]
    assert not broken, f"{len(broken)} broken links:\n" + "\n".join(broken)


def test_a_broken_link_is_caught(tmp_path):
    (tmp_path / "there.md").write_text("x")
    doc = tmp_path / "doc.md"
    doc.write_text("[ok](there.md#a) [gone](missing/file.md) [web](https://x.org/a.md) `[code](no.md)`\n"
                   "[ref]: gone.png\n```\n[block](no_either.md)\n```\n")
    links = relative_links(doc.read_text())
    assert links == ["there.md#a", "missing/file.md", "gone.png"]
    assert broken_links(doc, tmp_path) == ["doc.md: missing/file.md", "doc.md: gone.png"]
