"""odes.io: atomic writes."""
import os
import tempfile

from odes import io


def test_atomic_write_keeps_its_temporary_file_beside_the_target(tmp_path, monkeypatch):
    """The temporary file lives in the target's directory, so that the final rename never crosses
    a filesystem boundary (outputs on a cluster's scratch disk, /tmp elsewhere)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))    # the system's temp dir: elsewhere
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renames.append((src, dst)),
                                                         real_replace(src, dst)))
    target = tmp_path / "out" / "run.csv"
    target.parent.mkdir()
    with io.atomic_write(target) as fh:
        fh.write("new\n")
        assert len(list(target.parent.iterdir())) == 1       # the temporary file, beside the target
    assert [os.path.dirname(src) for src, _ in renames] == [str(target.parent)]
    assert target.read_text() == "new\n" and list(target.parent.iterdir()) == [target]
