"""Where each preset's book is executed and built: the reader's book and the CI book never share a folder.

The reader's book (`make book`: the default preset, or any preset but the CI one) is executed into book/executed and
built into book/_build/html. The CI preset's book (`make test`) is executed into book/executed/ci and built into
book/_build/ci/_build/html from a staged copy of the sources (book/_build/ci/src) whose book/executed is
book/executed/ci, so running the tests never changes the reader's executed notebooks, intro picture or pages.
"""
from __future__ import annotations

from pathlib import Path

from .figures import CI_PRESET, ROOT


def executed_dir(preset: str, root: Path = ROOT) -> Path:
    """Folder of the preset's executed notebooks and of the intro picture (headline.png)."""
    return root / "book" / "executed" / "ci" if preset == CI_PRESET else root / "book" / "executed"


def build_dir(preset: str, root: Path = ROOT) -> Path:
    """`jupyter-book build --path-output` of the preset's book (its HTML is build_dir/_build/html)."""
    return root / "book" / "_build" / "ci" if preset == CI_PRESET else root / "book"


def html_dir(preset: str, root: Path = ROOT) -> Path:
    """The preset's built HTML book."""
    return build_dir(preset, root) / "_build" / "html"


def stage_sources(dest: Path, executed: Path, root: Path = ROOT) -> Path:
    """A source tree for `jupyter-book build dest`: links to root's _config.yml, _toc.yml, _static and book/* (but
    book/_build), with book/executed linking to `executed`; replaces what was at `dest`."""
    import shutil

    dest, root, executed = Path(dest), Path(root).resolve(), Path(executed).resolve()
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    (dest / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml", "_static"):
        if (root / name).exists():
            (dest / name).symlink_to(root / name)
    for f in sorted((root / "book").iterdir()):
        if f.name not in ("_build", "executed"):
            (dest / "book" / f.name).symlink_to(f)
    (dest / "book" / "executed").symlink_to(executed)
    return dest


if __name__ == "__main__":  # python -m scoregap.book_layout DEST EXECUTED: stage the sources (the workflow's book rule)
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m scoregap.book_layout DEST EXECUTED")
    stage_sources(Path(sys.argv[1]), Path(sys.argv[2]), Path.cwd())
