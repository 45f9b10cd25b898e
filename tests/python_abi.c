/*
 * python_abi.c - prints the size of each public struct the Python bindings mirror and the
 * offset of each of their fields, as the C compiler lays them out, one "Struct field N" line
 * each. bindings/python/tests/test_abi.py compares them with the ctypes declarations, so a
 * field added to a header without the bindings following fails a test instead of shifting
 * every later field silently. The names on the left are the ctypes class names.
 */
#include <stddef.h>
#include <stdio.h>

#include "facet/facet.h"

#define SIZE(py, c) printf("%s sizeof %zu\n", py, sizeof(c))
#define OFF(py, c, f) printf("%s %s %zu\n", py, #f, offsetof(c, f))

int main(void)
{
    SIZE("FaceT", facet_face);
    OFF("FaceT", facet_face, x); OFF("FaceT", facet_face, y); OFF("FaceT", facet_face, w);
    OFF("FaceT", facet_face, h); OFF("FaceT", facet_face, score); OFF("FaceT", facet_face, kps);
    OFF("FaceT", facet_face, landmarks); OFF("FaceT", facet_face, has_landmarks);

    SIZE("FaceprintT", facet_faceprint);
    OFF("FaceprintT", facet_faceprint, model); OFF("FaceprintT", facet_faceprint, dim);
    OFF("FaceprintT", facet_faceprint, v);

    SIZE("ImageT", facet_image);
    OFF("ImageT", facet_image, width); OFF("ImageT", facet_image, height);
    OFF("ImageT", facet_image, channels); OFF("ImageT", facet_image, stride);
    OFF("ImageT", facet_image, data);

    SIZE("DecodeOptions", facet_decode_options);
    OFF("DecodeOptions", facet_decode_options, max_pixels);
    OFF("DecodeOptions", facet_decode_options, apply_exif);
    OFF("DecodeOptions", facet_decode_options, channels);
    OFF("DecodeOptions", facet_decode_options, scale_denom);
    OFF("DecodeOptions", facet_decode_options, allow_corrupt);

    SIZE("SdkSettings", facet_sdk_settings);
    OFF("SdkSettings", facet_sdk_settings, model_dir);
    OFF("SdkSettings", facet_sdk_settings, num_threads);
    OFF("SdkSettings", facet_sdk_settings, preload);
    OFF("SdkSettings", facet_sdk_settings, backend);
    OFF("SdkSettings", facet_sdk_settings, detect_threshold);
    OFF("SdkSettings", facet_sdk_settings, nms_threshold);
    OFF("SdkSettings", facet_sdk_settings, smallest_face_height);
    OFF("SdkSettings", facet_sdk_settings, detect_passes);
    OFF("SdkSettings", facet_sdk_settings, max_pixels);
    OFF("SdkSettings", facet_sdk_settings, detect_verify);
    OFF("SdkSettings", facet_sdk_settings, allow_corrupt);
    OFF("SdkSettings", facet_sdk_settings, boxes_only);
    OFF("SdkSettings", facet_sdk_settings, faceprint_mirror);

    SIZE("QualityT", facet_quality);
    OFF("QualityT", facet_quality, blur); OFF("QualityT", facet_quality, blur_score);
    OFF("QualityT", facet_quality, exposure); OFF("QualityT", facet_quality, exposure_score);
    OFF("QualityT", facet_quality, face_height); OFF("QualityT", facet_quality, has_pose);
    OFF("QualityT", facet_quality, yaw); OFF("QualityT", facet_quality, pitch);
    OFF("QualityT", facet_quality, roll); OFF("QualityT", facet_quality, has_eyes);
    OFF("QualityT", facet_quality, left_eye_open); OFF("QualityT", facet_quality, right_eye_open);
    OFF("QualityT", facet_quality, left_eye_score); OFF("QualityT", facet_quality, right_eye_score);
    OFF("QualityT", facet_quality, has_liveness); OFF("QualityT", facet_quality, is_live);
    OFF("QualityT", facet_quality, liveness_score);

    SIZE("AttributesT", facet_attributes);
    OFF("AttributesT", facet_attributes, age); OFF("AttributesT", facet_attributes, gender);
    OFF("AttributesT", facet_attributes, gender_score);
    OFF("AttributesT", facet_attributes, expression);
    OFF("AttributesT", facet_attributes, expression_scores);

    SIZE("GallerySettings", facet_gallery_settings);
    OFF("GallerySettings", facet_gallery_settings, threads);
    OFF("GallerySettings", facet_gallery_settings, match_a);
    OFF("GallerySettings", facet_gallery_settings, match_b);
    OFF("GallerySettings", facet_gallery_settings, follow);
    OFF("GallerySettings", facet_gallery_settings, follow_interval_ms);
    OFF("GallerySettings", facet_gallery_settings, change_keep_s);
    OFF("GallerySettings", facet_gallery_settings, must_exist);

    SIZE("CollectionSettings", facet_collection_settings);
    OFF("CollectionSettings", facet_collection_settings, model_id);
    OFF("CollectionSettings", facet_collection_settings, dim);
    OFF("CollectionSettings", facet_collection_settings, dtype);
    OFF("CollectionSettings", facet_collection_settings, keep_payload);

    SIZE("CollectionInfoT", facet_collection_info);
    OFF("CollectionInfoT", facet_collection_info, name);
    OFF("CollectionInfoT", facet_collection_info, model_id);
    OFF("CollectionInfoT", facet_collection_info, dim);
    OFF("CollectionInfoT", facet_collection_info, dtype);
    OFF("CollectionInfoT", facet_collection_info, keep_payload);
    OFF("CollectionInfoT", facet_collection_info, loaded);
    OFF("CollectionInfoT", facet_collection_info, count);
    OFF("CollectionInfoT", facet_collection_info, created);

    SIZE("LoadStats", facet_load_stats);
    OFF("LoadStats", facet_load_stats, loaded); OFF("LoadStats", facet_load_stats, bad_length);
    OFF("LoadStats", facet_load_stats, bad_model); OFF("LoadStats", facet_load_stats, bad_value);
    OFF("LoadStats", facet_load_stats, bad_other); OFF("LoadStats", facet_load_stats, ms);

    SIZE("IdentityCount", facet_identity_count);
    OFF("IdentityCount", facet_identity_count, identity);
    OFF("IdentityCount", facet_identity_count, count);

    SIZE("FaceRef", facet_face_ref);
    OFF("FaceRef", facet_face_ref, uuid); OFF("FaceRef", facet_face_ref, identity);

    SIZE("MatchT", facet_match);
    OFF("MatchT", facet_match, identity); OFF("MatchT", facet_match, uuid);
    OFF("MatchT", facet_match, similarity); OFF("MatchT", facet_match, probability);
    return 0;
}
