"""The documentation holds together: every relative link in the repository's Markdown files points at a file that
exists (and at a heading that exists, when it names one), and README.md stays a short front page.

Anchors follow GitHub's rules, since GitHub is where the links are followed: a heading's anchor is its text
lower-cased, with everything but letters, digits, spaces, hyphens and underscores removed and spaces turned
into hyphens; a repeated heading gets -1, -2, ...
"""

import re
import subprocess
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 150

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*)?\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")


def markdown_files() -> List[Path]:
    """The Markdown files git tracks or would track (new ones included, generated and ignored ones not)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "*.md"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8")
        names = [name for name in out.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        # not a git checkout (an sdist): the places the project keeps its Markdown
        patterns = ["*.md", "docs/**/*.md", "egs/*/*/README.md", "tools/*/README.md"]
        names = [str(p.relative_to(ROOT)) for pattern in patterns for p in ROOT.glob(pattern)]
    return sorted({ROOT / name for name in names if (ROOT / name).is_file()})


def _prose_lines(text: str) -> List[Tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks, inline code spans blanked out."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if match:
            if fence is None:
                fence = match.group(1)
            elif match.group(1) == fence:
                fence = None
            continue
        if fence is None:
            lines.append((number, _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading's Markdown text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's anchor is its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> Set[str]:
    """Every anchor a Markdown file offers: its headings' (numbered when repeated) and explicit HTML ones."""
    seen: Dict[str, int] = {}
    found: Set[str] = set()
    fence = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match:
            fence = match.group(1) if fence is None else (None if match.group(1) == fence else fence)
            continue
        if fence is not None:
            continue
        found.update(_HTML_ANCHOR.findall(line))
        heading = _HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path, root: Path = ROOT) -> List[str]:
    """One line per relative link of ``path`` (named relative to ``root``) whose file or heading does not exist."""
    text = path.read_text(encoding="utf-8")
    problems = []
    for number, line in _prose_lines(text):
        targets = _LINK.findall(line)
        reference = _REFERENCE.match(line)
        if reference:
            targets.append(reference.group(1))
        for target in targets:
            if not target or _SCHEME.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(root)}:{number}: {target}"
            if not dest.exists():
                problems.append(f"{where}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text(encoding="utf-8")):
                problems.append(f"{where}: no heading with anchor #{anchor} in {dest.name}")
    return problems


def test_relative_links_point_at_existing_files_and_headings():
    files = markdown_files()
    assert ROOT / "README.md" in files and any(p.parent == ROOT / "docs" for p in files)
    problems = [problem for path in files for problem in broken_links(path)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_is_a_short_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md: {len(lines)} lines, at most {README_MAX_LINES}: move detail to docs/"
    )


@pytest.mark.parametrize(
    "heading, anchor",
    [
        ("Variants: `--tag`", "variants---tag"),
        ("Stage 8: score and RESULTS.md", "stage-8-score-and-resultsmd"),
        ("Stages 4-6: training", "stages-4-6-training"),
        ("Scoring time at the recipe's scale", "scoring-time-at-the-recipes-scale"),
        ("The recipe: `egs/aishell_librispeech/codec1`", "the-recipe-egsaishell_librispeechcodec1"),
        ("中文 标题", "中文-标题"),
        ("See [the docs](docs/recipe.md)", "see-the-docs"),
    ],
)
def test_slug_follows_github(heading, anchor):
    assert slug(heading) == anchor


def test_checker_reports_missing_files_and_headings(tmp_path):
    """The link check can fail: a missing file, a missing heading, a repeated heading's numbered anchor, and links
    inside code that are not links."""
    (tmp_path / "other.md").write_text("# Title\n\n## Part\n\n## Part\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md) [ok](other.md#part) [ok](other.md#part-1) [ok](#page) [web](https://example.com/x.md)\n"
        "[gone](missing.md) [bad](other.md#part-2) ![img](missing.png)\n"
        "`[code](missing.md)`\n\n"
        "```\n[fenced](missing.md)\n```\n\n"
        "[ref]: nowhere.md\n",
        encoding="utf-8",
    )
    assert broken_links(page, root=tmp_path) == [
        "page.md:4: missing.md: no such file",
        "page.md:4: other.md#part-2: no heading with anchor #part-2 in other.md",
        "page.md:4: missing.png: no such file",
        "page.md:11: nowhere.md: no such file",
    ]
