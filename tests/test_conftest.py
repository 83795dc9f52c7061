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


def test_listed_files_go_first_in_the_lists_order_and_the_rest_keep_theirs():
    first, second = conftest.LONGEST_FIRST[:2]
    nodeids = ["tests/b.py::t1", f"{second}::t1", "tests/a.py::t1", f"{first}::t2", f"{first}::t1", "tests/b.py::t2",
               f"{second}::t2"]
    items = [_Item(nodeid) for nodeid in nodeids]
    conftest.pytest_collection_modifyitems(None, items)
    assert [item.nodeid for item in items] == [f"{first}::t2", f"{first}::t1", f"{second}::t1", f"{second}::t2",
                                               "tests/b.py::t1", "tests/a.py::t1", "tests/b.py::t2"]
