# The image `tfgpu fleet k8s-manifest` runs (docs/fleet.md): tfgpu in its own environment
# (/opt/tfgpu), and the TensorFlow it diagnoses, with its CUDA wheels, in another (/opt/tf). No CUDA
# base image is needed: `tensorflow[and-cuda]` brings the CUDA libraries as pip wheels, and the
# NVIDIA container toolkit (through the device plugin, or `docker run --gpus`) mounts the driver.
#
#   docker build -t tfgpu:0.1.0 .            # or: podman build -t tfgpu:0.1.0 .
#   docker build --build-arg TF_VERSION=2.20.0 -t tfgpu:0.1.0-tf2.20.0 .
#   docker run --rm --gpus all tfgpu:0.1.0   # prints the doctor's JSON report for this machine
#
# The TensorFlow release and Python here are the ones tfgpu's own tests install (tensorflow 2.21.0,
# Python 3.11); choose the ones your jobs use, so the fleet report speaks about them.
ARG PYTHON_VERSION=3.11
FROM docker.io/library/python:${PYTHON_VERSION}-slim-bookworm

ARG TF_VERSION=2.21.0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The target: TensorFlow with its CUDA wheels, in its own virtual environment.
RUN python -m venv /opt/tf \
 && /opt/tf/bin/pip install "tensorflow[and-cuda]==${TF_VERSION}"

# tfgpu from this checkout, in another environment, its command on the default PATH.
COPY . /src
RUN python -m venv /opt/tfgpu \
 && /opt/tfgpu/bin/pip install /src \
 && ln -s /opt/tfgpu/bin/tfgpu /usr/local/bin/tfgpu \
 && rm -rf /src

# A user without privileges, with a numeric id (Kubernetes checks runAsNonRoot against it). HOME
# is /tmp: in the pod an emptyDir, as the root filesystem is read-only there.
RUN groupadd --gid 10001 tfgpu \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin tfgpu

# As if /opt/tf were activated: `tfgpu doctor` without --python diagnoses it, `python` is its.
ENV VIRTUAL_ENV=/opt/tf \
    PATH=/opt/tf/bin:$PATH \
    HOME=/tmp
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["tfgpu"]
CMD ["doctor", "--json", "--python", "/opt/tf/bin/python"]
