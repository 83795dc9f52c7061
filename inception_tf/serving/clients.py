"""Requests to TF Serving for exported models: REST (JSON) and gRPC (PredictRequest).

REST (port 8501 in the `tensorflow/serving` image):

    POST /v1/models/NAME[/versions/N]:predict   body: {"signature_name": ..., "instances": [...]}
                                                   or {"signature_name": ..., "inputs": {...}}
    GET  /v1/models/NAME[/versions/N]           model status
    GET  /v1/models/NAME[/versions/N]/metadata  signatures

Binary values (encoded images) travel as `{"b64": "<base64>"}`. gRPC (port
8500) takes a `PredictRequest` on `tensorflow.serving.PredictionService/Predict`.
"""

import base64
import json
import urllib.error
import urllib.request

import numpy as np

from inception_tf.checks import positive_int
from inception_tf.serving.signatures import BYTES_SIGNATURE, SERVING_SIGNATURE

REST_PORT = 8501
GRPC_PORT = 8500
ROW, COLUMNAR = "instances", "inputs"


def _model_path(model_name, version=None):
    if not model_name or "/" in model_name:
        raise ValueError(f"model_name must be a non-empty name without '/'. Received: model_name={model_name!r}")
    path = f"/v1/models/{model_name}"
    if version is not None:
        positive_int("version", version)
        path += f"/versions/{version}"
    return path


def predict_url(model_name, version=None, host="localhost", port=REST_PORT):
    """`http://HOST:PORT/v1/models/NAME[/versions/N]:predict`."""
    return f"http://{host}:{port}{_model_path(model_name, version)}:predict"


def status_url(model_name, version=None, host="localhost", port=REST_PORT):
    """`http://HOST:PORT/v1/models/NAME[/versions/N]`: the model's version status."""
    return f"http://{host}:{port}{_model_path(model_name, version)}"


def metadata_url(model_name, version=None, host="localhost", port=REST_PORT):
    """`http://HOST:PORT/v1/models/NAME[/versions/N]/metadata`: its signatures."""
    return f"http://{host}:{port}{_model_path(model_name, version)}/metadata"


def _check_format(request_format):
    if request_format not in (ROW, COLUMNAR):
        raise ValueError(f"request_format must be 'instances' or 'inputs'. Received: {request_format!r}")


def images_body(images, request_format=ROW, signature_name=SERVING_SIGNATURE):
    """The JSON body of a `serving_default` request for float images.

    Args:
        images: array-like `(batch, height, width, 3)` with values in [0, 255].
        request_format: `"instances"` (row: one object per image) or `"inputs"` (columnar).
        signature_name: str. Defaults to `"serving_default"`.

    Returns:
        A dict ready for `json.dumps`.
    """
    _check_format(request_format)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (batch, height, width, 3). Received shape {images.shape}")
    if request_format == ROW:
        return {"signature_name": signature_name, "instances": [{"images": image.tolist()} for image in images]}
    return {"signature_name": signature_name, "inputs": {"images": images.tolist()}}


def image_bytes_body(encoded_images, request_format=ROW, signature_name=BYTES_SIGNATURE):
    """The JSON body of a `predict_images` request for encoded image files.

    Args:
        encoded_images: list of bytes (JPEG, PNG, GIF or BMP file contents).
        request_format: `"instances"` or `"inputs"`.
        signature_name: str. Defaults to `"predict_images"`.

    Returns:
        A dict with each image as `{"b64": ...}`.
    """
    _check_format(request_format)
    if not encoded_images or not all(isinstance(b, (bytes, bytearray)) for b in encoded_images):
        raise ValueError("encoded_images must be a non-empty list of bytes.")
    values = [{"b64": base64.b64encode(bytes(b)).decode("ascii")} for b in encoded_images]
    if request_format == ROW:
        return {"signature_name": signature_name, "instances": [{"image_bytes": v} for v in values]}
    return {"signature_name": signature_name, "inputs": {"image_bytes": values}}


def parse_predictions(response):
    """A REST response (`predictions` rows or `outputs` columns) as a dict of numpy arrays."""
    if "error" in response:
        raise RuntimeError(f"TF Serving error: {response['error']}")
    if "outputs" in response:
        return {key: np.asarray(value) for key, value in response["outputs"].items()}
    if "predictions" in response:
        rows = response["predictions"]
        if rows and isinstance(rows[0], dict):
            return {key: np.asarray([row[key] for row in rows]) for key in rows[0]}
        return {"predictions": np.asarray(rows)}
    raise ValueError(f"Not a predict response: keys {sorted(response)}")


class RestClient:
    """A minimal TF Serving REST client (standard library only).

    Example:

        client = RestClient("googlenet_digits", host="localhost")
        client.predict(image_bytes_body([open("digit.png", "rb").read()]))
    """

    def __init__(self, model_name, version=None, host="localhost", port=REST_PORT, timeout=30.0):
        self.model_name, self.version, self.host, self.port = model_name, version, host, port
        self.timeout = timeout
        _model_path(model_name, version)

    def _request(self, url, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                         method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except json.JSONDecodeError:
                pass
            raise RuntimeError(f"TF Serving answered {error.code} for {url}: {detail}") from None

    def predict(self, body):
        """POSTs a body from `images_body`/`image_bytes_body`; returns a dict of numpy arrays."""
        return parse_predictions(self._request(predict_url(self.model_name, self.version, self.host, self.port), body))

    def status(self):
        return self._request(status_url(self.model_name, self.version, self.host, self.port))

    def metadata(self):
        return self._request(metadata_url(self.model_name, self.version, self.host, self.port))


def grpc_predict_request(model_name, inputs, signature_name=SERVING_SIGNATURE, version=None):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest`.

    Args:
        model_name: str. The served model's name.
        inputs: dict from input name (`"images"` or `"image_bytes"`) to an array
            (float32 images, or a list of encoded image bytes).
        signature_name: str. Defaults to `"serving_default"`.
        version: int or None. A specific version; None lets the server pick.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    _model_path(model_name, version)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    for name, value in inputs.items():
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], (bytes, bytearray)):
            value = np.array([bytes(v) for v in value], dtype=object)
        elif not isinstance(value, np.ndarray) or value.dtype != object:
            value = np.asarray(value, dtype=np.float32)
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


class GrpcClient:
    """A minimal TF Serving gRPC client (`PredictionService/Predict`)."""

    def __init__(self, target=f"localhost:{GRPC_PORT}", timeout=30.0):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.channel = grpc.insecure_channel(target)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.timeout = timeout

    def predict(self, request):
        """Sends a `PredictRequest`; returns a dict of numpy arrays."""
        import tensorflow as tf

        response = self.stub.Predict(request, self.timeout)
        return {key: tf.make_ndarray(value) for key, value in response.outputs.items()}
