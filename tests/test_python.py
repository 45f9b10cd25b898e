"""The Python bindings (bindings/python) against the built library, printing TAP.

Run by meson with FACET_LIB pointing at the build's libfacet.so; uses real photos from
../shared/data and a temporary SQLite store.
"""
import os
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
DATA = os.environ.get("FACET_TEST_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                      "shared", "data"))


def t_detect_and_faceprint(facet, sdk):
    faces = sdk.detect(os.path.join(DATA, "gallery/probe/kit_with_rose.jpg"))
    assert len(faces) == 2, faces
    assert all(len(f.landmarks) == 68 and 0.8 <= f.score <= 1 for f in faces)
    fp = sdk.faceprint(os.path.join(DATA, "images/obama.jpg"))
    assert fp.model.startswith("fr_feature@") and len(fp.vector) == 512
    assert abs(sum(v * v for v in fp.vector) - 1) < 1e-4


def t_compare(facet, sdk):
    a = sdk.faceprint(os.path.join(DATA, "gallery/enroll/obama/obama.jpg"))
    b = sdk.faceprint(os.path.join(DATA, "gallery/enroll/obama/obama2.jpg"))
    c = sdk.faceprint(os.path.join(DATA, "gallery/enroll/biden/biden.jpg"))
    same, p_same = facet.compare(a, b)
    diff, p_diff = facet.compare(a, c)
    assert same > facet.match_threshold() > diff, (same, diff)
    assert p_same > 0.95 and p_diff < 0.05
    back = facet.Faceprint.from_bytes(a.to_bytes())
    assert back.vector == a.vector
    half = facet.Faceprint.from_bytes(a.to_bytes(fp16=True))
    assert abs(facet.compare(half, b)[0] - same) <= 0.001


def t_errors(facet, sdk):
    try:
        sdk.detect("/nonexistent.jpg")
        raise AssertionError("no error")
    except facet.Error as e:
        assert "nonexistent" in str(e) and e.status == -3
    try:
        facet.Faceprint.from_bytes(b"FPRT\x09\x00")
        raise AssertionError("no error")
    except facet.Error as e:
        assert e.status == -4


def t_analyze(facet, sdk):
    (q, a), = sdk.analyze(os.path.join(DATA, "images/obama.jpg"))
    assert q["blur"] == "good" and q["exposure"] == "good" and q["has_pose"] and q["is_live"]
    assert a["gender"] == "male" and 30 < a["age"] < 75 and abs(sum(a["expression_scores"]) - 1) < 1e-4


def t_gallery(facet, sdk):
    with tempfile.TemporaryDirectory() as d:
        g = facet.Gallery("sqlite:" + os.path.join(d, "t.db"))
        for person in ("obama", "biden"):
            folder = os.path.join(DATA, "gallery/enroll", person)
            for name in sorted(os.listdir(folder)):
                g.enroll("people", person, sdk.faceprint(os.path.join(folder, name)))
        assert g.count("people") == 4
        g.close()
        g = facet.Gallery("sqlite:" + os.path.join(d, "t.db"))  # persisted
        probe = sdk.faceprint(os.path.join(DATA, "gallery/probe/obama1.jpg"))
        best = g.identify("people", probe, k=3)
        assert [b[0] for b in best] == ["obama", "obama", "biden"], best
        assert best[1][2] > facet.match_threshold() > best[2][2], best
        g.close()


def main():
    tests = [t_detect_and_faceprint, t_compare, t_errors, t_analyze, t_gallery]
    print("1..%d" % len(tests))
    try:
        import facet
        sdk = facet.SDK(threads=1)
    except Exception as e:  # the library or models are missing: every test fails, loudly
        for i, t in enumerate(tests):
            print("not ok %d - %s # %s" % (i + 1, t.__name__, e))
        return 1
    failed = 0
    for i, t in enumerate(tests):
        try:
            t(facet, sdk)
            print("ok %d - %s" % (i + 1, t.__name__))
        except Exception:
            failed += 1
            print("not ok %d - %s" % (i + 1, t.__name__))
            for line in traceback.format_exc().splitlines():
                print("#   " + line)
        sys.stdout.flush()
    sdk.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
