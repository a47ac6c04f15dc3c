import json

import pytest

from ddpm_mnist.io import LockedError, exclusive, write_json


def test_write_json_replaces_atomically_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "deep" / "result.json"
    write_json(path, {"fid": 1.5})
    write_json(path, {"fid": 2.5})
    assert json.loads(path.read_text()) == {"fid": 2.5}
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]


def test_exclusive_refuses_a_lock_another_process_holds_until_it_dies(tmp_path, lock_holder):
    path = tmp_path / "run.lock"
    holder = lock_holder(path)
    with pytest.raises(LockedError, match="locked by another process"):
        with exclusive(path, wait=False):
            pass
    holder.kill()  # killed, not released: the operating system drops the lock with the process
    holder.wait()
    with exclusive(path, wait=False) as held:
        assert held == path
    with exclusive(path, wait=False):  # released at the end of the block
        pass
