"""facet.Client against a real facetd on a loopback port (FACET_FACETD: its path, set by meson
when facetd is built), with a fresh SQLite store and admin key per session."""
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import data

ENROLL = data("gallery", "enroll")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    exe = os.environ.get("FACET_FACETD")
    if not exe:
        pytest.skip("facetd is not built (FACET_FACETD unset)")
    d = tmp_path_factory.mktemp("facetd")
    key = "test-admin-key-0123456789"
    (d / "key").write_text(key + "\n")
    log = open(d / "log", "w+")
    proc = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--db", "sqlite:" + str(d / "f.db"),
                             "--admin-key-file", str(d / "key"), "--workers", "2", "--threads-per-request", "1"],
                            stdout=log, stderr=subprocess.STDOUT)
    port, deadline = None, time.time() + 60
    while port is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
        log.seek(0)
        m = re.search(r"listening on \S+ \(port (\d+)", log.read())
        port = int(m.group(1)) if m else None
    if port is None:
        proc.kill()
        log.seek(0)
        pytest.fail("facetd did not start: " + log.read()[-2000:])
    yield "http://127.0.0.1:%d" % port, key
    proc.terminate()
    assert proc.wait(timeout=30) == 0  # SIGTERM is a clean stop
    log.close()


@pytest.fixture(scope="module")
def client(facet, server):
    return facet.Client(server[0], server[1])


def test_health(facet, server):
    anon = facet.Client(server[0])
    assert anon.health()["status"] == "ok"
    assert anon.ready()["status"] == "ready"


def test_enrol_and_identify(facet, client, sdk):
    client.create_collection("people")
    for person in sorted(os.listdir(ENROLL)):
        for i, name in enumerate(sorted(os.listdir(os.path.join(ENROLL, person)))):
            path = os.path.join(ENROLL, person, name)
            if i == 0:
                image = path  # a path
            else:  # a numpy BGR array, as from OpenCV
                bgr = np.ascontiguousarray(facet.Image.open(path).to_array()[:, :, ::-1])
                image = facet.Image.from_array(bgr, "bgr")
            out = client.enroll("people", person, image)
            assert out["identity"] == person and re.fullmatch(r"[0-9a-f-]{36}", out["uuid"])
    assert client.identities("people") == {"alex_lacamoire": 1, "biden": 2, "kit_harington": 2, "obama": 2,
                                           "rose_leslie": 2}
    with open(data("gallery", "probe", "kit_with_rose.jpg"), "rb") as f:
        faces = client.identify("people", f.read(), top_k=2)  # bytes
    names = sorted(face["candidates"][0]["identity"] for face in faces)
    assert names == ["kit_harington", "rose_leslie"], faces
    # the server's faceprint is the local SDK's
    local = sdk.faceprint(data("gallery", "probe", "obama1.jpg"))
    (remote,) = client.faceprints(data("gallery", "probe", "obama1.jpg"))
    assert facet.compare(local, facet.Faceprint.from_json(json.dumps(remote["faceprint"])))[0] > 0.999
    best = client.identify("people", faceprint=local)[0]["candidates"][0]
    assert best["identity"] == "obama" and best["probability"] > 0.95
    assert [c["name"] for c in client.collections()] == ["people"]
    assert client.collection("people")["faceprints"] == 9


def test_compare_and_detect(facet, client, sdk):
    a = data("gallery", "enroll", "obama", "obama.jpg")
    same = client.compare(a, data("gallery", "enroll", "obama", "obama2.jpg"))
    diff = client.compare(sdk.faceprint(a), data("gallery", "enroll", "biden", "biden.jpg"))
    assert same["match"] is True and diff["match"] is False and same["similarity"] > diff["similarity"]
    d = client.detect(data("gallery", "probe", "kit_with_rose.jpg"), landmarks=True, quality=True)
    assert len(d["faces"]) == 2 and len(d["faces"][0]["landmarks"]) == 68


def test_errors_carry_status_code_and_message(facet, server, client):
    with pytest.raises(facet.ApiError) as e:
        facet.Client(server[0], "wrong-key-wrong-key").collections()
    assert e.value.http_status == 401 and e.value.message and isinstance(e.value, facet.Error)
    with pytest.raises(facet.NotFound) as e:
        client.identify("nobody", data("images", "obama.jpg"))
    assert e.value.http_status == 404 and "nobody" in e.value.message
    with pytest.raises(facet.Exists):
        client.create_collection("people")
    with pytest.raises(facet.ApiError) as e:
        client.detect(b"\xff\xd8\xff\xe0 truncated jpeg")
    assert 400 <= e.value.http_status < 500 and e.value.code and e.value.message
    reader = facet.Client(server[0], client.create_key("recognize")["key"])
    with pytest.raises(facet.ApiError) as e:
        reader.enroll("people", "mallory", data("images", "obama.jpg"))
    assert e.value.http_status == 403


def test_removal(facet, client):
    uuid = client.enroll("people", "twice", data("images", "biden.jpg"))["uuid"]
    client.remove_face("people", uuid)
    with pytest.raises(facet.NotFound):
        client.remove_face("people", uuid)
    assert client.remove_identity("people", "obama") == 2
    assert "obama" not in client.identities("people")
    client.drop_collection("people")
    assert client.collections() == []


def test_client_needs_no_libfacet(server, tmp_path):
    # FACET_LIB pointing nowhere: any use of libfacet would raise; the client must not need it.
    code = "import facet; print(facet.Client(%r).health()['status'])" % server[0]
    env = dict(os.environ, FACET_LIB=str(tmp_path / "none.so"))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_readme_http_example(server, tmp_path):
    """The README's curl lines, run as written against this server (its start lines left out)."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "README.md")) as f:
        block = re.search(r"^```sh\n(echo .*?)^```", f.read(), re.M | re.S).group(1)
    lines = [line for line in block.splitlines() if not line.startswith(("echo ", "facetd "))]
    assert lines[0].startswith("URL=http://127.0.0.1:8080 ")
    lines[0] = lines[0].replace("http://127.0.0.1:8080", server[0])
    (tmp_path / "key.txt").write_text(server[1] + "\n")
    os.symlink(data("gallery", "enroll", "obama", "obama.jpg"), tmp_path / "a.jpg")
    os.symlink(data("gallery", "probe", "obama_and_biden.jpg"), tmp_path / "b.jpg")
    r = subprocess.run(["sh", "-ec", "\n".join(lines)], cwd=str(tmp_path), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    answers, rest, dec = [], r.stdout.strip(), json.JSONDecoder()
    while rest:  # curl prints the answers back to back
        obj, end = dec.raw_decode(rest)
        answers.append(obj)
        rest = rest[end:].strip()
    assert answers[0]["name"] == "people" and answers[1]["identity"] == "ada", answers
    named = [face["candidates"][0]["identity"] for face in answers[2]["faces"] if face["candidates"]]
    assert named == ["ada"], answers[2]  # Obama, enrolled as "ada"; Biden and the third face unknown
