"""Strategy selection, and distributed training proven with real processes."""

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_tf import cli
from inception_tf.serving import export
from inception_tf.training import distribute, keras_compat


def two_workers_config(index, ports):
    return json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": index},
    })


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_unknown_strategy_is_named():
    with pytest.raises(ValueError, match="strategy must be one of .* Received: strategy='gpu'"):
        distribute.get_strategy("gpu")


def test_auto_on_a_cpu_machine_is_the_default_strategy(monkeypatch, caplog):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    caplog.set_level("INFO", logger="inception_tf")
    strategy = distribute.get_strategy("auto")
    assert strategy.num_replicas_in_sync == 1
    assert "Strategy: _DefaultDistributionStrategy (auto requested)" in caplog.text


def test_auto_picks_multi_worker_when_tf_config_names_several(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", two_workers_config(1, [1111, 2222]))
    assert distribute._auto_choice() == ("multi_worker", None)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert distribute._auto_choice() == ("default", None)


def test_chief_and_task_names(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.is_chief() and distribute.task_id() == "chief"
    monkeypatch.setenv("TF_CONFIG", two_workers_config(0, [1, 2]))
    assert distribute.is_chief()
    monkeypatch.setenv("TF_CONFIG", two_workers_config(1, [1, 2]))
    assert not distribute.is_chief() and distribute.task_id() == "worker_1"
    with_chief = {"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(with_chief))
    assert not distribute.is_chief()


def test_bad_tf_config_is_named(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.get_strategy("auto")


def test_tpu_without_a_tpu(monkeypatch):
    for name in ("TPU_NAME", "COLAB_TPU_ADDR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(distribute.os.path, "exists", lambda path: False)  # no TPU device files either
    with pytest.raises(ValueError, match="no TPU is attached"):
        distribute.get_strategy("tpu")


@pytest.mark.parametrize("version, tested", [
    ("3.12.4", False), ("3.13.2", True), ("3.14.1", True), ("3.15.1", True), ("3.16.0", False), ("4.0.0", False),
])
def test_multi_worker_fix_is_guarded_to_the_tested_keras(monkeypatch, version, tested):
    monkeypatch.setattr(keras, "__version__", version)
    assert keras_compat.keras_multi_worker_tested() is tested


@pytest.mark.parametrize("version", ["3.12.4", "3.16.0"])
def test_untested_keras_is_refused_before_a_multi_worker_strategy(monkeypatch, version):
    monkeypatch.setattr(keras, "__version__", version)
    monkeypatch.setenv("TF_CONFIG", two_workers_config(0, free_ports(2)))
    with pytest.raises(ValueError) as refusal:
        distribute.get_strategy("multi_worker")
    message = str(refusal.value)
    assert f"this is Keras {version}" in message
    assert "tested on Keras 3.13, 3.14, 3.15 only" in message
    assert 'pip install "keras>=3.13,<3.16"' in message


def test_untested_keras_multi_worker_is_one_cli_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(keras, "__version__", "3.16.0")
    monkeypatch.setenv("TF_CONFIG", two_workers_config(0, free_ports(2)))
    code = cli.main(["train", "--strategy", "multi_worker", "--epochs", "1", "--output-dir", str(tmp_path / "runs"),
                     "--data-dir", str(tmp_path / "tfds")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert lines[-1].startswith("inception-tf train: error: multi-worker training is tested on Keras 3.13")
    assert not (tmp_path / "runs").exists()  # refused before the run directory


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from inception_tf.training.train import TrainConfig, train
    out, tfds_dir = sys.argv[1:3]
    weights = {}
    for strategy, per_replica in (("mirrored", 16), ("one_device", 32)):
        history = train(TrainConfig(strategy=strategy, batch_size=per_replica, epochs=1, steps_per_epoch=4,
                                    aux_logits=False, dropout_rate=0.0, shuffle=False, output_dir=out, run_name=strategy,
                                    data_dir=tfds_dir, verbose=0))
        model = keras.models.load_model(history.artifacts["model"])
        weights[strategy] = (history.metrics, model.get_weights())
    (m_metrics, m_w), (d_metrics, d_w) = weights["mirrored"], weights["one_device"]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(m_w, d_w))
    scale = max(float(np.abs(b).max()) for b in d_w)
    print(json.dumps({"replicas": m_metrics["replicas"], "global_batch": m_metrics["global_batch_size"],
                      "strategy": m_metrics["strategy"], "max_diff": diff, "scale": scale,
                      "loss": [m_metrics["train"]["loss"], d_metrics["train"]["loss"]]}))
""")


@pytest.mark.slow
def test_mirrored_over_two_cpus_agrees_with_one_device(tmp_path, tfds_dir):
    # Two logical CPUs are set before TensorFlow starts: a process of its own.
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path), tfds_dir],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["strategy"] == "MirroredStrategy"
    assert report["replicas"] == 2 and report["global_batch"] == 32
    # Same data, same initial weights, same global batch: the same training
    # up to the order of floating-point sums.
    assert report["max_diff"] < 1e-4 * max(1.0, report["scale"]), report
    assert report["loss"][0] == pytest.approx(report["loss"][1], rel=1e-4)


# The one failure inside TensorFlow's runtime seen in CI (see the two-worker test), word for word.
RUNTIME_ERROR = re.compile(r"inception-tf train: error: Graph execution error: .*"
                           r"input depth must be evenly divisible by filter depth: 3 vs 64")


def _run_two_workers(command):
    """`[(exit code, stdout and stderr)]` of `command` run as both workers of a new two-worker cluster."""
    ports = free_ports(2)
    # The shared directory holds the prepared dataset, so the two workers do not race to write it.
    workers = [
        subprocess.Popen(command, env={**os.environ, "TF_CONFIG": two_workers_config(i, ports)},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    outputs = [w.communicate(timeout=900)[0] for w in workers]
    return [(w.returncode, output) for w, output in zip(workers, outputs)]


@pytest.mark.slow
def test_multi_worker_two_processes_end_with_identical_weights(tmp_path, tfds_dir):
    def command(attempt):
        return [sys.executable, "-m", "inception_tf.cli", "train", "--strategy", "multi_worker",
                "--epochs", "2", "--steps-per-epoch", "3", "--batch-size", "8",
                "--output-dir", str(tmp_path / attempt / "runs"), "--data-dir", tfds_dir, "--verbose", "2",
                "--export-dir", str(tmp_path / attempt / "saved")]

    attempt = "first"
    results = _run_two_workers(command(attempt))
    if any(code != 0 for code, _ in results) and any(RUNTIME_ERROR.search(output) for _, output in results):
        # Once in a CI run (TensorFlow 2.21, a 2-core CPU, the whole suite beside it) a worker's first epoch
        # failed inside TensorFlow's runtime at the first LRN's band convolution: a 3-channel tensor reached it,
        # though the traced graph's shapes say 64 (checked when it is traced). The same training passed in every
        # other run there and here. The test runs both workers once more, afresh, and says so; any other
        # failure, or that one twice, fails it.
        warnings.warn("the two-worker run failed inside TensorFlow's runtime and was run again:\n"
                      + "\n".join(f"worker {index} (exit {code}): {output[-1500:]}"
                                  for index, (code, output) in enumerate(results)))
        attempt = "second"
        results = _run_two_workers(command(attempt))
    tmp_path = tmp_path / attempt
    for code, output in results:
        assert code == 0, output[-4000:]
        # None of TensorFlow's C++ log lines (the strategy's CUDA probe, tf.data's notes) reach the terminal.
        assert not re.search(r"^[IWEF]\d{4} ", output, re.MULTILINE), output[-4000:]
    run_dir = tmp_path / "runs" / "googlenet_digits"
    chief = json.loads((run_dir / "metrics.json").read_text())
    other = json.loads((run_dir / "workers" / "worker_1" / "metrics.json").read_text())
    # tf.distribute.MultiWorkerMirroredStrategy is the class CollectiveAllReduceStrategy.
    assert chief["strategy"] == other["strategy"] == "CollectiveAllReduceStrategy"
    assert chief["replicas"] == 2 and chief["global_batch_size"] == 16
    assert chief["epochs_run"] == other["epochs_run"] == 2
    chief_weights = keras.models.load_model(run_dir / "model.keras").get_weights()
    other_weights = keras.models.load_model(run_dir / "workers" / "worker_1" / "model.keras").get_weights()
    for a, b in zip(chief_weights, other_weights):
        np.testing.assert_array_equal(a, b)
    assert chief["train"]["loss"] == other["train"]["loss"]
    assert np.isfinite(chief["train"]["loss"])
    assert export.version_dirs(tmp_path / "saved" / "googlenet_digits") == [1]  # the chief alone exports


def _logical_devices(monkeypatch, gpus=0, cpus=1):
    """Makes `tf.config.list_logical_devices` report `gpus` GPUs and `cpus` CPUs (strategies place nothing yet)."""
    devices = {kind: [tf.config.LogicalDevice(name=f"/device:{kind}:{i}", device_type=kind) for i in range(count)]
               for kind, count in (("GPU", gpus), ("CPU", cpus))}
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: list(devices.get(kind, [])))


def _no_tpu(monkeypatch):
    for name in ("TPU_NAME", "COLAB_TPU_ADDR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(distribute.os.path, "exists", lambda path: False)


@pytest.mark.parametrize("gpus, choice", [(0, "default"), (1, "one_device"), (2, "mirrored"), (4, "mirrored")])
def test_auto_picks_by_the_gpus_it_sees(monkeypatch, gpus, choice):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    _no_tpu(monkeypatch)
    _logical_devices(monkeypatch, gpus=gpus)
    assert distribute._auto_choice() == (choice, None)


def test_a_chief_and_a_worker_are_two_workers(monkeypatch):
    _no_tpu(monkeypatch)
    _logical_devices(monkeypatch, gpus=0)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["h:1"], "worker": ["h:2"]},
                                                "task": {"type": "chief", "index": 0}}))
    assert distribute._auto_choice() == ("multi_worker", None)
    assert distribute.is_chief() and distribute.task_id() == "chief"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["h:1"]}, "task": {"type": "chief"}}))
    assert distribute._auto_choice() == ("default", None)  # one process alone
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker"}}))
    assert distribute.is_chief()  # a worker without an index is worker 0


def test_one_device_and_mirrored_place_replicas_on_the_gpus_else_the_cpus(monkeypatch):
    _logical_devices(monkeypatch, gpus=2, cpus=2)
    assert distribute.get_strategy("one_device").extended.worker_devices == (
        "/job:localhost/replica:0/task:0/device:GPU:0",)
    assert distribute.get_strategy("mirrored").extended.worker_devices == (
        "/job:localhost/replica:0/task:0/device:GPU:0", "/job:localhost/replica:0/task:0/device:GPU:1")
    _logical_devices(monkeypatch, gpus=0, cpus=2)
    assert distribute.get_strategy("one_device").extended.worker_devices == (
        "/job:localhost/replica:0/task:0/device:CPU:0",)
    assert distribute.get_strategy("mirrored").extended.worker_devices == (
        "/job:localhost/replica:0/task:0/device:CPU:0", "/job:localhost/replica:0/task:0/device:CPU:1")


class _FakeTPU:
    """Stands in for a TPUClusterResolver; counts the connections and initialisations made with it."""

    def __init__(self):
        self.connected = self.initialised = 0


def _fake_tpu_system(monkeypatch, fails=False):
    made = []

    def resolver():
        made.append(_FakeTPU())
        return made[-1]

    def connect(resolver):
        if fails:
            raise tf.errors.NotFoundError(None, None, "no TPU platform")
        resolver.connected += 1

    def initialise(resolver):
        resolver.initialised += 1

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", resolver)
    monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", connect)
    monkeypatch.setattr(tf.tpu.experimental, "initialize_tpu_system", initialise)
    return made


@pytest.mark.parametrize("signal", ["TPU_NAME", "COLAB_TPU_ADDR", "/dev/accel0", "/dev/vfio/0"])
def test_each_sign_of_a_tpu_connects_and_initialises_it_once(monkeypatch, signal):
    _no_tpu(monkeypatch)
    if signal.startswith("/dev/"):
        monkeypatch.setattr(distribute.os.path, "exists", lambda path: path == signal)
    else:
        monkeypatch.setenv(signal, "grpc://10.0.0.2:8470")
    made = _fake_tpu_system(monkeypatch)
    choice, resolver = distribute._auto_choice()
    assert (choice, resolver) == ("tpu", made[0])
    assert (resolver.connected, resolver.initialised) == (1, 1)


def test_no_sign_of_a_tpu_tries_none(monkeypatch):
    _no_tpu(monkeypatch)
    made = _fake_tpu_system(monkeypatch)
    assert distribute._tpu_resolver() is None and made == []


def test_a_tpu_that_cannot_be_initialised_is_a_warning_and_no_tpu(monkeypatch, caplog):
    _no_tpu(monkeypatch)
    monkeypatch.setenv("TPU_NAME", "local")
    _fake_tpu_system(monkeypatch, fails=True)
    caplog.set_level("WARNING", logger="inception_tf")
    assert distribute._tpu_resolver() is None
    assert caplog.messages == ["A TPU seemed attached but could not be initialised: no TPU platform"]


def test_the_tpu_strategy_is_made_on_the_tpu_initialised_once(monkeypatch, caplog):
    _no_tpu(monkeypatch)
    monkeypatch.setenv("TPU_NAME", "local")
    made = _fake_tpu_system(monkeypatch)

    class TPUStrategy:
        num_replicas_in_sync = 8

        def __init__(self, resolver):
            self.resolver = resolver

    monkeypatch.setattr(tf.distribute, "TPUStrategy", TPUStrategy)
    caplog.set_level("INFO", logger="inception_tf")
    for name in ("auto", "tpu"):
        strategy = distribute.get_strategy(name)
        assert isinstance(strategy, TPUStrategy) and strategy.resolver is made[-1]
        assert (made[-1].connected, made[-1].initialised) == (1, 1)
        assert caplog.messages[-1] == f"Strategy: TPUStrategy ({name} requested), 8 replica(s) in sync"
    assert len(made) == 2  # one resolver per call, never a second initialisation


def test_the_default_request_is_auto_and_is_logged(monkeypatch, caplog):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    _no_tpu(monkeypatch)
    _logical_devices(monkeypatch, gpus=0)
    caplog.set_level("INFO", logger="inception_tf")
    assert distribute.get_strategy() is tf.distribute.get_strategy()
    assert caplog.messages == ["Strategy: _DefaultDistributionStrategy (auto requested), 1 replica(s) in sync"]
