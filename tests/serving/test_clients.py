"""TF Serving requests: the exact JSON and protos built, and round trips over loopback.

No TF Serving binary installs from a package registry, so the round trips use
servers started by the test on 127.0.0.1: a gRPC server implementing
tensorflow-serving-api's PredictionService, and an HTTP server following TF
Serving's documented REST contract, both answering from the exported
SavedModel's signatures.
"""

import base64
import http.server
import io
import json
import threading
import urllib.error
import urllib.request
from concurrent import futures

import numpy as np
import pytest
import tensorflow as tf

from inception_tf.serving import clients as serving


def test_urls():
    assert serving.predict_url("googlenet") == "http://localhost:8501/v1/models/googlenet:predict"
    assert serving.predict_url("g", version=3, host="10.0.0.5", port=9000) == (
        "http://10.0.0.5:9000/v1/models/g/versions/3:predict")
    assert serving.status_url("g", 2) == "http://localhost:8501/v1/models/g/versions/2"
    assert serving.metadata_url("g") == "http://localhost:8501/v1/models/g/metadata"
    with pytest.raises(ValueError, match="version must be a positive integer"):
        serving.predict_url("g", version=0)
    with pytest.raises(ValueError, match="model_name"):
        serving.predict_url("a/b")


def test_row_and_columnar_image_bodies():
    images = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    row = serving.images_body(images)
    assert row == {"signature_name": "serving_default",
                   "instances": [{"images": images[0].tolist()}, {"images": images[1].tolist()}]}
    columnar = serving.images_body(images, request_format="inputs")
    assert columnar == {"signature_name": "serving_default", "inputs": {"images": images.tolist()}}
    assert json.loads(json.dumps(row)) == row
    with pytest.raises(ValueError, match=r"shape \(batch, height, width, 3\)"):
        serving.images_body(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="request_format"):
        serving.images_body(images, request_format="rows")


def test_bytes_bodies_use_b64():
    body = serving.image_bytes_body([b"\x89PNG-1", b"\xff\xd8JPEG-2"])
    assert body == {"signature_name": "predict_images", "instances": [
        {"image_bytes": {"b64": base64.b64encode(b"\x89PNG-1").decode()}},
        {"image_bytes": {"b64": base64.b64encode(b"\xff\xd8JPEG-2").decode()}}]}
    columnar = serving.image_bytes_body([b"abc"], request_format="inputs")
    assert columnar == {"signature_name": "predict_images", "inputs": {"image_bytes": [{"b64": "YWJj"}]}}
    with pytest.raises(ValueError, match="non-empty list of bytes"):
        serving.image_bytes_body([])


def test_grpc_request_proto():
    images = np.ones((1, 4, 4, 3), np.float32)
    request = serving.grpc_predict_request("googlenet", {"images": images}, version=7)
    assert request.model_spec.name == "googlenet"
    assert request.model_spec.signature_name == "serving_default"
    assert request.model_spec.version.value == 7
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["images"]), images)
    assert request.inputs["images"].dtype == tf.float32.as_datatype_enum
    request = serving.grpc_predict_request("g", {"image_bytes": [b"a", b"bc"]}, signature_name="predict_images")
    assert request.inputs["image_bytes"].dtype == tf.string.as_datatype_enum
    assert list(request.inputs["image_bytes"].string_val) == [b"a", b"bc"]
    assert not request.model_spec.HasField("version")


def test_parse_predictions_rows_and_columns():
    rows = {"predictions": [{"classes": [1, 2], "scores": [0.6, 0.3]}, {"classes": [0, 1], "scores": [0.9, 0.1]}]}
    parsed = serving.parse_predictions(rows)
    np.testing.assert_array_equal(parsed["classes"], [[1, 2], [0, 1]])
    parsed = serving.parse_predictions({"outputs": {"scores": [[0.5]]}})
    np.testing.assert_array_equal(parsed["scores"], [[0.5]])
    with pytest.raises(RuntimeError, match="TF Serving error: bad"):
        serving.parse_predictions({"error": "bad"})


def test_bytes_bodies_refuse_an_unknown_request_format():
    with pytest.raises(ValueError, match="request_format must be 'instances' or 'inputs'"):
        serving.image_bytes_body([b"abc"], request_format="rows")


def test_parse_predictions_of_plain_rows_and_of_a_single_row():
    # A model with one unnamed output answers rows of values, not objects (TF Serving's row format).
    parsed = serving.parse_predictions({"predictions": [[0.25, 0.75], [1.0, 0.0]]})
    assert list(parsed) == ["predictions"]
    np.testing.assert_array_equal(parsed["predictions"], [[0.25, 0.75], [1.0, 0.0]])
    assert serving.parse_predictions({"predictions": []})["predictions"].shape == (0,)
    parsed = serving.parse_predictions({"predictions": [{"classes": 3, "scores": 0.5}]})
    np.testing.assert_array_equal(parsed["classes"], [3])
    np.testing.assert_array_equal(parsed["scores"], [0.5])
    with pytest.raises(ValueError, match="Not a predict response"):
        serving.parse_predictions({"model_version_status": []})


class RecordingUrlopen:
    """Stands in for `urllib.request.urlopen`: records each request and answers `answer` (a JSON-able
    value) or raises it (an exception)."""

    def __init__(self, answer):
        self.answer, self.requests = answer, []

    def __call__(self, request, timeout=None):
        self.requests.append((request, timeout))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return io.BytesIO(json.dumps(self.answer).encode())


def http_error(code, body):
    return urllib.error.HTTPError("http://server", code, "error", {}, io.BytesIO(body))


def test_rest_client_posts_json_and_gets_status_and_metadata(monkeypatch):
    urlopen = RecordingUrlopen({"predictions": [[0.5, 0.5]]})
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    client = serving.RestClient("googlenet")
    body = serving.images_body(np.zeros((1, 1, 1, 3)))
    np.testing.assert_array_equal(client.predict(body)["predictions"], [[0.5, 0.5]])
    client.status()
    serving.RestClient("googlenet", version=2, host="10.0.0.5", port=9000, timeout=5).metadata()
    (post, post_timeout), (get, get_timeout), (metadata, metadata_timeout) = urlopen.requests
    assert (post.get_method(), post.full_url) == ("POST", "http://localhost:8501/v1/models/googlenet:predict")
    assert post.get_header("Content-type") == "application/json"
    assert json.loads(post.data) == body
    assert (get.get_method(), get.full_url, get.data) == ("GET", "http://localhost:8501/v1/models/googlenet", None)
    assert (metadata.get_method(), metadata.full_url) == (
        "GET", "http://10.0.0.5:9000/v1/models/googlenet/versions/2/metadata")
    assert (post_timeout, get_timeout, metadata_timeout) == (30.0, 30.0, 5)


def test_rest_client_refuses_a_bad_model_name_or_version_at_construction():
    with pytest.raises(ValueError, match="model_name must be a non-empty name without '/'"):
        serving.RestClient("models/googlenet")
    with pytest.raises(ValueError, match="version must be a positive integer"):
        serving.RestClient("googlenet", version=0)


@pytest.mark.parametrize("body, detail", [
    (b'{"error": "Servable not found for request: Latest(googlenet)"}', "Servable not found for request: Latest(googlenet)"),
    (b"<html>bad gateway \xff</html>", "<html>bad gateway \ufffd</html>"),
])
def test_rest_client_error_names_the_status_and_the_servers_detail(monkeypatch, body, detail):
    monkeypatch.setattr(urllib.request, "urlopen", RecordingUrlopen(http_error(404, body)))
    with pytest.raises(RuntimeError) as raised:
        serving.RestClient("googlenet").status()
    assert str(raised.value) == f"TF Serving answered 404 for http://localhost:8501/v1/models/googlenet: {detail}"


def test_grpc_request_refuses_a_bad_model_name_or_version():
    with pytest.raises(ValueError, match="model_name must be a non-empty name without '/'"):
        serving.grpc_predict_request("models/googlenet", {"images": np.zeros((1, 1, 1, 3))})
    with pytest.raises(ValueError, match="version must be a positive integer"):
        serving.grpc_predict_request("googlenet", {"images": np.zeros((1, 1, 1, 3))}, version=0)


def test_grpc_request_sends_floats_as_float32_and_bytes_as_strings():
    request = serving.grpc_predict_request("g", {
        "nested_list": [[[[0.5, 1.5, 2.5]]]], "float64": np.full((1, 1, 1, 3), 0.25),
        "one_image": [b"\x89PNG"], "object_array": np.array([b"a", b"bc"], dtype=object)})
    inputs = request.inputs
    assert inputs["nested_list"].dtype == inputs["float64"].dtype == tf.float32.as_datatype_enum
    np.testing.assert_array_equal(tf.make_ndarray(inputs["nested_list"]), np.float32([[[[0.5, 1.5, 2.5]]]]))
    np.testing.assert_array_equal(tf.make_ndarray(inputs["float64"]), np.full((1, 1, 1, 3), 0.25, np.float32))
    assert inputs["one_image"].dtype == inputs["object_array"].dtype == tf.string.as_datatype_enum
    assert list(inputs["one_image"].string_val) == [b"\x89PNG"]
    assert list(inputs["object_array"].string_val) == [b"a", b"bc"]


def test_grpc_client_defaults_to_tf_servings_grpc_port_and_a_30_s_deadline(monkeypatch):
    grpc = pytest.importorskip("grpc")
    targets = []
    real_channel = grpc.insecure_channel
    monkeypatch.setattr(grpc, "insecure_channel", lambda target: targets.append(target) or real_channel(target))
    client = serving.GrpcClient()
    assert targets == ["localhost:8500"]
    from tensorflow_serving.apis import predict_pb2

    calls = []

    class RecordingStub:
        def Predict(self, request, timeout):  # noqa: N802
            calls.append(timeout)
            return predict_pb2.PredictResponse()

    client.stub = RecordingStub()
    assert client.predict(predict_pb2.PredictRequest()) == {}
    assert calls == [30.0]
    client.channel.close()


# --- Round trips over loopback ------------------------------------------------------


@pytest.fixture(scope="module")
def signatures(exported):
    return tf.saved_model.load(exported[0]).signatures


def _tensor_input(name, value):
    if name == "image_bytes":
        return tf.constant([base64.b64decode(v["b64"]) for v in value])
    return tf.constant(value, tf.float32)


class FakeRestServing(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST predict contract, answered from the SavedModel's signatures."""

    signatures = None

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        signature = self.signatures[body.get("signature_name", "serving_default")]
        if "instances" in body:
            name = next(iter(body["instances"][0]))
            inputs = {name: _tensor_input(name, [row[name] for row in body["instances"]])}
        else:
            inputs = {name: _tensor_input(name, value) for name, value in body["inputs"].items()}
        try:
            outputs = {k: v.numpy() for k, v in signature(**inputs).items()}
        except tf.errors.InvalidArgumentError as error:
            return self._send(400, {"error": error.message})
        jsonable = {k: (np.char.decode(v.astype(bytes)) if v.dtype == object else v).tolist() for k, v in outputs.items()}
        if "instances" in body:
            rows = [{k: v[i] for k, v in jsonable.items()} for i in range(len(body["instances"]))]
            return self._send(200, {"predictions": rows})
        return self._send(200, {"outputs": jsonable})

    def _send(self, code, payload):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def rest_port(signatures):
    FakeRestServing.signatures = signatures
    server = http.server.HTTPServer(("127.0.0.1", 0), FakeRestServing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize("request_format", ["instances", "inputs"])
def test_rest_round_trip(rest_port, signatures, rng, request_format):
    images = rng.integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    client = serving.RestClient("googlenet", host="127.0.0.1", port=rest_port)
    result = client.predict(serving.images_body(images, request_format=request_format))
    expected = signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(result["probabilities"], expected["probabilities"], rtol=1e-6)
    np.testing.assert_array_equal(result["classes"], expected["classes"])

    encoded = [tf.io.encode_png(image.astype(np.uint8)).numpy() for image in images]
    result = client.predict(serving.image_bytes_body(encoded, request_format=request_format))
    np.testing.assert_allclose(result["probabilities"], expected["probabilities"], rtol=1e-5, atol=1e-7)
    assert result["class_names"].shape == (2, 5)


def test_rest_error_is_raised_with_the_servers_message(rest_port):
    client = serving.RestClient("googlenet", host="127.0.0.1", port=rest_port)
    with pytest.raises(RuntimeError, match="(?s)answered 400 .*Unknown image file format"):
        client.predict(serving.image_bytes_body([b"not an image"]))


@pytest.fixture(scope="module")
def grpc_target(signatures):
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            outputs = signatures[request.model_spec.signature_name or "serving_default"](**inputs)
            response = predict_pb2.PredictResponse()
            response.model_spec.CopyFrom(request.model_spec)
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_grpc_round_trip(grpc_target, signatures, rng):
    images = rng.integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    client = serving.GrpcClient(grpc_target)
    result = client.predict(serving.grpc_predict_request("googlenet", {"images": images}))
    expected = signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(result["probabilities"], expected["probabilities"], rtol=1e-6)
    encoded = [tf.io.encode_png(image.astype(np.uint8)).numpy() for image in images]
    result = client.predict(serving.grpc_predict_request("googlenet", {"image_bytes": encoded},
                                                         signature_name="predict_images"))
    np.testing.assert_array_equal(result["classes"], expected["classes"])
