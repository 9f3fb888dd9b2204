import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  assertValidStreamId,
  parseSource,
  resolveCredentialReferences,
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
const fakeDns = (table: Record<string, string[]>) => async (host: string) => {
  const answer = table[host];
  if (!answer) throw new Error(`ENOTFOUND ${host}`);
  return answer;
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

  it('resolves credential references from INGEST_CREDENTIAL_* env vars and files in the credentials folder only', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'creds-'));
    writeFileSync(path.join(dir, 'yard-token'), 'to/ken\n');
    const env = { INGEST_CREDENTIAL_DOOR: 'p@ss:word', KAFKA_SASL_PASSWORD: 'kafka' };
    assert.equal(
      resolveCredentialReferences('rtsp://viewer:${env:INGEST_CREDENTIAL_DOOR}@cam/live', { credentialsDir: dir, env }),
      'rtsp://viewer:p%40ss%3Aword@cam/live',
    );
    assert.equal(
      resolveCredentialReferences('http://cam/mjpeg?token=${file:yard-token}', { credentialsDir: dir, env }),
      'http://cam/mjpeg?token=to%2Fken',
    );
    const refused = (url: string) =>
      assert.throws(
        () => resolveCredentialReferences(url, { credentialsDir: dir, env }),
        (error: unknown) => error instanceof SourceRefusedError && error.reason === 'CREDENTIAL_UNAVAILABLE',
        url,
      );
    refused('rtsp://u:${env:KAFKA_SASL_PASSWORD}@evil.example/');
    refused('rtsp://u:${env:INGEST_CREDENTIAL_MISSING}@cam/');
    refused('http://evil.example/?k=${file:../../etc/passwd}');
    refused('http://evil.example/?k=${file:missing}');
  });
});
