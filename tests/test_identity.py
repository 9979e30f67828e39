"""Run identity: what makes two runs the same experiment."""

from ablate.config import resolved_dict
from ablate.identity import LOADER_VERSION, data_fingerprint, run_identity
from conftest import compose


def test_identity_follows_config_seed_and_data_but_not_bookkeeping(tmp_path):
    base = run_identity(resolved_dict(compose("data=digits")))
    assert len(base) == 16
    assert run_identity(resolved_dict(compose("data=digits", "tracking=none"))) == base
    assert run_identity(resolved_dict(compose("data=digits", "ablation.seeds=3"))) == base
    assert run_identity(resolved_dict(compose("data=digits", "seed=1"))) != base
    assert run_identity(resolved_dict(compose("data=digits", "smoothing=0.1"))) != base


def test_a_user_file_is_fingerprinted_by_its_content(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,label\n1,0\n2,1\n")
    first = data_fingerprint({"name": "csv", "path": str(path)})
    assert first == data_fingerprint({"name": "csv", "path": str(path)})
    path.write_text("a,label\n1,0\n3,1\n")  # same size, other content
    assert data_fingerprint({"name": "csv", "path": str(path)}) != first
    assert first.startswith("sha256:")


def test_a_folder_is_fingerprinted_by_its_files_and_bundled_data_by_the_loader(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "1.png").write_bytes(b"x")
    first = data_fingerprint({"name": "image_folder", "path": str(tmp_path)})
    (tmp_path / "cat" / "2.png").write_bytes(b"x")
    assert data_fingerprint({"name": "image_folder", "path": str(tmp_path)}) != first
    bundled = data_fingerprint({"name": "mnist5k", "path": None})
    assert bundled == f"loader:mnist5k::{LOADER_VERSION}"
