"""Collections and 1:N search in a real SQLite file."""
import pytest

from conftest import data


def test_enrol_identify_persist(facet, sdk, enrolled, tmp_path):
    url = "sqlite:" + str(tmp_path / "g.db")
    with facet.Gallery(url) as g:
        for person, fps in enrolled.items():
            for fp in fps:
                g.enroll("people", person, fp)
        assert g.count("people") == 9
        assert g.identities("people") == {"alex_lacamoire": 1, "biden": 2, "kit_harington": 2, "obama": 2,
                                          "rose_leslie": 2}
    with facet.Gallery(url) as g:  # persisted
        (info,) = g.collections()
        assert (info.name, info.model, info.dim, info.dtype) == ("people", sdk.faceprint_model, 512, "f32")
        probe = sdk.faceprint(data("gallery", "probe", "obama1.jpg"))
        best = g.identify("people", probe, k=3)
        assert [m.identity for m in best[:2]] == ["obama", "obama"], best
        assert best[1].similarity > facet.match_threshold() > best[2].similarity
        assert best[0].probability > 0.95
        # every probe face: the right names
        names = []
        for _, fp in sdk.faceprints(data("gallery", "probe", "kit_with_rose.jpg")):
            names.append(g.identify("people", fp)[0].identity)
        assert sorted(names) == ["kit_harington", "rose_leslie"]
        many = g.identify_many("people", [probe, enrolled["biden"][0]], k=2)
        assert [m[0].identity for m in many] == ["obama", "biden"]
        # removal
        assert g.remove_identity("people", "obama") == 2
        assert g.identify("people", probe)[0].identity != "obama"
        uuid = best[2].uuid
        g.remove("people", uuid)
        with pytest.raises(facet.NotFound):
            g.remove("people", uuid)
        assert g.count("people") == 6


def test_collections_and_errors(facet, sdk, enrolled, tmp_path):
    a = enrolled["obama"][0]
    with facet.Gallery("sqlite:" + str(tmp_path / "c.db")) as g:
        g.create_collection("staff", sdk.faceprint_model, dtype="f16", keep_payload=True)
        with pytest.raises(facet.Exists):
            g.create_collection("staff", sdk.faceprint_model)
        with pytest.raises(facet.InvalidArgument) as e:
            g.create_collection("no spaces/allowed", sdk.faceprint_model)
        assert e.value.message
        with pytest.raises(facet.NotFound):
            g.count("missing")
        with pytest.raises(facet.NotFound):
            g.enroll("missing", "x", a, create=False)
        other = facet.Faceprint.from_vector("other@00000000", a.vector)
        with pytest.raises(facet.ModelError):
            g.enroll("staff", "x", other)
        chip = sdk.align(data("images", "obama.jpg"), sdk.largest_face(data("images", "obama.jpg"))).to_png()
        uuids = g.enroll_many("staff", [("obama", a), ("biden", enrolled["biden"][0])])
        u = g.enroll("staff", "obama", enrolled["obama"][1], payload=chip)
        assert len(set(uuids + [u])) == 3
        assert g.payloads("staff") == [(u, "obama", chip)]
        assert g.payload("staff", u) == chip
        page, total = g.faces("staff", limit=2)
        assert total == 3 and [i for _, i in page] == ["biden", "obama"]
        assert g.faces("staff", offset=2)[0] == [(max(uuids[0], u), "obama")]
        ident, fp = g.face("staff", u)
        assert ident == "obama" and facet.compare(fp, enrolled["obama"][1])[0] > 0.999  # f16 in memory
        with pytest.raises(facet.NotFound):
            g.face("staff", "00000000-0000-4000-8000-000000000000")
        assert g.rename_identity("staff", "biden", "joe") == 1
        assert g.identities("staff") == {"joe": 1, "obama": 2}
        assert g.load("staff")["loaded"] == 3
        g.drop_collection("staff")
        assert g.collections() == []


def test_bad_store_url(facet, tmp_path):
    with pytest.raises(facet.Error) as e:
        facet.Gallery("sqlite:" + str(tmp_path / "no" / "such" / "dir" / "x.db"))
    assert e.value.message
    with pytest.raises(facet.Error):
        facet.Gallery("nosuchscheme:x")
