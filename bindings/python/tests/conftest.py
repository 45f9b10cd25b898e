"""Shared fixtures: the data folder (real photos in ../shared/data), one SDK for the session,
and paths the meson runner passes in (tests/run-python-tests.py)."""
import os

import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
DATA = os.environ.get("FACET_TEST_DATA", os.path.join(REPO, "..", "shared", "data"))


def data(*parts):
    return os.path.join(DATA, *parts)


@pytest.fixture(scope="session")
def facet():
    import facet as f

    return f


@pytest.fixture(scope="session")
def sdk(facet):
    with facet.SDK(threads=1) as s:
        yield s


@pytest.fixture(scope="session")
def enrolled(sdk):
    """{person: [Faceprint, ...]} of the enrolment gallery."""
    out = {}
    root = data("gallery", "enroll")
    for person in sorted(os.listdir(root)):
        out[person] = [sdk.faceprint(os.path.join(root, person, n)) for n in sorted(os.listdir(os.path.join(root, person)))]
    return out
