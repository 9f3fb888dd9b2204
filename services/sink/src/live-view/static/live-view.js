// The live view page: one card per stream (picture with boxes, faces, per-track emotion timelines),
// kept current by the server's WebSocket (/ws). Plain browser JavaScript, no build step.
// Messages: JSON text ({type: hello|stream|faces|track|summary|dropTrack|dropStream}) and binary
// pictures (4-byte big-endian header length, JSON header {type: 'picture', streamId, seq, faces}, JPEG).
'use strict';

const BOX = '#00e676';
const COLORS = {
  Neutral: '#90a4ae',
  Happiness: '#ffca28',
  Sadness: '#42a5f5',
  Surprise: '#ab47bc',
  Fear: '#26a69a',
  Disgust: '#9ccc65',
  Anger: '#ef5350',
};
const MAX_POINTS = 300;
const FRESH_MS = 1500; // boxes over a relayed video disappear when no newer ones came for this long
let labels = Object.keys(COLORS);
const cards = new Map();
const grid = document.getElementById('grid');
const statusEl = document.getElementById('status');

function pct(p) {
  return `${(p * 100).toFixed(2)}%`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function renderLegend() {
  const legend = document.getElementById('legend');
  legend.replaceChildren(...labels.map((l) => el('span', {}, Object.assign(el('i'), { style: `background:${COLORS[l]}` }), l)));
}

function card(streamId) {
  let c = cards.get(streamId);
  if (c) return c;
  document.getElementById('empty')?.remove();
  const frame = el('canvas', { class: 'frame' });
  const overlay = el('canvas', { class: 'overlay' });
  const waiting = el('div', { class: 'waiting' }, 'waiting for a picture…');
  const picture = el('div', { class: 'picture' }, waiting, frame);
  const meta = el('span', { class: 'meta' });
  const badge = el('span', { class: 'badge', hidden: '' }, 'RTSP live');
  const faces = el('ul', { class: 'faces' });
  const tracks = el('div', { class: 'tracks' });
  const root = el(
    'section',
    { class: 'card', 'data-stream-id': streamId },
    el('h2', {}, el('span', {}, streamId), badge, meta),
    picture,
    faces,
    tracks,
  );
  grid.append(root);
  c = {
    streamId,
    root,
    frame,
    overlay,
    waiting,
    picture,
    meta,
    badge,
    faces,
    tracks,
    trackRows: new Map(),
    drawing: Promise.resolve(),
    relay: null,
    player: null,
    width: 0,
    height: 0,
    latestFaces: [],
    latestFacesAt: 0,
  };
  cards.set(streamId, c);
  return c;
}

/** Box, "Label: NN.NN%", track id and the probability bars, as the annotated video draws them. */
function drawFaces(ctx, faces, frameWidth, frameHeight) {
  for (const f of faces) {
    // Boxes are in the source frame's pixels; the picture may be smaller (ingest scales wide frames down).
    const sx = f.frame?.width ? frameWidth / f.frame.width : 1;
    const sy = f.frame?.height ? frameHeight / f.frame.height : 1;
    const [x, y, width, height] = [f.box.x * sx, f.box.y * sy, f.box.width * sx, f.box.height * sy];
    const font = Math.max(11, Math.round(width / 7));
    const text = `${f.label}: ${pct(f.confidence)}`;
    ctx.lineWidth = Math.max(2, Math.round(frameWidth / 320));
    ctx.strokeStyle = BOX;
    ctx.strokeRect(x, y, width, height);
    ctx.font = `${font}px "DejaVu Sans", sans-serif`;
    const textWidth = ctx.measureText(text).width;
    const top = Math.max(0, y - font - 8);
    ctx.fillStyle = 'rgba(0,0,0,0.6)';
    ctx.fillRect(x, top, textWidth + 6, font + 6);
    ctx.fillStyle = '#fff';
    ctx.textBaseline = 'top';
    ctx.fillText(text, x + 3, top + 3);
    ctx.font = `${Math.max(10, font - 2)}px "DejaVu Sans", sans-serif`;
    ctx.fillStyle = '#ffeb3b';
    ctx.textBaseline = 'bottom';
    ctx.fillText(`#${f.trackId}`, x + 3, y + height - 3);
    // The seven probabilities as small bars beside the box (left of it near the right edge).
    const chartWidth = 96;
    const chartX = x + width + 6 + chartWidth < frameWidth ? x + width + 6 : Math.max(0, x - chartWidth - 6);
    ctx.fillStyle = 'rgba(0,0,0,0.55)';
    ctx.fillRect(chartX - 2, y - 2, chartWidth, labels.length * 13 + 4);
    ctx.font = '10px "DejaVu Sans", sans-serif';
    ctx.textBaseline = 'top';
    labels.forEach((label, i) => {
      const rowY = y + i * 13;
      ctx.fillStyle = '#fff';
      ctx.fillText(label.slice(0, 3), chartX, rowY + 1);
      ctx.fillStyle = label === f.label ? BOX : COLORS[label];
      ctx.fillRect(chartX + 26, rowY + 2, (f.probs[i] ?? 0) * (chartWidth - 30), 9);
    });
  }
}

function showFaceList(c, faces, seq) {
  c.faces.replaceChildren(
    ...faces.map((f) =>
      el(
        'li',
        { 'data-track-id': String(f.trackId) },
        el('span', { class: 'track' }, `#${f.trackId}`),
        el('span', { class: 'face-label', style: `color:${COLORS[f.label] ?? '#fff'}` }, `${f.label}: ${pct(f.confidence)}`),
      ),
    ),
  );
  c.faces.dataset.seq = String(seq);
}

/** A picture (JPEG + the faces found in it), drawn in arrival order. */
function picture(header, jpeg) {
  const c = card(header.streamId);
  if (c.player) return; // the relayed video is this card's picture
  c.drawing = c.drawing
    .then(async () => {
      const bitmap = await createImageBitmap(new Blob([jpeg], { type: 'image/jpeg' }));
      const { frame } = c;
      if (frame.width !== bitmap.width || frame.height !== bitmap.height) {
        frame.width = bitmap.width;
        frame.height = bitmap.height;
        c.picture.style.aspectRatio = `${bitmap.width} / ${bitmap.height}`;
      }
      const ctx = frame.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
      drawFaces(ctx, header.faces, frame.width, frame.height);
      c.waiting.remove();
      c.meta.textContent = `frame ${header.seq} · ${(header.ptsMs / 1000).toFixed(2)} s`;
      frame.dataset.seq = String(header.seq);
      frame.dataset.faces = String(header.faces.length);
      if (header.faces.length > 0) {
        showFaceList(c, header.faces, header.seq);
        c.root.dataset.labelledSeq = String(header.seq);
      } else {
        c.faces.replaceChildren();
      }
    })
    .catch((error) => console.error('cannot draw a picture', error));
}

function stream(message) {
  const c = card(message.streamId);
  if (message.width) {
    c.width = message.width;
    c.height = message.height;
  }
  if (message.relay && !c.player) startRelay(c, message.relay);
  if (!message.relay && c.player) stopRelay(c);
}

function startRelay(c, path) {
  const video = el('canvas', { class: 'video' });
  c.frame.replaceWith(video);
  c.picture.append(c.overlay);
  c.badge.hidden = false;
  c.relayFrames = 0;
  const url = socketUrl(path);
  c.player = new JSMpeg.Player(url, {
    canvas: video,
    audio: false,
    disableGl: true, // 2D canvas: works without a GPU (headless, remote desktops)
    reconnectInterval: 2,
    onVideoDecode: () => {
      c.relayFrames += 1;
      video.dataset.frames = String(c.relayFrames);
      if (c.relayFrames === 1) {
        c.waiting.remove();
        c.picture.style.aspectRatio = `${video.width} / ${video.height}`;
      }
      drawOverlay(c, video);
    },
  });
  c.video = video;
}

function stopRelay(c) {
  c.player.destroy();
  c.player = null;
  c.video.replaceWith(c.frame);
  c.overlay.remove();
  c.badge.hidden = true;
}

/** Boxes over the relayed video: the newest faces, while fresh (they lag the video by the pipeline's delay). */
function drawOverlay(c, video) {
  const { overlay } = c;
  const w = c.width || video.width;
  const h = c.height || video.height;
  if (overlay.width !== w || overlay.height !== h) {
    overlay.width = w;
    overlay.height = h;
  }
  const ctx = overlay.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  if (performance.now() - c.latestFacesAt < FRESH_MS) drawFaces(ctx, c.latestFaces, w, h);
}

/** Index of the largest probability (the first on ties, as the events' label). */
function dominant(probs) {
  let best = 0;
  probs.forEach((v, j) => (v > probs[best] ? (best = j) : 0));
  return best;
}

function trackRow(c, trackId) {
  let row = c.trackRows.get(trackId);
  if (row) return row;
  const canvas = el('canvas', { width: '880', height: '112', 'data-points': '0' });
  const name = el('b', {}, `#${trackId}`);
  const now = el('span');
  const range = el('span', { class: 'range' });
  const root = el(
    'div',
    { class: 'track-row', 'data-track-id': String(trackId) },
    el('div', { class: 'caption' }, name, now, range),
    canvas,
  );
  const rows = [...c.trackRows.keys(), trackId].sort((a, b) => a - b);
  const before = c.trackRows.get(rows[rows.indexOf(trackId) + 1]);
  c.tracks.insertBefore(root, before ? before.root : null);
  row = { root, canvas, now, range, points: [], summary: null, dirty: false };
  c.trackRows.set(trackId, row);
  return row;
}

/** A stacked area of the seven probabilities over the track's frames, the dominant label as a strip on top. */
function drawTimeline(row) {
  row.dirty = false;
  const { canvas, points } = row;
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  const strip = 12;
  ctx.clearRect(0, 0, W, H);
  canvas.dataset.points = String(points.length);
  if (points.length === 0) return;
  const xAt = (i) => (points.length === 1 ? W : (i / (points.length - 1)) * W);
  const yAt = (v) => strip + 2 + (1 - v) * (H - strip - 2);
  const below = points.map(() => 0);
  labels.forEach((label, li) => {
    const above = points.map((p, i) => below[i] + (p.probs[li] ?? 0));
    ctx.beginPath();
    if (points.length === 1) {
      ctx.rect(0, yAt(above[0]), W, yAt(below[0]) - yAt(above[0]));
    } else {
      points.forEach((_, i) => (i === 0 ? ctx.moveTo(xAt(i), yAt(above[i])) : ctx.lineTo(xAt(i), yAt(above[i]))));
      for (let i = points.length - 1; i >= 0; i--) ctx.lineTo(xAt(i), yAt(below[i]));
    }
    ctx.closePath();
    ctx.fillStyle = COLORS[label];
    ctx.fill();
    above.forEach((v, i) => (below[i] = v));
  });
  // Each point's dominant label fills the strip halfway to its neighbours.
  const last = points.length - 1;
  points.forEach((p, i) => {
    const x0 = i === 0 ? 0 : (xAt(i - 1) + xAt(i)) / 2;
    const x1 = i === last ? W : (xAt(i) + xAt(i + 1)) / 2;
    ctx.fillStyle = COLORS[labels[dominant(p.probs)]];
    ctx.fillRect(Math.floor(x0), 0, Math.ceil(x1 - x0) + 1, strip);
  });
  const newest = points[last];
  const best = dominant(newest.probs);
  row.now.textContent = row.summary
    ? `ended · mean ${row.summary.meanEmotion} · ${(row.summary.durationMs / 1000).toFixed(1)} s`
    : `${labels[best]} ${pct(newest.probs[best])}`;
  row.range.textContent = `frames ${points[0].seq}–${newest.seq}`;
}

function addPoints(c, trackId, points) {
  const row = trackRow(c, trackId);
  for (const p of points) {
    if (row.points.length && row.points[row.points.length - 1].seq >= p.seq) continue;
    row.points.push(p);
  }
  if (row.points.length > MAX_POINTS) row.points.splice(0, row.points.length - MAX_POINTS);
  row.summary = null;
  row.dirty = true;
}

function onMessage(data) {
  if (typeof data !== 'string') {
    const view = new DataView(data);
    const length = view.getUint32(0);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 4, length)));
    picture(header, new Uint8Array(data, 4 + length));
    return;
  }
  const m = JSON.parse(data);
  switch (m.type) {
    case 'hello':
      labels = m.labels;
      renderLegend();
      break;
    case 'stream':
      stream(m);
      break;
    case 'faces': {
      const c = card(m.streamId);
      for (const f of m.faces) addPoints(c, f.trackId, [{ seq: m.seq, ptsMs: m.ptsMs, probs: f.probs }]);
      c.latestFaces = m.faces;
      c.latestFacesAt = performance.now();
      if (c.player) showFaceList(c, m.faces, m.seq);
      break;
    }
    case 'track': {
      const c = card(m.streamId);
      addPoints(c, m.trackId, m.points);
      trackRow(c, m.trackId).summary = m.summary;
      break;
    }
    case 'summary': {
      const row = trackRow(card(m.streamId), m.trackId);
      row.summary = m;
      row.dirty = true;
      break;
    }
    case 'dropTrack': {
      const c = cards.get(m.streamId);
      c?.trackRows.get(m.trackId)?.root.remove();
      c?.trackRows.delete(m.trackId);
      break;
    }
    case 'dropStream': {
      const c = cards.get(m.streamId);
      if (c?.player) c.player.destroy();
      c?.root.remove();
      cards.delete(m.streamId);
      break;
    }
  }
}

// Timelines are redrawn at most once per animation frame.
function redraw() {
  for (const c of cards.values()) for (const row of c.trackRows.values()) if (row.dirty) drawTimeline(row);
  requestAnimationFrame(redraw);
}

/** A socket URL on this server, with the page's access token (the server asks for it beyond loopback). */
function socketUrl(path) {
  const token = new URLSearchParams(location.search).get('token');
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}

function connect() {
  const ws = new WebSocket(socketUrl('/ws'));
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    statusEl.textContent = 'live';
    statusEl.className = 'live';
  };
  ws.onmessage = (ev) => onMessage(ev.data);
  ws.onclose = () => {
    statusEl.textContent = 'disconnected — retrying…';
    statusEl.className = '';
    setTimeout(connect, 1000);
  };
}

renderLegend();
requestAnimationFrame(redraw);
connect();
