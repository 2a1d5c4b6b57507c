#!/usr/bin/env node
/*
 * A real third-party peer against `wechatpay-chain sandbox`: the Node SDK wechatpay-axios-plugin.
 *
 *   wechatpay-chain sandbox --credentials DIR [--mode certificate] &
 *   node peer.js DIR
 *
 * Reads DIR/sandbox.json and the PEM files the sandbox wrote, drives the SDK through the protocol
 * (its own signer, its own RSA-OAEP field encryption, its own response verifier) and prints one JSON
 * line per step: {"step", "ok", "status", "detail"}. Exit status 0 only when every step matched.
 */
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const {
  Wechatpay, Rsa, Aes, Multipart,
} = require('wechatpay-axios-plugin');

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node peer.js CREDENTIALS_DIR\n');
  process.exit(2);
}

const read = (name) => fs.readFileSync(path.join(dir, name), 'utf8');
const info = JSON.parse(read('sandbox.json'));
const merchantKey = read('merchant_key.pem');
const platformPublicKey = read('platform_public_key.pem');
const platformCertificate = read('platform_certificate.pem');
const mode = info.mode || 'public_key';

// What a merchant in each mode configures: the PUB_KEY_ID_ public key, or the platform certificate.
// Only the one the sandbox is expected to sign with is given, so a wrong signing serial fails verification.
const [platformSerial, platformPem] = mode === 'certificate'
  ? [info.platform_certificate_serial, platformCertificate]
  : [info.platform_serial, platformPublicKey];
const platformKey = Rsa.from(platformPem, Rsa.KEY_TYPE_PUBLIC);

function client(overrides = {}) {
  return new Wechatpay({
    mchid: info.mchid,
    serial: info.serial,
    privateKey: merchantKey,
    certs: { [platformSerial]: platformPem },
    secret: info.secret,
    baseURL: info.base_uri,
    timeout: 10000,
    ...overrides,
  });
}

const wxpay = client();
const results = [];

function report(step, ok, status, detail) {
  const line = {
    step, mode, ok: Boolean(ok), status: status === undefined ? null : status, detail,
  };
  results.push(line);
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Run `fn`; an AxiosError becomes {error} with the HTTP status, body and the SDK's error code. */
async function attempt(fn) {
  try {
    return { res: await fn() };
  } catch (error) {
    return { error };
  }
}

function describeError(error) {
  const r = error.response || {};
  return {
    error: error.code || error.name,
    message: String(error.message).slice(0, 300),
    status: r.status,
    body: typeof r.data === 'string' ? r.data.slice(0, 300) : r.data,
  };
}

const seedBody = (userName, idCardNumber) => ({
  openid: 'onqOjjmo8wmTOOtSKwXtGjg9Gb58',
  appid: 'wxa1111111',
  sub_mchid: '1900000109',
  authenticate_number: `mcdhehfgisdhfjghed39384564i83${crypto.randomBytes(3).toString('hex')}`,
  project_name: '某项目',
  employer_name: '某用工企业',
  user_name: userName,
  id_card_number: idCardNumber,
  employment_type: 'LONG_TERM_EMPLOYMENT',
  authenticate_type: 'SIGN_IN',
});

async function seedEncrypted() {
  // The SDK's own RSA-OAEP(SHA-1) with the platform key; Wechatpay-Serial names that key.
  const body = seedBody(Rsa.encrypt('张三', platformKey), Rsa.encrypt('110101199003070000', platformKey));
  const { res, error } = await attempt(() => wxpay.v3.payrollCard.authentications.preOrderWithAuth.post(
    body, { headers: { 'Wechatpay-Serial': platformSerial } },
  ));
  if (error) { report('seed_encrypted', false, error.response && error.response.status, describeError(error)); return; }
  const ok = res.status === 200 && typeof res.data.token === 'string' && res.data.token.length > 0
    && res.data.expires_in === 1800 && res.headers['wechatpay-serial'] === platformSerial;
  report('seed_encrypted', ok, res.status, {
    verified_by: res.headers['wechatpay-serial'], token: res.data.token, expires_in: res.data.expires_in,
    request_id: res.headers['request-id'],
  });
}

async function orderQuery() {
  // `|`, `*`, `@` are legal in out_trade_no; `|` travels percent-encoded in the path (signed as sent).
  const outTradeNo = `node_${Date.now()}|${crypto.randomBytes(2).toString('hex')}*@-1`;
  const created = await attempt(() => wxpay.v3.pay.transactions.native.post({
    appid: 'wxd678efh567hg6787',
    mchid: info.mchid,
    description: 'Image形象店-深圳腾大-QQ公仔',
    out_trade_no: outTradeNo,
    notify_url: 'https://www.weixin.qq.com/wxpay/pay.php',
    amount: { total: 1, currency: 'CNY' },
  }));
  if (created.error) {
    report('native_prepay', false, created.error.response && created.error.response.status, describeError(created.error));
    report('query_by_out_trade_no', false, null, { skipped: 'native_prepay failed, no order to query' });
    return;
  }
  const codeUrl = created.res.data.code_url;
  report('native_prepay', created.res.status === 200 && /^http:\/\/.+\/_sandbox\/cashier\//.test(codeUrl), created.res.status, { code_url: codeUrl });

  // GET with a query string: the signed target is PATH?QUERY, the signed body empty.
  const { res, error } = await attempt(() => wxpay.v3.pay.transactions.outTradeNo._out_trade_no_.get({
    params: { mchid: info.mchid }, out_trade_no: outTradeNo,
  }));
  if (error) { report('query_by_out_trade_no', false, error.response && error.response.status, describeError(error)); return; }
  const ok = res.status === 200 && res.data.out_trade_no === outTradeNo && res.data.trade_state === 'NOTPAY'
    && res.data.mchid === info.mchid;
  report('query_by_out_trade_no', ok, res.status, {
    url: res.config.url, trade_state: res.data.trade_state, verified_by: res.headers['wechatpay-serial'],
  });
}

async function seedPlaintext() {
  const body = seedBody('张三', '110101199003070000');
  const { res, error } = await attempt(() => wxpay.v3.payrollCard.authentications.preOrderWithAuth.post(
    body, { headers: { 'Wechatpay-Serial': platformSerial } },
  ));
  if (!error) { report('seed_plaintext_refused', false, res.status, { unexpected: res.data }); return; }
  const r = error.response || {};
  const ok = r.status === 400 && r.data && r.data.code === 'PARAM_ERROR';
  report('seed_plaintext_refused', ok, r.status, describeError(error));
}

async function wrongKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forger = client({ privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) });
  const { res, error } = await attempt(() => forger.v3.pay.transactions.outTradeNo._out_trade_no_.get({
    params: { mchid: info.mchid }, out_trade_no: 'no-such-order',
  }));
  if (!error) { report('wrong_key_refused', false, res.status, { unexpected: res.data }); return; }
  const r = error.response || {};
  const ok = r.status === 401 && r.data && r.data.code === 'SIGN_ERROR';
  report('wrong_key_refused', ok, r.status, describeError(error));
}

async function verifierNegativeControl() {
  // Same serial, another key: the SDK's verifier must refuse the (genuinely signed) answer, which proves
  // that the 200s above passed through a verification that actually checks the sandbox's signature.
  const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const doubter = client({ certs: { [platformSerial]: publicKey.export({ type: 'spki', format: 'pem' }) } });
  const { res, error } = await attempt(() => doubter.v3.certificates.get());
  if (!error) { report('verifier_rejects_other_key', false, res.status, { unexpected: 'verified with a foreign key' }); return; }
  const ok = error.code === 'EV3_RES_HEADER_SIGNATURE_DIGEST';
  report('verifier_rejects_other_key', ok, error.response && error.response.status, describeError(error));
}

async function certificates() {
  const { res, error } = await attempt(() => wxpay.v3.certificates.get());
  if (error) { report('certificates_download', false, error.response && error.response.status, describeError(error)); return; }
  const [item] = res.data.data || [];
  let pem = '';
  try {
    const enc = item.encrypt_certificate;
    pem = Aes.AesGcm.decrypt(enc.ciphertext, info.apiv3_key, enc.nonce, enc.associated_data);
  } catch (e) {
    report('certificates_download', false, res.status, { error: String(e) });
    return;
  }
  const ok = res.status === 200 && item.serial_no === info.platform_certificate_serial
    && pem.trim() === platformCertificate.trim();
  report('certificates_download', ok, res.status, { serial_no: item.serial_no, verified_by: res.headers['wechatpay-serial'] });
}

async function mediaUpload() {
  // multipart/form-data: the SDK signs the `meta` JSON only (config.meta), as the real service expects.
  const file = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ffa65ea0ab0000000049454e44ae426082', 'hex');
  const meta = { filename: 'pixel.png', sha256: crypto.createHash('sha256').update(file).digest('hex') };
  const form = new Multipart();
  form.append('file', file, 'pixel.png');
  form.append('meta', JSON.stringify(meta), 'meta.json');
  const { res, error } = await attempt(() => wxpay.v3.merchant.media.upload.post(form, {
    meta, headers: form.getHeaders(),
  }));
  if (error) { report('media_upload', false, error.response && error.response.status, describeError(error)); return; }
  report('media_upload', res.status === 200 && typeof res.data.media_id === 'string', res.status, { media_id_length: (res.data.media_id || '').length });
}

async function v2UnifiedOrder() {
  // APIv2: the SDK's XML transformer signs with the secret (MD5) and checks the answer's sign.
  const outTradeNo = `nodev2${Date.now()}`;
  const { res, error } = await attempt(() => wxpay.v2.pay.unifiedorder.post({
    appid: 'wxd678efh567hg6787',
    mch_id: info.mchid,
    body: 'node peer',
    out_trade_no: outTradeNo,
    total_fee: 1,
    spbill_create_ip: '127.0.0.1',
    notify_url: 'https://www.weixin.qq.com/wxpay/pay.php',
    trade_type: 'NATIVE',
  }));
  if (error) { report('v2_unifiedorder', false, error.response && error.response.status, describeError(error)); return; }
  const d = res.data;
  const ok = res.status === 200 && d.return_code === 'SUCCESS' && d.result_code === 'SUCCESS' && /\/_sandbox\/cashier\//.test(d.code_url);
  report('v2_unifiedorder', ok, res.status, { result_code: d.result_code, trade_type: d.trade_type });
}

async function main() {
  const steps = [seedEncrypted, orderQuery, seedPlaintext, wrongKey, verifierNegativeControl, certificates,
    mediaUpload, v2UnifiedOrder];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      report(step.name, false, null, { crashed: String(e && e.stack ? e.stack : e).slice(0, 500) });
    }
  }
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}

main();
