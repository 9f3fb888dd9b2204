import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  assertValidStreamId,
  buildSourceUrl,
  checkStreamSpec,
  ingestSettingsSchema,
  parseSource,
  SourcePolicy,
  SourceRefusedError,
  type SourcePolicyOptions,
} from '../src/index.js';

const strict: SourcePolicyOptions = {
  schemes: ['rtsp', 'rtsps', 'http', 'https', 'file', 'webcam'],
  allowHosts: [],
  denyHosts: [],
  mediaRoots: [],
};
/** Names resolve as the test says, never through real DNS. */
const fakeDns = (table: Record<string, string[]>) => (host: string) => {
  const answer = table[host];
  return answer ? Promise.resolve(answer) : Promise.reject(new Error(`ENOTFOUND ${host}`));
};

async function refusal(policy: SourcePolicy, url: string): Promise<string> {
  try {
    await policy.check(parseSource(url));
  } catch (error) {
    assert.ok(error instanceof SourceRefusedError, `expected a refusal for ${url}, got ${String(error)}`);
    return error.reason;
  }
  return 'allowed';
}

describe('source policy', () => {
  it('refuses loopback, link-local (cloud metadata), private, CGNAT and IPv4-mapped addresses by default, and allows public ones', async () => {
    const policy = new SourcePolicy(
      strict,
      fakeDns({ 'cam.example': ['203.0.113.7'], localhost: ['127.0.0.1', '::1'], 'rebound.example': ['203.0.113.8', '10.0.0.5'] }),
    );
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://127.0.0.1:8080/',
      'rtsp://[::1]/live',
      'http://[::ffff:127.0.0.1]/',
      'http://[fd00:ec2::254]/',
      'rtsp://10.1.2.3/live',
      'rtsp://192.168.1.10/live',
      'http://172.20.0.1/',
      'http://100.64.0.1/',
      'http://0.0.0.0/',
      'http://localhost/',
      // One bad address among good ones is enough to refuse: ffmpeg might pick it.
      'http://rebound.example/',
    ]) {
      assert.equal(await refusal(policy, url), 'ADDRESS_NOT_ALLOWED', url);
    }
    assert.equal(await refusal(policy, 'rtsp://cam.example/live'), 'allowed');
    assert.equal(await refusal(policy, 'http://nowhere.example/'), 'HOST_UNRESOLVABLE');
  });

  it('allows listed hosts, ports and subnets, and a deny entry wins over an allow entry', async () => {
    const policy = new SourcePolicy(
      { ...strict, allowHosts: ['192.168.10.0/24', '127.0.0.1:8554', 'door-cam.lan', '*.cams.lan'], denyHosts: ['192.168.10.66'] },
      fakeDns({ 'door-cam.lan': ['192.168.20.5'], 'yard.cams.lan': ['192.168.30.5'], 'other.lan': ['192.168.40.5'] }),
    );
    assert.equal(await refusal(policy, 'rtsp://192.168.10.12/live'), 'allowed');
    assert.equal(await refusal(policy, 'rtsp://127.0.0.1:8554/live'), 'allowed');
    assert.equal(await refusal(policy, 'http://127.0.0.1:8555/'), 'ADDRESS_NOT_ALLOWED', 'only the listed port');
    assert.equal(await refusal(policy, 'rtsp://door-cam.lan/live'), 'allowed');
    assert.equal(await refusal(policy, 'rtsp://yard.cams.lan/live'), 'allowed');
    assert.equal(await refusal(policy, 'rtsp://other.lan/live'), 'ADDRESS_NOT_ALLOWED');
    assert.equal(await refusal(policy, 'rtsp://192.168.10.66/live'), 'ADDRESS_NOT_ALLOWED');
  });

  it('reads files only under the media roots, also through links and "..", and opens only /dev/videoN as a webcam', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'policy-'));
    const media = path.join(dir, 'media');
    mkdirSync(media);
    writeFileSync(path.join(media, 'clip.mp4'), 'x');
    writeFileSync(path.join(dir, 'secret.mp4'), 'x');
    symlinkSync(path.join(dir, 'secret.mp4'), path.join(media, 'link.mp4'));
    const policy = new SourcePolicy({ ...strict, mediaRoots: [media] });
    assert.equal(await refusal(policy, path.join(media, 'clip.mp4')), 'allowed');
    assert.equal(await refusal(policy, `file://${path.join(media, 'clip.mp4')}`), 'allowed');
    assert.equal(await refusal(policy, path.join(media, 'link.mp4')), 'FILE_OUTSIDE_MEDIA_ROOTS');
    assert.equal(await refusal(policy, `${media}/../secret.mp4`), 'FILE_OUTSIDE_MEDIA_ROOTS');
    assert.equal(await refusal(policy, `${media}-evil/clip.mp4`), 'FILE_OUTSIDE_MEDIA_ROOTS', 'a sibling folder sharing the prefix');
    assert.equal(await refusal(policy, 'file:///etc/passwd'), 'FILE_OUTSIDE_MEDIA_ROOTS');
    assert.equal(await refusal(new SourcePolicy(strict), path.join(media, 'clip.mp4')), 'FILE_OUTSIDE_MEDIA_ROOTS', 'no roots: no files');
    assert.equal(await refusal(policy, 'webcam:/etc/passwd'), 'DEVICE_NOT_ALLOWED');
    assert.equal(await refusal(policy, 'webcam:/dev/sda'), 'DEVICE_NOT_ALLOWED');
    assert.equal(await refusal(policy, 'webcam:/dev/video2'), 'allowed');
    assert.equal(await refusal(new SourcePolicy({ ...strict, schemes: ['rtsp'] }), 'webcam:/dev/video0'), 'SCHEME_NOT_ALLOWED');
  });

  it('never quotes a malformed URL or a path that may hold a credential in its refusal (found by the fuzz test: "@" flipped to another byte)', async () => {
    const policy = new SourcePolicy(strict);
    for (const url of ['rtsp:/viewer:secret@cam/live', 'http://viewer:secret\u0011cam/live?x', 'webcam:/dev/video0?token=secret']) {
      let message = '';
      try {
        await policy.check(parseSource(url));
      } catch (error) {
        message = (error as Error).message;
      }
      assert.ok(message !== '' && !message.includes('secret'), `${JSON.stringify(url)} gave ${JSON.stringify(message)}`);
    }
  });

  it('lets emo run (permissive) open whatever the user named', async () => {
    const policy = SourcePolicy.permissive();
    for (const url of ['/etc/hostname', 'http://127.0.0.1:1/', 'webcam:/dev/video0', 'rtsp://192.168.1.2/live'])
      assert.equal(await refusal(policy, url), 'allowed', url);
  });

  it('validates stream ids: letters, digits, ".", "_" and "-", at most 64', () => {
    for (const good of ['door-cam', 'cam_1.main', 'A'.repeat(64)]) assert.doesNotThrow(() => assertValidStreamId(good));
    for (const bad of ['../../etc/摄像头/1 📷', '', '-lead', 'a/b', 'a b', 'A'.repeat(65), 'x\n']) {
      assert.throws(
        () => assertValidStreamId(bad),
        (error: unknown) => error instanceof SourceRefusedError && error.reason === 'INVALID_STREAM_ID',
        JSON.stringify(bad),
      );
    }
  });

  it('resolves credential references from INGEST_CREDENTIAL_* env vars and files in the credentials folder only, for the hosts they are bound to', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'creds-'));
    writeFileSync(path.join(dir, 'yard-token'), 'to/ken\n');
    const env = { INGEST_CREDENTIAL_DOOR: 'p@ss:word', KAFKA_SASL_PASSWORD: 'kafka' };
    const scope = ['env:INGEST_CREDENTIAL_DOOR=rtsp://cam', 'file:yard-token=http://cam:8080'];
    const options = { credentialsDir: dir, env, scope };
    assert.equal(
      buildSourceUrl('rtsp://viewer:${env:INGEST_CREDENTIAL_DOOR}@cam/live', options).url,
      'rtsp://viewer:p%40ss%3Aword@cam/live',
    );
    assert.equal(
      buildSourceUrl('rtsp://viewer:${env:INGEST_CREDENTIAL_DOOR}@cam:554/live', options).url,
      'rtsp://viewer:p%40ss%3Aword@cam:554/live',
    );
    assert.equal(buildSourceUrl('http://cam:8080/mjpeg?token=${file:yard-token}', options).url, 'http://cam:8080/mjpeg?token=to%2Fken');
    const refused = (url: string, reason: string) =>
      assert.throws(
        () => buildSourceUrl(url, options),
        (error: unknown) => error instanceof SourceRefusedError && error.reason === reason && !error.message.includes('p@ss'),
        url,
      );
    refused('rtsp://u:${env:KAFKA_SASL_PASSWORD}@evil.example/', 'CREDENTIAL_UNAVAILABLE');
    refused('rtsp://u:${env:INGEST_CREDENTIAL_MISSING}@cam/', 'CREDENTIAL_UNAVAILABLE');
    refused('http://cam:8080/?k=${file:../../etc/passwd}', 'CREDENTIAL_UNAVAILABLE');
    refused('http://cam:8080/?k=${file:missing}', 'CREDENTIAL_UNAVAILABLE');
    // Issue 27: a credential goes only where INGEST_CREDENTIALS_SCOPE binds it (scheme, host and port)...
    refused('http://elsewhere.example/x?t=${env:INGEST_CREDENTIAL_DOOR}', 'CREDENTIAL_NOT_BOUND');
    refused('rtsp://viewer:${env:INGEST_CREDENTIAL_DOOR}@cam:8554/live', 'CREDENTIAL_NOT_BOUND');
    refused('rtsps://viewer:${env:INGEST_CREDENTIAL_DOOR}@cam/live', 'CREDENTIAL_NOT_BOUND');
    refused('http://cam/mjpeg?token=${file:yard-token}', 'CREDENTIAL_NOT_BOUND');
    // Checked away from ingest's environment (emo streams add): place and binding only, nothing resolved.
    assert.equal(
      buildSourceUrl('rtsp://viewer:${env:INGEST_CREDENTIAL_DOOR}@cam/live', { ...options, env: {}, resolve: false }).url,
      'rtsp://viewer:credential@cam/live',
    );
    assert.throws(
      () => buildSourceUrl('http://elsewhere.example/?t=${env:INGEST_CREDENTIAL_DOOR}', { ...options, env: {}, resolve: false }),
      (error: unknown) => error instanceof SourceRefusedError && error.reason === 'CREDENTIAL_NOT_BOUND',
    );
    // ...and never in the host, the path, a query name or the fragment, where nothing redacts it.
    refused('rtsp://cam/s/${env:INGEST_CREDENTIAL_DOOR}', 'CREDENTIAL_MISPLACED');
    refused('rtsp://${env:INGEST_CREDENTIAL_DOOR}.cam/live', 'CREDENTIAL_MISPLACED');
    refused('http://cam:8080/x?${file:yard-token}=1', 'CREDENTIAL_MISPLACED');
    refused('http://cam:8080/x#${file:yard-token}', 'CREDENTIAL_MISPLACED');
  });

  it('hands ffmpeg a URL rebuilt from its checked parts, and refuses characters two URL parsers read differently (issue 27: http://allowed:p\\@other:q/)', async () => {
    const options = { credentialsDir: '/nonexistent', scope: [] };
    // WHATWG reads the backslash as a slash (host 127.0.0.1); ffmpeg reads userinfo up to the last "@" (host 127.0.0.2).
    const differential = 'http://127.0.0.1:8080\\@127.0.0.2:9090/';
    assert.equal(new URL(differential).hostname, '127.0.0.1', 'the policy reads the allowed host');
    assert.throws(
      () => buildSourceUrl(differential, options),
      (error: unknown) => error instanceof SourceRefusedError && error.reason === 'INVALID_URL' && /backslash/.test(error.message),
    );
    for (const bad of ['http://cam.example/a b', 'rtsp://cam.example/live\tx', 'http://cam.example/\u0000', 'http://cäm.example/']) {
      assert.throws(
        () => buildSourceUrl(bad, options),
        (error: unknown) => error instanceof SourceRefusedError && error.reason === 'INVALID_URL',
        bad,
      );
    }
    // What ffmpeg gets is WHATWG's reading, serialised: one "@", the authority ending at the first "/".
    assert.equal(buildSourceUrl('http://a@b@cam.example:81/x/../y?q=1#frag', options).url, 'http://a%40b@cam.example:81/y?q=1');
    assert.equal(buildSourceUrl('HTTP://CAM.example:80/live', options).url, 'http://cam.example/live');
    // And the spec check that emo streams add can call refuses the differential too.
    const settings = ingestSettingsSchema.parse({ allowHosts: ['127.0.0.1:8080'] });
    const refusal = await checkStreamSpec({ streamId: 'x', url: differential, sampleFps: 0, maxWidth: 0 }, settings);
    assert.equal(refusal?.reason, 'INVALID_URL');
    assert.equal(await checkStreamSpec({ streamId: 'x', url: 'http://127.0.0.1:8080/', sampleFps: 0, maxWidth: 0 }, settings), undefined);
  });

  it('refuses spec values out of range with the reason: sampleFps 1000, a negative or fractional width, a width over the limit (issue 27)', async () => {
    const settings = ingestSettingsSchema.parse({ allowHosts: ['127.0.0.1:8080'], maxSampleFps: 30, maxFrameWidth: 3840 });
    const check = (sampleFps: number, maxWidth: number) =>
      checkStreamSpec({ streamId: 'cam', url: 'http://127.0.0.1:8080/live', sampleFps, maxWidth }, settings);
    for (const [fps, width] of [
      [1000, 0],
      [-1, 0],
      [Number.NaN, 0],
      [30.5, 0],
      [5, 4096],
      [5, -1],
      [5, 8],
      [5, 1280.5],
    ] as const) {
      const refusal = await check(fps, width);
      assert.equal(refusal?.reason, 'SPEC_OUT_OF_RANGE', `sampleFps ${fps}, maxWidth ${width}`);
      assert.match(refusal.message, /INGEST_MAX_SAMPLE_FPS|INGEST_MAX_FRAME_WIDTH/);
    }
    for (const [fps, width] of [
      [0, 0],
      [30, 3840],
      [0.5, 16],
    ] as const)
      assert.equal(await check(fps, width), undefined, `sampleFps ${fps}, maxWidth ${width}`);
  });
});
