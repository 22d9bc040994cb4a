"""Compare the ablation tables of two study reports row by row, ignoring the time columns: which
potentials repeat to every printed digit, which differ and in what (docs/results.md,
"Reproducibility"). Reads the markdown that `bsct study` prints (``OUT/ablation.md``) or a copy of it
inside a longer file, e.g. an older docs/results.md:

    git show fcfef17:docs/results.md > /tmp/run1.md
    .venv/bin/python benchmarks/compare_study_tables.py /tmp/run1.md runs/study-full/ablation.md --old-section "### Run 1"
"""
import argparse
import re
from pathlib import Path

TIME_COLUMNS = ("cost", "train s")  # wall times differ between runs by nature


def study_rows(text: str, section: str | None = None) -> dict[tuple[str, str], dict[str, str]]:
    """{(system, potential): {column: cell}} of every ablation table in ``text`` (or in the part from
    the heading that starts with ``section`` to the next heading of the same level)."""
    lines = text.splitlines()
    if section:
        start = next(i for i, line in enumerate(lines) if line.startswith(section))
        level = section.split()[0]
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(level + " ")), len(lines))
        lines = lines[start:end]
    rows, system, header = {}, None, None
    for line in lines:
        heading = re.fullmatch(r"(?:### |\*\*)(\w+)(?:\*\*)?(?: \(.*\))?", line.strip())
        if heading:
            system, header = heading.group(1), None
        elif line.startswith("| potential | kind |"):
            header = [c.strip() for c in line.strip("|").split("|")]
        elif header and system and line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[(system, cells[0])] = {h: c for h, c in zip(header[1:], cells[1:])
                                        if not any(t in h for t in TIME_COLUMNS)}
        elif not line.startswith("|"):
            header = None
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--old-section", default=None, help="read OLD's tables only under this heading")
    args = parser.parse_args()
    old = study_rows(args.old.read_text(), args.old_section)
    new = study_rows(args.new.read_text())
    both = [k for k in old if k in new]
    same = [k for k in both if old[k] == new[k]]
    print(f"{len(both)} rows in both, {len(same)} identical in every column but the times")
    for key in both:
        diff = {c: (old[key][c], new[key].get(c)) for c in old[key] if old[key][c] != new[key].get(c)}
        if diff:
            print(f"  {key[0]}/{key[1]}: " + "; ".join(f"{c}: {a} -> {b}" for c, (a, b) in diff.items()))


if __name__ == "__main__":
    main()
