// sdk_test.mjs - facetd's CompreFace-compatible API driven by CompreFace's own JavaScript SDK
// (@exadel/compreface-js-sdk 1.0.0, pinned with its dependencies in package-lock.json), the
// client that CompreFace users already run. Prints TAP.
//
// Environment: CF_SERVER (http://127.0.0.1), CF_PORT, CF_REC_KEY (a recognition key bound to an
// empty collection), CF_DET_KEY (a key without a collection: detection and verification),
// CF_DATA (the shared data folder as a path relative to the working directory: the SDK sends a
// file only when its path starts with "."; anything else it takes for a URL or base64).
//
// The SDK's face-collection and subject objects append to their URL on every call (a bug of
// the SDK), so each call below takes a fresh object.
import fs from 'node:fs';
import path from 'node:path';
import { CompreFace } from '@exadel/compreface-js-sdk';

// The SDK prints every URL with its key through console.log: silenced, and stdout is TAP's.
const tap = (line) => process.stdout.write(line + '\n');
console.log = () => {};

const env = (k) => {
    const v = process.env[k];
    if (!v) {
        tap(`Bail out! ${k} is not set`);
        process.exit(1);
    }
    return v;
};
const server = env('CF_SERVER'), port = env('CF_PORT'), data = env('CF_DATA');
const cf = new CompreFace(server, port);
const rec = cf.initFaceRecognitionService(env('CF_REC_KEY'));
const det = cf.initFaceDetectionService(env('CF_DET_KEY'));
const ver = cf.initFaceVerificationService(env('CF_DET_KEY'));
const faces = () => rec.getFaceCollection();
const subjects = () => rec.getSubjects();

let n = 0, failed = 0;
function ok(cond, what, detail) {
    n++;
    if (!cond) failed++;
    tap(`${cond ? 'ok' : 'not ok'} ${n} - ${what}`);
    if (!cond && detail !== undefined) tap(`#   got: ${JSON.stringify(detail).slice(0, 600)}`);
}
// A CompreFace error: the HTTP status and the body's numeric code.
async function fails(promise, status, code, what) {
    try {
        const r = await promise;
        ok(false, what, r);
    } catch (e) {
        const got = e.response ? { status: e.response.status, body: e.response.data } : String(e);
        ok(e.response && e.response.status === status && e.response.data &&
           e.response.data.code === code && typeof e.response.data.message === 'string',
           `${what}: ${status} code ${code}`, got);
    }
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
// Faces whose best subject reaches this similarity count as recognised: facetd's similarity is
// facet's match probability, 0.5 at facet's decision threshold (docs/compreface.md).
const MATCH = 0.5;

const enrollDir = path.join(data, 'gallery', 'enroll');
const probeDir = path.join(data, 'gallery', 'probe');
// Who is in each probe photo (the photos' own names say so; Kit Harington plays Jon Snow).
const expected = {
    'alex_lacamoire1.jpg': ['alex_lacamoire'],
    'johnsnow_test1.jpg': ['kit_harington'],
    'kit_with_rose.jpg': ['kit_harington', 'rose_leslie'],
    'obama1.jpg': ['obama'],
    'obama_and_biden.jpg': ['biden', 'obama'],
};

async function main() {
    // ---- subjects ----
    let r = await subjects().deleteAll();
    ok(typeof r.deleted === 'number', 'delete all subjects of a fresh collection', r);
    r = await subjects().add('rose_leslie');
    ok(r.subject === 'rose_leslie', 'add a subject', r);
    await fails(subjects().add('rose_leslie'), 400, 43, 'add the same subject again');
    await fails(subjects().add('Rose_Leslie'), 400, 43, 'add it again in other case (names ignore case)');
    r = await subjects().list();
    ok(Array.isArray(r.subjects) && r.subjects.includes('rose_leslie'),
       'a subject without examples is listed', r);

    // ---- examples: every photo of the enrolment set, one of them as base64 ----
    const ids = {};
    let added = 0, base64Done = false;
    for (const person of fs.readdirSync(enrollDir).sort()) {
        for (const f of fs.readdirSync(path.join(enrollDir, person)).sort()) {
            const p = path.join(enrollDir, person, f);
            let input = p.startsWith('.') ? p : './' + p;
            if (!base64Done && person === 'obama') {
                input = fs.readFileSync(p).toString('base64');
                base64Done = true;
            }
            r = await faces().add(input, person);
            if (r && UUID.test(r.image_id) && r.subject === person) {
                added++;
                (ids[person] ||= []).push(r.image_id);
            } else {
                ok(false, `add ${p}`, r);
            }
        }
    }
    ok(added === 9 && base64Done, `9 examples added (multipart and base64): ${added}`);
    r = await subjects().list();
    ok(r.subjects.length === 5 && Object.keys(ids).every((s) => r.subjects.includes(s)),
       'the 5 subjects are listed', r);

    r = await faces().list();
    const listed = new Map((r.faces || []).map((f) => [f.image_id, f.subject]));
    ok(r.total_elements === 9 && r.page_number === 0 && r.page_size === 20 && r.total_pages === 1 &&
       Object.entries(ids).every(([s, l]) => l.every((id) => listed.get(id) === s)),
       'list examples: every example with its subject, page fields', r);

    // ---- recognize every probe photo ----
    for (const f of Object.keys(expected)) {
        r = await rec.recognize(path.join(probeDir, f), { limit: 0, prediction_count: 1 });
        const got = (r.result || [])
            .filter((x) => x.subjects && x.subjects[0] && x.subjects[0].similarity >= MATCH)
            .map((x) => x.subjects[0].subject).sort();
        ok(JSON.stringify(got) === JSON.stringify(expected[f]), `recognize ${f}: ${got.join(', ')}`,
           r);
    }
    r = await rec.recognize(path.join(probeDir, 'obama_and_biden.jpg'), {
        limit: 1, prediction_count: 2, face_plugins: 'landmarks,calculator,age,gender,pose',
        status: true,
    });
    const face = r.result && r.result[0];
    ok(r.result && r.result.length === 1, 'limit 1: one face', r);
    ok(face && face.subjects.length === 2 && face.subjects[0].similarity >= face.subjects[1].similarity,
       'prediction_count 2: two subjects, best first', face && face.subjects);
    ok(face && Number.isInteger(face.box.x_min) && face.box.x_max > face.box.x_min &&
       face.box.probability > 0.5 && face.box.probability <= 1, 'box', face && face.box);
    ok(face && face.landmarks.length === 5 && face.landmarks.every((p) => p.length === 2),
       'landmarks plugin: five points', face && face.landmarks);
    ok(face && face.embedding.length === 512 &&
       Math.abs(face.embedding.reduce((a, x) => a + x * x, 0) - 1) < 1e-3,
       'calculator plugin: a 512-d unit embedding');
    // facet's age model is a regression: a range around its estimate, no probability to report
    ok(face && Number.isInteger(face.age.low) && face.age.high - face.age.low === 10 &&
       face.age.probability === null, 'age plugin: a range (probability null, documented)', face && face.age);
    ok(face && ['male', 'female'].includes(face.gender.value) && face.gender.probability >= 0.5,
       'gender plugin', face && face.gender);
    ok(face && ['pitch', 'roll', 'yaw'].every((k) => typeof face.pose[k] === 'number'),
       'pose plugin', face && face.pose);
    ok(face && face.execution_time && typeof face.execution_time.detector === 'number' &&
       r.plugins_versions && r.plugins_versions.calculator, 'status: execution times and versions', r);
    await fails(rec.recognize(path.join(probeDir, 'obama1.jpg'), { limit: 0, face_plugins: 'mask' }),
                400, 36, 'the mask plugin is refused, never faked');
    await fails(rec.recognize(path.join(probeDir, 'obama1.jpg'), { limit: 0, prediction_count: 0 }),
                400, 26, 'prediction_count 0');

    // ---- verify a photo against one example ----
    r = await faces().verify(path.join(probeDir, 'obama1.jpg'), ids.obama[0], { limit: 0 });
    ok(r.result && r.result.length === 1 && r.result[0].similarity >= MATCH,
       'verify obama1.jpg against an example of obama: same', r);
    r = await faces().verify(path.join(probeDir, 'obama1.jpg'), ids.biden[0], { limit: 0 });
    ok(r.result && r.result.length === 1 && r.result[0].similarity < MATCH,
       'verify obama1.jpg against an example of biden: different', r);

    // ---- detection service ----
    r = await det.detect(path.join(probeDir, 'obama_and_biden.jpg'),
                         { limit: 0, face_plugins: 'landmarks,age,gender,pose' });
    ok(r.result && r.result.length >= 2 &&
       r.result.every((x) => x.box && x.landmarks.length === 5 && x.age && x.gender && x.pose &&
                             !x.subjects && !x.embedding),
       'detect the faces (obama, biden, one behind) with plugins', r);

    // ---- verification service ----
    const ob = path.join(enrollDir, 'obama', 'obama.jpg'), bi = path.join(enrollDir, 'biden', 'biden.jpg');
    r = await ver.verify(ob, path.join(probeDir, 'obama1.jpg'), { limit: 0 });
    const m = r.result && r.result[0];
    ok(m && m.source_image_face && m.face_matches.length === 1 && m.face_matches[0].similarity >= MATCH,
       'verify two photos of obama: same', r);
    r = await ver.verify(ob, bi, { limit: 0 });
    ok(r.result && r.result[0].face_matches[0].similarity < MATCH, 'verify obama against biden: different', r);

    // ---- delete examples and subjects ----
    const one = ids.alex_lacamoire[0];
    r = await faces().delete(one);
    ok(r.image_id === one && r.subject === 'alex_lacamoire', 'delete an example by id', r);
    await fails(faces().delete(one), 404, 44, 'delete it again');
    r = await faces().delete_multiple_images([ids.rose_leslie[0], ids.rose_leslie[1],
                                              '00000000-0000-4000-8000-000000000000']);
    ok(Array.isArray(r) && r.length === 2 && r.every((x) => x.subject === 'rose_leslie'),
       'delete several examples; unknown ids are ignored', r);
    r = await faces().delete_all_subject('kit_harington');
    ok(r.deleted === 2, 'delete all examples of a subject', r);
    r = await subjects().rename('biden', 'joe');
    ok(r.updated === true, 'rename a subject', r);
    r = await subjects().rename('joe', 'obama');
    ok(r.updated === true, 'rename into an existing subject merges them', r);
    r = await faces().list();
    ok(r.total_elements === 4 && r.faces.every((f) => f.subject === 'obama'),
       'after the merge every example left is obama\'s', r);
    r = await rec.recognize(path.join(probeDir, 'obama_and_biden.jpg'), { limit: 0 });
    ok(r.result && r.result.filter((x) => x.subjects[0].similarity >= MATCH)
                            .every((x) => x.subjects[0].subject === 'obama') &&
       r.result.filter((x) => x.subjects[0].similarity >= MATCH).length === 2,
       'recognize sees the merge: both faces are obama now', r);
    await fails(subjects().delete('nobody'), 404, 42, 'delete an unknown subject');
    r = await subjects().delete('obama');
    ok(r.subject === 'obama', 'delete a subject', r);
    r = await faces().list();
    ok(r.total_elements === 0 && r.faces.length === 0, 'no examples left', r);
    r = await subjects().deleteAll();
    ok(typeof r.deleted === 'number', 'delete all subjects', r);
    r = await subjects().list();
    ok(r.subjects.length === 0, 'no subjects left', r);

    // ---- keys ----
    const bad = cf.initFaceRecognitionService('not-a-key-of-this-server');
    await fails(bad.getSubjects().list(), 404, 10, 'an unknown key');
    await fails(cf.initFaceRecognitionService(env('CF_DET_KEY')).getSubjects().list(), 404, 10,
                'a key without a collection on the recognition service');
}

main().catch((e) => {
    ok(false, 'unexpected failure', e.response ? { status: e.response.status, body: e.response.data } : String(e));
}).finally(() => {
    tap(`1..${n}`);
    process.exit(failed ? 1 : 0);
});
