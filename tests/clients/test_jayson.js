// jayson's HTTP client (npm, sends "application/json; charset=utf-8") against the real
// servreg, in both reply shapes: the default (compatible) one and --strict-jsonrpc.
// Usage: node test_jayson.js SERVREG_BINARY
'use strict';

const assert = require('assert');
const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const jayson = require(path.join(__dirname, 'node_modules', 'jayson'));

const daemons = [];

// Starts servreg on port 0 with a temporary SQLite database; resolves with its port.
function startServreg(binary, args) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'servreg-jayson-'));
  const child = childProcess.spawn(
      binary, ['--port', '0', '--dburl', 'sqlite:///' + path.join(dir, 'reg.db'), ...args],
      {stdio: ['ignore', 'ignore', 'pipe']});
  daemons.push({child, dir});
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error('servreg did not listen:\n' + log)), 20000);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const match = /listening on http:\/\/\S+:(\d+)\/api/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`servreg exited with ${code}:\n${log}`)));
  });
}

function stopAll() {
  for (const {child, dir} of daemons) {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dir, {recursive: true, force: true});
  }
}
process.on('exit', stopAll);

// jayson's (err, error, result) style for one call.
function call(client, method, params) {
  return new Promise((resolve, reject) => {
    client.request(method, params, (err, error, result) => {
      if (err) reject(err);
      else resolve({error, result});
    });
  });
}

// A batch; resolves with jayson's raw array of replies.
function batch(client, requests) {
  return new Promise((resolve, reject) => {
    client.request(requests, (err, responses) => {
      if (err) reject(err);
      else resolve(responses);
    });
  });
}

// A batch with jayson's (err, errors, successes) split.
function batchSplit(client, requests) {
  return new Promise((resolve, reject) => {
    client.request(requests, (err, errors, successes) => {
      if (err) reject(err);
      else resolve({errors, successes});
    });
  });
}

async function checkPing(client, tag) {
  const {error, result} = await call(client, 'ping', [tag, '10.40.0.1', 8000]);
  assert.ok(!error, `ping error: ${JSON.stringify(error)}`);
  assert.strictEqual(result, true, `ping result: ${JSON.stringify(result)}`);
  const named = await call(client, 'ping', {name: tag, host: '10.40.0.2', port: 8000});
  assert.ok(!named.error, `named ping error: ${JSON.stringify(named.error)}`);
  assert.strictEqual(named.result, true);
}

async function checkLocate(client, tag) {
  const expected = [{host: '10.40.0.1', port: 8000}, {host: '10.40.0.2', port: 8000}];
  const {error, result} = await call(client, 'locate_service', [tag]);
  assert.ok(!error, `locate error: ${JSON.stringify(error)}`);
  assert.deepStrictEqual(result, expected);
  const named = await call(client, 'locate_service', {name: tag.slice(0, -1) + '?'});
  assert.deepStrictEqual(named.result, expected);
}

async function checkBatch(client, tag, strict) {
  const requests = [
    client.request('ping', [tag + '.b', '10.40.0.3', 1]),
    client.request('ping', [tag + '.b', '10.40.0.3', 2], null),  // a notification
    client.request('locate_service', [tag + '.b']),
    client.request('no_such_method', []),
  ];
  const responses = await batch(client, requests);
  assert.ok(Array.isArray(responses), `batch reply: ${JSON.stringify(responses)}`);
  assert.strictEqual(responses.length, 3, `no reply to the notification: ${JSON.stringify(responses)}`);
  const byId = new Map(responses.map((r) => [r.id, r]));
  assert.strictEqual(byId.get(requests[0].id).result, true, JSON.stringify(responses));
  assert.deepStrictEqual(byId.get(requests[2].id).result,
      [{host: '10.40.0.3', port: 1}, {host: '10.40.0.3', port: 2}], JSON.stringify(responses));
  assert.strictEqual(byId.get(requests[3].id).error.code, -32601, JSON.stringify(responses));
  for (const r of responses) {
    assert.strictEqual(r.jsonrpc, '2.0');
    if (strict) {
      assert.ok(('result' in r) !== ('error' in r), `strict: exactly one of result/error: ${JSON.stringify(r)}`);
    } else {
      assert.ok('result' in r && 'error' in r, `default: both result and error: ${JSON.stringify(r)}`);
    }
  }
  if (strict) {
    // jayson splits a batch on whether "error" is present, which only the strict shape allows.
    const split = await batchSplit(client, [client.request('locate_service', [tag + '.b']),
      client.request('no_such_method', [])]);
    assert.strictEqual(split.errors.length, 1, JSON.stringify(split));
    assert.strictEqual(split.successes.length, 1, JSON.stringify(split));
  }
}

async function checkMethodNotFound(client) {
  const {error, result} = await call(client, 'no_such_method', [1]);
  assert.ok(error, 'no error for an unknown method');
  assert.strictEqual(error.code, -32601, JSON.stringify(error));
  assert.strictEqual(error.message, 'Method not found', JSON.stringify(error));
  assert.ok(result === undefined || result === null, `result alongside the error: ${result}`);
}

async function checkContentType(port) {
  // What jayson sends is what is under test here: make sure it is the charset variant.
  const client = jayson.client.http({hostname: '127.0.0.1', port, path: '/api'});
  let sent = null;
  client.on('http request', (req) => {
    sent = req.getHeader('Content-Type');
  });
  await call(client, 'locate_service', ['x']);
  assert.strictEqual(sent, 'application/json; charset=utf-8');
}

async function main() {
  const binary = process.argv[2];
  let passed = 0;
  let failed = 0;
  const run = async (name, check) => {
    try {
      await check();
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
  };
  for (const strict of [false, true]) {
    const mode = strict ? 'strict' : 'default';
    const port = await startServreg(binary, strict ? ['--strict-jsonrpc'] : []);
    const client = jayson.client.http({hostname: '127.0.0.1', port, path: '/api'});
    const tag = `jayson.${mode}`;
    await run(`${mode}: jayson sends application/json; charset=utf-8`, () => checkContentType(port));
    await run(`${mode}: ping`, () => checkPing(client, tag));
    await run(`${mode}: locate_service`, () => checkLocate(client, tag));
    await run(`${mode}: batch with a notification and an error`, () => checkBatch(client, tag, strict));
    await run(`${mode}: method not found`, () => checkMethodNotFound(client));
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
  stopAll();
}

main().catch((e) => {
  console.log(`FAIL: ${e.stack || e}`);
  process.exitCode = 1;
  stopAll();
});
