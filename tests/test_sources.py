"""The listing of the content folder a publish starts from: which files, with which stat."""

from __future__ import annotations

import os
from pathlib import Path

from publisher.sources import SourceFile, content_folders


def _files(content: Path) -> dict[str, list[SourceFile]]:
    return {folder: files.files() for folder, files in content_folders(content).items()}


def _listed(content: Path, rel: str, *, follow: bool = True) -> SourceFile:
    info = os.stat(content / rel, follow_symlinks=follow)
    return SourceFile(rel, info.st_mtime_ns, info.st_size)


def test_each_folder_lists_its_post_files_sorted_with_their_stat(tmp_path: Path) -> None:
    content = tmp_path / "content"
    for rel, size in [("b.md", 3), ("a.md", 1), ("2012/07/z.md", 5), ("2012/07/y.md", 2), ("2012/x.md", 4)]:
        (content / rel).parent.mkdir(parents=True, exist_ok=True)
        (content / rel).write_bytes(b"x" * size)
        os.utime(content / rel, ns=(size, 1_000_000_000 * size + 7))  # each file its own time
    found = _files(content)
    assert found == {
        "": [_listed(content, "a.md"), _listed(content, "b.md")],
        "2012": [_listed(content, "2012/x.md")],
        "2012/07": [_listed(content, "2012/07/y.md"), _listed(content, "2012/07/z.md")],
    }
    assert found["2012/07"][1] == SourceFile("2012/07/z.md", 5_000_000_007, 5)


def test_hidden_names_other_files_and_links_to_folders_are_left_out(tmp_path: Path) -> None:
    content = tmp_path / "content"
    for rel in ["a.md", "notes.txt", ".hidden.md", "_draft.md", "_parts/p.md", ".git/x.md", "folder.md/in.md"]:
        (content / rel).parent.mkdir(parents=True, exist_ok=True)
        (content / rel).write_text("x")
    (content / "linked").symlink_to(content / "folder.md")  # a link to a folder is not followed
    (content / "linked.md").symlink_to(content / "folder.md")
    assert {folder: [f.rel for f in files] for folder, files in _files(content).items()} == {
        "": ["a.md"],
        "folder.md": ["folder.md/in.md"],
    }


def test_a_link_is_listed_with_its_target_stat_and_a_link_to_nowhere_with_its_own(tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "2012").mkdir(parents=True)
    (tmp_path / "target.md").write_text("the target's bytes")
    (content / "2012" / "link.md").symlink_to(tmp_path / "target.md")
    (content / "2012" / "gone.md").symlink_to("nowhere.md")  # relative to its own folder: nothing there
    (content / "2012" / "nowhere-else.md").symlink_to("../gone.md")
    assert _files(content) == {
        "2012": [
            _listed(content, "2012/gone.md", follow=False),
            _listed(content, "2012/link.md"),
            _listed(content, "2012/nowhere-else.md", follow=False),
        ]
    }
    assert _files(content)["2012"][1].size == len("the target's bytes")


def test_a_content_folder_that_cannot_be_listed_lists_nothing(tmp_path: Path) -> None:
    assert content_folders(tmp_path / "missing") == {}
    (tmp_path / "file").write_text("not a folder")
    assert content_folders(tmp_path / "file") == {}


def test_a_folder_digest_changes_with_any_name_or_stat_even_a_time_past_2262(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    for name in ("a.md", "b.md"):
        (content / name).write_text("same")
        os.utime(content / name, ns=(0, 1_000_000_000))

    def digest() -> str:
        return content_folders(content)[""].digest()

    seen = [digest()]
    (content / "b.md").write_text("more")  # same size, new time
    seen.append(digest())
    os.utime(content / "b.md", ns=(0, 1_000_000_000))  # the time back: the bytes alone changed
    assert digest() == seen[0]
    (content / "b.md").write_text("longer")
    os.utime(content / "b.md", ns=(0, 1_000_000_000))
    seen.append(digest())  # the size alone changed
    (content / "b.md").rename(content / "c.md")
    seen.append(digest())
    os.utime(content / "a.md", ns=(0, 2**63 + 10**18))  # past what 64 bits of nanoseconds hold
    seen.append(digest())
    assert len(set(seen)) == len(seen)
    assert digest() == seen[-1]
