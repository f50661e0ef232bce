"""Stage 6, emit: the pod directory becomes exactly the rendered files, and nothing else."""

from __future__ import annotations

import stat

from compiler.artifacts.emit import emit


def tree(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_writes_the_files_and_their_folders(tmp_path):
    pod = tmp_path / "out" / "pod"
    emit({"a.txt": b"1\n", "sub/deeper/b.py": b"2\n"}, pod)
    assert tree(pod) == {"a.txt": b"1\n", "sub/deeper/b.py": b"2\n"}


def test_replaces_the_pod_directory_exactly(tmp_path):
    pod = tmp_path / "pod"
    emit({"a.txt": b"1\n", "sub/b.txt": b"2\n", "sub/c.txt": b"3\n"}, pod)
    (pod / "edited-by-hand.txt").write_bytes(b"x")
    emit({"a.txt": b"4\n"}, pod)
    assert tree(pod) == {"a.txt": b"4\n"}
    assert sorted(p.relative_to(pod).as_posix() for p in pod.rglob("*")) == ["a.txt"]


def test_leaves_no_temporary_directories(tmp_path):
    emit({"a.txt": b"1\n"}, tmp_path / "pod")
    emit({"a.txt": b"2\n"}, tmp_path / "pod")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pod"]


def test_cleans_up_after_an_interrupted_run(tmp_path):
    # What a compile killed mid-way leaves behind is removed by the next one.
    (tmp_path / ".pod.tmp" / "half").mkdir(parents=True)
    (tmp_path / ".pod.old").mkdir()
    emit({"a.txt": b"1\n"}, tmp_path / "pod")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pod"]


def test_other_pods_beside_it_are_untouched(tmp_path):
    emit({"a.txt": b"1\n"}, tmp_path / "one")
    emit({"b.txt": b"2\n"}, tmp_path / "two")
    emit({"c.txt": b"3\n"}, tmp_path / "one")
    assert tree(tmp_path / "two") == {"b.txt": b"2\n"}
    assert tree(tmp_path / "one") == {"c.txt": b"3\n"}


def test_files_are_written_byte_for_byte_and_readable(tmp_path):
    content = "é\r\nno newline".encode()
    emit({"x.bin": content}, tmp_path / "pod")
    path = tmp_path / "pod" / "x.bin"
    assert path.read_bytes() == content
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_file_or_symlink_where_the_pod_goes_is_replaced(tmp_path):
    (tmp_path / "pod").write_bytes(b"a file, not a pod\n")
    emit({"a.txt": b"1\n"}, tmp_path / "pod")
    assert tree(tmp_path / "pod") == {"a.txt": b"1\n"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_bytes(b"k\n")
    (tmp_path / ".pod.old").symlink_to(elsewhere)  # junk of an earlier run, through a link
    emit({"a.txt": b"2\n"}, tmp_path / "pod")
    assert tree(elsewhere) == {"keep.txt": b"k\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "pod"]
