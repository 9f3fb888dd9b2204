#!/usr/bin/env bash
# Installs the system programs EmoStream needs, from Debian's packages, when they are missing.
#   scripts/install-system-deps.sh           what `emo run` and the demo need:
#     ffmpeg      - to decode video (ingest) and write the annotated videos
#     fonts       - text on the annotated videos (sharp renders SVG text with fontconfig)
#   scripts/install-system-deps.sh --tests   also what the tests and the services need:
#     java + mvn  - to resolve Apache Kafka's jars from Maven Central and run the test broker
#     GStreamer RTSP server - a real RTSP camera on loopback
#     chromium    - headless browser for the live view's tests (driven by playwright-core)
#     openssl     - certificates of the local Kubernetes control plane (npm run test:k8s)
#     kcat        - docs/consumers.md's first look at the events topic, run as written by a test
#     python3 + venv - `emo models quantize` (onnxruntime's quantizer, in .cache/quantize-venv from PyPI)
#   scripts/install-system-deps.sh --containers   what `npm run test:containers` needs besides --tests:
#     podman, buildah, runc - build and run the images (runc: crun refuses cgroups v1 hybrid hosts)
#     debootstrap - the base image, made from Debian's packages (base images cannot be pulled)
#   scripts/install-system-deps.sh --node   what `npm run test:k8s:node` needs besides --containers:
#     containerd, containernetworking-plugins - the real node's runtime and its pod network
#     gcc + libc6-dev - the pause image, compiled static from k8s.io/kubernetes' pause.c
#     iproute2, iptables - the node's bridge; the kubelet's own chains
#     ipset       - kube-router's sets of pod addresses (NetworkPolicies on the real node)
# Does nothing when all are present. Needs root (or sudo) only when something is missing. Waits up to
# 10 minutes for another package manager that holds the dpkg lock instead of giving up.
set -euo pipefail

containers=false
node=false
case "${1:-}" in
  '') tests=false ;;
  --tests) tests=true ;;
  --containers) tests=true; containers=true ;;
  --node) tests=true; containers=true; node=true ;;
  *) echo "usage: scripts/install-system-deps.sh [--tests|--containers|--node]" >&2; exit 2 ;;
esac

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || missing+=(fonts-dejavu-core)
if $tests; then
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  for pkg in python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v kcat >/dev/null 2>&1 || missing+=(kcat)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3 python3-venv)
fi
if $containers; then
  for pkg in podman buildah runc debootstrap; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
fi
if $node; then
  for pkg in containerd containernetworking-plugins gcc libc6-dev iproute2 iptables ipset; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing system packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root to install ${missing[*]}: run as root or install them yourself" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
wait_lock=(-o DPkg::Lock::Timeout=600)
$sudo apt-get "${wait_lock[@]}" update -qq
$sudo apt-get "${wait_lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
