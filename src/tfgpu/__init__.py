"""tfgpu: will TensorFlow use this GPU, and if not, exactly why and which command fixes it."""

__version__ = "0.1.0"
