"""The layers and models on every Keras backend: TensorFlow here, JAX and PyTorch in subprocesses."""
