"""Detection, landmarks, alignment, faceprints, comparison, quality and attributes on real photos."""
import threading

import numpy as np
import pytest

from conftest import data


def test_detect_and_landmarks(facet, sdk):
    faces = sdk.detect(data("gallery", "probe", "kit_with_rose.jpg"))
    assert len(faces) == 2, faces
    for f in faces:
        assert 0.8 <= f.score <= 1 and len(f.landmarks) == 68 and len(f.keypoints) == 5
        x, y, w, h = f.box
        left_eye, right_eye = f.keypoints[0], f.keypoints[1]
        assert x < left_eye[0] < right_eye[0] < x + w and y < left_eye[1] < y + h
    assert faces[0].score >= faces[1].score
    assert len(sdk.detect(data("images", "india_group.jpg"))) >= 5
    # landmarks recomputed from a box alone land where the detector's did
    f = faces[0]
    again = sdk.landmarks(data("gallery", "probe", "kit_with_rose.jpg"), facet.Face.from_box(*f.box))
    d = np.abs(np.array(again.landmarks) - np.array(f.landmarks)).max()
    assert d < 0.05 * f.box[3], d
    biggest = sdk.largest_face(data("gallery", "probe", "kit_with_rose.jpg"))
    assert biggest.box[2] * biggest.box[3] == max(g.box[2] * g.box[3] for g in faces)


def test_no_face(facet, sdk):
    blank = facet.Image.from_array(np.full((200, 200, 3), 128, np.uint8), "rgb")
    assert sdk.detect(blank) == []
    with pytest.raises(facet.NotFound):
        sdk.faceprint(blank)
    with pytest.raises(facet.NotFound):
        sdk.largest_face(blank)


def test_faceprints_and_compare(facet, sdk, enrolled):
    a, b = enrolled["obama"]
    c = enrolled["biden"][0]
    assert a.model.startswith("fr_feature@") and a.dim == 512 and a.model == sdk.faceprint_model
    assert abs(float(np.dot(a.to_array(), a.to_array())) - 1) < 1e-4
    same, p_same = facet.compare(a, b)
    diff, p_diff = facet.compare(a, c)
    assert same > facet.match_threshold() > diff, (same, diff)
    assert p_same > 0.95 and p_diff < 0.05
    assert abs(facet.match_probability(same) - p_same) < 1e-6
    group = sdk.faceprints(data("gallery", "probe", "obama_and_biden.jpg"))
    assert len(group) >= 2
    sims = sorted(facet.compare(a, fp)[0] for _, fp in group)
    assert sims[-1] > facet.match_threshold() > sims[-2]  # Obama once, and only once


def test_alignment_chip(facet, sdk):
    path = data("images", "obama.jpg")
    face = sdk.largest_face(path)
    chip = sdk.align(path, face)
    assert chip.size == (112, 112) and chip.channels == 3
    assert facet.compare(sdk.faceprint_from_chip(chip), sdk.faceprint(path, face))[0] > 0.999


def test_serialisation(facet, enrolled):
    a, b = enrolled["obama"]
    assert facet.Faceprint.from_bytes(a.to_bytes()) == a
    half = facet.Faceprint.from_bytes(a.to_bytes(fp16=True))
    assert abs(facet.compare(half, b)[0] - facet.compare(a, b)[0]) <= 0.001
    assert facet.Faceprint.from_json(a.to_json()) == a
    assert facet.Faceprint.from_vector(a.model, a.vector) == a
    with pytest.raises(facet.FormatError):
        facet.Faceprint.from_bytes(b"FPRT\x09\x00")
    with pytest.raises(facet.FormatError):
        facet.Faceprint.from_json('{"model": "x", "dim": 512, "dtype": "f32", "data": "!!"}')
    other = facet.Faceprint.from_vector("other@00000000", a.vector)
    with pytest.raises(facet.ModelError) as e:
        facet.compare(a, other)
    assert e.value.message


def test_quality_and_attributes(facet, sdk):
    (face, q, a), = sdk.analyze(data("images", "obama.jpg"))
    assert q.blur == "good" and q.exposure == "good" and q.is_live and q.left_eye_open and q.right_eye_open
    assert abs(q.yaw) < 0.5 and 200 < q.face_height < 500
    assert a.gender == "male" and 30 < a.age < 75 and a.expression in facet.EXPRESSIONS
    assert abs(sum(a.expression_scores.values()) - 1) < 1e-4
    cheap = sdk.quality(data("images", "obama.jpg"), face, what=0)
    assert cheap.yaw is None and cheap.is_live is None and cheap.blur == "good"


def test_threads_share_one_sdk(facet, sdk, enrolled):
    # ctypes drops the GIL in each call: four threads on one SDK agree with the serial result.
    path = data("gallery", "probe", "obama1.jpg")
    ref = sdk.faceprint(path)
    out = []

    def work():
        out.append(facet.compare(ref, sdk.faceprint(path))[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(out) == 4 and min(out) > 0.9999


def test_bad_settings(facet, tmp_path):
    with pytest.raises(facet.ModelError) as e:
        facet.SDK(model_dir=str(tmp_path), preload=facet.DETECT)
    assert str(tmp_path) in str(e.value)
    with pytest.raises(ValueError):
        facet.SDK(backend="gpu")


def test_boxes_only(facet):
    path = data("gallery", "probe", "kit_with_rose.jpg")
    with facet.SDK(threads=1, boxes_only=True) as s:
        faces = s.detect(path)
        assert len(faces) == 2 and all(f.landmarks == [] and f.keypoints == [] for f in faces)
        assert len(s.landmarks(path, faces[0]).landmarks) == 68
