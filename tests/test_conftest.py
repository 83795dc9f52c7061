"""The suite's own scheduling (tests/conftest.py): the files it puts first exist, and go first."""

import pathlib

from tests import conftest

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]


def test_every_file_put_first_exists_once():
    assert len(set(conftest.LONGEST_FIRST)) == len(conftest.LONGEST_FIRST)
    missing = [path for path in conftest.LONGEST_FIRST if not (REPOSITORY / path).is_file()]
    assert not missing, f"renamed or removed: {missing}"


class _Item:
    def __init__(self, nodeid):
        self.nodeid = nodeid


class _WorkerConfig:
    workerinput = {"workerid": "gw0"}  # what xdist sets on a worker's config


FIRST, SECOND = conftest.LONGEST_FIRST[:2]
NODEIDS = ["tests/b.py::t1", f"{SECOND}::t1", "tests/a.py::t1", f"{FIRST}::t2", f"{FIRST}::t1", "tests/b.py::t2",
           f"{SECOND}::t2"]


def test_in_a_worker_listed_files_go_first_in_the_lists_order_and_the_rest_keep_theirs():
    items = [_Item(nodeid) for nodeid in NODEIDS]
    conftest.pytest_collection_modifyitems(_WorkerConfig(), items)
    assert [item.nodeid for item in items] == [f"{FIRST}::t2", f"{FIRST}::t1", f"{SECOND}::t1", f"{SECOND}::t2",
                                               "tests/b.py::t1", "tests/a.py::t1", "tests/b.py::t2"]


def test_one_process_keeps_the_order_it_was_given():
    items = [_Item(nodeid) for nodeid in NODEIDS]
    conftest.pytest_collection_modifyitems(object(), items)
    assert [item.nodeid for item in items] == NODEIDS
