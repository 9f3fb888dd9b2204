#!/usr/bin/python3
"""A real RTSP server for tests: GStreamer's gst-rtsp-server (Debian: gir1.2-gst-rtsp-server-1.0),
serving one H.264 file (made by ffmpeg from a test clip) on rtsp://127.0.0.1:PORT/live, looped,
over TCP or UDP. Usage: rtsp-server.py PORT FILE.mp4. Prints "ready" once listening."""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port, clip = sys.argv[1], sys.argv[2]
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
# Real time (a live camera), H.264 passed through without re-encoding.
factory.set_launch(f"( filesrc location={clip} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )")
factory.set_shared(True)
server.get_mount_points().add_factory("/live", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{port}")
print("ready", flush=True)
GLib.MainLoop().run()
