"""The README and the docs pages its measurements moved to (docs/results.md, docs/tasks/*.md, ...): every section
that quotes a time names the CPU it was measured on, every relative link resolves, and every figure of the
README's headline table is found in the records its row links."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# the README and every docs page: measurements and guides that moved out of the README
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs" / "tasks").glob("*.md"))]
# the pages that took the README's measurements and guides (docs/value.md, docs/data_at_scale.md are records of
# their own issues)
MOVED = [README, *(ROOT / "docs" / f"{name}.md" for name in ("results", "planning", "own_environment", "evaluation",
                                                             "interop", "training", "troubleshooting", "architecture")),
         *sorted((ROOT / "docs" / "tasks").glob("*.md"))]
TIME = re.compile(r"\d[\d,.]*\s?(?:ms|min)\b|\d[\d.]*\s?s (?:per|a step|from)|\d[\d.]* s\b|frames/s|s/step")
CPU = re.compile(r"Zen|AVX|EPYC")
SIMULATED = re.compile(r"steps?\s+(?:of\s+|\()[\d.]+ s\b")  # an env step's length in robot time, not a measurement
INLINE_LINK = re.compile(r"\]\(([^)\s]+)\)")
REFERENCE = re.compile(r"^\[([^\]]+)\]:\s*(\S+)", re.M)
FIGURE = re.compile(r"\d+/\d+|\d+(?:\.\d+)? ?%")


def test_the_pages_exist():
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    tasks = {f"docs/tasks/{t}.md" for t in ("reacher", "pointmass", "tworoom", "cube", "pusht")}
    assert {"docs/results.md", *tasks} <= names, sorted(names)


def test_every_section_with_timings_names_its_cpu():
    unnamed = []
    for page in MOVED:
        sections = re.split(r"\n(?=#{2,3} )", SIMULATED.sub("", page.read_text()))
        unnamed += [f"{page.relative_to(ROOT)}: {s.splitlines()[0]}" for s in sections
                    if TIME.search(s) and not CPU.search(s)]
    assert not unnamed, f"sections quoting times without naming the CPU: {unnamed}"


def slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return INLINE_LINK.findall(text) + [target for _, target in REFERENCE.findall(text)]


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in links(page):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, f"links to nothing: {broken}"


def headline_rows() -> tuple[dict[str, str], list[str], list[str]]:
    """The README's `What to expect` table: its reference links, header and rows."""
    text = README.read_text()
    refs = dict(REFERENCE.findall(text))
    section = text.split("## What to expect", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")]
    return refs, table[0], table[1:]


def row_records(row: str, refs: dict[str, str]) -> str:
    targets = [refs[label] for label in re.findall(r"\]\[([^\]]+)\]", row)] + INLINE_LINK.findall(row)
    files = [(README.parent / t.partition("#")[0]).resolve() for t in targets]
    return "\n".join(f.read_text() for f in files if f.suffix == ".md")


def test_every_headline_figure_is_in_the_records_its_row_links():
    refs, header, rows = headline_rows()
    assert len(rows) >= 6, rows
    shared = row_records(header, refs)
    missing = []
    for row in rows:
        records = re.sub(r"\s+", " ", row_records(row, refs) + shared)
        cells = re.sub(r"\[[^\]]*\]\[[^\]]*\]|\[[^\]]*\]\([^)]*\)", "", row)  # figures, not link text
        for figure in FIGURE.findall(cells):
            if figure not in records and figure.replace(" %", "%") not in records:
                missing.append(f"{figure} ({row.split('|')[1].strip()})")
    assert not missing, f"headline figures that the linked records do not hold: {missing}"


def test_readme_is_a_short_guide():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; measurements belong in docs/"


def test_readme_names_no_script_of_the_checkout():
    """An installed package has no experiments/*.py: the README names installed commands."""
    scripts = re.findall(r"experiments/[\w/.-]+\.py", README.read_text())
    assert not scripts, scripts
