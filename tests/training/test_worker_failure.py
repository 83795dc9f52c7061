"""A worker SIGKILLed in epoch 2 of a two-worker run: the survivor stops with one line, a rerun resumes.

Real processes on loopback, since the process boundary is the property: the
killed worker's collective peer is gone, TensorFlow's collective ops fail in
the survivor, and the run directory must let both commands resume.
"""

import csv
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import keras
import pytest
import tensorflow as tf

from inception_tf.training import distribute, train
from tests.training.test_distribute import free_ports, two_workers_config

# Every wait is bounded: starting and tracing two TensorFlow processes on a busy 2-core
# machine, the survivor's exit after the kill (the property: at most 2 minutes), a rerun.
START_TIMEOUT_S = 600
SURVIVOR_EXIT_S = 120
RERUN_TIMEOUT_S = 900
EPOCHS = 3


# What the survivor's fit raised when its peer was SIGKILLed (TensorFlow 2.21), shortened.
PEER_RESET = (
    "Graph execution error:\n\nDetected at node sgd/CollectiveReduceV2 defined at (most recent call last):\n"
    "Collective ops is aborted by: recvmsg:Connection reset by peer\nAdditional GRPC error information from "
    "remote target /job:worker/replica:0/task:1 while calling /tensorflow.WorkerService/RecvBuf:\n"
    "\t [[{{node sgd/CollectiveReduceV2}}]] [Op:__inference_multi_step_on_iterator_9277]"
)


def _multi_worker_strategy():
    """An instance of the multi-worker strategy's class, never started (no cluster, no threads)."""
    return object.__new__(tf.distribute.MultiWorkerMirroredStrategy)


@pytest.mark.parametrize("error_class", [tf.errors.UnavailableError, tf.errors.InternalError,
                                         tf.errors.DeadlineExceededError, tf.errors.CancelledError])
def test_a_failed_collective_under_multi_worker_becomes_one_line_naming_the_worker(error_class):
    with pytest.raises(distribute.WorkerLost) as info:
        with distribute.worker_loss_reported(_multi_worker_strategy(), "/runs/r/backup"):
            raise error_class(None, None, PEER_RESET)
    message = str(info.value)
    assert "\n" not in message
    assert "lost a worker (/job:worker/replica:0/task:1)" in message and error_class.__name__ in message
    assert "Rerun the same command on every worker" in message and "/runs/r/backup" in message
    assert isinstance(info.value.__cause__, error_class)


def test_a_lost_worker_the_error_does_not_name_is_a_worker():
    with pytest.raises(distribute.WorkerLost) as info:
        with distribute.worker_loss_reported(_multi_worker_strategy(), "backup"):
            raise tf.errors.UnavailableError(None, None, "Collective ops is aborted by: check alive failed")
    assert str(info.value).startswith("The training cluster lost a worker: its collective operations failed "
                                      "(UnavailableError).")


def test_other_errors_pass_unchanged():
    strategy = _multi_worker_strategy()
    with pytest.raises(tf.errors.InternalError, match="a kernel failed"):  # no collective op failed
        with distribute.worker_loss_reported(strategy, "backup"):
            raise tf.errors.InternalError(None, None, "a kernel failed")
    with pytest.raises(tf.errors.InvalidArgumentError):  # not a kind a dead peer causes
        with distribute.worker_loss_reported(strategy, "backup"):
            raise tf.errors.InvalidArgumentError(None, None, PEER_RESET)
    with pytest.raises(tf.errors.UnavailableError):  # not multi-worker training
        with distribute.worker_loss_reported(tf.distribute.get_strategy(), "backup"):
            raise tf.errors.UnavailableError(None, None, PEER_RESET)


@pytest.mark.slow  # trains GoogLeNet for one step
def test_a_worker_lost_in_the_test_split_evaluation_after_fit_is_reported_as_in_fit(tmp_path, tfds_dir,
                                                                                    monkeypatch):
    # The test split's evaluation all-reduces its metrics across the workers, as fit's steps do.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # no TF_CONFIG: this process alone
    monkeypatch.setattr(distribute, "get_strategy", lambda name: strategy)
    fit = FitEnded()
    evaluate = keras.Model.evaluate

    def evaluate_losing_a_peer_after_fit(model, *args, **kwargs):
        if fit.ended:
            raise tf.errors.UnavailableError(None, None, PEER_RESET)
        return evaluate(model, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", evaluate_losing_a_peer_after_fit)
    config = train.TrainConfig(epochs=1, steps_per_epoch=1, batch_size=4, image_size=32, aux_logits=False,
                               output_dir=str(tmp_path), data_dir=tfds_dir, verbose=0, seed=3)
    with pytest.raises(distribute.WorkerLost, match=r"lost a worker \(/job:worker/replica:0/task:1\)") as info:
        train.train(config, callbacks=[fit])
    assert fit.ended  # fit itself finished: the evaluation after it lost the worker
    assert str(tmp_path / "googlenet_digits" / "backup") in str(info.value)
    assert isinstance(info.value.__cause__, tf.errors.UnavailableError)


class FitEnded(keras.callbacks.Callback):
    """Records that `model.fit` returned from its last epoch."""

    def __init__(self):
        super().__init__()
        self.ended = False

    def on_train_end(self, logs=None):
        self.ended = True


class _Worker:
    """A training process whose stdout lines are read as they come; stderr goes to a file."""

    def __init__(self, command, index, ports, log_dir):
        self.stderr_path = os.path.join(log_dir, f"worker_{index}.stderr")
        self._stderr = open(self.stderr_path, "w")
        self.process = subprocess.Popen(
            command, env={**os.environ, "TF_CONFIG": two_workers_config(index, ports)},
            stdout=subprocess.PIPE, stderr=self._stderr, text=True,
        )
        self.lines = queue.Queue()
        self.stdout = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for_line(self, text, timeout):
        """Reads stdout until a line containing `text`; False if the process ends or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    return False
                continue
            self.stdout.append(line)
            if text in line:
                return True
        return False

    def stderr(self):
        self._stderr.flush()
        with open(self.stderr_path) as handle:
            return handle.read()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=60)
        self._stderr.close()


def _epochs_in_history(run_dir):
    path = os.path.join(run_dir, "history.csv")
    if not os.path.exists(path):
        return []
    with open(path, newline="") as handle:
        return [int(float(row["epoch"])) for row in csv.DictReader(handle)]


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("inception-tf train: error:")]


@pytest.mark.slow
def test_a_worker_killed_in_epoch_2_stops_the_other_in_one_line_and_a_rerun_resumes(tmp_path, tfds_dir):
    ports = free_ports(2)
    runs_dir = str(tmp_path / "runs")
    command = [sys.executable, "-m", "inception_tf.cli", "train", "--strategy", "multi_worker",
               "--model", "googlenet", "--epochs", str(EPOCHS), "--steps-per-epoch", "3", "--batch-size", "8",
               "--output-dir", runs_dir, "--data-dir", tfds_dir, "--verbose", "2"]
    run_dir = os.path.join(runs_dir, "googlenet_digits")
    # tfds_dir holds the prepared dataset, so the workers do not race to write it.
    workers = []
    try:
        workers = [_Worker(command, i, ports, str(tmp_path)) for i in range(2)]
        chief, victim = workers
        assert victim.wait_for_line("Epoch 2/", START_TIMEOUT_S), chief.stderr()[-3000:] + victim.stderr()[-3000:]
        # The chief writes history.csv at the end of epoch 1, before it starts epoch 2.
        assert chief.wait_for_line("Epoch 2/", START_TIMEOUT_S), chief.stderr()[-3000:]
        assert _epochs_in_history(run_dir) == [0]  # epoch 1 done, epoch 2 under way
        victim.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        try:
            chief.process.wait(timeout=SURVIVOR_EXIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the surviving worker still runs {SURVIVOR_EXIT_S} s after the other was killed")
        print(f"\n  survivor exited {time.monotonic() - killed:.1f} s after the kill")
        stderr = chief.stderr()
        assert chief.process.returncode not in (0, None), stderr[-4000:]
        lines = _error_lines(stderr)
        assert len(lines) == 1, stderr[-4000:]
        assert "lost a worker" in lines[0] and "/job:worker/replica:0/task:1" in lines[0]
        assert "Rerun the same command" in lines[0] and os.path.join(run_dir, "backup") in lines[0]
        assert "Traceback" not in stderr, stderr[-4000:]
        assert _epochs_in_history(run_dir) == [0]
        for worker in workers:
            worker.kill()

        workers = [_Worker(command, i, ports, str(tmp_path)) for i in range(2)]
        for worker in workers:
            worker.process.wait(timeout=RERUN_TIMEOUT_S)
        for worker in workers:
            assert worker.process.returncode == 0, worker.stderr()[-4000:]
            assert f"Resuming from epoch 2 of {EPOCHS}" in worker.stderr()
        assert _epochs_in_history(run_dir) == list(range(EPOCHS))
    finally:
        for worker in workers:
            worker.kill()
