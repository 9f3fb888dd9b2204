#!/usr/bin/env bash
# Installs the system programs EmoStream needs, from Debian's packages, when they are missing:
#   java + mvn  - to resolve Apache Kafka's jars from Maven Central and run the test broker
#   ffmpeg      - to decode video (ingest)
#   GStreamer RTSP server (tests) - a real RTSP camera on loopback
#   chromium (tests)  - headless browser for the live view's tests (driven by playwright-core)
# Does nothing when all are present. Needs root (or sudo) only when something is missing.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
# Text on the annotated videos (sharp renders SVG text with fontconfig).
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || missing+=(fonts-dejavu-core)
# Tests only: a real RTSP server (GStreamer's gst-rtsp-server, driven from Python) that ingest reconnects to.
for pkg in python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# Tests only: the live view's page is tested in Debian's Chromium, headless.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing system packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root to install ${missing[*]}: run as root or install them yourself" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
