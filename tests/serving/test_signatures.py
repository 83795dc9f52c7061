"""SavedModel version numbering next to versions a test lays out by hand; the exports' LRN forms."""

import os
import subprocess
import sys

import keras
import pytest
import tensorflow as tf

from inception_tf import geometry
from inception_tf.serving import export, signatures


def _lay_out(base, entries):
    """Creates `entries` under `base`: a name ending in "/" is a directory holding a `marker` file, others files."""
    for entry in entries:
        path = base / entry.rstrip("/")
        if entry.endswith("/"):
            path.mkdir(parents=True)
            (path / "marker").write_text(entry)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(entry)


@pytest.mark.parametrize(
    "entries,expected",
    [([], 1), (["1/", "3/"], 4), (["3/", "1/", "latest/", ".tmp-x/", "2.bak/", "v7/", "12a/"], 4),
     (["9"], 10), (["10/", "9/"], 11), (["007/"], 8), (["0/"], 1)],
    ids=["empty", "a gap", "other names", "a file in the way", "ten after nine", "leading zeros", "zero"],
)
def test_the_next_version_is_one_above_the_highest_integer_name(tmp_path, entries, expected):
    _lay_out(tmp_path / "m", entries)
    assert signatures.next_version(str(tmp_path / "m")) == expected


def test_a_missing_base_starts_at_version_1(tmp_path):
    assert signatures.next_version(str(tmp_path / "absent")) == 1
    assert signatures.version_dirs(str(tmp_path / "absent")) == []


@pytest.fixture(scope="module")
def tiny_model():
    from inception_tf import ImagePreprocessing

    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(ImagePreprocessing("tf")(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(pooled))


def _markers(base):
    return {name: (base / name / "marker").read_text() for name in os.listdir(base)
            if (base / name / "marker").exists()}


def test_exporting_next_to_1_and_3_writes_4_and_leaves_both(tmp_path, tiny_model):
    base = tmp_path / "m"
    _lay_out(base, ["1/", "3/", "latest/", ".tmp-old/"])
    assert export.export_saved_model(tiny_model, str(base), warmup=False) == str(base / "4")
    assert (base / "4" / "saved_model.pb").exists()
    assert _markers(base) == {"1": "1/", "3": "3/", "latest": "latest/", ".tmp-old": ".tmp-old/"}
    assert signatures.version_dirs(str(base)) == [1, 3, 4]

    with pytest.raises(FileExistsError, match=r"m/3 already exists; pass overwrite=True"):
        export.export_saved_model(tiny_model, str(base), version=3, warmup=False)
    assert _markers(base)["3"] == "3/" and os.listdir(base / "3") == ["marker"]

    assert export.export_saved_model(tiny_model, str(base), version=3, overwrite=True, warmup=False) == str(base / "3")
    assert (base / "3" / "saved_model.pb").exists() and not (base / "3" / "marker").exists()
    assert _markers(base) == {"1": "1/", "latest": "latest/", ".tmp-old": ".tmp-old/"}
    assert signatures.version_dirs(str(base)) == [1, 3, 4]


# --- Which LRN form each export holds -------------------------------------------------------------


def test_every_export_has_one_lrn_form_and_it_is_no_machine_choice():
    from inception_tf.models import kernels
    from inception_tf.serving.formats import FORMATS, QUANTIZATIONS

    exports = {("savedmodel", precision) for precision in signatures.PRECISIONS}
    exports |= {(format, precision) for format in FORMATS for precision in ("float32", *QUANTIZATIONS)}
    assert set(signatures.LRN_FORMS) == exports
    # Named forms only: "auto" would make the graph depend on the exporting machine, "xla" on a compiled kernel.
    assert set(signatures.LRN_FORMS.values()) <= set(kernels.IMPLEMENTATIONS) - {"auto", "xla"}
    for (format, precision), implementation in signatures.LRN_FORMS.items():
        assert signatures.lrn_form(format, precision) == implementation


@pytest.mark.parametrize("format,precision", [("onnx", "bfloat16"), ("savedmodel", "int8"), ("coreml", "float32")])
def test_an_export_that_does_not_exist_has_no_lrn_form(format, precision):
    with pytest.raises(ValueError, match=f"No {format} export at precision '{precision}'.*"
                                         f"Received: format='{format}', precision='{precision}'"):
        signatures.lrn_form(format, precision)


def test_the_lrn_forms_import_neither_keras_nor_tensorflow():
    code = ("import sys; from inception_tf.serving import signatures; signatures.lrn_form('onnx');"
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_contract_names_are_tensorflow_and_tf_servings():
    assert signatures.SERVING_SIGNATURE == tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
    # TF Serving reads warm-up requests from assets.extra/tf_serving_warmup_requests in the version directory.
    assert signatures.WARMUP_FILE == os.path.join("assets.extra", "tf_serving_warmup_requests")
    # The README's contract: assets/class_names.txt, the top 5 classes, float32 or bfloat16 SavedModels.
    assert signatures.CLASS_NAMES_ASSET == "class_names.txt" and signatures.DEFAULT_TOP_K == 5
    assert signatures.PRECISIONS == ("float32", "bfloat16")


def _saved_model_dir(path):
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"")
    return path


def test_a_base_path_resolves_to_its_highest_version_as_tf_serving_serves(tmp_path):
    base = tmp_path / "m"
    for version in ("1", "3", "10"):
        _saved_model_dir(base / version)
    _saved_model_dir(base / "latest")  # not an integer: TF Serving's poller skips it
    assert signatures.resolve_version_dir(str(base)) == str(base / "10")
    assert signatures.resolve_version_dir(str(base), version=3) == str(base / "3")
    assert signatures.resolve_version_dir(str(base / "3")) == str(base / "3")  # a version directory itself


def test_a_version_directory_is_not_a_base_when_a_version_is_asked(tmp_path):
    version_dir = _saved_model_dir(tmp_path / "m" / "2")
    with pytest.raises(FileNotFoundError, match=r"No SavedModel at '.*m/2/1'\. Versions there: \[\]"):
        signatures.resolve_version_dir(str(version_dir), version=1)


def test_no_savedmodel_is_named(tmp_path):
    base = tmp_path / "m"
    (base / "1").mkdir(parents=True)  # a version directory without saved_model.pb
    with pytest.raises(FileNotFoundError, match=r"No SavedModel at '.*m/1'\. Versions there: \[1\]"):
        signatures.resolve_version_dir(str(base))
    with pytest.raises(FileNotFoundError, match=r"No SavedModel version under '.*empty' \(no integer-named"):
        signatures.resolve_version_dir(str(tmp_path / "empty"))
    _saved_model_dir(base / "2")
    with pytest.raises(FileNotFoundError, match=r"No SavedModel at '.*m/5'\. Versions there: \[1, 2\]"):
        signatures.resolve_version_dir(str(base), version=5)


def test_class_names_are_checked_against_the_classes():
    assert geometry.check_class_names(None, 3) is None
    assert geometry.check_class_names((0, "one", 2.5), 3) == ["0", "one", "2.5"]
    with pytest.raises(ValueError, match=r"^class_names has 2 names but the model has 3 classes\.$"):
        geometry.check_class_names(["a", "b"], 3)
    with pytest.raises(ValueError, match="class_names must not contain newlines"):  # one name per line in the asset
        geometry.check_class_names(["a", "b\nc"], 2)
